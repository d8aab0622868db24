"""Tables and figures of saved runs: ``whisperbench report``.

The flow, one module per step (each imports only the ones before it):

- :mod:`~whisperbench.report.data`: merged runs as flat :class:`ReportRow` s (the JSON's own
  values) and pooling as ratios of sums;
- :mod:`~whisperbench.report.plots`: one figure per function, PNG through matplotlib's Agg
  backend (imported only when a report is drawn);
- :mod:`~whisperbench.report.document`: :func:`build_report` makes the document's blocks
  and draws the figures; :func:`render_markdown` and :func:`render_html` write it out;
- :mod:`~whisperbench.report.cli`: ``whisperbench report RUN... -o DIR``.

Runs are loaded by :mod:`whisperbench.runs`.
"""

from whisperbench.report.data import ReportRow, report_rows
from whisperbench.report.document import (
    Block,
    Table,
    build_report,
    format_number,
    render_html,
    render_markdown,
)

__all__ = [
    "Block",
    "ReportRow",
    "Table",
    "build_report",
    "format_number",
    "render_html",
    "render_markdown",
    "report_rows",
]
