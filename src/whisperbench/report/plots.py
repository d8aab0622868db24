"""The report's figures, one function each, drawn with matplotlib's Agg backend to PNG.

Length: over 450 lines because it holds every figure, each a short function; they share
the series and axis helpers at the top.

Each function takes the report's rows and the output folder and returns a
:class:`~whisperbench.report.outcome.Figure` (file written, with the numbers it plots) or a
:class:`~whisperbench.report.outcome.Skipped` (why not: e.g. no energy sensor in any run),
never an empty plot; :data:`FIGURES` lists them in report order (add a new one there). RTF is
never pooled over audio lengths: a workload (clip length x batch) is part of every series.
Where several benchmarks fall on one point (shards of a sweep) they pool as ratios of sums
(measurement rule 2). Every statistic over rounds carries the range of its rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from whisperbench import schema
from whisperbench.compare.comparison import Comparison
from whisperbench.report.data import (
    BATCH,
    CLIP,
    DEVICE,
    DTYPE,
    ENGINE,
    MACHINE,
    MODEL,
    POWER_LIMIT,
    SM_CLOCK,
    SOURCE,
    WEIGHTS,
    WORKLOAD,
    Facet,
    ReportRow,
    groups,
    pooled_ratio,
    series_label,
    workload_label,
)
from whisperbench.report.outcome import Figure, Outcome, Point, Skipped
from whisperbench.runs import printable

__all__ = ["FIGURES", "Figure", "Outcome", "Point", "Skipped", "comparison_figure"]

_DPI = 110
_SIZE = (7.5, 4.6)
#: What may tell series apart, besides what a figure names itself.
_SERIES_FACETS = (MACHINE, DEVICE, WEIGHTS, WORKLOAD, SM_CLOCK, POWER_LIMIT, SOURCE, ENGINE)
#: Caption of the interval drawn on every statistic over rounds.
_ROUNDS_RANGE = "range of the rounds (fastest to slowest)"


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
    rows: Sequence[ReportRow],
    extra: Sequence[Facet] = (DTYPE,),
    x: Facet | None = None,
    exclude: Sequence[Facet] = (),
) -> dict[str, list[ReportRow]]:
    """Rows split into labelled series: ``extra`` facets, plus whatever else varies (but not
    ``x``, the facet on the x axis, nor ``exclude``). Runs are named only where two of them
    measured the same point (runs set side by side); shards of one sweep merge into one
    series. With clip length on the x axis, the batch size still tells series apart."""
    facets = [BATCH if f is WORKLOAD and x is CLIP else f for f in _SERIES_FACETS]
    varying = [
        f for f in facets if f not in extra and f is not x and f is not SOURCE and f not in exclude
    ]

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


def _ordered(series: dict[str, list[ReportRow]]) -> list[tuple[str, list[ReportRow]]]:
    """Series in numeric order: model size, dtype, clip seconds, batch, clock, then label."""

    def key(item: tuple[str, list[ReportRow]]) -> tuple[Any, ...]:
        label, members = item
        first = min(
            members,
            key=lambda r: (r.parameters or 0, r.clip_s or 0.0, r.batch_size or 0),
        )
        return (
            first.parameters or 0,
            first.dtype,
            first.clip_s or 0.0,
            first.batch_size or 0,
            first.sm_clock_mhz or 0.0,
            label,
        )

    return sorted(series.items(), key=key)


def _rounds_range(rows: Sequence[ReportRow]) -> tuple[float | None, float | None]:
    """Fastest and slowest per-round RTF over ``rows`` (None without per-round data)."""
    values = [v for r in rows for v in r.rounds_rtf]
    return (min(values), max(values)) if values else (None, None)


def _error_bars(
    points: Sequence[Point],
) -> list[list[float]]:
    """matplotlib's yerr (distances below and above) for points with a range (0 without)."""
    below = [p.y - p.low if p.low is not None else 0.0 for p in points]
    above = [p.high - p.y if p.high is not None else 0.0 for p in points]
    return [[max(v, 0.0) for v in below], [max(v, 0.0) for v in above]]


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


