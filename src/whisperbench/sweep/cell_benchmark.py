"""The benchmark a sweep worker runs, once per cell (see :mod:`whisperbench.sweep.worker`).

Not collected by the project's test run: a worker hands this file to pytest itself, with its
plugin, which parametrizes ``cell_to_measure`` over the worker's cells.
"""

from __future__ import annotations

from typing import Any

from whisperbench.sweep.cells import CellRunner
from whisperbench.sweep.plan import Cell
from whisperbench.sweep.worker import skip_or_measure


def test_cell(benchmark: Any, cell_to_measure: Cell, cell_runner: CellRunner) -> None:
    skip_or_measure(cell_runner, cell_to_measure, benchmark)
