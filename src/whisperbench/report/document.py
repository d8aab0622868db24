"""The report as a document: blocks (headings, paragraphs, tables, images) and their forms.

Length: over 450 lines because the blocks, the tables' columns, the sections (comparison,
figures with their numbers) and both renderings (Markdown, one-file HTML) share the
:class:`Block` and :class:`Table` types; each part is short.

:func:`build_report` turns merged runs (shards of one sweep from several GPUs or nodes, or
runs to set side by side) into :class:`Block` s, drawing the figures
(:mod:`whisperbench.report.plots`, matplotlib, loaded only then) into the output folder,
each followed by the numbers it plots; given a baseline, a comparison section with the
gate's deltas and verdict (:mod:`whisperbench.compare`). :func:`render_markdown` and
:func:`render_html` write those blocks out; the HTML is one self-contained file (figures
embedded as data URIs) laid out to fit a 1280 px window. Table cells are the JSON's own
values (4 significant digits, memory in MiB); a figure whose data are all null is not
drawn, and the report says why. Every text that comes from a run (names, machine facts)
is escaped in both forms: control characters shown, never obeyed; no HTML from a run.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from whisperbench import schema
from whisperbench.report.data import ReportRow, report_rows, workload_label
from whisperbench.report.outcome import Figure, Outcome
from whisperbench.runs import Run, RunError, host_fact, printable

if TYPE_CHECKING:
    from whisperbench.compare import CompareOptions

__all__ = [
    "Block",
    "Column",
    "Table",
    "build_report",
    "format_number",
    "render_html",
    "render_markdown",
    "table",
]

MIB = 2**20


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[ReportRow], object]
    numeric: bool = True
    constant_dropped: bool = False  #: left out when every row has the same value


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]


@dataclass(frozen=True)
class Block:
    """One piece of the report: heading, paragraph, list, table or image."""

    kind: str  #: "h1", "h2", "h3", "p", "list", "table", "image", "data" (a figure's numbers)
    text: str = ""
    items: Sequence[str] = ()
    table: Table | None = None


def format_number(value: object) -> str:
    """A table cell: 4 significant digits, "-" for null, text unchanged."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _mib(field: str) -> Callable[[ReportRow], float | None]:
    def value(row: ReportRow) -> float | None:
        raw = row.get(field)
        return None if raw is None else raw / MIB

    return value


def _field(field: str) -> Callable[[ReportRow], float | None]:
    return lambda row: row.get(field)


RESULT_COLUMNS = [
    Column("run", lambda r: r.source, numeric=False),
    Column("model", lambda r: r.model, numeric=False),
    Column("dtype", lambda r: r.dtype, numeric=False),
    Column("device", lambda r: r.device, numeric=False, constant_dropped=True),
    Column("machine", lambda r: r.machine, numeric=False, constant_dropped=True),
    Column("SM MHz", lambda r: r.sm_clock_mhz),
    Column("clip s", lambda r: r.clip_s),
    Column("batch", lambda r: r.batch_size),
    Column("rounds", lambda r: r.rounds),
    Column("RTF", _field(schema.RTF)),
    Column("RTFx", _field(schema.RTFX)),
    Column("inference s", _field(schema.INFERENCE_S)),
    Column("s/token", _field(schema.S_PER_TOKEN)),
    Column("WER", _field(schema.WER)),
    Column("J/audio s", _field(schema.J_PER_AUDIO_S)),
    Column("GPU alloc MiB", _mib(schema.CUDA_PEAK_ALLOCATED_BYTES)),
    Column("RSS MiB", _mib(schema.PEAK_RSS_BYTES)),
]

PHASE_COLUMNS = [
    Column("run", lambda r: r.source, numeric=False),
    Column("model", lambda r: r.model, numeric=False),
    Column("dtype", lambda r: r.dtype, numeric=False),
    Column("workload", workload_label, numeric=False),
    Column("features s", _field(schema.FEATURES_S)),
    Column("encoder s", _field(schema.ENCODER_S)),
    Column("decoder s", _field(schema.DECODER_S)),
    Column("detokenize s", _field(schema.DETOKENIZE_S)),
    Column("inference s", _field(schema.INFERENCE_S)),
    Column("tokens", _field(schema.TOKENS)),
    Column("s/token", _field(schema.S_PER_TOKEN)),
]