def _rtf_lines(
    axes: Axes, series: dict[str, list[ReportRow]], x_of: Callable[[ReportRow], Any]
) -> list[Point]:
    """One line per series: the pooled RTF at each x (``x_of(row)``), bars over its rounds
    from fastest to slowest; returns the points drawn."""
    plotted: list[Point] = []
    for label, members in _ordered(series):
        by_x = groups(members, x_of)
        points = [
            Point(label, float(x), y, *_rounds_range(by_x[x]))
            for x in sorted(by_x)
            if (y := _pooled_rtf(by_x[x])) is not None
        ]
        plotted += points
        axes.errorbar(
            [p.x for p in points],
            [p.y for p in points],
            yerr=_error_bars(points),
            marker="o",
            capsize=3,
            label=label,
        )
    return plotted


def rtf_vs_size(rows: Sequence[ReportRow], out: Path) -> Outcome:
    title = "Real-time factor vs model size"
    usable = [r for r in rows if r.parameters and _rtf(r) is not None and r.audio_s]
    if not usable:
        return Skipped("rtf_vs_size", title, "no benchmark recorded both RTF and parameters")
    figure, axes = _axes(title)
    series = _series(usable)
    plotted = _rtf_lines(axes, series, lambda r: r.parameters)
    _model_ticks(axes, usable)
    values = [p.y for p in plotted] + [p.high for p in plotted if p.high is not None]
    if max(values) > 8 * min(p.y for p in plotted) > 0:  # log when values span a decade
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
        "second of audio, per model, dtype and workload (clip length and batch: never "
        "pooled over lengths). Each point is sum(inference s) / sum(audio s) over its "
        "measured rounds; bars span its rounds, fastest to slowest. Warm-up and model "
        "loading excluded. Model size on a log scale (RTF too when it spans a decade).",
        points=tuple(plotted),
        x_name="parameters",
        y_name="RTF",
        interval_name=_ROUNDS_RANGE,
    )


def rtf_vs_audio(rows: Sequence[ReportRow], out: Path) -> Outcome:
    title = "Real-time factor vs audio length"
    usable = [r for r in rows if _rtf(r) is not None and r.audio_s and r.clip_s]
    lengths = sorted({r.clip_s for r in usable if r.clip_s is not None})
    if len(lengths) < 2:
        why = (
            f"every benchmark used {lengths[0]:g} s clips"
            if lengths
            else "no audio length recorded"
        )
        return Skipped("rtf_vs_audio", title, why)
    figure, axes = _axes(title)
    series = _series(usable, (MODEL, DTYPE), x=CLIP)
    plotted = _rtf_lines(axes, series, lambda r: r.clip_s)
    axes.set_xticks(lengths, [f"{v:g}" for v in lengths])
    axes.set_xlabel("seconds of audio per clip")
    axes.set_ylim(0, max([p.y for p in plotted] + [p.high or 0.0 for p in plotted]) * 1.1)
    axes.set_ylabel("RTF = inference s / audio s (lower is faster)")
    _legend(axes, len(series))
    path = out / "rtf_vs_audio.png"
    _save(figure, path)
    return Figure(
        "rtf_vs_audio",
        title,
        path,
        "RTF of each clip length on its own (never pooled over lengths), per model, dtype "
        "and batch size: short clips pay fixed costs (the encoder always sees 30 s of "
        "log-mel frames, padded). Each point is sum(inference s) / sum(audio s) over its "
        "rounds; bars span its rounds, fastest to slowest.",
        points=tuple(plotted),
        x_name="clip s",
        y_name="RTF",
        interval_name=_ROUNDS_RANGE,
    )


