"""The headline figures of a run as a terminal table: what ``pytest benchmarks`` prints last.

One row per case (the benchmark's test id): rounds, RTF, seconds per token, WER, energy per
audio second, peak memory, and flags that say when a figure should not be trusted or was
not measured; notes under the table say why, once per reason. Values are the result's own
(``extra_info``), formatted like the report's tables. Everything from the result goes
through :func:`whisperbench.runs.printable`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from whisperbench import schema
from whisperbench.compare.stats import coefficient_of_variation
from whisperbench.runs import finite, printable

__all__ = ["NOISY_CV", "CaseResult", "summary_lines"]

#: Rounds spread beyond this (stdev / mean) are flagged noisy (pyperf's policy).
NOISY_CV = 0.10
MIB = 2**20

_HEADERS = ("case", "rounds", "RTF", "s/token", "WER", "J/audio s", "peak RSS MiB", "flags")


@dataclass(frozen=True)
class CaseResult:
    """One benchmark as the suite left it: its id, whether it passed, its ``extra_info``."""

    case: str
    passed: bool
    extra_info: Mapping[str, Any]


def _number(value: Any, digits: int = 4) -> str:
    number = finite(value)
    return "-" if number is None else f"{number:.{digits}g}"


def _flags_and_notes(info: Mapping[str, Any], passed: bool) -> tuple[list[str], list[str]]:
    flags: list[str] = []
    notes: list[str] = []
    if not passed:
        flags.append("FAILED")
    if info.get(schema.J_PER_AUDIO_S) is None:
        reason = info.get(schema.ENERGY_NULL_REASON)
        if info.get(schema.ENERGY_VALID) is False and not reason:
            reasons = "; ".join(str(r) for r in info.get(schema.ENERGY_INVALID_REASONS) or [])
            flags.append("energy invalid")
            notes.append(f"energy invalid: {reasons or 'window flagged invalid'}")
        elif info:
            notes.append(f"J/audio s not measured: {reason or 'no energy reading'}")
    elif info.get(schema.ENERGY_VALID) is False:
        flags.append("energy invalid")
    if info.get(schema.WEIGHTS_SOURCE) == "random":
        flags.append("random weights")
        notes.append("random weights: cost only, no WER")
    elif info and info.get(schema.WER) is None:
        notes.append("WER not measured: no reference text")
    rounds = info.get(schema.ROUNDS_INFERENCE_S)
    if isinstance(rounds, list):
        numbers = [v for r in rounds if (v := finite(r)) is not None]
        cv = coefficient_of_variation(numbers)
        if cv is not None and cv > NOISY_CV:
            flags.append(f"noisy {cv:.0%}")
            notes.append(
                f"noisy: rounds spread over {NOISY_CV:.0%} of their mean (a busy machine?); "
                "compare several runs, or use whisperbench ab"
            )
    return flags, notes


def summary_lines(cases: Sequence[CaseResult]) -> list[str]:
    """The table and its notes, one string per line (empty for no cases)."""
    if not cases:
        return []
    rows = [list(_HEADERS)]
    notes: dict[str, int] = {}
    cuda = any(finite(c.extra_info.get(schema.CUDA_PEAK_ALLOCATED_BYTES)) for c in cases)
    if cuda:
        rows[0].insert(-1, "GPU alloc MiB")
    for case in cases:
        info = case.extra_info
        flags, case_notes = _flags_and_notes(info, case.passed)
        for note in case_notes:
            notes[note] = notes.get(note, 0) + 1
        rss = finite(info.get(schema.PEAK_RSS_BYTES))
        row = [
            printable(case.case),
            _number(info.get(schema.ROUNDS)),
            _number(info.get(schema.RTF)),
            _number(info.get(schema.S_PER_TOKEN)),
            _number(info.get(schema.WER)),
            _number(info.get(schema.J_PER_AUDIO_S)),
            "-" if rss is None else f"{rss / MIB:.0f}",
            printable(", ".join(flags)),
        ]
        if cuda:
            alloc = finite(info.get(schema.CUDA_PEAK_ALLOCATED_BYTES))
            row.insert(-1, "-" if alloc is None else f"{alloc / MIB:.0f}")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(width) if i in (0, len(row) - 1) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    for note, count in notes.items():
        lines.append(printable(f"note: {note} ({count} of {len(cases)} cases)"))
    return lines
