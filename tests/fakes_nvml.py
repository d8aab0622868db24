"""FAKE NVML for tests: a module object shaped like ``pynvml`` (nvidia-ml-py), over simulated GPUs.

Faithful to the real bindings where our code depends on them:

* function names and argument order (``nvmlDeviceGetClockInfo(handle, NVML_CLOCK_SM)``, ...);
* units: energy counter in **mJ** (int), power in **mW** (int), clocks in MHz, temperature in
  °C, memory in bytes;
* errors: ``NVMLError`` whose constructor maps a code to a subclass named like pynvml's
  (``NVMLError_NotSupported``, ``NVMLError_NoPermission``, ...), with pynvml's codes and
  messages; calls before ``nvmlInit`` raise ``NVMLError_Uninitialized``;
* the total-energy counter counts since "driver load" and **advances only every
  ``counter_period_s``** (the driver's update period), integrating a power profile you give
  as a function of time (seconds since the fake GPU's epoch) → watts;
* MIG: slices have their own ``MIG-…`` UUID and handle; energy on a slice handle is
  NotSupported, the parent is found with ``nvmlDeviceGetDeviceHandleFromMigDeviceHandle``.

``tests/test_meters_fakes.py`` checks the error classes, codes and constants against the
installed real ``pynvml``.
"""

from __future__ import annotations

import math
import string
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# pynvml's error codes (nvml.h nvmlReturn_t).
ERROR_CODES: dict[str, int] = {
    "NVML_ERROR_UNINITIALIZED": 1,
    "NVML_ERROR_INVALID_ARGUMENT": 2,
    "NVML_ERROR_NOT_SUPPORTED": 3,
    "NVML_ERROR_NO_PERMISSION": 4,
    "NVML_ERROR_ALREADY_INITIALIZED": 5,
    "NVML_ERROR_NOT_FOUND": 6,
    "NVML_ERROR_INSUFFICIENT_SIZE": 7,
    "NVML_ERROR_INSUFFICIENT_POWER": 8,
    "NVML_ERROR_DRIVER_NOT_LOADED": 9,
    "NVML_ERROR_TIMEOUT": 10,
    "NVML_ERROR_IRQ_ISSUE": 11,
    "NVML_ERROR_LIBRARY_NOT_FOUND": 12,
    "NVML_ERROR_FUNCTION_NOT_FOUND": 13,
    "NVML_ERROR_CORRUPTED_INFOROM": 14,
    "NVML_ERROR_GPU_IS_LOST": 15,
    "NVML_ERROR_RESET_REQUIRED": 16,
    "NVML_ERROR_OPERATING_SYSTEM": 17,
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH": 18,
    "NVML_ERROR_IN_USE": 19,
    "NVML_ERROR_MEMORY": 20,
    "NVML_ERROR_NO_DATA": 21,
    "NVML_ERROR_UNKNOWN": 999,
}
_MESSAGES = {
    1: "Uninitialized",
    2: "Invalid Argument",
    3: "Not Supported",
    4: "Insufficient Permissions",
    5: "Already Initialized",
    6: "Not Found",
    9: "Driver Not Loaded",
    12: "NVML Shared Library Not Found",
    13: "Function Not Found",
    15: "GPU is lost",
    999: "Unknown Error",
}


class NVMLError(Exception):
    """Like pynvml.NVMLError: ``NVMLError(code)`` returns an instance of the code's subclass."""

    _valClassMapping: dict[int, type[NVMLError]] = {}  # noqa: N815, RUF012 (pynvml's name)
    value: int

    def __new__(cls, value: int) -> NVMLError:
        if cls is NVMLError:
            cls = NVMLError._valClassMapping.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __init__(self, value: int | None = None) -> None:
        super().__init__()

    def __str__(self) -> str:
        return _MESSAGES.get(self.value, f"NVML Error with code {self.value}")


ERROR_CLASSES: dict[str, type[NVMLError]] = {}


def _make_error_classes() -> None:
    for const, code in ERROR_CODES.items():
        suffix = string.capwords(const.replace("NVML_ERROR_", ""), "_").replace("_", "")
        name = f"NVMLError_{suffix}"

        def new(cls: type[NVMLError], *args: Any, _code: int = code) -> NVMLError:
            return NVMLError.__new__(cls, _code)

        cls = type(name, (NVMLError,), {"__new__": new})
        ERROR_CLASSES[name] = cls
        NVMLError._valClassMapping[code] = cls


