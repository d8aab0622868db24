"""Render a :class:`~whisperbench.compare.Comparison` as a terminal table or as Markdown.

Both forms carry the same facts: one row per (benchmark, metric) with both sides' values,
the estimated change and its interval, the threshold, the evidence (runs or pairs), the
p-value, the verdict and whether the gate fails; then why each row that is not "same" was
judged so; then the verdict in one line (:func:`verdict_line`).

Everything read from the runs (names, paths, machine facts, reasons) goes through
:func:`whisperbench.runs.printable`, so a control character in a JSON file (an ANSI escape
in a benchmark name) is shown, never obeyed; Markdown also escapes ``<``, ``>``, ``&`` and
``|``, so a name cannot become HTML in a job summary.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from whisperbench.compare.comparison import Comparison, Row
from whisperbench.compare.rule import MORE_RUNS, ONE_RUN_PER_SIDE, Verdict
from whisperbench.runs import Run, printable

__all__ = [
    "HEADERS",
    "NUMERIC_COLUMNS",
    "format_change",
    "format_value",
    "print_comparison",
    "render_markdown",
    "render_text",
    "table_cells",
    "verdict_line",
]

_HEADERS = (
    "benchmark",
    "metric",
    "base",
    "new",
    "change",
    "interval",
    "threshold",
    "evidence",
    "p",
    "verdict",
    "gate",
)
_RIGHT = {2, 3, 4, 5, 6, 8}
#: The table's columns, and which hold numbers (right-aligned), for other renderers.
HEADERS = _HEADERS
NUMERIC_COLUMNS = frozenset(_RIGHT)
_MAX_LISTED = 8


def format_value(value: float | None, unit: str) -> str:
    """A value with its unit, 4 significant digits (seconds scaled to ms/us, bytes to MiB)."""
    if value is None:
        return "-"
    if unit == "s":
        for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
            if abs(value) >= scale or scale == 1e-6:
                return f"{value / scale:.4g} {suffix}"
    if unit == "bytes":
        return f"{value / 2**20:.4g} MiB"
    if unit == "x":
        return f"{value:.4g}x"
    return f"{value:.4g} {unit}".rstrip()


def format_change(change: float | None) -> str:
    """A relative change as a signed percentage, ``-`` when unknown."""
    return "-" if change is None else f"{change:+.1%}"


def render_text(comparison: Comparison) -> str:
    """The comparison for a terminal: header, aligned table, reasons, the verdict line."""
    lines = _header(comparison)
    cells = [list(_HEADERS), *_body(comparison)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_HEADERS))]
    for index, line in enumerate(cells):
        text = "  ".join(
            cell.rjust(width) if i in _RIGHT else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        lines.append(text.rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    lines += ["", *_reasons(comparison), *_leftovers(comparison), "", verdict_line(comparison)]
    return "\n".join(lines)


def render_markdown(comparison: Comparison) -> str:
    """The comparison as GitHub-flavoured Markdown (for a job summary or a PR comment)."""
    lines = [f"## whisperbench {_command(comparison)}: {_md(verdict_line(comparison))}", ""]
    lines += [f"- {_md(line)}" for line in _header(comparison) if line]
    lines += [
        "",
        "| " + " | ".join(_HEADERS) + " |",
        "| " + " | ".join("---:" if i in _RIGHT else "---" for i in range(len(_HEADERS))) + " |",
    ]
    for cells in _body(comparison):
        cells = [_md(cell) for cell in cells]
        if cells[-1] == "FAIL":
            cells[-1] = "**FAIL**"
        lines.append("| " + " | ".join(cells) + " |")
    reasons = _reasons(comparison)
    if reasons:
        lines += ["", *[f"- {_md(line.strip())}" for line in reasons if line.strip()]]
    leftovers = _leftovers(comparison)
    if leftovers:
        lines += ["", *[f"- {_md(line.strip())}" for line in leftovers if line.strip()]]
    return "\n".join(lines) + "\n"


def table_cells(comparison: Comparison) -> list[list[str]]:
    """The table's rows as text cells (the benchmark named on its first row only), the
    same as :func:`render_text` prints, for other renderers (the report's HTML)."""
    return _body(comparison)


def _md(text: str) -> str:
    """A Markdown-safe cell: printable, no HTML, no column breaks."""
    return html.escape(printable(text), quote=False).replace("|", "\\|")


def _command(comparison: Comparison) -> str:
    return "ab" if comparison.paired else "compare"


def _body(comparison: Comparison) -> list[list[str]]:
    """Table cells, the benchmark named only on its first row."""
    body, previous = [], None
    for row in comparison.rows:
        cells = _cells(row, comparison)
        if cells[0] == previous:
            cells[0] = ""
        else:
            previous = cells[0]
        body.append(cells)
    return body


def _cells(row: Row, comparison: Comparison) -> list[str]:
    decision, unit = row.decision, row.metric.unit
    change = decision.change
    change_text = format_change(change)
    if change is None and decision.base is not None and decision.new is not None:
        change_text = f"{decision.new - decision.base:+.4g}"
    interval = "-"
    if decision.low is not None or decision.high is not None:
        low = "..." if decision.low is None else f"{decision.low:+.1%}"
        high = "..." if decision.high is None else f"{decision.high:+.1%}"
        interval = f"{low} to {high}"
    direction = "<" if row.metric.better == "lower" else ">"
    return [
        printable(row.name),
        f"{row.metric.name} ({direction})",
        format_value(decision.base, unit),
        format_value(decision.new, unit),
        change_text,
        interval,
        str(row.threshold) if row.gated else f"({row.threshold})",
        decision.test,
        "-" if decision.p is None else f"{decision.p:.2g}",
        decision.verdict.value,
        _gate_cell(row, comparison) if row.gated else "",
    ]


def _gate_cell(row: Row, comparison: Comparison) -> str:
    if row.fails(comparison.options):
        return "FAIL"
    tested = row.decision.verdict in {Verdict.SAME, Verdict.IMPROVEMENT}
    return "pass" if tested else "untested"


def _header(comparison: Comparison) -> list[str]:
    options = comparison.options
    gates = ", ".join(f"{name}:{threshold}" for name, threshold in options.gates.items())
    names = ("A", "B") if comparison.paired else ("BASE", "NEW ")
    if comparison.paired:
        evidence = (
            "Wilcoxon signed-rank across pairs of worker processes, each one's mean log ratio "
            "of its interleaved rounds (A B, B A, ...)"
        )
    else:
        evidence = "t-test on log run values (one value per run; 2+ runs on a side, 3+ in all)"
    interval = f"{1 - 2 * options.alpha:.0%}"
    lines = [
        *_describe(names[0], comparison.base, comparison.paired),
        *_describe(names[1], comparison.new, comparison.paired),
        f"gates: {gates or 'none'}; rule: estimate beyond threshold AND one-sided p < "
        f"{options.alpha:g}, {evidence}; interval: {interval} for the change; untested "
        f"checks {'fail' if options.fail_without_samples else 'do not fail'}; a gated metric "
        f"missing from {'B' if comparison.paired else 'NEW'} "
        f"{'is allowed' if options.allow_missing else 'fails'}; "
        "(<) lower is better, (>) higher is better; thresholds in () are not gated",
    ]
    if comparison.machine_differences:
        lines.append(
            "WARNING: compared across different machines/settings (allowed): "
            + _listing(comparison.machine_differences)
        )
    if comparison.other_differences:
        lines.append("software differs: " + _listing(comparison.other_differences))
    return [*lines, ""]


def _describe(side: str, runs: Sequence[Run], paired: bool) -> list[str]:
    if paired and len({str(run.path) for run in runs}) == 1:  # an A/B side: one command
        count = f" ({len(runs)} worker process{'es' if len(runs) > 1 else ''})"
        return [printable(f"{side}: {runs[0].path}{count}")]
    if len(runs) == 1:
        return [f"{side} {_run(runs[0])}"]
    return [f"{side} {len(runs)} runs:", *[f"  {_run(run)}" for run in runs]]


def _run(run: Run) -> str:
    commit = run.commit_info.get("id")
    dirty = "+dirty" if run.commit_info.get("dirty") else ""
    parts = [
        str(run.path),
        str(run.datetime or ""),
        f"commit {str(commit)[:12]}{dirty}" if commit else "",
    ]
    return printable(f"{run.label}: " + ", ".join(part for part in parts if part))


def _reasons(comparison: Comparison) -> list[str]:
    """Why, for every row that is not 'same'; identical reasons across benchmarks grouped."""
    grouped: dict[tuple[str, str, str, bool], list[str]] = defaultdict(list)
    for row in comparison.rows:
        if row.decision.verdict is Verdict.SAME:
            continue
        key = (
            row.metric.name,
            row.decision.verdict.value,
            row.decision.reason,
            row.fails(comparison.options),
        )
        grouped[key].append(row.name)
    if not grouped:
        return []
    lines = ["why:"]
    for (metric, verdict, reason, fails), names in sorted(
        grouped.items(), key=lambda item: (not item[0][3], item[0][0], item[0][1])
    ):
        mark = "FAIL " if fails else ""
        missing = (
            " (--allow-missing to let it pass)"
            if fails and verdict == Verdict.UNAVAILABLE.value
            else ""
        )
        lines.append(
            printable(f"  {mark}{metric} {verdict} in {_listing(names)}: {reason}{missing}")
        )
    if any(ONE_RUN_PER_SIDE in reason for _, _, reason, _ in grouped):
        lines.append(f"  note: {MORE_RUNS}")
    return lines


def _leftovers(comparison: Comparison) -> list[str]:
    lines = []
    if comparison.only_base:
        names = [bench.name for bench in comparison.only_base]
        fail = "FAIL " if comparison.missing_failures else ""
        lines.append(printable(f"{fail}only in BASE ({len(names)}): {_listing(names)}"))
    if comparison.only_new:
        names = [bench.name for bench in comparison.only_new]
        lines.append(printable(f"only in NEW ({len(names)}): {_listing(names)}"))
    return lines


def verdict_line(comparison: Comparison) -> str:
    """The gate's answer in one line: what failed and by how much, or why it passed."""
    options = comparison.options
    if not options.gates:
        return "nothing gated (use --fail METRIC:THRESHOLD); exit 0"
    gated = [row for row in comparison.rows if row.gated]
    counts: dict[str, int] = defaultdict(int)
    for row in gated:
        counts[row.decision.verdict.value] += 1
    tally = ", ".join(f"{count} {verdict}" for verdict, count in sorted(counts.items()))
    failures = comparison.failures
    total = len(failures) + len(comparison.missing_failures)
    if total:
        worst = _worst(failures)
        detail = f"; worst: {worst}" if worst else ""
        return printable(f"FAIL: {total} gated check(s) failed ({tally}){detail}; exit 1")
    undecided = counts[Verdict.UNTESTED.value] + counts[Verdict.INCONCLUSIVE.value]
    if undecided:
        return (
            f"OK: no regression shown, but {undecided} of {len(gated)} gated check(s) could "
            f"not decide ({tally}; see why:); exit 0"
        )
    return f"OK: no regression in gated metrics ({tally}); exit 0"


def _worst(failures: Sequence[Row]) -> str:
    """The failed row with the largest change, described in a phrase."""
    changed = [row for row in failures if row.decision.change is not None]
    if not changed:
        row = failures[0] if failures else None
        return (
            "" if row is None else f"{row.metric.name} {row.decision.verdict.value} in {row.name}"
        )
    row = max(changed, key=lambda r: abs(r.decision.change or 0.0))
    decision = row.decision
    interval = ""
    if decision.low is not None and decision.high is not None:
        interval = f" [{decision.low:+.1%}, {decision.high:+.1%}]"
    p = "" if decision.p is None else f", p={decision.p:.2g}"
    return (
        f"{row.metric.name} {format_change(decision.change)}{interval} in {row.name} "
        f"({decision.test}{p})"
    )


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def print_comparison(comparison: Comparison, markdown: Path | None) -> str | None:
    """Print the table and the verdict line; write the Markdown form to ``markdown`` when
    given. Returns why the Markdown file could not be written, else None."""
    print(render_text(comparison))
    if markdown is not None:
        try:
            markdown.write_text(render_markdown(comparison), encoding="utf-8")
        except OSError as exc:
            return f"cannot write {markdown}: {exc}"
    return None
