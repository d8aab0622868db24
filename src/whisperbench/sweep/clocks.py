"""GPU operating points through NVML: lock clocks, set a power limit, always restore.

Setting (``--clocks set``, the default when a plan asks for operating points):

- SM clock: ``nvmlDeviceSetGpuLockedClocks(h, f, f)`` (Volta and newer), else application
  clocks (``nvmlDeviceSetApplicationsClocks``) where only those are supported. A requested
  clock is snapped to the nearest clock the GPU supports
  (``nvmlDeviceGetSupportedGraphicsClocks`` for the memory clock in use); requested, set and
  actual (read back) are all recorded.
- memory clock: ``nvmlDeviceSetMemoryLockedClocks`` (Ampere and newer), else application
  clocks.
- power limit: ``nvmlDeviceSetPowerManagementLimit`` within
  ``nvmlDeviceGetPowerManagementLimitConstraints``.

Restoring, whatever happens: before the first change, what the GPU ran with is written to a
restore record in the sweep folder (``.clock-restore/<host>-<uuid>.json``); :meth:`restore`
puts it back and deletes the record; workers call it in ``finally`` and on SIGTERM/SIGINT,
and :func:`restore_leftovers` applies the records a killed worker left behind when the next
worker starts on that host. NVML cannot read an existing clock *lock* (there is no getter),
so restoring unlocks (``nvmlDeviceResetGpuLockedClocks``); application clocks and the power
limit go back to the values read before.

Without permission to set clocks (root, or unrestricted application clocks) the sweep stops
before anything runs with one message; ``--clocks external`` is for an outside framework
that set the clocks itself: nothing is set, requested and actual are recorded.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from whisperbench.jsonio import write_json_atomic
from whisperbench.meters.nvml_api import NvmlResult, nvml_query
from whisperbench.sweep.plan import OperatingPoint

__all__ = [
    "CLOCK_MODES",
    "AppliedPoint",
    "ClockControlError",
    "GpuClocks",
    "restore_leftovers",
    "snap",
]

log = logging.getLogger("whisperbench.sweep")

#: ``set``: whisperbench sets and restores; ``external``: someone else did, record only.
CLOCK_MODES = ("set", "external")

_NO_PERMISSION = 4
_NOT_SUPPORTED = 3


class ClockControlError(RuntimeError):
    """An operating point cannot be set; the message says why and what to do."""


@dataclass(frozen=True)
class AppliedPoint:
    """An operating point as requested, as set (snapped), and as read back, with how."""

    requested: OperatingPoint
    method: str  #: locked_clocks | application_clocks | external | none
    sm_clock_mhz_set: int | None = None
    mem_clock_mhz_set: int | None = None
    power_limit_w_set: float | None = None
    sm_clock_mhz_actual: int | None = None
    mem_clock_mhz_actual: int | None = None
    power_limit_w_actual: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def expected_sm_clock_mhz(self) -> int | None:
        """The SM clock a measured window must stay at (set, else requested)."""
        return self.sm_clock_mhz_set or self.requested.sm_clock_mhz


def snap(requested_mhz: int, supported_mhz: Sequence[int]) -> int:
    """The supported clock nearest ``requested_mhz`` (the lower one on a tie).

    Raises:
        ClockControlError: no supported clocks listed.
    """
    if not supported_mhz:
        raise ClockControlError("the GPU lists no supported clocks")
    return min(supported_mhz, key=lambda clock: (abs(clock - requested_mhz), clock))


@dataclass(frozen=True)
class _Saved:
    """What a GPU ran with before whisperbench changed it (the restore record)."""

    host: str
    uuid: str
    pid: int
    app_sm_clock_mhz: int | None
    app_mem_clock_mhz: int | None
    power_limit_mw: int | None
    locked: bool  #: whisperbench locked clocks (restore unlocks)
    memory_locked: bool
    application_clocks_set: bool
    power_limit_set: bool


class GpuClocks:
    """Operating-point control of one GPU, with its restore record.

    Args:
        nvml: an initialized NVML module.
        handle: the GPU's NVML handle.
        uuid: its UUID (names the restore record).
        restore_dir: where restore records are kept (the sweep folder's ``.clock-restore``).
        host: this machine's name (a record is restored only on its own host).
        mode: ``set`` or ``external``.
    """

    def __init__(
        self,
        nvml: ModuleType,
        handle: Any,
        uuid: str,
        restore_dir: Path,
        host: str,
        mode: str = "set",
    ) -> None:
        if mode not in CLOCK_MODES:
            raise ValueError(f"clock mode must be one of {CLOCK_MODES}, not {mode!r}")
        self._nvml = nvml
        self._handle = handle
        self.uuid = uuid
        self.mode = mode
        self._record = restore_dir / f"{host}-{uuid}.json"
        self._host = host
        self._saved: _Saved | None = None

    # -- reading ------------------------------------------------------------------------------

    def _query(self, function: str, *args: Any) -> NvmlResult:
        return nvml_query(self._nvml, function, self._handle, *args)

    def _read_int(self, function: str, *args: Any) -> int | None:
        result = self._query(function, *args)
        return int(result.value) if result.ok else None

    def actual(self) -> tuple[int | None, int | None, float | None]:
        """SM clock (MHz), memory clock (MHz) and enforced power limit (W) now."""
        sm = self._read_int("nvmlDeviceGetClockInfo", self._nvml.NVML_CLOCK_SM)
        mem = self._read_int("nvmlDeviceGetClockInfo", self._nvml.NVML_CLOCK_MEM)
        limit = self._read_int("nvmlDeviceGetEnforcedPowerLimit")
        return sm, mem, None if limit is None else limit / 1000.0

    def supported_memory_clocks(self) -> list[int]:
        result = self._query("nvmlDeviceGetSupportedMemoryClocks")
        if not result.ok:
            raise ClockControlError(f"GPU {self.uuid}: supported memory clocks: {result.reason}")
        return sorted(int(c) for c in result.value)

    def supported_sm_clocks(self, mem_clock_mhz: int) -> list[int]:
        result = self._query("nvmlDeviceGetSupportedGraphicsClocks", mem_clock_mhz)
        if not result.ok:
            raise ClockControlError(
                f"GPU {self.uuid}: supported SM clocks at {mem_clock_mhz} MHz memory: "
                f"{result.reason}"
            )
        return sorted(int(c) for c in result.value)

    # -- setting ------------------------------------------------------------------------------

    def apply(self, point: OperatingPoint) -> AppliedPoint:
        """Set ``point`` (``set`` mode) or only read what the GPU runs at (``external``).

        Raises:
            ClockControlError: no permission, a clock or limit the GPU does not support.
        """
        if self.mode == "external" or point.is_default:
            sm, mem, limit = self.actual()
            method = "external" if self.mode == "external" and not point.is_default else "none"
            return AppliedPoint(point, method, None, None, None, sm, mem, limit)
        self._save_before_first_change()
        notes: list[str] = []
        mem_set: int | None = None
        mem_for_sm: int | None = None
        if point.mem_clock_mhz is not None or point.sm_clock_mhz is not None:
            memory_clocks = self.supported_memory_clocks()
            if point.mem_clock_mhz is not None:
                mem_set = snap(point.mem_clock_mhz, memory_clocks)
                mem_for_sm = mem_set
            else:
                mem_for_sm = max(memory_clocks)
        method = "none"
        sm_set: int | None = None
        if point.sm_clock_mhz is not None:
            assert mem_for_sm is not None
            sm_set = snap(point.sm_clock_mhz, self.supported_sm_clocks(mem_for_sm))
            if sm_set != point.sm_clock_mhz:
                notes.append(f"sm clock {point.sm_clock_mhz} MHz snapped to {sm_set} MHz")
            method = self._lock_sm(sm_set, mem_for_sm)
        if mem_set is not None:
            self._lock_memory(mem_set, sm_set, notes)
            method = method if method != "none" else "locked_clocks"
        limit_set: float | None = None
        if point.power_limit_w is not None:
            limit_set = self._set_power_limit(point.power_limit_w)
            method = method if method != "none" else "power_limit"
        sm, mem, limit = self.actual()
        return AppliedPoint(point, method, sm_set, mem_set, limit_set, sm, mem, limit, tuple(notes))

    def _fail(self, what: str, result: NvmlResult) -> ClockControlError:
        if result.code == _NO_PERMISSION:
            return ClockControlError(
                f"no permission to {what} on GPU {self.uuid} ({result.reason}): setting clocks "
                "and power limits needs root (or `nvidia-smi -acp UNRESTRICTED` for application "
                "clocks); run the sweep with that permission, or pass --clocks external if an "
                "outside framework sets the clocks"
            )
        return ClockControlError(f"cannot {what} on GPU {self.uuid}: {result.reason}")

    def _lock_sm(self, sm_mhz: int, mem_mhz: int) -> str:
        result = self._query("nvmlDeviceSetGpuLockedClocks", sm_mhz, sm_mhz)
        if result.ok:
            self._mark(locked=True)
            return "locked_clocks"
        if result.code != _NOT_SUPPORTED:
            raise self._fail(f"lock the SM clock at {sm_mhz} MHz", result)
        fallback = self._query("nvmlDeviceSetApplicationsClocks", mem_mhz, sm_mhz)
        if not fallback.ok:
            raise self._fail(f"set application clocks {mem_mhz}/{sm_mhz} MHz", fallback)
        self._mark(application_clocks_set=True)
        return "application_clocks"

    def _lock_memory(self, mem_mhz: int, sm_mhz: int | None, notes: list[str]) -> None:
        result = self._query("nvmlDeviceSetMemoryLockedClocks", mem_mhz, mem_mhz)
        if result.ok:
            self._mark(memory_locked=True)
            return
        if result.code != _NOT_SUPPORTED:
            raise self._fail(f"lock the memory clock at {mem_mhz} MHz", result)
        sm = (
            sm_mhz
            if sm_mhz is not None
            else self._read_int("nvmlDeviceGetApplicationsClock", self._nvml.NVML_CLOCK_SM)
        )
        if sm is None:
            raise ClockControlError(f"GPU {self.uuid}: cannot read the application SM clock")
        fallback = self._query("nvmlDeviceSetApplicationsClocks", mem_mhz, sm)
        if not fallback.ok:
            raise self._fail(f"set application clocks {mem_mhz}/{sm} MHz", fallback)
        self._mark(application_clocks_set=True)
        notes.append("memory clock set through application clocks")

    def _set_power_limit(self, watts: float) -> float:
        constraints = self._query("nvmlDeviceGetPowerManagementLimitConstraints")
        milliwatts = round(watts * 1000)
        if constraints.ok:
            low, high = (int(v) for v in constraints.value)
            if not low <= milliwatts <= high:
                raise ClockControlError(
                    f"power limit {watts:g} W is outside GPU {self.uuid}'s range "
                    f"{low / 1000:g}-{high / 1000:g} W"
                )
        result = self._query("nvmlDeviceSetPowerManagementLimit", milliwatts)
        if not result.ok:
            raise self._fail(f"set the power limit to {watts:g} W", result)
        self._mark(power_limit_set=True)
        return milliwatts / 1000.0

    # -- restoring ----------------------------------------------------------------------------

    def _save_before_first_change(self) -> None:
        if self._saved is not None:
            return
        power = self._read_int("nvmlDeviceGetPowerManagementLimit")
        self._saved = _Saved(
            host=self._host,
            uuid=self.uuid,
            pid=os.getpid(),
            app_sm_clock_mhz=self._read_int(
                "nvmlDeviceGetApplicationsClock", self._nvml.NVML_CLOCK_SM
            ),
            app_mem_clock_mhz=self._read_int(
                "nvmlDeviceGetApplicationsClock", self._nvml.NVML_CLOCK_MEM
            ),
            power_limit_mw=power,
            locked=False,
            memory_locked=False,
            application_clocks_set=False,
            power_limit_set=False,
        )
        self._write_record()

    def _mark(self, **changed: bool) -> None:
        assert self._saved is not None
        self._saved = dataclasses.replace(self._saved, **changed)  # type: ignore[arg-type]
        self._write_record()

    def _write_record(self) -> None:
        assert self._saved is not None
        self._record.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self._record, dataclasses.asdict(self._saved))

    def restore(self) -> list[str]:
        """Put back what was there before the first change; idempotent. Returns what was done.

        Every step is tried even if one fails; the record is deleted only when all succeed.
        """
        if self._saved is None:
            return []
        done, failed = _restore(self._nvml, self._handle, self._saved)
        if not failed:
            self._record.unlink(missing_ok=True)
            self._saved = None
        for line in failed:
            log.error("GPU %s: restore failed: %s", self.uuid, line)
        return done + [f"FAILED {line}" for line in failed]


def _restore(nvml: ModuleType, handle: Any, saved: _Saved) -> tuple[list[str], list[str]]:
    done: list[str] = []
    failed: list[str] = []

    def step(what: str, function: str, *args: Any) -> None:
        result = nvml_query(nvml, function, handle, *args)
        (done if result.ok else failed).append(what if result.ok else f"{what}: {result.reason}")

    if saved.locked:
        step("SM clock unlocked", "nvmlDeviceResetGpuLockedClocks")
    if saved.memory_locked:
        step("memory clock unlocked", "nvmlDeviceResetMemoryLockedClocks")
    if saved.application_clocks_set:
        if saved.app_mem_clock_mhz is not None and saved.app_sm_clock_mhz is not None:
            step(
                f"application clocks back to {saved.app_mem_clock_mhz}/"
                f"{saved.app_sm_clock_mhz} MHz",
                "nvmlDeviceSetApplicationsClocks",
                saved.app_mem_clock_mhz,
                saved.app_sm_clock_mhz,
            )
        else:
            step("application clocks reset", "nvmlDeviceResetApplicationsClocks")
    if saved.power_limit_set and saved.power_limit_mw is not None:
        step(
            f"power limit back to {saved.power_limit_mw / 1000:g} W",
            "nvmlDeviceSetPowerManagementLimit",
            saved.power_limit_mw,
        )
    return done, failed


def restore_leftovers(nvml: ModuleType, restore_dir: Path, host: str) -> list[str]:
    """Apply the restore records a killed worker left on this host; returns what was done.

    A record of another host is left for that host; a record of a GPU this host does not
    have is reported and kept.
    """
    if not restore_dir.is_dir():
        return []
    lines: list[str] = []
    for path in sorted(restore_dir.glob(f"{host}-*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            saved = _Saved(**data)
        except (OSError, ValueError, TypeError) as error:
            lines.append(f"{path.name}: unreadable restore record ({error}); left in place")
            continue
        handle = nvml_query(nvml, "nvmlDeviceGetHandleByUUID", saved.uuid)
        if not handle.ok:
            lines.append(f"{saved.uuid}: not on this host ({handle.reason}); record kept")
            continue
        done, failed = _restore(nvml, handle.value, saved)
        if not failed:
            path.unlink(missing_ok=True)
        lines += [f"{saved.uuid}: {line} (left by pid {saved.pid})" for line in done]
        lines += [f"{saved.uuid}: FAILED {line}" for line in failed]
    return lines