ENERGY_COLUMNS = [
    Column("run", lambda r: r.source, numeric=False),
    Column("model", lambda r: r.model, numeric=False),
    Column("dtype", lambda r: r.dtype, numeric=False),
    Column("workload", workload_label, numeric=False),
    Column("energy J", _field(schema.ENERGY_J)),
    Column("above idle J", _field(schema.ENERGY_ABOVE_IDLE_J)),
    Column("J/audio s", _field(schema.J_PER_AUDIO_S)),
    Column("J/token", _field(schema.J_PER_TOKEN)),
    Column("avg W", _field(schema.AVG_POWER_W)),
    Column("idle W", _field(schema.IDLE_POWER_W)),
    Column("window s", _field(schema.ENERGY_WINDOW_S)),
    Column("note", lambda r: r.energy_note or "", numeric=False),
]

LEGEND = [
    "**RTF** (real-time factor) = sum of inference seconds / sum of audio seconds over the "
    "measured rounds; below 1 is faster than real time. **RTFx** = 1 / RTF. **clip s**: "
    "seconds of each clip; a round transcribes **batch** clips at once.",
    "**inference s**: mean seconds per round from waveform in memory to text (features, "
    "generate, decode); model loading, file decoding and warm-up rounds are excluded.",
    "**s/token**: decoder seconds per generated token. **WER**: word error rate against the "
    "reference (null for random weights).",
    "**J/audio s**: energy over a window spanning many rounds divided by the audio seconds "
    "in it (NVML counter on GPUs, RAPL on CPUs); null where no sensor exists or the window "
    "was invalid, with the reason in the energy table.",
    "**GPU alloc MiB**: torch CUDA allocator peak; **RSS MiB**: process peak resident memory.",
]


def table(rows: Sequence[ReportRow], columns: Sequence[Column]) -> Table:
    """Cells of ``columns`` for ``rows``; columns empty in every row (or 'run' for a single
    run, or a column marked ``constant_dropped`` with one value: the runs table says it)
    are dropped."""
    kept = []
    for column in columns:
        values = [column.value(row) for row in rows]
        if all(value is None or value == "" for value in values):
            continue
        constant = len({str(value) for value in values}) == 1
        if constant and (column.header == "run" or column.constant_dropped):
            continue
        kept.append(column)
    return Table(
        headers=[c.header for c in kept],
        rows=[[format_number(c.value(row)) for c in kept] for row in rows],
        numeric=[c.numeric for c in kept],
    )


def _engines_blocks(runs: Sequence[Run]) -> list[Block]:
    """Cells of the same work on other engines or settings: time ratio and agreement."""
    from whisperbench.report.agreement import engine_label, render_table

    cells = [
        (f"{run.label}:{bench.fullname}", bench.extra_info)
        for run in runs
        for bench in run.benchmarks
    ]
    if len({engine_label(info) for _, info in cells}) < 2:
        return []  # one engine and setting: the dtype tables and figures say it all
    lines = render_table(cells)
    if not lines:
        return []
    headers = [cell.strip() for cell in lines[0].strip("|").split("|")]
    body = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    numeric = [not h.startswith(("model", "engine", "against")) for h in headers]
    return [
        Block("h2", "Engines and settings on the same work"),
        Block("table", table=Table(headers=headers, rows=body, numeric=numeric)),
        Block(
            "p",
            "Time ratio: this cell's RTF over the reference's (above 1: slower). Agreement "
            "WER: this cell's transcripts scored against the reference cell's (0: the same "
            "words). The reference is CTranslate2 int8 where it ran.",
        ),
    ]


