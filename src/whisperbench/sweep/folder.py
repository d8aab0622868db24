"""The sweep folder: one per sweep, resumable, shared by every worker and node.

::

    SWEEP/
      plan.toml                 the plan as given
      cells.json                its expansion (what ``whisperbench sweep plan`` prints)
      shards/<cell>.json        one pytest-benchmark JSON per finished cell (written atomically)
      shards/<cell>.failed.json why a cell failed (OOM, a killed node...); --retry-failed reruns
      A100_freq_510_run_01_profile.csv   the original framework's layout: NVML time series
      A100_freq_510_run_01_log.txt       and the log of each cell (per configuration folder
      experiment_summary.json            when the plan has several); what ran, where, outcome
      slurm/                    sbatch scripts, job ids, task output (SLURM executor)
      .claims/ .clock-restore/  which worker holds which cell; how to restore a GPU's clocks

A cell is *done* when its shard exists; shards are renamed into place complete, so a killed
node loses at most the cell it was measuring. Workers claim a cell by creating its claim file
exclusively (``O_EXCL``, atomic on local and NFS file systems), so any number of workers share
one queue without a coordinator.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whisperbench.jsonio import write_json_atomic
from whisperbench.sweep.plan import Cell, PlanError, SweepPlan, load_plan

__all__ = [
    "CellStatus",
    "SweepFolder",
    "framework_stem",
    "gpu_type_of",
]

PLAN_FILE = "plan.toml"
CELLS_FILE = "cells.json"
SUMMARY_FILE = "experiment_summary.json"


@dataclass(frozen=True)
class CellStatus:
    """Where a cell stands: ``done`` (shard written), ``failed`` (and why) or ``pending``."""

    cell: Cell
    state: str
    error: str | None = None


class SweepFolder:
    """Paths and records of one sweep folder (see the module docstring)."""

    def __init__(self, root: Path, cells: Sequence[Cell], plan: SweepPlan) -> None:
        self.root = root.resolve()  # written into job scripts that run elsewhere
        self.cells = list(cells)
        self.plan = plan

    # -- creating and opening -----------------------------------------------------------------

    @classmethod
    def create(cls, root: Path, plan: SweepPlan) -> SweepFolder:
        """Make (or reopen) ``root`` for ``plan``.

        Raises:
            PlanError: ``root`` already holds a sweep of a different plan (results of two
                plans never mix in one folder).
        """
        cells = plan.cells()
        existing = root / CELLS_FILE
        if existing.is_file():
            recorded = json.loads(existing.read_text(encoding="utf-8"))
            if recorded.get("cells") != [cell.to_json() for cell in cells]:
                raise PlanError(
                    f"{root} holds a sweep of another plan ({root / PLAN_FILE}); use a new "
                    "folder, or rerun with that plan to resume it"
                )
            return cls(root, cells, plan)
        (root / "shards").mkdir(parents=True, exist_ok=True)
        (root / PLAN_FILE).write_text(plan.text, encoding="utf-8")
        write_json_atomic(
            existing,
            {"plan": plan.name, "count": len(cells), "cells": [c.to_json() for c in cells]},
        )
        return cls(root, cells, plan)

    @classmethod
    def open(cls, root: Path) -> SweepFolder:
        """An existing sweep folder.

        Raises:
            PlanError: ``root`` is not a sweep folder.
        """
        if not (root / CELLS_FILE).is_file() or not (root / PLAN_FILE).is_file():
            raise PlanError(f"{root} is not a sweep folder (no {PLAN_FILE} and {CELLS_FILE})")
        plan = load_plan(root / PLAN_FILE)
        recorded = json.loads((root / CELLS_FILE).read_text(encoding="utf-8"))
        cells = [Cell.from_json(raw) for raw in recorded["cells"]]
        return cls(root, cells, plan)

    # -- paths ---------------------------------------------------------------------------------

    @property
    def shards(self) -> Path:
        return self.root / "shards"

    @property
    def claims(self) -> Path:
        return self.root / ".claims"

    @property
    def restore_dir(self) -> Path:
        return self.root / ".clock-restore"

    @property
    def slurm_dir(self) -> Path:
        return self.root / "slurm"

    @property
    def summary_path(self) -> Path:
        return self.root / SUMMARY_FILE

    def shard(self, cell: Cell) -> Path:
        return self.shards / f"{cell.id}.json"

    def failure(self, cell: Cell) -> Path:
        return self.shards / f"{cell.id}.failed.json"

    def framework_path(self, cell: Cell, gpu_type: str, suffix: str) -> Path:
        """``A100_freq_510_run_01_profile.csv`` (``suffix`` ``profile.csv`` or ``log.txt``):
        in the sweep folder, or in a folder per configuration when the plan has several
        (their file names would collide)."""
        configs = {c.config_id for c in self.cells}
        folder = self.root if len(configs) == 1 else self.root / cell.config_id
        folder.mkdir(parents=True, exist_ok=True)
        memory = len({c.point.mem_clock_mhz for c in self.cells}) > 1
        power = len({c.point.power_limit_w for c in self.cells}) > 1
        stem = framework_stem(cell, gpu_type, vary_memory=memory, vary_power=power)
        return folder / f"{stem}_{suffix}"

    # -- cell records --------------------------------------------------------------------------

    def status(self, cell: Cell) -> CellStatus:
        if self.shard(cell).is_file():
            return CellStatus(cell, "done")
        failure = self.failure(cell)
        if failure.is_file():
            try:
                error = json.loads(failure.read_text(encoding="utf-8")).get("error")
            except (OSError, ValueError):
                error = "failure record unreadable"
            return CellStatus(cell, "failed", str(error))
        return CellStatus(cell, "pending")

    def statuses(self) -> list[CellStatus]:
        return [self.status(cell) for cell in self.cells]

    def record_failure(self, cell: Cell, error: str, **details: Any) -> None:
        """Why ``cell`` failed (kept until the cell succeeds or ``--retry-failed``)."""
        record = {
            "cell": cell.id,
            "error": error,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "time_unix_s": time.time(),
            **details,
        }
        write_json_atomic(self.failure(cell), record)

    def clear_failures(self) -> int:
        """Forget every failure record (``--retry-failed``); returns how many."""
        count = 0
        for path in self.shards.glob("*.failed.json"):
            path.unlink(missing_ok=True)
            count += 1
        return count

    # -- claims --------------------------------------------------------------------------------

    def claim(self, cell: Cell, worker: str) -> bool:
        """Take ``cell`` for ``worker``; False when another worker holds it."""
        self.claims.mkdir(parents=True, exist_ok=True)
        path = self.claims / f"{cell.id}.claim"
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump({"worker": worker, "host": socket.gethostname(), "pid": os.getpid()}, stream)
        return True

    def release(self, cell: Cell) -> None:
        (self.claims / f"{cell.id}.claim").unlink(missing_ok=True)

    def clear_claims(self) -> int:
        """Drop every claim (a new local run: the workers that held them are gone)."""
        if not self.claims.is_dir():
            return 0
        count = 0
        for path in self.claims.glob("*.claim"):
            path.unlink(missing_ok=True)
            count += 1
        return count


_GPU_FAMILY = re.compile(r"\b([A-Z]{1,3}\d{1,4}[A-Z]{0,3})\b")


def gpu_type_of(name: str | None) -> str:
    """The framework's GPU label from an NVML name: ``NVIDIA A100-SXM4-80GB`` -> ``A100``,
    ``Tesla V100-SXM2-16GB`` -> ``V100``, ``NVIDIA H100 80GB HBM3`` -> ``H100``; ``CPU``
    without a GPU."""
    if not name:
        return "CPU"
    cleaned = re.sub(r"^(NVIDIA|Tesla|Quadro|GeForce)\s+", "", name.strip())
    match = _GPU_FAMILY.search(cleaned.replace("-", " "))
    return match.group(1) if match else re.sub(r"\W+", "", cleaned)[:16] or "GPU"


def framework_stem(
    cell: Cell, gpu_type: str, *, vary_memory: bool = False, vary_power: bool = False
) -> str:
    """``{GPU}_freq_{MHz}_run_{NN}``; ``freq_default`` when no SM clock was requested; the
    memory clock and power limit join the name only where the plan varies them."""
    point = cell.point
    freq = str(point.sm_clock_mhz) if point.sm_clock_mhz is not None else "default"
    parts = [gpu_type, "freq", freq]
    if vary_memory:
        parts += ["mem", str(point.mem_clock_mhz if point.mem_clock_mhz is not None else "default")]
    if vary_power:
        limit = f"{point.power_limit_w:g}W" if point.power_limit_w is not None else "default"
        parts += ["pl", limit]
    parts += ["run", f"{cell.run:02d}"]
    return "_".join(parts)