_make_error_classes()


@dataclass
class FakeProcess:
    """What ``nvmlDeviceGetComputeRunningProcesses`` returns per process (bytes)."""

    pid: int
    usedGpuMemory: int | None = 1 << 30  # noqa: N815 (pynvml's field name)
    gpuInstanceId: int = 0xFFFFFFFF  # noqa: N815
    computeInstanceId: int = 0xFFFFFFFF  # noqa: N815


@dataclass(frozen=True)
class FakeHandle:
    """An opaque device handle: a GPU index, and a slice index for a MIG device."""

    gpu: int
    mig: int | None = None


@dataclass
class FakeMemory:
    total: int
    free: int
    used: int


def _value(v: float | Callable[[float], float], t: float) -> float:
    return float(v(t)) if callable(v) else float(v)


@dataclass
class FakeGpu:
    """One simulated GPU.

    ``power_w`` and the clock/temperature fields may be constants or functions of
    ``t`` = seconds since this GPU's epoch (set when the :class:`FakeNvml` is built).
    ``errors`` maps an NVML function name to the error code it raises for this GPU
    (e.g. ``{"nvmlDeviceGetTotalEnergyConsumption": 3}`` for a pre-Volta board).
    """

    uuid: str
    name: str = "NVIDIA A100-SXM4-80GB"
    power_w: float | Callable[[float], float] = 60.0
    counter_period_s: float = 0.1
    energy_offset_mj: int = 123_456_789
    sm_clock_mhz: float | Callable[[float], float] = 1410
    mem_clock_mhz: float | Callable[[float], float] = 1593
    app_sm_clock_mhz: int = 1410
    app_mem_clock_mhz: int = 1593
    max_sm_clock_mhz: int = 1410
    max_mem_clock_mhz: int = 1593
    temperature_c: float | Callable[[float], float] = 40
    power_limit_mw: int = 400_000
    default_power_limit_mw: int = 400_000
    persistence_mode: int = 1
    ecc_mode: tuple[int, int] | None = (1, 1)
    mig_mode: tuple[int, int] | None = (0, 0)
    mig_uuids: tuple[str, ...] = ()
    throttle_mask: int = 0x1
    memory_total_bytes: int = 80 * (1 << 30)
    processes: list[FakeProcess] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    epoch: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _steps: list[float] = field(default_factory=lambda: [0.0], repr=False)

    def energy_j_between(self, t0: float, t1: float, n: int = 2000) -> float:
        """Exact-enough ∫ power dt over ``[t0, t1]`` (seconds since epoch), composite Simpson."""
        if t1 <= t0:
            return 0.0
        h = (t1 - t0) / n
        total = 0.0
        for i in range(n):
            a = t0 + i * h
            total += (
                h
                / 6
                * (
                    _value(self.power_w, a)
                    + 4 * _value(self.power_w, a + h / 2)
                    + _value(self.power_w, a + h)
                )
            )
        return total

    def counter_mj(self, t: float) -> int:
        """The counter at ``t``: energy up to the last update at or before ``t``, mJ."""
        k = math.floor(t / self.counter_period_s)
        with self._lock:
            while len(self._steps) <= k:
                j = len(self._steps) - 1
                a = j * self.counter_period_s
                self._steps.append(
                    self._steps[-1] + self.energy_j_between(a, a + self.counter_period_s, 100)
                )
            joules = self._steps[max(k, 0)]
        return self.energy_offset_mj + int(joules * 1000)


