"""Measuring one sweep cell in a worker: claim it, set its operating point, measure it through
the session API, and leave the framework's profile and log behind.

A worker keeps one :class:`~whisperbench.session.Session` while consecutive cells share a
model and its settings (the plan orders cells so they do), so a model loads once per run.
Clocks stay at the last cell's operating point until the worker ends, then
:meth:`CellRunner.close` restores them (also on SIGTERM, through the worker's handler).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from whisperbench import schema
from whisperbench.rounds import Round
from whisperbench.session import Session, open_session, session_key, synthetic_clips
from whisperbench.sweep.clocks import AppliedPoint, ClockControlError, GpuClocks, restore_leftovers
from whisperbench.sweep.folder import SweepFolder, gpu_type_of
from whisperbench.sweep.plan import Cell
from whisperbench.sweep.profile import ProfileRecorder

__all__ = ["CellRunner", "GpuSlot", "SkipCell", "find_gpu"]

log = logging.getLogger("whisperbench.sweep")


class SkipCell(Exception):  # noqa: N818 (reads as what happens, like pytest.skip)
    """The cell is not this worker's to measure (done, failed before, or claimed)."""


@dataclass(frozen=True)
class GpuSlot:
    """The GPU a worker controls and profiles (``None`` fields: no GPU)."""

    nvml: ModuleType | None
    handle: Any
    uuid: str | None
    name: str | None


def find_gpu(gpu_uuid: str | None) -> GpuSlot:
    """The worker's GPU: by UUID when the executor named one, else the process's CUDA device
    0 mapped to NVML by UUID, else none (a CPU worker)."""
    from whisperbench.meters.nvml_api import import_nvml, nvml_query

    if gpu_uuid is None:
        import torch

        if not torch.cuda.is_available():
            return GpuSlot(None, None, None, None)
    nvml, reason = import_nvml()
    if nvml is None:
        if gpu_uuid is not None:
            raise ClockControlError(f"GPU {gpu_uuid} named, but {reason}")
        return GpuSlot(None, None, None, None)
    if gpu_uuid is not None:
        handle = nvml_query(nvml, "nvmlDeviceGetHandleByUUID", gpu_uuid)
        if not handle.ok:
            raise ClockControlError(f"GPU {gpu_uuid}: {handle.reason}")
        value, uuid = handle.value, gpu_uuid
    else:
        from whisperbench.meters.gpu_mapping import resolve_cuda_ordinal

        target = resolve_cuda_ordinal(nvml, 0)
        if isinstance(target, str):
            raise ClockControlError(target)
        value, uuid = target.handle, target.uuid or ""
    name = nvml_query(nvml, "nvmlDeviceGetName", value)
    return GpuSlot(nvml, value, uuid, str(name.value) if name.ok else None)