def build_report(
    runs: Sequence[Run],
    out: Path,
    title: str,
    *,
    rtf_deadline: float | None = None,
    profile_folders: Sequence[Path] = (),
    baseline: Sequence[Run] = (),
    gate: CompareOptions | None = None,
) -> list[Block]:
    """Draw the figures into ``out`` and return the report's blocks (with an operating-point
    section when a configuration was measured at several SM clocks).

    ``baseline``: runs to compare ``runs`` against (a comparison section: the gate's table,
    verdict and a figure of the changes, judged with ``gate``, default: nothing gated; a
    comparison the gate refuses, such as runs from other machines, is reported as such).
    Raises :class:`RunError` when no run holds a whisperbench benchmark.
    """
    from whisperbench.report.engines import engines_figure
    from whisperbench.report.plots import FIGURES

    everything = [*baseline, *runs]
    rows, skipped = report_rows(everything)
    if not rows:
        raise RunError("no whisperbench benchmark in the given runs (no extra_info.schema_version)")
    rows.sort(
        key=lambda r: (
            r.parameters or 0,
            r.model,
            r.dtype,
            r.clip_s or 0,
            r.batch_size or 0,
            r.sm_clock_mhz or 0,
            r.source,
        )
    )
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    blocks = [
        Block("h1", title),
        Block("p", f"{len(rows)} benchmarks from {len(everything)} run(s), generated {now}."),
        Block("h2", "Runs"),
        Block("table", table=_runs_table(everything, rows)),
    ]
    out.mkdir(parents=True, exist_ok=True)
    if baseline:
        blocks += _comparison_blocks(baseline, runs, out, gate)
    blocks += [
        Block("h2", "Results"),
        Block("table", table=table(rows, RESULT_COLUMNS)),
        Block("list", items=LEGEND),
        Block("h2", "Phases"),
        Block("table", table=table(rows, PHASE_COLUMNS)),
        *_engines_blocks(runs),
        Block("h2", "Energy"),
    ]
    if any(row.get(schema.ENERGY_J) is not None for row in rows):
        blocks.append(Block("table", table=table(rows, ENERGY_COLUMNS)))
    else:
        notes = sorted({row.energy_note for row in rows if row.energy_note})
        blocks.append(
            Block(
                "p",
                "No valid energy measurement in any run"
                + (f": {'; '.join(notes)}." if notes else "."),
            )
        )
    blocks.append(Block("h2", "Figures"))
    out.mkdir(parents=True, exist_ok=True)
    for draw in (*FIGURES, engines_figure):
        blocks += _figure_blocks(draw(rows, out), out)
    blocks += _operating_points(runs, out, rtf_deadline, profile_folders)
    if skipped:
        blocks += [
            Block("h2", "Left out"),
            Block("p", "Benchmarks without whisperbench results (no schema_version):"),
            Block("list", items=skipped),
        ]
    return blocks


def _operating_points(
    runs: Sequence[Run], out: Path, rtf_deadline: float | None, profile_folders: Sequence[Path]
) -> list[Block]:
    from whisperbench.report.operating_points import operating_point_report

    analysis = operating_point_report(runs, out, rtf_deadline, profile_folders)
    if not analysis.findings and not analysis.figures:
        return []
    blocks = [Block("h2", "Operating points: low, high and optimal frequency")]
    for finding in analysis.findings:
        blocks += [Block("h3", finding.group), Block("list", items=finding.sentences())]
        blocks.append(
            Block(
                "table",
                table=Table(
                    ["SM MHz", "runs", "J/audio s", "RTF", "EDP", "Pareto"],
                    [
                        [
                            str(p.sm_clock_mhz),
                            str(p.runs),
                            format_number(p.j_per_audio_s),
                            format_number(p.rtf),
                            format_number(p.edp),
                            "yes" if p in finding.pareto else "",
                        ]
                        for p in finding.points
                    ],
                    [True, True, True, True, True, False],
                ),
            )
        )
    for figure_title, path, description in analysis.figures:
        blocks += [
            Block("h3", figure_title),
            Block("image", path.name, items=[figure_title]),
            Block("p", description),
        ]
    blocks += [Block("p", note) for note in analysis.notes]
    return blocks