class FakeNvml(types.ModuleType):
    """A stand-in for the ``pynvml`` module over :class:`FakeGpu` objects."""

    NVML_SUCCESS = 0
    NVML_FEATURE_DISABLED = 0
    NVML_FEATURE_ENABLED = 1
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_GRAPHICS = 0
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_CLOCK_VIDEO = 3
    NVML_DEVICE_MIG_DISABLE = 0
    NVML_DEVICE_MIG_ENABLE = 1
    NVMLError = NVMLError

    def __init__(
        self,
        gpus: list[FakeGpu],
        *,
        init_error: int | None = None,
        driver_version: str = "550.54.15",
        cuda_driver_version: int = 12040,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        super().__init__("pynvml", "FAKE pynvml for tests (tests/fakes_nvml.py)")
        for const, code in ERROR_CODES.items():
            setattr(self, const, code)
        for name, cls in ERROR_CLASSES.items():
            setattr(self, name, cls)
        self.gpus = gpus
        self.clock = clock
        self.init_error = init_error
        self.init_count = 0
        self.driver_version = driver_version
        self.cuda_driver_version = cuda_driver_version
        now = clock()
        for gpu in gpus:
            gpu.epoch = now

    # -- helpers ------------------------------------------------------------------------------

    def _require_init(self) -> None:
        if self.init_count <= 0:
            raise NVMLError(ERROR_CODES["NVML_ERROR_UNINITIALIZED"])

    def _gpu(self, handle: FakeHandle, function: str, *, mig_ok: bool = False) -> FakeGpu:
        self._require_init()
        if not isinstance(handle, FakeHandle) or not 0 <= handle.gpu < len(self.gpus):
            raise NVMLError(ERROR_CODES["NVML_ERROR_INVALID_ARGUMENT"])
        gpu = self.gpus[handle.gpu]
        if handle.mig is not None and not mig_ok:
            raise NVMLError(ERROR_CODES["NVML_ERROR_NOT_SUPPORTED"])
        if function in gpu.errors:
            raise NVMLError(gpu.errors[function])
        return gpu

    def _t(self, gpu: FakeGpu) -> float:
        return self.clock() - gpu.epoch

    # -- library and system -------------------------------------------------------------------

    def nvmlInit(self) -> None:  # noqa: N802 (pynvml's names)
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.init_count += 1

    def nvmlShutdown(self) -> None:  # noqa: N802
        self._require_init()
        self.init_count -= 1

    def nvmlSystemGetDriverVersion(self) -> str:  # noqa: N802
        self._require_init()
        return self.driver_version

    def nvmlSystemGetCudaDriverVersion(self) -> int:  # noqa: N802
        self._require_init()
        return self.cuda_driver_version

    def nvmlSystemGetNVMLVersion(self) -> str:  # noqa: N802
        self._require_init()
        return "12." + self.driver_version

    # -- enumeration --------------------------------------------------------------------------

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        self._require_init()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:  # noqa: N802
        self._require_init()
        if not 0 <= index < len(self.gpus):
            raise NVMLError(ERROR_CODES["NVML_ERROR_INVALID_ARGUMENT"])
        return FakeHandle(index)

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> FakeHandle:  # noqa: N802
        self._require_init()
        for i, gpu in enumerate(self.gpus):
            if gpu.uuid == uuid:
                return FakeHandle(i)
            for m, mig in enumerate(gpu.mig_uuids):
                if mig == uuid:
                    return FakeHandle(i, m)
        raise NVMLError(ERROR_CODES["NVML_ERROR_NOT_FOUND"])

    def nvmlDeviceIsMigDeviceHandle(self, handle: FakeHandle) -> int:  # noqa: N802
        self._gpu(handle, "nvmlDeviceIsMigDeviceHandle", mig_ok=True)
        return int(handle.mig is not None)

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(  # noqa: N802
        self, handle: FakeHandle
    ) -> FakeHandle:
        self._gpu(handle, "nvmlDeviceGetDeviceHandleFromMigDeviceHandle", mig_ok=True)
        if handle.mig is None:
            raise NVMLError(ERROR_CODES["NVML_ERROR_INVALID_ARGUMENT"])
        return FakeHandle(handle.gpu)

    def nvmlDeviceGetIndex(self, handle: FakeHandle) -> int:  # noqa: N802
        self._gpu(handle, "nvmlDeviceGetIndex")
        return handle.gpu

    def nvmlDeviceGetUUID(self, handle: FakeHandle) -> str:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetUUID", mig_ok=True)
        return gpu.uuid if handle.mig is None else gpu.mig_uuids[handle.mig]

    def nvmlDeviceGetName(self, handle: FakeHandle) -> str:  # noqa: N802
        return self._gpu(handle, "nvmlDeviceGetName", mig_ok=True).name

    # -- energy and power ---------------------------------------------------------------------

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeHandle) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetTotalEnergyConsumption")
        return gpu.counter_mj(self._t(gpu))

    def nvmlDeviceGetPowerUsage(self, handle: FakeHandle) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetPowerUsage")
        return round(_value(gpu.power_w, self._t(gpu)) * 1000)

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: FakeHandle) -> int:  # noqa: N802
        return self._gpu(handle, "nvmlDeviceGetEnforcedPowerLimit").power_limit_mw

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle: FakeHandle) -> int:  # noqa: N802
        return self._gpu(handle, "nvmlDeviceGetPowerManagementDefaultLimit").default_power_limit_mw

    # -- clocks, temperature, state -----------------------------------------------------------

    def nvmlDeviceGetClockInfo(self, handle: FakeHandle, clock_type: int) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetClockInfo")
        source = gpu.sm_clock_mhz if clock_type == self.NVML_CLOCK_SM else gpu.mem_clock_mhz
        if clock_type not in (self.NVML_CLOCK_SM, self.NVML_CLOCK_MEM, self.NVML_CLOCK_GRAPHICS):
            raise NVMLError(ERROR_CODES["NVML_ERROR_INVALID_ARGUMENT"])
        return int(_value(source, self._t(gpu)))

    def nvmlDeviceGetMaxClockInfo(self, handle: FakeHandle, clock_type: int) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetMaxClockInfo")
        return gpu.max_sm_clock_mhz if clock_type == self.NVML_CLOCK_SM else gpu.max_mem_clock_mhz

    def nvmlDeviceGetApplicationsClock(self, handle: FakeHandle, clock_type: int) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetApplicationsClock")
        return gpu.app_sm_clock_mhz if clock_type == self.NVML_CLOCK_SM else gpu.app_mem_clock_mhz

    def nvmlDeviceGetClock(self, handle: FakeHandle, clock_type: int, clock_id: int) -> int:  # noqa: N802
        self._gpu(handle, "nvmlDeviceGetClock")
        if clock_id == 0:  # NVML_CLOCK_ID_CURRENT
            return self.nvmlDeviceGetClockInfo(handle, clock_type)
        if clock_id == 1:  # NVML_CLOCK_ID_APP_CLOCK_TARGET
            return self.nvmlDeviceGetApplicationsClock(handle, clock_type)
        raise NVMLError(ERROR_CODES["NVML_ERROR_NOT_SUPPORTED"])

    def nvmlDeviceGetTemperature(self, handle: FakeHandle, sensor: int) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetTemperature")
        return int(_value(gpu.temperature_c, self._t(gpu)))

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: FakeHandle) -> int:  # noqa: N802
        return self._gpu(handle, "nvmlDeviceGetCurrentClocksEventReasons").throttle_mask

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: FakeHandle) -> int:  # noqa: N802
        return self._gpu(handle, "nvmlDeviceGetCurrentClocksThrottleReasons").throttle_mask

    def nvmlDeviceGetPersistenceMode(self, handle: FakeHandle) -> int:  # noqa: N802
        return self._gpu(handle, "nvmlDeviceGetPersistenceMode").persistence_mode

    def nvmlDeviceGetMigMode(self, handle: FakeHandle) -> list[int]:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetMigMode")
        if gpu.mig_mode is None:
            raise NVMLError(ERROR_CODES["NVML_ERROR_NOT_SUPPORTED"])
        return list(gpu.mig_mode)

    def nvmlDeviceGetEccMode(self, handle: FakeHandle) -> list[int]:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetEccMode")
        if gpu.ecc_mode is None:
            raise NVMLError(ERROR_CODES["NVML_ERROR_NOT_SUPPORTED"])
        return list(gpu.ecc_mode)

    def nvmlDeviceGetMemoryInfo(self, handle: FakeHandle) -> FakeMemory:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetMemoryInfo")
        used = sum(p.usedGpuMemory or 0 for p in gpu.processes)
        return FakeMemory(gpu.memory_total_bytes, gpu.memory_total_bytes - used, used)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: FakeHandle) -> list[FakeProcess]:  # noqa: N802
        return list(self._gpu(handle, "nvmlDeviceGetComputeRunningProcesses").processes)


def make_uuid(n: int) -> str:
    """A well-formed NVML GPU UUID, distinct per ``n``."""
    return f"GPU-{n:08x}-1111-2222-3333-{n:012x}"


def make_mig_uuid(n: int) -> str:
    """A well-formed NVML MIG UUID (R470+ form), distinct per ``n``."""
    return f"MIG-{n:08x}-aaaa-bbbb-cccc-{n:012x}"
