"""The report's figures, one function each, drawn with matplotlib's Agg backend to PNG.

Length: over 450 lines because it holds every figure, each a short function; they share
the series and axis helpers at the top.

Each function returns a :class:`Figure` (file written) or a :class:`Skipped` (why not:
e.g. no energy sensor in any run), never an empty plot. Points pool the benchmarks of a
series over audio lengths as ratios of sums (measurement rule 2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from whisperbench import schema
from whisperbench.report.data import (
    BATCH,
    DEVICE,
    DTYPE,
    ENGINE,
    MACHINE,
    MODEL,
    POWER_LIMIT,
    SM_CLOCK,
    SOURCE,
    WEIGHTS,
    Facet,
    ReportRow,
    groups,
    pooled_ratio,
    series_label,
)

__all__ = ["FIGURES", "Figure", "Skipped"]

_DPI = 110
_SIZE = (7.5, 4.6)
#: What may tell series apart, besides what a figure names itself.
_SERIES_FACETS = (MACHINE, DEVICE, WEIGHTS, BATCH, SM_CLOCK, POWER_LIMIT, SOURCE, ENGINE)


@dataclass(frozen=True)
class Figure:
    """A figure written to ``path``."""

    key: str
    title: str
    path: Path
    description: str


@dataclass(frozen=True)
class Skipped:
    """A figure not drawn, and why."""

    key: str
    title: str
    reason: str


Outcome = Figure | Skipped


def _rtf(row: ReportRow) -> float | None:
    return row.get(schema.INFERENCE_S)


def _audio(row: ReportRow) -> float | None:
    return row.audio_s


def _window_audio_s(row: ReportRow) -> float | None:
    """Audio seconds inside the energy window (energy_j / j_per_audio_s)."""
    energy, per_audio = row.get(schema.ENERGY_J), row.get(schema.J_PER_AUDIO_S)
    if energy is None or not per_audio:
        return None
    return energy / per_audio


def _j_per_audio_s(rows: Sequence[ReportRow]) -> float | None:
    pooled = pooled_ratio(rows, lambda r: r.get(schema.ENERGY_J), _window_audio_s)
    if pooled is None:
        values = [v for r in rows if (v := r.get(schema.J_PER_AUDIO_S)) is not None]
        pooled = sum(values) / len(values) if values else None
    return pooled


def _pooled_rtf(rows: Sequence[ReportRow]) -> float | None:
    return pooled_ratio(rows, _rtf, _audio)


def _series(
    rows: Sequence[ReportRow], extra: Sequence[Facet] = (DTYPE,), x: Facet | None = None
) -> dict[str, list[ReportRow]]:
    """Rows split into labelled series: ``extra`` facets, plus whatever else varies (but not
    ``x``, the facet on the x axis). Runs are named only where two of them measured the same
    point (runs set side by side); shards of one sweep merge into one series."""
    varying = [f for f in _SERIES_FACETS if f not in extra and f is not x and f is not SOURCE]

    def label(row: ReportRow) -> str:
        own = ", ".join(facet.text(row) for facet in extra)
        rest = series_label(rows, row, varying)
        return f"{own} ({rest})" if rest else own

    point = groups(rows, lambda r: (label(r), r.name, r.machine, r.device, r.sm_clock_mhz))
    shared = {
        id(r) for members in point.values() if len({m.source for m in members}) > 1 for r in members
    }

    def final(row: ReportRow) -> str:
        if id(row) not in shared:
            return label(row)
        base = label(row)
        return f"{base[:-1]}, {row.source})" if base.endswith(")") else f"{base} ({row.source})"

    return groups(rows, final)


def _legend(axes: Axes, entries: int) -> None:
    """A legend inside when short, outside on the right when it would cover the data."""
    if entries <= 3:
        axes.legend(fontsize=8, frameon=False)
    else:
        axes.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _plain_log_ticks(axes: Axes) -> None:
    plain = FuncFormatter(lambda value, _: f"{value:.3g}")
    axes.yaxis.set_major_formatter(plain)
    axes.yaxis.set_minor_formatter(plain)
    axes.tick_params(axis="y", which="minor", labelsize=7)


def _axes(title: str) -> tuple[Any, Axes]:
    figure, axes = plt.subplots(figsize=_SIZE, dpi=_DPI)
    axes.set_title(title, fontsize=12, loc="left")
    axes.grid(True, which="major", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _save(figure: Any, path: Path, extra: Sequence[Any] = ()) -> None:
    figure.savefig(
        path, dpi=_DPI, bbox_inches="tight", pad_inches=0.15, bbox_extra_artists=list(extra) or None
    )
    plt.close(figure)


def _model_ticks(axes: Axes, rows: Sequence[ReportRow]) -> None:
    """Label a parameter-count axis with the model names at their sizes."""
    sizes = {row.parameters: row.model for row in rows if row.parameters}
    axes.set_xscale("log")
    axes.set_xlim(min(sizes) / 1.6, max(sizes) * 1.6)  # room around one or a few sizes
    axes.set_xticks(sorted(sizes), [f"{sizes[p]}\n{p / 1e6:.0f} M" for p in sorted(sizes)])
    axes.xaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
    axes.set_xlabel("model (parameters)")


def rtf_vs_size(rows: Sequence[ReportRow], out: Path) -> Outcome:
    title = "Real-time factor vs model size"
    usable = [r for r in rows if r.parameters and _rtf(r) is not None and r.audio_s]
    if not usable:
        return Skipped("rtf_vs_size", title, "no benchmark recorded both RTF and parameters")
    figure, axes = _axes(title)
    series = _series(usable)
    values = []
    for label, members in sorted(series.items()):
        by_size = groups(members, lambda r: r.parameters)
        points = [(x, y) for x in sorted(by_size) if (y := _pooled_rtf(by_size[x])) is not None]
        values += [y for _, y in points]
        axes.plot([x for x, _ in points], [y for _, y in points], marker="o", label=label)
    _model_ticks(axes, usable)
    if max(values) > 8 * min(values) > 0:  # log only when the values span about a decade
        axes.set_yscale("log")
        _plain_log_ticks(axes)
    else:
        axes.set_ylim(0, max(values) * 1.1)
    axes.set_ylabel("RTF = inference s / audio s (lower is faster)")
    _legend(axes, len(series))
    path = out / "rtf_vs_size.png"
    _save(figure, path)
    return Figure(
        "rtf_vs_size",
        title,
        path,
        "Seconds of inference (features, generate, decode; edges synchronized) per "
        "second of audio, per model and dtype. Points pool audio lengths as "
        "sum(inference s) / sum(audio s) over the measured rounds; warm-up and model "
        "loading excluded. Model size on a log scale (RTF too when it spans a decade).",
    )


def energy_vs_dtype(rows: Sequence[ReportRow], out: Path) -> Outcome:
    title = "Energy per second of audio by dtype"
    usable = [r for r in rows if r.get(schema.J_PER_AUDIO_S) is not None]
    if not usable:
        notes = sorted({r.energy_note for r in rows if r.energy_note})
        why = "no valid energy measurement in any run"
        return Skipped("energy_vs_dtype", title, why + (f" ({'; '.join(notes)})" if notes else ""))
    models = sorted({r.model for r in usable}, key=lambda m: _size_of(usable, m))
    series = _series(usable, x=MODEL)
    figure, axes = _axes(title)
    width = 0.8 / max(len(series), 1)
    for index, (label, members) in enumerate(sorted(series.items())):
        by_model = groups(members, lambda r: r.model)
        offset = (index - (len(series) - 1) / 2) * width
        bars = [
            (i + offset, value)
            for i, m in enumerate(models)
            if (value := _j_per_audio_s(by_model.get(m, []))) is not None
        ]
        drawn = axes.bar(
            [x for x, _ in bars],
            [height for _, height in bars],
            width=width * 0.95,
            label=label,
            color=f"C{index % 10}",
        )
        axes.bar_label(drawn, fmt="%.3g", fontsize=7, padding=2)
    axes.set_xticks(range(len(models)), models)
    axes.set_ylabel("J per audio second (lower is better)")
    axes.set_xlabel("model")
    _legend(axes, len(series))
    path = out / "energy_vs_dtype.png"
    _save(figure, path)
    return Figure(
        "energy_vs_dtype",
        title,
        path,
        "Energy of the device(s) metered over a window spanning many rounds (NVML "
        "total-energy counter on GPUs, RAPL on CPUs), divided by the audio seconds "
        "transcribed in that window. Windows flagged invalid (too short, 0 J) are "
        "left out. Includes idle power; see the table for above-idle energy.",
    )


def memory_vs_size(rows: Sequence[ReportRow], out: Path) -> Outcome:
    title = "Peak memory vs model size"
    kinds: list[tuple[str, str, Literal["-", ":", "--"]]] = [
        (schema.CUDA_PEAK_ALLOCATED_BYTES, "GPU allocated (torch)", "-"),
        (schema.CUDA_PEAK_RESERVED_BYTES, "GPU reserved (torch)", ":"),
        (schema.PEAK_RSS_BYTES, "process RSS", "--"),
    ]
    cuda = any(r.is_cuda for r in rows)
    kinds = kinds if cuda else kinds[2:]
    usable = [r for r in rows if r.parameters and any(r.get(k) is not None for k, _, _ in kinds)]
    if not usable:
        return Skipped("memory_vs_size", title, "no peak memory recorded in any run")
    figure, axes = _axes(title)
    series_by_label = _series(usable)
    for index, (_, series) in enumerate(sorted(series_by_label.items())):
        color = f"C{index % 10}"
        by_size = groups(series, lambda r: r.parameters)
        xs = sorted(by_size)
        for field, _, style in kinds:
            peaks = [
                max((v for r in by_size[x] if (v := r.get(field)) is not None), default=None)
                for x in xs
            ]
            points = [(x, p / 2**30) for x, p in zip(xs, peaks, strict=True) if p is not None]
            if points:
                axes.plot(*zip(*points, strict=True), linestyle=style, marker="o", color=color)
    _model_ticks(axes, usable)
    axes.set_ylabel("peak memory (GiB)")
    axes.set_ylim(0, axes.get_ylim()[1] * 1.05)
    colors = [
        Line2D([], [], color=f"C{i % 10}", marker="o", label=label)
        for i, label in enumerate(sorted(series_by_label))
    ]
    styles = [Line2D([], [], color="0.3", linestyle=style, label=what) for _, what, style in kinds]
    first = axes.legend(
        handles=colors, fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0)
    )
    axes.add_artist(first)
    second = axes.legend(
        handles=styles,
        fontsize=8,
        frameon=False,
        loc="lower left",
        bbox_to_anchor=(1.01, 0.0),
        title="memory",
        title_fontsize=8,
    )
    path = out / "memory_vs_size.png"
    _save(figure, path, extra=(first, second))
    return Figure(
        "memory_vs_size",
        title,
        path,
        "Highest memory over the measured rounds of each model size (largest over "
        "audio lengths). GPU: torch's CUDA caching allocator peaks, allocated "
        "(solid) and reserved (dotted). Process RSS (dashed) includes the Python "
        "runtime and libraries.",
    )


def phases(rows: Sequence[ReportRow], out: Path) -> Outcome:
    title = "Where the time goes: phases per round"
    parts = [
        (schema.FEATURES_S, "features"),
        (schema.ENCODER_S, "encoder"),
        (schema.DECODER_S, "decoder"),
    ]
    usable = [r for r in rows if all(r.get(k) is not None for k, _ in parts)]
    if not usable:
        return Skipped("phases", title, "no run recorded the phase times")
    size = {r.model: _size_of(usable, r.model) for r in usable}
    usable.sort(
        key=lambda r: (
            size[r.model],
            r.dtype,
            r.audio_s or 0,
            r.batch_size or 0,
            r.sm_clock_mhz or 0,
            r.source,
        )
    )
    labels = []
    for r in usable:
        extra = series_label(usable, r, (MACHINE, SM_CLOCK, SOURCE))
        batch = f" x{r.batch_size}" if r.batch_size and r.batch_size > 1 else ""
        where = f" [{extra}]" if extra else ""
        labels.append(f"{r.model} {r.dtype} {r.audio_s or 0:g}s{batch}{where}")
    height = max(3.0, 0.32 * len(usable) + 1.4)
    figure, axes = plt.subplots(figsize=(_SIZE[0], height), dpi=_DPI)
    axes.set_title(title, fontsize=12, loc="left")
    axes.grid(True, axis="x", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    left = [0.0] * len(usable)
    for field, name in parts:
        widths = [r.get(field) or 0.0 for r in usable]
        axes.barh(range(len(usable)), widths, left=left, label=name)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    other = [
        max((r.get(schema.INFERENCE_S) or 0.0) - done, 0.0)
        for r, done in zip(usable, left, strict=True)
    ]
    if any(o > 0.005 * t for o, t in zip(other, left, strict=True)):
        axes.barh(
            range(len(usable)), other, left=left, label="other (detokenize, sync)", color="0.75"
        )
    axes.set_yticks(range(len(usable)), labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("seconds per round (mean)")
    _legend(axes, 4)
    path = out / "phases.png"
    _save(figure, path)
    return Figure(
        "phases",
        title,
        path,
        "Mean seconds per measured round in each phase: log-mel feature extraction, "
        "the encoder forward, and the decoder's generate loop, timed with the device "
        "synchronized at each edge. Grey: inference time not in a phase.",
    )


def wer_vs_energy(rows: Sequence[ReportRow], out: Path) -> Outcome:
    title = "Accuracy vs energy"
    usable = [
        r for r in rows if r.get(schema.WER) is not None and r.get(schema.J_PER_AUDIO_S) is not None
    ]
    if not usable:
        has_wer = any(r.get(schema.WER) is not None for r in rows)
        why = (
            "no valid energy measurement in any run"
            if has_wer
            else ("no WER in any run (random weights, or no reference text)")
        )
        return Skipped("wer_vs_energy", title, why)
    figure, axes = _axes(title)
    series = _series(usable, (MODEL, DTYPE))
    markers = "osD^vP*X"
    models = sorted({r.model for r in usable}, key=lambda m: _size_of(usable, m))
    for label, members in sorted(
        series.items(), key=lambda item: (models.index(item[1][0].model), item[0])
    ):
        points = [
            (r.get(schema.J_PER_AUDIO_S) or 0.0, 100 * (r.get(schema.WER) or 0.0)) for r in members
        ]
        marker = markers[models.index(members[0].model) % len(markers)]
        axes.scatter(
            [x for x, _ in points], [y for _, y in points], s=44, marker=marker, label=label
        )
    axes.set_xlabel("J per audio second (lower is better)")
    axes.set_ylabel("WER % (lower is better)")
    top = max(100 * (r.get(schema.WER) or 0.0) for r in usable)
    axes.set_ylim(0, top * 1.15 or 1.0)
    axes.set_xlim(left=0)
    _legend(axes, len(series))
    path = out / "wer_vs_energy.png"
    _save(figure, path)
    return Figure(
        "wer_vs_energy",
        title,
        path,
        "Word error rate of the transcript against the reference text (greedy "
        "decoding), against energy per audio second, one point per benchmark. Down "
        "and left is better.",
    )


def clocks(rows: Sequence[ReportRow], out: Path) -> Outcome:
    title = "Energy and speed vs SM clock"
    usable = [r for r in rows if r.sm_clock_mhz is not None]
    distinct = sorted({r.sm_clock_mhz for r in usable if r.sm_clock_mhz is not None})
    if len(distinct) < 2:
        why = (
            f"all runs at one SM clock ({distinct[0]:g} MHz)"
            if distinct
            else "no SM clock recorded (CPU runs or no NVML)"
        )
        return Skipped("clocks", title, why)
    figure, (left, right) = plt.subplots(1, 2, figsize=(_SIZE[0] + 2, _SIZE[1]), dpi=_DPI)
    figure.suptitle(title, fontsize=12, x=0.01, ha="left")
    for axes in (left, right):
        axes.grid(True, alpha=0.3)
        axes.spines[["top", "right"]].set_visible(False)
        axes.set_xlabel("SM clock (MHz)")
    drew_energy = False
    series_by_label = _series(usable, (MODEL, DTYPE), x=SM_CLOCK)
    for label, series in sorted(series_by_label.items()):
        by_clock = groups(series, lambda r: r.sm_clock_mhz)
        xs = sorted(by_clock)
        right.plot(xs, [_pooled_rtf(by_clock[x]) for x in xs], marker="o", label=label)
        energy = [(x, e) for x in xs if (e := _j_per_audio_s(by_clock[x])) is not None]
        if energy:
            drew_energy = True
            left.plot(*zip(*energy, strict=True), marker="o", label=label)
    left.set_ylabel("J per audio second (lower is better)")
    right.set_ylabel("RTF (lower is faster)")
    for axes in (left, right):
        axes.set_ylim(0, axes.get_ylim()[1] * 1.05)
        axes.set_xticks(distinct, [f"{c:g}" for c in distinct])
    if not drew_energy:
        left.text(0.5, 0.5, "no valid energy at any clock", ha="center", transform=left.transAxes)
    _legend(right, len(series_by_label))
    path = out / "clocks.png"
    _save(figure, path)
    return Figure(
        "clocks",
        title,
        path,
        "Runs at different SM clocks (e.g. locked with nvidia-smi -lgc): energy per "
        "audio second (left) and RTF (right) at the clock recorded as each window "
        "opened. Lower clocks are slower; energy is often lowest in between.",
    )


def _size_of(rows: Sequence[ReportRow], model: str) -> int:
    return max((r.parameters or 0 for r in rows if r.model == model), default=0)


#: Every figure of the report, in order.
FIGURES: Sequence[Callable[[Sequence[ReportRow], Path], Outcome]] = (
    rtf_vs_size,
    energy_vs_dtype,
    memory_vs_size,
    phases,
    wer_vs_energy,
    clocks,
)