def energy_vs_dtype(rows: Sequence[ReportRow], out: Path) -> Outcome:
    title = "Energy per second of audio by dtype"
    usable = [r for r in rows if r.get(schema.J_PER_AUDIO_S) is not None]
    if not usable:
        notes = sorted({r.energy_note for r in rows if r.energy_note})
        why = "no valid energy measurement in any run"
        return Skipped("energy_vs_dtype", title, why + (f" ({'; '.join(notes)})" if notes else ""))
    models = sorted({r.model for r in usable}, key=lambda m: _size_of(usable, m))
    series = _series(usable, x=MODEL, exclude=(WORKLOAD,))
    figure, axes = _axes(title)
    width = 0.8 / max(len(series), 1)
    plotted: list[Point] = []
    for index, (label, members) in enumerate(_ordered(series)):
        by_model = groups(members, lambda r: r.model)
        offset = (index - (len(series) - 1) / 2) * width
        bars = [
            (i + offset, value)
            for i, m in enumerate(models)
            if (value := _j_per_audio_s(by_model.get(m, []))) is not None
        ]
        plotted += [
            Point(label, m, value)
            for m in models
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
        "transcribed in that window; a bar pools a model's workloads as sum(J) / "
        "sum(audio s). Windows flagged invalid (too short, 0 J) are left out. One "
        "reading per window, so no per-round bars. Includes idle power; see the table "
        "for above-idle energy.",
        points=tuple(plotted),
        x_name="model",
        y_name="J per audio s",
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
    series_by_label = dict(_ordered(_series(usable, exclude=(WORKLOAD,))))
    plotted: list[Point] = []
    for index, (label, series) in enumerate(series_by_label.items()):
        color = f"C{index % 10}"
        by_size = groups(series, lambda r: r.parameters)
        xs = sorted(by_size)
        for field, _, style in kinds:
            peaks = [
                max((v for r in by_size[x] if (v := r.get(field)) is not None), default=None)
                for x in xs
            ]
            points = [(x, p / 2**30) for x, p in zip(xs, peaks, strict=True) if p is not None]
            plotted += [Point(f"{label}: {field}", float(x), y) for x, y in points]
            if points:
                axes.plot(*zip(*points, strict=True), linestyle=style, marker="o", color=color)
    _model_ticks(axes, usable)
    axes.set_ylabel("peak memory (GiB)")
    axes.set_ylim(0, axes.get_ylim()[1] * 1.05)
    colors = [
        Line2D([], [], color=f"C{i % 10}", marker="o", label=label)
        for i, label in enumerate(series_by_label)
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
        "workloads). GPU: torch's CUDA caching allocator peaks, allocated "
        "(solid) and reserved (dotted). Process RSS (dashed) includes the Python "
        "runtime and libraries. A peak is one reading per window: no per-round bars.",
        points=tuple(plotted),
        x_name="parameters",
        y_name="GiB",
    )


def phases(rows: Sequence[ReportRow], out: Path) -> Outcome:
    title = "Where the time goes: phases per round"
    parts = [
        (schema.FEATURES_S, "features"),
        (schema.ENCODER_S, "encoder"),
        (schema.DECODER_S, "decoder"),
        (schema.DETOKENIZE_S, "detokenize"),
    ]
    usable = [r for r in rows if all(r.get(k) is not None for k, _ in parts[:3])]
    if not usable:
        return Skipped("phases", title, "no run recorded the phase times")
    size = {r.model: _size_of(usable, r.model) for r in usable}
    usable.sort(
        key=lambda r: (
            size[r.model],
            r.dtype,
            r.clip_s or 0,
            r.batch_size or 0,
            r.sm_clock_mhz or 0,
            r.source,
        )
    )
    labels = []
    for r in usable:
        extra = series_label(usable, r, (MACHINE, SM_CLOCK, SOURCE))
        where = f" [{extra}]" if extra else ""
        labels.append(f"{r.model} {r.dtype}, {workload_label(r)}{where}")
    height = max(3.0, 0.42 * len(usable) + 1.6)
    figure, axes = plt.subplots(figsize=(_SIZE[0] + 2.5, height), dpi=_DPI)
    axes.set_title(title, fontsize=12, loc="left")
    axes.grid(True, axis="x", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    left = [0.0] * len(usable)
    plotted: list[Point] = []
    for field, name in parts:
        widths = [r.get(field) or 0.0 for r in usable]
        axes.barh(range(len(usable)), widths, left=left, label=name)
        left = [a + b for a, b in zip(left, widths, strict=True)]
        plotted += [
            Point(label, name, value)
            for label, r in zip(labels, usable, strict=True)
            if (value := r.get(field)) is not None
        ]
    totals = [r.get(schema.INFERENCE_S) or done for r, done in zip(usable, left, strict=True)]
    other = [max(total - done, 0.0) for total, done in zip(totals, left, strict=True)]
    if any(o > 0.005 * t for o, t in zip(other, totals, strict=True)):
        axes.barh(range(len(usable)), other, left=left, label="other (sync, Python)", color="0.75")
    ranges = [_rounds_range([r]) for r in usable]
    round_points = [
        Point(
            label, "round total", total, *(v * r.audio_s if v and r.audio_s else None for v in span)
        )
        for label, r, total, span in zip(labels, usable, totals, ranges, strict=True)
    ]
    plotted += round_points
    axes.errorbar(
        totals,
        range(len(usable)),
        xerr=_error_bars(round_points),
        fmt="none",
        ecolor="0.2",
        capsize=3,
        label="rounds, fastest to slowest",
    )
    top = max(max(p.high or p.y for p in round_points), 1e-9)
    for index, r in enumerate(usable):
        shares = " · ".join(
            f"{name} {_seconds(value)}"
            for field, name in parts
            if (value := r.get(field)) is not None
        )
        axes.text(
            (round_points[index].high or totals[index]) + 0.01 * top,
            index,
            shares,
            va="center",
            fontsize=7,
            color="0.25",
        )
    axes.set_xlim(0, top * 1.9)  # room for each bar's phase values
    axes.set_yticks(range(len(usable)), labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("seconds per round (mean)")
    axes.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.01), ncols=6)
    axes.set_title(title, fontsize=12, loc="left", pad=24)
    path = out / "phases.png"
    _save(figure, path)
    return Figure(
        "phases",
        title,
        path,
        "Mean seconds per measured round in each phase, every one named beside its bar "
        "however small: log-mel feature extraction, the encoder forward, the decoder's "
        "generate loop and detokenizing, timed with the device synchronized at each edge. "
        "Grey: time of the round in no phase. Bars on each total span its rounds, fastest "
        "to slowest (phases are recorded as means only).",
        points=tuple(plotted),
        x_name="phase",
        y_name="seconds per round",
        interval_name=_ROUNDS_RANGE,
    )


def _seconds(value: float) -> str:
    """Seconds for a label: ``412 ms``, ``0.2 ms``, ``1.3 s``."""
    return f"{value:.3g} s" if value >= 1 else f"{value * 1000:.3g} ms"


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
    plotted: list[Point] = []
    for label, members in sorted(
        series.items(), key=lambda item: (models.index(item[1][0].model), item[0])
    ):
        points = [
            (r.get(schema.J_PER_AUDIO_S) or 0.0, 100 * (r.get(schema.WER) or 0.0)) for r in members
        ]
        plotted += [Point(label, x, y) for x, y in points]
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
        "and left is better. Neither is a statistic over rounds (WER is exact, energy "
        "one reading per window), so no bars.",
        points=tuple(plotted),
        x_name="J per audio s",
        y_name="WER %",
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
    plotted: list[Point] = []
    for label, series in _ordered(series_by_label):
        by_clock = groups(series, lambda r: r.sm_clock_mhz)
        xs = sorted(by_clock)
        speed = [
            Point(label, float(x), y, *_rounds_range(by_clock[x]))
            for x in xs
            if (y := _pooled_rtf(by_clock[x])) is not None
        ]
        plotted += speed
        right.errorbar(
            [p.x for p in speed],
            [p.y for p in speed],
            yerr=_error_bars(speed),
            marker="o",
            capsize=3,
            label=label,
        )
        energy = [(x, e) for x in xs if (e := _j_per_audio_s(by_clock[x])) is not None]
        plotted += [Point(f"{label}: J per audio s", float(x), e) for x, e in energy]
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
        "audio second (left, one reading per window) and RTF (right, bars spanning the "
        "rounds) at the clock recorded as each window opened. Lower clocks are slower; "
        "energy is often lowest in between.",
        points=tuple(plotted),
        x_name="SM MHz",
        y_name="RTF or J per audio s",
        interval_name=_ROUNDS_RANGE,
    )


