"""Merged runs as flat rows, the data behind ``whisperbench report``'s tables and figures.

One :class:`ReportRow` per whisperbench benchmark of every run (shards from several GPUs or
nodes simply add rows). Values are copied from the JSON unchanged, so a table shows the
run's own numbers; pooling for the figures is done here too, as ratios of sums.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from whisperbench import schema
from whisperbench.report.agreement import engine_label
from whisperbench.runs import Benchmark, Run, finite, gpu_name, gpu_states, host_fact, session_gpus

__all__ = [
    "VALUE_FIELDS",
    "ReportRow",
    "pooled_ratio",
    "report_rows",
    "series_label",
    "workload_label",
]

#: extra_info fields copied into every row (null stays None).
VALUE_FIELDS = (
    schema.RTF,
    schema.RTFX,
    schema.INFERENCE_S,
    schema.FEATURES_S,
    schema.ENCODER_S,
    schema.DECODER_S,
    schema.DETOKENIZE_S,
    schema.TOKENS,
    schema.S_PER_TOKEN,
    schema.WER,
    schema.ENERGY_J,
    schema.ENERGY_ABOVE_IDLE_J,
    schema.J_PER_AUDIO_S,
    schema.J_PER_TOKEN,
    schema.AVG_POWER_W,
    schema.IDLE_POWER_W,
    schema.ENERGY_WINDOW_S,
    schema.PEAK_RSS_BYTES,
    schema.CUDA_PEAK_ALLOCATED_BYTES,
    schema.CUDA_PEAK_RESERVED_BYTES,
    schema.NVML_PROCESS_GPU_MEMORY_BYTES,
)


@dataclass(frozen=True)
class ReportRow:
    """One benchmark of one run, flattened for tables and plots."""

    source: str  #: run label
    name: str  #: pytest-benchmark name
    model: str
    dtype: str
    device: str
    machine: str  #: GPU name for CUDA benchmarks, CPU model otherwise
    audio_s: float | None  #: audio seconds per round
    batch_size: int | None
    rounds: int | None
    parameters: int | None
    weights_source: str | None
    sm_clock_mhz: float | None  #: as the window opened (device_state "before")
    power_limit_w: float | None
    energy_valid: bool | None
    energy_note: str | None  #: why energy is null or invalid
    values: Mapping[str, float | None]
    #: engine and its non-default settings, no dtype (``report.agreement.engine_label``)
    engine: str = "transformers"
    clip_s: float | None = None  #: seconds per clip (audio_s / clips: the suite's are equal)
    clips: int | None = None  #: clips per round
    rounds_rtf: tuple[float, ...] = ()  #: per-round RTF: rounds_inference_s / audio_s

    def get(self, field: str) -> float | None:
        return self.values.get(field)

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")


def report_rows(runs: Iterable[Run]) -> tuple[list[ReportRow], list[str]]:
    """Rows of every whisperbench benchmark, and the names of benchmarks left out."""
    rows: list[ReportRow] = []
    skipped: list[str] = []
    for run in runs:
        for bench in run.benchmarks:
            if bench.schema_version is None:
                skipped.append(f"{run.label}: {bench.name}")
                continue
            rows.append(_row(run, bench))
    return rows, skipped


def workload_label(row: ReportRow) -> str:
    """What one round transcribed: ``5 s clip``, ``batch of 4 x 5 s clips`` (per-clip seconds,
    not the round's total)."""
    clip = row.clip_s if row.clip_s is not None else row.audio_s
    seconds = f"{clip:g} s" if clip is not None else "? s"
    count = row.clips or row.batch_size or 1
    batch = row.batch_size or count
    if count == 1:
        return f"{seconds} clip"
    if batch >= count:
        return f"batch of {count} \u00d7 {seconds} clips"
    return f"{count} \u00d7 {seconds} clips, batches of {batch}"


def pooled_ratio(
    rows: Sequence[ReportRow],
    numerator: Callable[[ReportRow], float | None],
    denominator: Callable[[ReportRow], float | None],
) -> float | None:
    """sum(numerator) / sum(denominator) over rows where both are known (None if none)."""
    pairs = [(numerator(row), denominator(row)) for row in rows]
    known = [(n, d) for n, d in pairs if n is not None and d is not None]
    total = sum(d for _, d in known)
    return sum(n for n, _ in known) / total if known and total > 0 else None


@dataclass(frozen=True)
class Facet:
    """What can tell series apart: how to read it off a row, and how to print it."""

    value: Callable[[ReportRow], Any]
    text: Callable[[ReportRow], str]


def _clock_text(row: ReportRow) -> str:
    clock = row.sm_clock_mhz
    if clock is None:
        return "SM clock ?" if row.is_cuda else ""  # a CPU run has none to tell
    return f"SM {clock:g} MHz"


def _limit_text(row: ReportRow) -> str:
    limit = row.power_limit_w
    if limit is None:
        return "limit ?" if row.is_cuda else ""
    return f"{limit:g} W limit"


MODEL = Facet(lambda r: r.model, lambda r: r.model)
DTYPE = Facet(lambda r: r.dtype, lambda r: r.dtype)
MACHINE = Facet(lambda r: r.machine, lambda r: r.machine)
DEVICE = Facet(lambda r: r.device, lambda r: r.device)
WEIGHTS = Facet(lambda r: r.weights_source, lambda r: f"{r.weights_source} weights")
BATCH = Facet(lambda r: r.batch_size, lambda r: f"batch {r.batch_size}")
SM_CLOCK = Facet(lambda r: r.sm_clock_mhz, _clock_text)
POWER_LIMIT = Facet(lambda r: r.power_limit_w, _limit_text)
SOURCE = Facet(lambda r: r.source, lambda r: r.source)
ENGINE = Facet(lambda r: r.engine, lambda r: r.engine)
WORKLOAD = Facet(lambda r: (r.clips, r.clip_s, r.batch_size), workload_label)
CLIP = Facet(lambda r: r.clip_s, lambda r: f"{r.clip_s:g} s clips" if r.clip_s else "clip ?")


def series_label(rows: Sequence[ReportRow], row: ReportRow, facets: Sequence[Facet]) -> str:
    """``row``'s ``facets`` that differ across ``rows`` (shards, clocks...), printed."""
    parts = []
    for facet in facets:
        if len({facet.text(other) for other in rows}) > 1 and facet.text(row):
            parts.append(facet.text(row))
    return ", ".join(parts)


def groups(
    rows: Iterable[ReportRow], key: Callable[[ReportRow], Any]
) -> dict[Any, list[ReportRow]]:
    grouped: dict[Any, list[ReportRow]] = defaultdict(list)
    for row in rows:
        grouped[key(row)].append(row)
    return dict(grouped)


def _row(run: Run, bench: Benchmark) -> ReportRow:
    info = bench.extra_info
    device = str(info.get(schema.DEVICE) or "?")
    gpu = _gpu(run, info, device)
    cpu = host_fact(run, schema.CPU_MODEL)
    machine = str(cpu or device)
    clock = None
    if gpu is not None:
        machine = gpu_name(run, gpu) or device
        clock = finite(gpu.get(schema.SM_CLOCK_MHZ))
        clock = clock if clock is not None else finite(gpu.get(schema.APP_SM_CLOCK_MHZ))
    energy_valid = info.get(schema.ENERGY_VALID)
    reasons = info.get(schema.ENERGY_INVALID_REASONS) or []
    note = info.get(schema.ENERGY_NULL_REASON) or (
        "; ".join(str(r) for r in reasons) if energy_valid is False else None
    )
    batch = info.get(schema.BATCH_SIZE)
    rounds = info.get(schema.ROUNDS)
    parameters = info.get(schema.PARAMETERS)
    audio_s = finite(info.get(schema.AUDIO_S))
    count = info.get(schema.CLIPS)
    clips = count if isinstance(count, int) and count > 0 else None
    clip_s = audio_s / clips if audio_s is not None and clips else None
    per_round = info.get(schema.ROUNDS_INFERENCE_S)
    rounds_rtf: tuple[float, ...] = ()
    if isinstance(per_round, list) and audio_s:
        numbers = [finite(v) for v in per_round]
        if numbers and all(v is not None for v in numbers):
            rounds_rtf = tuple(v / audio_s for v in numbers if v is not None)
    return ReportRow(
        source=run.label,
        name=bench.name,
        model=str(info.get(schema.MODEL) or "?"),
        dtype=str(info.get(schema.DTYPE) or "?"),
        device=device,
        machine=machine,
        audio_s=audio_s,
        batch_size=batch if isinstance(batch, int) else None,
        rounds=rounds if isinstance(rounds, int) else None,
        parameters=parameters if isinstance(parameters, int) else None,
        weights_source=info.get(schema.WEIGHTS_SOURCE),
        sm_clock_mhz=clock,
        power_limit_w=None if gpu is None else finite(gpu.get(schema.POWER_LIMIT_W)),
        energy_valid=energy_valid if isinstance(energy_valid, bool) else None,
        energy_note=str(note) if note else None,
        values={field: _value(info, field) for field in VALUE_FIELDS},
        engine=engine_label(info),
        clip_s=clip_s,
        clips=clips,
        rounds_rtf=rounds_rtf,
    )


def _value(info: Mapping[str, Any], field: str) -> float | None:
    if field in schema.ENERGY_FIGURES and info.get(schema.ENERGY_VALID) is False:
        return None  # an invalid window's numbers are not shown as measurements
    return finite(info.get(field))


def _gpu(run: Run, info: Mapping[str, Any], device: str) -> Mapping[str, Any] | None:
    """The state of the GPU a CUDA benchmark ran on as its window opened (the session's
    record of that GPU when the benchmark has none)."""
    if not device.startswith("cuda"):
        return None
    states = gpu_states(info)
    own = [state for state in states if state.get(schema.DEVICE) == device]
    if own or states:
        return (own or states)[0]
    gpus = session_gpus(run)
    return gpus[0] if gpus else None
