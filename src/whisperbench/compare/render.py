"""Render a :class:`~whisperbench.compare.Comparison` as a terminal table or as Markdown.

Both forms carry the same facts: one row per (benchmark, metric) with both values, the
relative change, the threshold, the test and its p-value, the verdict and whether the gate
fails; then why each row that is not "same" was judged so; then one summary line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from whisperbench.compare.comparison import Comparison, Row
from whisperbench.compare.rule import Verdict
from whisperbench.runs import Run

__all__ = ["format_value", "render_markdown", "render_text"]

_HEADERS = (
    "benchmark",
    "metric",
    "base",
    "new",
    "change",
    "threshold",
    "test",
    "p",
    "verdict",
    "gate",
)
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


def render_text(comparison: Comparison) -> str:
    """The comparison for a terminal: header, aligned table, reasons, summary."""
    lines = _header(comparison)
    cells = [list(_HEADERS), *_body(comparison)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_HEADERS))]
    right = {2, 3, 4, 5, 7}
    for index, line in enumerate(cells):
        text = "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        lines.append(text.rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    lines += ["", *_reasons(comparison), *_leftovers(comparison), "", _summary(comparison)]
    return "\n".join(lines)


def render_markdown(comparison: Comparison) -> str:
    """The comparison as GitHub-flavoured Markdown (for a job summary or a PR comment)."""
    lines = [f"## whisperbench compare: {_summary(comparison)}", ""]
    lines += [f"- {line}" for line in _header(comparison) if line]
    lines += [
        "",
        "| " + " | ".join(_HEADERS) + " |",
        "| "
        + " | ".join("---:" if i in {2, 3, 4, 5, 7} else "---" for i in range(len(_HEADERS)))
        + " |",
    ]
    for cells in _body(comparison):
        cells = [cell.replace("|", "\\|") for cell in cells]
        if cells[-1] == "FAIL":
            cells[-1] = "**FAIL**"
        lines.append("| " + " | ".join(cells) + " |")
    reasons = _reasons(comparison)
    if reasons:
        lines += ["", *[f"- {line.strip()}" for line in reasons if line.strip()]]
    leftovers = _leftovers(comparison)
    if leftovers:
        lines += ["", *[f"- {line.strip()}" for line in leftovers if line.strip()]]
    return "\n".join(lines) + "\n"


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
    change_text = "-" if change is None else f"{change:+.1%}"
    if change is None and decision.base is not None and decision.new is not None:
        change_text = f"{decision.new - decision.base:+.4g}"
    direction = "<" if row.metric.better == "lower" else ">"
    return [
        row.base.name,
        f"{row.metric.name} ({direction})",
        format_value(decision.base, unit),
        format_value(decision.new, unit),
        change_text,
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
    lines = [
        f"BASE {_describe(comparison.base)}",
        f"NEW  {_describe(comparison.new)}",
        f"gates: {gates or 'none'}; rule: beyond threshold AND one-sided Mann-Whitney U "
        f"p < {options.alpha:g} on per-round samples; one-reading metrics are not tested "
        f"(no_samples{', fail' if options.fail_without_samples else ', do not fail'}); "
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


def _describe(run: Run) -> str:
    commit = run.commit_info.get("id")
    dirty = "+dirty" if run.commit_info.get("dirty") else ""
    parts = [
        str(run.path),
        run.datetime or "",
        f"commit {str(commit)[:12]}{dirty}" if commit else "",
    ]
    return f"{run.label}: " + ", ".join(part for part in parts if part)


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
        grouped[key].append(row.base.name)
    if not grouped:
        return []
    lines = ["why:"]
    for (metric, verdict, reason, fails), names in sorted(
        grouped.items(), key=lambda item: (not item[0][3], item[0][0], item[0][1])
    ):
        mark = "FAIL " if fails else ""
        lines.append(f"  {mark}{metric} {verdict} in {_listing(names)}: {reason}")
    return lines


def _leftovers(comparison: Comparison) -> list[str]:
    lines = []
    if comparison.only_base:
        names = [bench.name for bench in comparison.only_base]
        fail = "FAIL " if comparison.missing_failures else ""
        lines.append(f"{fail}only in BASE ({len(names)}): {_listing(names)}")
    if comparison.only_new:
        names = [bench.name for bench in comparison.only_new]
        lines.append(f"only in NEW ({len(names)}): {_listing(names)}")
    return lines


def _summary(comparison: Comparison) -> str:
    options = comparison.options
    if not options.gates:
        return "nothing gated (use --fail METRIC:THRESHOLD); exit 0"
    gated = [row for row in comparison.rows if row.gated]
    counts: dict[str, int] = defaultdict(int)
    for row in gated:
        counts[row.decision.verdict.value] += 1
    tally = ", ".join(f"{count} {verdict}" for verdict, count in sorted(counts.items()))
    failures = len(comparison.failures) + len(comparison.missing_failures)
    if failures:
        return f"FAIL: {failures} gated check(s) failed ({tally})"
    return f"OK: no regression in gated metrics ({tally})"


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")