def _figure_blocks(outcome: Outcome, out: Path) -> list[Block]:
    """A figure's heading, image, caption and the numbers it plots (or why it is missing)."""
    blocks = [Block("h3", outcome.title)]
    if not isinstance(outcome, Figure):
        (out / f"{outcome.key}.png").unlink(missing_ok=True)  # no stale figure left behind
        return [*blocks, Block("p", f"Not drawn: {outcome.reason}.")]
    blocks += [
        Block("image", outcome.path.name, items=[outcome.title]),
        Block("p", outcome.description),
    ]
    if outcome.points:
        interval = bool(outcome.interval_name) and any(
            p.low is not None or p.high is not None for p in outcome.points
        )
        headers = ["series", outcome.x_name, outcome.y_name]
        if interval:
            headers += ["low", "high"]
        cells = [
            [
                point.series,
                format_number(point.x),
                format_number(point.y),
                *([format_number(point.low), format_number(point.high)] if interval else []),
            ]
            for point in outcome.points
        ]
        numeric = [False, not isinstance(outcome.points[0].x, str), True] + [True] * (
            2 if interval else 0
        )
        what = f"; low and high: {outcome.interval_name}" if interval else ""
        blocks.append(
            Block("data", f"Data behind this figure{what}", table=Table(headers, cells, numeric))
        )
    return blocks


def _comparison_blocks(
    baseline: Sequence[Run], runs: Sequence[Run], out: Path, gate: CompareOptions | None
) -> list[Block]:
    """The comparison section: what was compared, the gate's verdict, its table, a figure."""
    from whisperbench.compare import CompareOptions, compare_runs
    from whisperbench.compare.render import (
        HEADERS,
        NUMERIC_COLUMNS,
        table_cells,
        verdict_line,
    )
    from whisperbench.report.plots import comparison_figure

    options = gate or CompareOptions()
    base_names = ", ".join(run.label for run in baseline)
    new_names = ", ".join(run.label for run in runs)
    try:
        comparison = compare_runs(baseline, runs, options)
    except RunError as exc:  # refused (other machines, nothing shared): say so, report the rest
        return [
            Block("h2", "Comparison with the baseline"),
            Block("p", f"Baseline: {base_names}. Compared: {new_names}. Not compared: {exc}."),
        ]
    blocks = [
        Block("h2", "Comparison with the baseline"),
        Block(
            "p",
            f"Baseline: {base_names}. Compared: {new_names}. Rule: a change is a regression "
            f"when its estimate is beyond the threshold and significant (one-sided p < "
            f"{options.alpha:g}) at the level of runs (see reports/README.md).",
        ),
        Block("p", f"**Verdict:** {verdict_line(comparison)}"),
        Block(
            "table",
            table=Table(
                list(HEADERS),
                table_cells(comparison),
                [i in NUMERIC_COLUMNS for i in range(len(HEADERS))],
            ),
        ),
    ]
    if comparison.machine_differences:
        blocks.append(
            Block(
                "p",
                "Compared across different machines or settings (allowed): "
                + "; ".join(comparison.machine_differences),
            )
        )
    blocks += _figure_blocks(comparison_figure(comparison, out), out)
    return blocks


def _machine(row: ReportRow) -> str:
    """GPU name with the SM clock and power limit it ran at, or the CPU model."""
    if not row.is_cuda:
        return row.machine
    details = []
    if row.sm_clock_mhz is not None:
        details.append(f"{row.sm_clock_mhz:g} MHz")
    if row.power_limit_w is not None:
        details.append(f"{row.power_limit_w:g} W limit")
    return f"{row.machine} ({', '.join(details)})" if details else row.machine