class CellRunner:
    """Measures cells one after another in this process (one worker).

    Args:
        folder: the sweep folder.
        worker: a name for claims and logs (``node:pid`` by default: the SLURM node name,
            else the host name).
        gpu: the GPU this worker controls; :func:`find_gpu`.
        clocks: ``set`` or ``external`` (see :mod:`whisperbench.sweep.clocks`).
        process_started_unix_s: when the worker process started (``time.time()`` clock); its
            start-up (interpreter, imports, NVML) is recorded on its first cell.
    """

    def __init__(
        self,
        folder: SweepFolder,
        gpu: GpuSlot,
        *,
        clocks: str = "set",
        worker: str | None = None,
        process_started_unix_s: float | None = None,
    ) -> None:
        self.folder = folder
        self.gpu = gpu
        # SLURM names the node a task runs on (several nodes may share a host name).
        node = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
        self.worker = worker or f"{node}:{os.getpid()}"
        self._process_started = process_started_unix_s
        self._session: Session | None = None
        self._session_key: Any = None
        self.clocks: GpuClocks | None = None
        if gpu.nvml is not None and gpu.uuid:
            host = socket.gethostname()
            for line in restore_leftovers(gpu.nvml, folder.restore_dir, host):
                log.warning("restored what a killed worker left: %s", line)
            self.clocks = GpuClocks(
                gpu.nvml, gpu.handle, gpu.uuid, folder.restore_dir, host, clocks
            )
        self.gpu_type = folder.plan.gpu_type or gpu_type_of(gpu.name)

    # -- one cell ------------------------------------------------------------------------------

    def claim(self, cell: Cell) -> None:
        """Take ``cell`` or raise :class:`SkipCell` saying why not."""
        status = self.folder.status(cell)
        if status.state == "done":
            raise SkipCell(f"{cell.id}: done")
        if status.state == "failed":
            raise SkipCell(f"{cell.id}: failed before ({status.error}); --retry-failed reruns it")
        if not self.folder.claim(cell, self.worker):
            raise SkipCell(f"{cell.id}: claimed by another worker")

    def measure(
        self, cell: Cell, run_rounds: Callable[[Callable[[], Round], int], None]
    ) -> dict[str, Any]:
        """Measure ``cell`` (already claimed) and return its ``extra_info``.

        Raises whatever the measurement raises (the worker records it as the cell's failure),
        and :class:`ClockControlError` when the operating point cannot be set.
        """
        started = time.perf_counter()
        started_unix = time.time()
        profile = ProfileRecorder(
            self.folder.framework_path(cell, self.gpu_type, "profile.csv"),
            self.gpu.nvml,
            self.gpu.handle,
        )
        handler = logging.FileHandler(
            self.folder.framework_path(cell, self.gpu_type, "log.txt"), mode="w", encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        marks: dict[str, float] = {}

        def phase(name: str) -> None:
            marks[name] = time.perf_counter()
            profile.mark(name)
            log.info("%s: %s", cell.id, name)

        try:
            log.info(
                "%s on %s (%s), worker %s, options %s, operating point %s",
                cell.id, self.gpu.name or "CPU", self.gpu.uuid or "-", self.worker,
                cell.options, cell.point,
            )  # fmt: skip
            profile.start("load")
            session, load_s = self._session_for(cell)
            phase("set_clocks")
            applied = self._apply(cell)
            log.info("%s: operating point %s", cell.id, applied)
            session.meters.expect_sm_clock(applied.expected_sm_clock_mhz)
            result = session.measure(synthetic_clips(cell.options), run_rounds=run_rounds,
                                     on_phase=phase)  # fmt: skip
            phase("done")
        except BaseException as error:
            log.error("%s: failed: %s: %s", cell.id, type(error).__name__, error)
            raise
        finally:
            profile.stop()
            log.removeHandler(handler)
            handler.close()
        info = result.to_extra_info()
        if cell.options.dtype != "auto" and result.facts.dtype != cell.options.dtype:
            raise RuntimeError(f"asked for {cell.options.dtype}, ran {result.facts.dtype}")
        first = self._process_started
        self._process_started = None
        requested, timing = (
            cell.point,
            {
                schema.WORKER_START_S: None if first is None else started_unix - first,
                schema.SESSION_LOAD_S: load_s,
                schema.PHASE_IDLE_S: _between(marks, "idle", "warmup"),
                schema.PHASE_WARMUP_S: _between(marks, "warmup", "measure"),
                schema.PHASE_MEASURE_S: _between(marks, "measure", "done"),
                schema.CELL_WALL_S: time.perf_counter() - started,
            },
        )
        info.update(
            {
                schema.SWEEP_CELL: cell.id,
                schema.SWEEP_RUN: cell.run,
                schema.WORKER: self.worker,
                schema.GPU_NAME: self.gpu.name,
                schema.GPU_UUID: self.gpu.uuid,
                schema.FRAMEWORK_STEM: profile.path.name.removesuffix("_profile.csv"),
                schema.CLOCK_CONTROL: applied.method,
                schema.SM_CLOCK_MHZ_REQUESTED: requested.sm_clock_mhz,
                schema.SM_CLOCK_MHZ_SET: applied.sm_clock_mhz_set,
                schema.SM_CLOCK_MHZ_ACTUAL: applied.sm_clock_mhz_actual,
                schema.MEM_CLOCK_MHZ_REQUESTED: requested.mem_clock_mhz,
                schema.MEM_CLOCK_MHZ_SET: applied.mem_clock_mhz_set,
                schema.MEM_CLOCK_MHZ_ACTUAL: applied.mem_clock_mhz_actual,
                schema.POWER_LIMIT_W_REQUESTED: requested.power_limit_w,
                schema.POWER_LIMIT_W_SET: applied.power_limit_w_set,
                schema.POWER_LIMIT_W_ACTUAL: applied.power_limit_w_actual,
                schema.CLOCK_NOTES: list(applied.notes),
                **timing,
            }
        )
        log.info("%s: done, rtf %.4f", cell.id, info[schema.RTF])
        return info

    def _session_for(self, cell: Cell) -> tuple[Session, float]:
        key = session_key(cell.options)
        if self._session is not None and key == self._session_key:
            return self._session, 0.0
        self.close_session()
        started = time.perf_counter()
        self._session = open_session(cell.options)
        self._session_key = key
        return self._session, time.perf_counter() - started

    def _apply(self, cell: Cell) -> AppliedPoint:
        if self.clocks is None:
            if not cell.point.is_default:
                raise ClockControlError(
                    f"{cell.id} asks for operating point {cell.point.label}, but this worker "
                    "has no GPU NVML can control (a CPU node, or NVML unavailable)"
                )
            return AppliedPoint(cell.point, "none")
        return self.clocks.apply(cell.point)

    # -- the end -------------------------------------------------------------------------------

    def close_session(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = None
        self._session_key = None

    def close(self) -> list[str]:
        """Close the session and restore the GPU's clocks (idempotent); returns what the
        restore did, also written to the log."""
        self.close_session()
        if self.clocks is None:
            return []
        restored = self.clocks.restore()
        for line in restored:
            log.warning("GPU %s restored: %s", self.clocks.uuid, line)
        return restored


def _sum(*values: float | None) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _between(marks: dict[str, float], first: str, then: str) -> float | None:
    if first in marks and then in marks:
        return marks[then] - marks[first]
    return None
