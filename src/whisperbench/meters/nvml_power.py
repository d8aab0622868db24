"""Which NVML power reading a polling meter integrates, and what it covers.

``nvmlDeviceGetPowerUsage`` is documented to return "power averaged over 1 sec interval" on
Ampere (except GA100) and newer GPUs, and instantaneous power on GA100 and older. Integrating
a one-second moving average shifts every change in power about half a second late, so a
window's energy is off by up to half a second of every step at its edges. Where the driver
answers ``nvmlDeviceGetFieldValues`` for ``NVML_FI_DEV_POWER_INSTANT`` (R525+ drivers), that
reading is used instead (as Zeus does); the reading records which one it integrated
(``power_source``).

On GH200 (the Grace Hopper superchip, recognised by ``nvmlDeviceGetC2cModeInfoV``) the energy
counter covers the whole module — GPU, CPU and memory — so power is read with the module scope
to match, and both are labelled ``energy_scope="superchip_module"``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from whisperbench.meters.nvml_api import nvml_query

__all__ = [
    "POWER_INSTANT",
    "POWER_USAGE",
    "SUPERCHIP_MODULE",
    "PowerReader",
    "averages_power_usage",
    "is_superchip_module",
]

POWER_INSTANT = "nvml_field_power_instant"
POWER_USAGE = "nvml_power_usage"
SUPERCHIP_MODULE = "superchip_module"

#: NVML_FI_DEV_POWER_INSTANT, NVML_POWER_SCOPE_GPU / _MODULE (nvml.h; pinned by the tests).
_FI_POWER_INSTANT = 186
_SCOPE_GPU = 0
_SCOPE_MODULE = 1
_AMPERE = 7

AVERAGE_NOTE = (
    "power_polling: nvmlDeviceGetPowerUsage is a 1 s average on Ampere-and-newer GPUs other "
    "than GA100 (instantaneous on GA100 and older); NVML_FI_DEV_POWER_INSTANT was not available"
)


def is_superchip_module(nvml: ModuleType, handle: Any) -> bool:
    """True on a GH200-class superchip, whose counter and power cover the whole module."""
    info = nvml_query(nvml, "nvmlDeviceGetC2cModeInfoV", handle)
    return bool(info.ok and getattr(info.value, "isC2cEnabled", 0))


def averages_power_usage(nvml: ModuleType, handle: Any) -> bool | None:
    """Whether ``nvmlDeviceGetPowerUsage`` returns a 1 s average here (``None``: unknown)."""
    arch = nvml_query(nvml, "nvmlDeviceGetArchitecture", handle)
    name = nvml_query(nvml, "nvmlDeviceGetName", handle)
    if not arch.ok:
        return None
    if int(arch.value) < _AMPERE:
        return False
    ga100 = name.ok and any(tag in str(name.value) for tag in ("A100", "A30"))
    return not ga100


class PowerReader:
    """Reads one device's power in watts from the best source it has.

    Args:
        nvml: an initialized NVML module.
        handle: the device (the parent GPU on MIG).
        module_scope: read the whole superchip module's power (GH200).
    """

    def __init__(self, nvml: ModuleType, handle: Any, *, module_scope: bool = False) -> None:
        self._nvml = nvml
        self._handle = handle
        self._field = (_FI_POWER_INSTANT, _SCOPE_MODULE if module_scope else _SCOPE_GPU)
        self.notes: tuple[str, ...] = ()
        self.source: str | None = None
        if self._read_field() is not None:
            self.source = POWER_INSTANT
        elif self._read_usage() is not None:
            self.source = POWER_USAGE
            if averages_power_usage(nvml, handle) is not False:
                self.notes = (AVERAGE_NOTE,)
        self.unavailable_reason: str | None = None if self.source else self._why()

    def _read_field(self) -> float | None:
        result = nvml_query(self._nvml, "nvmlDeviceGetFieldValues", self._handle, [self._field])
        if not result.ok or not result.value:
            return None
        entry = result.value[0]
        if int(entry.nvmlReturn) != 0:
            return None
        return float(entry.value.uiVal) / 1000.0

    def _read_usage(self) -> float | None:
        result = nvml_query(self._nvml, "nvmlDeviceGetPowerUsage", self._handle)
        return float(result.value) / 1000.0 if result.ok else None

    def _why(self) -> str:
        return str(nvml_query(self._nvml, "nvmlDeviceGetPowerUsage", self._handle).reason)

    def read_w(self) -> float | None:
        """Power now, W; ``None`` when the read failed."""
        if self.source == POWER_INSTANT:
            return self._read_field()
        if self.source == POWER_USAGE:
            return self._read_usage()
        return None
