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
        if self.name in _ENERGY_FIELDS:
            if info.get("energy_null_reason"):
                return f"no energy: {info['energy_null_reason']}"
            if info.get("energy_valid") is False:
                reasons = info.get("energy_invalid_reasons") or ["energy window flagged invalid"]
                return "energy invalid: " + "; ".join(str(r) for r in reasons)
        if self.name == "wer" and info.get("weights_source") == "random":
            return "random weights have no WER"
        if "schema_version" not in info:
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
        if bench.extra_info.get("energy_valid") is False:
            return None
        return finite(bench.extra_info.get(name))

    return value


def _info_list(name: str) -> Callable[[Benchmark], Samples]:
    return lambda bench: _numbers(bench.extra_info.get(name))


def _per_audio_second(invert: bool) -> Callable[[Benchmark], Samples]:
    """Per-round RTF (inference_s / audio_s) or RTFx (its inverse)."""

    def samples(bench: Benchmark) -> Samples:
        rounds = _numbers(bench.extra_info.get("rounds_inference_s"))
        audio_s = finite(bench.extra_info.get("audio_s"))
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


_ENERGY_FIELDS = {"energy_j", "energy_above_idle_j", "j_per_audio_s", "j_per_token", "avg_power_w"}

# fmt: off
_CATALOGUE = [
    Metric("time", "s", "lower", "sampled", "pytest-benchmark round time, median",
           _time_median, _stats_data),
    Metric("time_mean", "s", "lower", "sampled", "pytest-benchmark round time, mean",
           _stat("mean"), _stats_data),
    Metric("time_min", "s", "lower", "sampled", "pytest-benchmark round time, minimum",
           _stat("min"), _stats_data),
    Metric("inference_s", "s", "lower", "sampled", "features + generate + decode, mean per round",
           _info("inference_s"), _info_list("rounds_inference_s")),
    Metric("rtf", "", "lower", "sampled", "real-time factor: inference s / audio s",
           _info("rtf"), _per_audio_second(invert=False)),
    Metric("rtfx", "x", "higher", "sampled", "inverse RTF: audio s per inference s",
           _info("rtfx"), _per_audio_second(invert=True)),
    Metric("s_per_token", "s", "lower", "sampled", "decoder seconds per generated token",
           _info("s_per_token"), _info_list("rounds_s_per_token")),
    Metric("features_s", "s", "lower", "single", "feature extraction, mean per round",
           _info("features_s"), _none),
    Metric("encoder_s", "s", "lower", "single", "encoder forward, mean per round",
           _info("encoder_s"), _none),
    Metric("decoder_s", "s", "lower", "single", "decoder (generate loop), mean per round",
           _info("decoder_s"), _none),
    Metric("energy_j", "J", "lower", "single", "energy over the measured window",
           _energy("energy_j"), _none),
    Metric("energy_above_idle_j", "J", "lower", "single", "window energy minus idle power x time",
           _energy("energy_above_idle_j"), _none),
    Metric("j_per_audio_s", "J", "lower", "single", "energy per second of audio transcribed",
           _energy("j_per_audio_s"), _none),
    Metric("j_per_token", "J", "lower", "single", "energy per generated token",
           _energy("j_per_token"), _none),
    Metric("avg_power_w", "W", "lower", "single", "mean power over the window",
           _energy("avg_power_w"), _none),
    Metric("peak_rss_bytes", "bytes", "lower", "single", "peak resident memory of the process",
           _info("peak_rss_bytes"), _none),
    Metric("nvml_process_gpu_memory_bytes", "bytes", "lower", "single",
           "GPU memory of the process as NVML reports it",
           _info("nvml_process_gpu_memory_bytes"), _none),
    Metric("cuda_peak_allocated_bytes", "bytes", "lower", "exact",
           "torch CUDA allocator peak allocated", _info("cuda_peak_allocated_bytes"), _none),
    Metric("cuda_peak_reserved_bytes", "bytes", "lower", "exact",
           "torch CUDA allocator peak reserved", _info("cuda_peak_reserved_bytes"), _none),
    Metric("wer", "", "lower", "exact", "word error rate against the reference text",
           _info("wer"), _none),
]
# fmt: on

#: Every comparable metric by name.
METRICS: Mapping[str, Metric] = {metric.name: metric for metric in _CATALOGUE}

#: Shown by ``compare`` when ``--metrics`` is not given (plus every gated metric).
DEFAULT_METRICS = (
    "time",
    "rtf",
    "s_per_token",
    "j_per_audio_s",
    "energy_j",
    "peak_rss_bytes",
    "cuda_peak_allocated_bytes",
    "wer",
)


def unknown_metric_message(name: str) -> str:
    return f"unknown metric {name!r}; known: {', '.join(METRICS)}"
