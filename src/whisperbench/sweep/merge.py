"""``whisperbench merge SWEEP -o merged.json``: one pytest-benchmark JSON of a sweep's shards.

The merged document is a pytest-benchmark JSON like any other (pytest-benchmark's own
``compare``, ``whisperbench compare`` and ``report`` read it): benchmarks in cell order, each
unique by its cell (its ``params`` carry model, dtype, audio seconds, batch size, operating
point, run and cell id) and carrying where it ran (``worker``, ``gpu_name``, ``gpu_uuid`` in
``extra_info``), so cells measured on different GPU models stay apart. ``machine_info`` is the
first shard's; every node's own is kept under ``whisperbench.machines``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from whisperbench import schema
from whisperbench.jsonio import write_json_atomic
from whisperbench.sweep.folder import SweepFolder
from whisperbench.sweep.summary import write_summary

__all__ = ["MergeError", "merge"]


class MergeError(RuntimeError):
    """Nothing to merge, or a shard that cannot be read."""


def merge(folder: SweepFolder, output: Path) -> tuple[int, list[str]]:
    """Write the merged JSON to ``output``; returns (benchmarks merged, lines about cells that
    are missing). Also refreshes ``experiment_summary.json``.

    Raises:
        MergeError: no finished cell, or an unreadable shard.
    """
    documents: list[dict[str, Any]] = []
    missing: list[str] = []
    for status in folder.statuses():
        if status.state != "done":
            why = f": {status.error}" if status.error else ""
            missing.append(f"{status.cell.id} {status.state}{why}")
            continue
        path = folder.shard(status.cell)
        try:
            documents.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            raise MergeError(f"cannot read shard {path}: {error}") from None
    if not documents:
        raise MergeError(f"nothing to merge in {folder.root}: 0 of {len(folder.cells)} cells done")
    first = documents[0]
    machines: dict[str, Any] = {}
    benchmarks: list[Any] = []
    for document in documents:
        for bench in document.get("benchmarks", []):
            worker = str(bench.get("extra_info", {}).get(schema.WORKER, "?"))
            host = worker.rsplit(":", 1)[0]
            machines.setdefault(host, document.get("machine_info", {}).get(schema.WHISPERBENCH))
            benchmarks.append(bench)
    merged = {
        "machine_info": first.get("machine_info", {}),
        "commit_info": first.get("commit_info", {}),
        "benchmarks": benchmarks,
        "datetime": max(str(d.get("datetime", "")) for d in documents),
        "version": first.get("version"),
        schema.WHISPERBENCH: {
            schema.SCHEMA_VERSION_FIELD: schema.SCHEMA_VERSION,
            schema.SWEEP: folder.plan.name,
            "shards": len(documents),
            "cells": len(folder.cells),
            "machines": machines,
        },
    }
    write_json_atomic(output, merged)
    write_summary(folder)
    return len(benchmarks), missing
