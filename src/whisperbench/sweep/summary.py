"""``experiment_summary.json``: what a sweep ran, where, each cell's outcome, and totals.

Built from the sweep folder alone (shards, failure records, executions), so it can be
rebuilt at any time (``whisperbench sweep status``, ``whisperbench merge``) and always tells
the truth about the folder. Totals split where the time went: worker start-up, model loads,
idle sampling, warm-up and the measured windows (``share_measuring`` is the windows' share of
all time spent in workers).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from whisperbench import schema
from whisperbench.jsonio import write_json_atomic
from whisperbench.sweep.folder import SweepFolder

__all__ = ["build_summary", "record_execution", "write_summary"]

EXECUTIONS_FILE = "executions.json"

#: Per-cell figures copied from its shard.
_CELL_FIGURES = (
    schema.RTF,
    schema.J_PER_AUDIO_S,
    schema.ENERGY_J,
    schema.ENERGY_VALID,
    schema.ENERGY_INVALID_REASONS,
    schema.WER,
    schema.SM_CLOCK_MHZ_SET,
    schema.SM_CLOCK_MHZ_ACTUAL,
    schema.POWER_LIMIT_W_ACTUAL,
    schema.CLOCK_CONTROL,
)
_TIMES = (
    schema.WORKER_START_S,
    schema.SESSION_LOAD_S,
    schema.PHASE_IDLE_S,
    schema.PHASE_WARMUP_S,
    schema.PHASE_MEASURE_S,
    schema.CELL_WALL_S,
)


def record_execution(folder: SweepFolder, entry: dict[str, Any]) -> None:
    """Append one execution (a local run, a SLURM submission) to ``executions.json``."""
    path = folder.root / EXECUTIONS_FILE
    entries = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    entries.append(entry)
    write_json_atomic(path, entries)


def _extra_info(shard: Path) -> dict[str, Any]:
    try:
        document = json.loads(shard.read_text(encoding="utf-8"))
        info: dict[str, Any] = document["benchmarks"][0]["extra_info"]
    except (OSError, ValueError, KeyError, IndexError):
        return {}
    return info


def build_summary(folder: SweepFolder) -> dict[str, Any]:
    """The summary of ``folder`` as it stands now."""
    cells: list[dict[str, Any]] = []
    totals = dict.fromkeys(_TIMES, 0.0)
    gpus: dict[str, str | None] = {}
    for status in folder.statuses():
        cell = status.cell
        entry: dict[str, Any] = {
            "id": cell.id,
            "index": cell.index,
            "run": cell.run,
            "state": status.state,
            "error": status.error,
            schema.MODEL: cell.options.model,
            schema.DTYPE: cell.options.dtype,
            schema.AUDIO_S: cell.options.audio_duration_s,
            schema.BATCH_SIZE: cell.options.batch_size,
            "operating_point": {
                schema.SM_CLOCK_MHZ_REQUESTED: cell.point.sm_clock_mhz,
                schema.MEM_CLOCK_MHZ_REQUESTED: cell.point.mem_clock_mhz,
                schema.POWER_LIMIT_W_REQUESTED: cell.point.power_limit_w,
            },
        }
        if status.state == "done":
            info = _extra_info(folder.shard(cell))
            stem = info.get(schema.FRAMEWORK_STEM)
            entry.update(
                {
                    "shard": str(folder.shard(cell).relative_to(folder.root)),
                    schema.WORKER: info.get(schema.WORKER),
                    schema.GPU_NAME: info.get(schema.GPU_NAME),
                    schema.GPU_UUID: info.get(schema.GPU_UUID),
                    "framework_files": [f"{stem}_profile.csv", f"{stem}_log.txt"] if stem else [],
                    **{name: info.get(name) for name in _CELL_FIGURES},
                    **{name: info.get(name) for name in _TIMES},
                }
            )
            if info.get(schema.GPU_UUID):
                gpus[str(info[schema.GPU_UUID])] = info.get(schema.GPU_NAME)
            for name in _TIMES:
                value = info.get(name)
                totals[name] += float(value) if isinstance(value, (int, float)) else 0.0
        cells.append(entry)
    states = [c["state"] for c in cells]
    in_workers = totals[schema.WORKER_START_S] + totals[schema.CELL_WALL_S]
    executions_path = folder.root / EXECUTIONS_FILE
    executions = (
        json.loads(executions_path.read_text(encoding="utf-8")) if executions_path.is_file() else []
    )
    return {
        "sweep": folder.plan.name,
        "plan": str(folder.root / "plan.toml"),
        "generated_unix_s": time.time(),
        "cells": len(cells),
        "done": states.count("done"),
        "failed": states.count("failed"),
        "pending": states.count("pending"),
        "gpus": gpus,
        "totals_s": totals,
        "share_measuring": totals[schema.PHASE_MEASURE_S] / in_workers if in_workers else None,
        "executions": executions,
        "outcomes": cells,
    }


def write_summary(folder: SweepFolder) -> dict[str, Any]:
    """Build the summary and write it to ``experiment_summary.json`` (atomically)."""
    summary = build_summary(folder)
    write_json_atomic(folder.summary_path, summary)
    return summary
