"""What a figure function returns: the figure it drew with the numbers behind it, or why not.

Kept apart from :mod:`whisperbench.report.plots` (which loads matplotlib) so the document
can be assembled, and the numbers checked, without importing it. A figure function takes
the report's rows and the output folder and returns an :data:`Outcome`; the report lists
:class:`Point` s under each figure ("data behind this figure"), the same numbers it plots.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Figure", "Outcome", "Point", "Skipped"]


@dataclass(frozen=True)
class Point:
    """One plotted value: its series, where it sits on the x axis, its y, and the interval
    drawn around it (None: no per-round data for one)."""

    series: str
    x: str | float
    y: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Figure:
    """A figure written to ``path``, its caption, and the numbers it plots."""

    key: str
    title: str
    path: Path
    description: str
    points: tuple[Point, ...] = ()
    x_name: str = "x"  #: header of the x column in the data table
    y_name: str = "y"
    interval_name: str = ""  #: what low..high is ("range of rounds"), empty for none


@dataclass(frozen=True)
class Skipped:
    """A figure not drawn, and why."""

    key: str
    title: str
    reason: str


Outcome = Figure | Skipped