def comparison_figure(comparison: Comparison, out: Path) -> Outcome:
    """The changes a comparison found, each with the gate's interval, gated metrics first
    (all metrics shown when none is gated); a shaded band marks each threshold."""
    title = "Changes against the baseline"
    gated = [row for row in comparison.rows if row.gated] or list(comparison.rows)
    rows = [row for row in gated if row.decision.change is not None]
    if not rows:
        return Skipped("comparison", title, "no change could be computed (values missing)")
    labels = [f"{printable(row.name)}: {row.metric.name}" for row in rows]
    height = max(2.6, 0.34 * len(rows) + 1.4)
    figure, axes = plt.subplots(figsize=(_SIZE[0] + 2.5, height), dpi=_DPI)
    axes.set_title(title, fontsize=12, loc="left")
    axes.grid(True, axis="x", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    plotted: list[Point] = []
    colours = {"regression": "C3", "improvement": "C2"}
    for index, (label, row) in enumerate(zip(labels, rows, strict=True)):
        decision = row.decision
        change = 100 * (decision.change or 0.0)
        low = None if decision.low is None else 100 * decision.low
        high = None if decision.high is None else 100 * decision.high
        point = Point(label, decision.verdict.value, change, low, high)
        plotted.append(point)
        (below,), (above,) = _error_bars([point])
        axes.errorbar(
            [change],
            [index],
            xerr=[[below], [above]],
            fmt="o",
            capsize=3,
            color=colours.get(decision.verdict.value, "C0"),
        )
        if row.threshold.relative:
            limit = row.threshold.amount
            sign = 1 if row.metric.better == "lower" else -1
            axes.fill_betweenx(
                [index - 0.4, index + 0.4], -limit, limit, color="0.9", zorder=0, linewidth=0
            )
            axes.plot([sign * limit] * 2, [index - 0.4, index + 0.4], color="0.5", lw=1)
    axes.axvline(0, color="0.3", lw=0.8)
    axes.set_yticks(range(len(rows)), labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("change NEW vs BASE, % (grey: within the threshold)")
    path = out / "comparison.png"
    _save(figure, path)
    interval = f"{1 - 2 * comparison.options.alpha:.0%}"
    return Figure(
        "comparison",
        title,
        path,
        f"Estimated change of each gated metric (every metric when none is gated), with the "
        f"gate's {interval} interval: from the runs' spread (several runs per side) or from "
        "interleaved pairs (whisperbench ab); no interval with one run per side. Red: "
        "regression, green: improvement, as the gate judged them.",
        points=tuple(plotted),
        x_name="verdict",
        y_name="change %",
        interval_name=f"the gate's {interval} interval",
    )


def _size_of(rows: Sequence[ReportRow], model: str) -> int:
    return max((r.parameters or 0 for r in rows if r.model == model), default=0)


#: Every figure of the report, in order.
FIGURES: Sequence[Callable[[Sequence[ReportRow], Path], Outcome]] = (
    rtf_vs_size,
    rtf_vs_audio,
    energy_vs_dtype,
    memory_vs_size,
    phases,
    wer_vs_energy,
    clocks,
)
