"""What can be compared between runs: each metric's unit, direction, and where its samples are.

A metric's *value* is the figure the JSON reports (pytest-benchmark's ``stats`` or
whisperbench's ``extra_info``), so a comparison table shows the same numbers as the run.
Its *samples* are per-round values for a significance test. Three kinds:

``sampled``
    per-round samples exist (``stats.data``, ``rounds_inference_s``, ``rounds_s_per_token``);
    a change is tested with Mann-Whitney U.
``single``
    one reading per benchmark (energy over one window, peak RSS, NVML memory): a sensor or
    OS reading with noise that one value cannot show, so there is nothing to test.
``exact``
    accounting, not a sensor (allocator bytes, WER of greedy decoding): a rerun gives the
    same number, so the threshold alone decides.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from whisperbench import schema
from whisperbench.runs import Benchmark, finite

__all__ = ["DEFAULT_METRICS", "METRICS", "Metric", "unknown_metric_message"]

Better = Literal["lower", "higher"]
Kind = Literal["sampled", "single", "exact"]
Samples = list[float] | None


@dataclass(frozen=True)
class Metric:
    """A comparable figure of a benchmark."""

    name: str
    unit: str  #: "s", "J", "W", "bytes", "x" (times real time) or "" (a ratio)
    better: Better
    kind: Kind
    description: str
    value: Callable[[Benchmark], float | None]
    samples: Callable[[Benchmark], Samples]

    def missing_reason(self, bench: Benchmark) -> str:
        """Why :attr:`value` is None for ``bench`` (call only when it is)."""
        info = bench.extra_info
        if self.name.startswith("time"):
            return "no pytest-benchmark stats"
        if self.name in schema.ENERGY_FIGURES:
            if info.get(schema.ENERGY_NULL_REASON):
                return f"no energy: {info[schema.ENERGY_NULL_REASON]}"
            if info.get(schema.ENERGY_VALID) is False:
                reasons = info.get(schema.ENERGY_INVALID_REASONS) or [
                    "energy window flagged invalid"
                ]
                return "energy invalid: " + "; ".join(str(r) for r in reasons)
        if self.name == schema.WER and info.get(schema.WEIGHTS_SOURCE) == "random":
            return "random weights have no WER"
        if schema.SCHEMA_VERSION_FIELD not in info:
            return "not a whisperbench benchmark"
        return f"{self.name} not recorded"


def _stat(name: str) -> Callable[[Benchmark], float | None]:
    return lambda bench: finite(bench.stats.get(name))


def _stats_data(bench: Benchmark) -> Samples:
    return _numbers(bench.stats.get("data"))


def _info(name: str) -> Callable[[Benchmark], float | None]:
    return lambda bench: finite(bench.extra_info.get(name))


def _energy(name: str) -> Callable[[Benchmark], float | None]:
    def value(bench: Benchmark) -> float | None:
        if bench.extra_info.get(schema.ENERGY_VALID) is False:
            return None
        return finite(bench.extra_info.get(name))

    return value


def _info_list(name: str) -> Callable[[Benchmark], Samples]:
    return lambda bench: _numbers(bench.extra_info.get(name))


def _per_audio_second(invert: bool) -> Callable[[Benchmark], Samples]:
    """Per-round RTF (inference_s / audio_s) or RTFx (its inverse)."""

    def samples(bench: Benchmark) -> Samples:
        rounds = _numbers(bench.extra_info.get(schema.ROUNDS_INFERENCE_S))
        audio_s = finite(bench.extra_info.get(schema.AUDIO_S))
        if rounds is None or not audio_s or any(r <= 0 for r in rounds):
            return None
        return [audio_s / r if invert else r / audio_s for r in rounds]

    return samples


def _none(bench: Benchmark) -> Samples:
    return None


def _numbers(value: Any) -> Samples:
    if not isinstance(value, list) or not value:
        return None
    numbers = [finite(v) for v in value]
    return None if any(n is None for n in numbers) else [n for n in numbers if n is not None]


def _time_median(bench: Benchmark) -> float | None:
    value = finite(bench.stats.get("median"))
    if value is None and (data := _stats_data(bench)):
        value = statistics.median(data)
    return value


# fmt: off
_CATALOGUE = [
    Metric("time", "s", "lower", "sampled", "pytest-benchmark round time, median",
           _time_median, _stats_data),
    Metric("time_mean", "s", "lower", "sampled", "pytest-benchmark round time, mean",
           _stat("mean"), _stats_data),
    Metric("time_min", "s", "lower", "sampled", "pytest-benchmark round time, minimum",
           _stat("min"), _stats_data),
    Metric(schema.INFERENCE_S, "s", "lower", "sampled",
           "features + generate + decode, mean per round",
           _info(schema.INFERENCE_S), _info_list(schema.ROUNDS_INFERENCE_S)),
    Metric(schema.RTF, "", "lower", "sampled", "real-time factor: inference s / audio s",
           _info(schema.RTF), _per_audio_second(invert=False)),
    Metric(schema.RTFX, "x", "higher", "sampled", "inverse RTF: audio s per inference s",
           _info(schema.RTFX), _per_audio_second(invert=True)),
    Metric(schema.S_PER_TOKEN, "s", "lower", "sampled", "decoder seconds per generated token",
           _info(schema.S_PER_TOKEN), _info_list(schema.ROUNDS_S_PER_TOKEN)),
    Metric(schema.FEATURES_S, "s", "lower", "single", "feature extraction, mean per round",
           _info(schema.FEATURES_S), _none),
    Metric(schema.ENCODER_S, "s", "lower", "single", "encoder forward, mean per round",
           _info(schema.ENCODER_S), _none),
    Metric(schema.DECODER_S, "s", "lower", "single", "decoder (generate loop), mean per round",
           _info(schema.DECODER_S), _none),
    Metric(schema.ENERGY_J, "J", "lower", "single", "energy over the measured window",
           _energy(schema.ENERGY_J), _none),
    Metric(schema.ENERGY_ABOVE_IDLE_J, "J", "lower", "single",
           "window energy minus idle power x time", _energy(schema.ENERGY_ABOVE_IDLE_J), _none),
    Metric(schema.J_PER_AUDIO_S, "J", "lower", "single", "energy per second of audio transcribed",
           _energy(schema.J_PER_AUDIO_S), _none),
    Metric(schema.J_PER_TOKEN, "J", "lower", "single", "energy per generated token",
           _energy(schema.J_PER_TOKEN), _none),
    Metric(schema.AVG_POWER_W, "W", "lower", "single", "mean power over the window",
           _energy(schema.AVG_POWER_W), _none),
    Metric(schema.PEAK_RSS_BYTES, "bytes", "lower", "single", "peak resident memory of the process",
           _info(schema.PEAK_RSS_BYTES), _none),
    Metric(schema.NVML_PROCESS_GPU_MEMORY_BYTES, "bytes", "lower", "single",
           "GPU memory of the process as NVML reports it",
           _info(schema.NVML_PROCESS_GPU_MEMORY_BYTES), _none),
    Metric(schema.CUDA_PEAK_ALLOCATED_BYTES, "bytes", "lower", "exact",
           "torch CUDA allocator peak allocated", _info(schema.CUDA_PEAK_ALLOCATED_BYTES), _none),
    Metric(schema.CUDA_PEAK_RESERVED_BYTES, "bytes", "lower", "exact",
           "torch CUDA allocator peak reserved", _info(schema.CUDA_PEAK_RESERVED_BYTES), _none),
    Metric(schema.WER, "", "lower", "exact", "word error rate against the reference text",
           _info(schema.WER), _none),
]
# fmt: on

#: Every comparable metric by name.
METRICS: Mapping[str, Metric] = {metric.name: metric for metric in _CATALOGUE}

#: Shown by ``compare`` when ``--metrics`` is not given (plus every gated metric).
DEFAULT_METRICS = (
    "time",
    schema.RTF,
    schema.S_PER_TOKEN,
    schema.J_PER_AUDIO_S,
    schema.ENERGY_J,
    schema.PEAK_RSS_BYTES,
    schema.CUDA_PEAK_ALLOCATED_BYTES,
    schema.WER,
)


def unknown_metric_message(name: str) -> str:
    return f"unknown metric {name!r}; known: {', '.join(METRICS)}"