def _runs_table(runs: Sequence[Run], rows: Sequence[ReportRow]) -> Table:
    headers = ["run", "file", "date", "commit", "machine", "torch", "transformers", "benchmarks"]
    cells = []
    for run in runs:
        own = [row for row in rows if row.source == run.label]
        machine = "; ".join(sorted({_machine(row) for row in own}))
        commit = str(run.commit_info.get("id") or "-")[:12]
        cells.append(
            [
                run.label,
                str(run.path),
                str(run.datetime or "-")[:19],
                commit,
                machine or "-",
                str(host_fact(run, schema.TORCH_VERSION) or host_fact(run, "torch") or "-"),
                str(
                    host_fact(run, schema.TRANSFORMERS_VERSION)
                    or host_fact(run, "transformers")
                    or "-"
                ),
                str(len(run.benchmarks)),
            ]
        )
    return Table(headers, cells, [False] * (len(headers) - 1) + [True])


# -- rendering -------------------------------------------------------------------------------


def _md(text: str) -> str:
    """Text from anywhere (a run's names and facts too) made safe for Markdown: control
    characters shown, no HTML, no column breaks. Our own **bold** survives."""
    return html.escape(printable(text), quote=False).replace("|", "\\|")


def _md_table(t: Table) -> list[str]:
    lines = ["| " + " | ".join(_md(h) for h in t.headers) + " |"]
    lines.append("| " + " | ".join("---:" if n else "---" for n in t.numeric) + " |")
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in t.rows]
    return [*lines, ""]


def render_markdown(blocks: Sequence[Block]) -> str:
    """The report as Markdown; figures are the PNG files beside it."""
    lines: list[str] = []
    for block in blocks:
        if block.kind in {"h1", "h2", "h3"}:
            lines += ["#" * int(block.kind[1]) + " " + _md(block.text), ""]
        elif block.kind == "p":
            lines += [_md(block.text), ""]
        elif block.kind == "list":
            lines += [*[f"- {_md(item)}" for item in block.items], ""]
        elif block.kind == "image":
            lines += [f"![{_md(block.items[0])}]({block.text})", ""]
        elif block.kind == "data" and block.table is not None:
            lines += [f"{_md(block.text)}:", "", *_md_table(block.table)]
        elif block.table is not None:
            lines += _md_table(block.table)
    return "\n".join(lines)


_CSS = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 1.5em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.wide { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.78em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.45em; overflow-wrap: anywhere; }
th { background: #f3f3f3; overflow-wrap: normal; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
img { display: block; max-width: 100%; height: auto; border: 1px solid #eee; }
details { margin: 0.4em 0 1.2em; font-size: 0.95em; } summary { cursor: pointer; color: #444; }
p, li { max-width: 75em; }
"""


def render_html(blocks: Sequence[Block], title: str, images: Path | None = None) -> str:
    """The report as one HTML page. With ``images`` (the folder the figures were drawn
    into), every figure is embedded as a data URI, so the page is one self-contained file;
    without, it links to the PNG files by name."""
    parts = [
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_html(title)}</title><style>{_CSS}</style></head><body>"
    ]
    for block in blocks:
        if block.kind in {"h1", "h2", "h3"}:
            parts.append(f"<{block.kind}>{_html(block.text)}</{block.kind}>")
        elif block.kind == "p":
            parts.append(f"<p>{_inline(block.text)}</p>")
        elif block.kind == "list":
            parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>")
        elif block.kind == "image":
            parts.append(
                f'<img src="{_image_source(block.text, images)}" alt="{_html(block.items[0])}">'
            )
        elif block.kind == "data" and block.table is not None:
            parts.append(
                f"<details><summary>{_html(block.text)}</summary>{_html_table(block.table)}"
                "</details>"
            )
        elif block.table is not None:
            parts.append(_html_table(block.table))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _html(text: str) -> str:
    return html.escape(printable(text))


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{_html(h)}</th>" for h in t.headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_html(c)}</td>' if n else f"<td>{_html(c)}</td>"
            for c, n in zip(row, t.numeric, strict=True)
        )
        + "</tr>"
        for row in t.rows
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="wide">{table}</div>'


def _image_source(name: str, images: Path | None) -> str:
    """A data URI of the PNG ``name`` in ``images``, or the name itself."""
    if images is None:
        return html.escape(name)
    data = base64.b64encode((images / name).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def _inline(text: str) -> str:
    """Escape, then turn Markdown's **bold** into <strong>."""
    pieces = _html(text).split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(pieces))
