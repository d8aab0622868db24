"""The compute processes NVML lists on a device, validated before anyone believes them.

Two meters ask "who runs on this GPU": the energy meter (another process's work would be in
the figure) and the memory meter (how much memory NVML attributes to our pid). Both go
through :func:`running_processes`, which deals with what real drivers and bindings do:

* nvidia-ml-py 13 calls ``nvmlDeviceGetComputeRunningProcesses_v3`` for the unversioned
  function; a driver before R510 (R470) has no ``_v3`` symbol and the bindings raise
  ``NVMLLibraryMismatchError`` (mapped by :func:`~whisperbench.meters.nvml_api.nvml_query`);
  the ``_v2`` query is then used, and the reading says so;
* nvidia-ml-py 13 decodes the ``_v3`` array with the 24-byte v2 struct, while drivers that
  write the 32-byte struct (with its confidential-computing field) misalign every entry
  after the first: pids read as 0 or 4294967295. Entries are validated (a pid in 1..2**22,
  Linux's largest, and a plausible byte count); a garbled list is replaced by the ``_v2``
  query's when that one is valid, and otherwise refused with the reason;
* a container without the host PID namespace sees host pids, and under MPS NVML lists the
  MPS server instead of its clients: our pid absent from a valid list means *unknown*, which
  callers must report as such (never "0 bytes").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from whisperbench.meters.nvml_api import FUNCTION_NOT_FOUND, bindings_version, nvml_query

__all__ = ["MAX_LINUX_PID", "ProcessList", "running_processes"]

#: PID_MAX_LIMIT on 64-bit Linux: no real pid is larger.
MAX_LINUX_PID = 1 << 22
#: No GPU has this much memory (1 PiB); a larger byte count is a decoding error.
_MAX_PLAUSIBLE_BYTES = 1 << 50


@dataclass(frozen=True)
class ProcessList:
    """The processes NVML lists on one device handle.

    Attributes:
        memory_bytes: pid -> GPU memory NVML attributes to it (``None``: not reported, WDDM);
            ``None`` when the list could not be read or trusted (see ``reason``).
        reason: why the list is unknown.
        notes: how it was obtained when not the plain way (e.g. the ``_v2`` fallback).
    """

    memory_bytes: dict[int, int | None] | None
    reason: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def pids(self) -> tuple[int, ...] | None:
        """The listed pids, sorted; ``None`` when unknown."""
        return None if self.memory_bytes is None else tuple(sorted(self.memory_bytes))


def _garbage(entries: Sequence[Any]) -> list[str]:
    """Descriptions of entries that cannot be real processes."""
    bad = []
    for entry in entries:
        pid = int(entry.pid)
        used = entry.usedGpuMemory
        if not 0 < pid <= MAX_LINUX_PID or (
            used is not None and not 0 <= int(used) < _MAX_PLAUSIBLE_BYTES
        ):
            bad.append(f"pid={pid}" if 0 < pid <= MAX_LINUX_PID else str(pid))
    return bad


def _as_list(entries: Sequence[Any]) -> dict[int, int | None]:
    listed: dict[int, int | None] = {}
    for entry in entries:
        used = None if entry.usedGpuMemory is None else int(entry.usedGpuMemory)
        pid = int(entry.pid)
        previous = listed.get(pid)
        listed[pid] = used if previous is None else previous + (used or 0)
    return listed


def running_processes(nvml: ModuleType, handle: Any) -> ProcessList:
    """The compute processes on ``handle`` (a GPU or a MIG slice), validated.

    Never raises for NVML's failures: an unreadable or untrustworthy list comes back with
    ``memory_bytes=None`` and the reason.
    """
    first = nvml_query(nvml, "nvmlDeviceGetComputeRunningProcesses", handle)
    why_not_first: str
    if first.ok:
        bad = _garbage(first.value)
        if not bad:
            return ProcessList(_as_list(first.value))
        why_not_first = (
            f"process entries garbled ({', '.join(bad[:3])}): the driver and nvidia-ml-py "
            f"{bindings_version()} disagree on the size of the v3 process struct"
        )
    elif first.code == FUNCTION_NOT_FOUND:  # an old driver: the bindings' version is missing
        why_not_first = str(first.reason)
    else:
        return ProcessList(None, first.reason)
    second = nvml_query(nvml, "nvmlDeviceGetComputeRunningProcesses_v2", handle)
    if second.ok and not _garbage(second.value):
        note = f"processes read with the _v2 query; {why_not_first}"
        return ProcessList(_as_list(second.value), notes=(note,))
    if second.ok:
        return ProcessList(None, f"{why_not_first}; the _v2 query's entries are garbled too")
    fix = (
        "; use nvidia-ml-py of the driver's branch"
        if "garbled" in why_not_first or "Mismatch" in why_not_first
        else ""
    )
    return ProcessList(None, f"{why_not_first}; {second.reason}{fix}")
