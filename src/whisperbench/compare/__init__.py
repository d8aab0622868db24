"""Gates on saved runs: is NEW worse than BASE, beyond a threshold and significantly so?

The flow, one module per step (each imports only the ones before it):

- :mod:`~whisperbench.compare.stats`: the tests, one per level of evidence (runs: t-test on
  log run values; interleaved pairs: Wilcoxon signed-rank; scipy loaded when a test runs);
- :mod:`~whisperbench.compare.metrics`: what can be compared (unit, direction, samples);
- :mod:`~whisperbench.compare.rule`: the verdict on one metric of one benchmark pair
  (:func:`decide`: threshold AND significance);
- :mod:`~whisperbench.compare.machines`: whether two runs come from comparable machines;
- :mod:`~whisperbench.compare.comparison`: :func:`compare_runs` pairs two sides (one run or
  several each) and judges every benchmark (:class:`Comparison`, :class:`CompareOptions`);
- :mod:`~whisperbench.compare.render`: the comparison as a terminal table or Markdown;
- :mod:`~whisperbench.compare.options`: the gate options, defined once for both front ends;
- :mod:`~whisperbench.compare.cli`: ``whisperbench compare BASE NEW`` (or ``--base FILE...
  --new FILE...``); the other front ends are the pytest plugin
  :mod:`whisperbench.pytest_gate` and ``whisperbench ab`` (:mod:`whisperbench.ab`).

Runs are loaded and paired by :mod:`whisperbench.runs`.
"""

from whisperbench.compare.comparison import (
    EXIT_OK,
    EXIT_REGRESSION,
    EXIT_USAGE,
    CompareOptions,
    Comparison,
    MachineMismatchError,
    Row,
    compare_runs,
)
from whisperbench.compare.metrics import DEFAULT_METRICS, METRICS, Metric
from whisperbench.compare.render import render_markdown, render_text, verdict_line
from whisperbench.compare.rule import Decision, Threshold, Verdict, decide
from whisperbench.compare.stats import DEFAULT_ALPHA

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_METRICS",
    "EXIT_OK",
    "EXIT_REGRESSION",
    "EXIT_USAGE",
    "METRICS",
    "CompareOptions",
    "Comparison",
    "Decision",
    "MachineMismatchError",
    "Metric",
    "Row",
    "Threshold",
    "Verdict",
    "compare_runs",
    "decide",
    "render_markdown",
    "render_text",
    "verdict_line",
]
