"""FAKE NVML for tests: a module object shaped like ``pynvml`` (nvidia-ml-py 13), over simulated
GPUs whose sensors behave like real products, not like the code that reads them.

Faithful to the real bindings where our code depends on them:

* function names and argument order (``nvmlDeviceGetClockInfo(handle, NVML_CLOCK_SM)``, ...);
* units: energy counter in **mJ** (int), power in **mW** (int), clocks in MHz, temperature in
  °C, memory in bytes, throttle (perf-policy) counters in ns;
* errors: ``NVMLError`` whose constructor maps a code to a subclass named like pynvml's
  (``NVMLError_NotSupported``, ...), pynvml's codes and messages; calls before ``nvmlInit``
  raise ``NVMLError_Uninitialized``; a C symbol missing from the driver's library raises
  ``NVMLError_FunctionNotFound`` — except through pynvml's unversioned
  ``nvmlDeviceGetComputeRunningProcesses``, which turns that into
  ``NVMLLibraryMismatchError``, a plain ``Exception`` (pynvml's ``throwOnVersionMismatch``);
* ``nvmlDeviceGetFieldValues`` returns one entry per field with its own ``nvmlReturn``
  (the call itself succeeds) and a ``value`` union (``uiVal``, ``ullVal``, ``dVal`` ...).

The sensor model (per :class:`GpuProduct`, see :data:`PRODUCTS`):

* the energy counter and the power readings **update every ``counter_period_s``**, at
  ``counter_phase_s + k * period``;
* each update is computed from a **sample window** covering only ``sensor_duty`` of the
  period and ending ``sensor_lag_s`` before the update; the counter adds *mean power in the
  sample window x period* (the part of the period the sensor did not see is extrapolated);
* ``nvmlDeviceGetPowerUsage`` is the latest sample's mean, or (Ampere and newer except GA100)
  the mean of the samples of the last ``power_usage_average_s`` (1 s);
  ``NVML_FI_DEV_POWER_INSTANT`` is the latest sample's mean where the driver has the field;
* every NVML call takes ``read_latency_s`` (jittered ±50%, seeded) and can fail transiently
  (``transient_errors``);
* GH200 reports energy and power of the whole module (``energy_scope="module"``).

``FakeGpu(uuid)`` without a product keeps the old idealized sensor (full duty cycle, no lag,
``GetPowerUsage`` = true power at the instant of the call) so older tests keep their meaning;
:meth:`FakeGpu.product` builds the realistic ones. Processes: host PIDs, MPS servers and
garbled entries (a driver writing the 32-byte v3 process struct that nvidia-ml-py 13 decodes
as the 24-byte v2 struct) are modelled; so are MIG slices with their own handles, processes
and memory (an unprivileged query on the parent handle of a MIG GPU lists nothing), the legacy
``MIG-GPU-<uuid>/<gi>/<ci>`` UUID form, and drivers that removed deprecated functions.

``tests/test_meters_fakes.py`` checks the error classes, codes, constants and function names
against the installed real ``pynvml``.
"""

from __future__ import annotations

import bisect
import ctypes
import math
import random
import string
import threading
import time
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
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
    "NVML_ERROR_ARGUMENT_VERSION_MISMATCH": 25,
    "NVML_ERROR_DEPRECATED": 26,
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
    10: "Timeout",
    12: "NVML Shared Library Not Found",
    13: "Function Not Found",
    15: "GPU is lost",
    999: "Unknown Error",
}
_OK = 0
_NOT_SUPPORTED = 3
_NOT_FOUND = 6
_FUNCTION_NOT_FOUND = 13

# Constants our code and the fake share with pynvml (test_meters_fakes.py pins them).
NVML_DEVICE_ARCH = {"VOLTA": 5, "TURING": 6, "AMPERE": 7, "ADA": 8, "HOPPER": 9, "BLACKWELL": 10}
FI_POWER_AVERAGE = 185
FI_POWER_INSTANT = 186
#: Perf-policy ("clock event reason") counters: cumulative ns the clocks were held down.
FI_THROTTLE = {
    "SwPowerCap": 74,  # NVML_FI_DEV_PERF_POLICY_POWER
    "Thermal": 75,  # NVML_FI_DEV_PERF_POLICY_THERMAL
    "SyncBoost": 76,
    "BoardLimit": 77,
    "SwThermalSlowdown": 269,
    "HwThermalSlowdown": 270,
    "HwPowerBrakeSlowdown": 271,
}
POWER_SCOPE_GPU = 0
POWER_SCOPE_MODULE = 1
#: NVML_VALUE_NOT_AVAILABLE for unsigned ints: what an unused gpuInstanceId reads.
UINT_NA = 0xFFFFFFFF


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


class NVMLLibraryMismatchError(Exception):
    """pynvml's error for an unversioned call whose versioned C symbol the driver lacks."""


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


# -- products -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuProduct:
    """How one product's sensors behave (the assumptions the fake encodes, with sources).

    ``benchmarks/gpu_probe.py`` measures refresh period, power averaging, read latency and the
    process list on real hardware, so these assumptions can be checked.
    """

    name: str  #: what nvmlDeviceGetName returns
    architecture: int  #: NVML_DEVICE_ARCH_*
    counter_period_s: float  #: energy counter / power refresh period
    sensor_duty: float  #: fraction of each period the power sensor samples
    sensor_lag_s: float  #: end of the sample window to the update becoming visible
    power_usage_average_s: float  #: GetPowerUsage averages this long (0: latest sample)
    read_latency_s: float  #: mean duration of one NVML call on an idle CPU
    energy_scope: str = "gpu"  #: "module" on GH200 (GPU + CPU + memory of the superchip)
    module_extra_w: float = 0.0  #: rest-of-module power on GH200
    max_sm_clock_mhz: int = 1410
    memory_total_bytes: int = 80 * (1 << 30)
    source: str = ""


#: The realistic products. Sources: NVML documentation (GetPowerUsage is a 1 s average on
#: Ampere and newer except GA100; energy counter on Volta and newer), Yang et al., "Part-time
#: Power Measurements: nvidia-smi's Lack of Attention" (arXiv 2312.02741, SC'24: A100 and H100
#: sample about 25% of the runtime), Zeus (counter refresh about every 100 ms; GH200 counter
#: covers the whole module). Values marked "assumed" are this fake's guesses, to be checked
#: on hardware with benchmarks/gpu_probe.py.
PRODUCTS: dict[str, GpuProduct] = {
    "V100": GpuProduct(
        "Tesla V100-SXM2-32GB", NVML_DEVICE_ARCH["VOLTA"], 0.02, 1.0, 0.002, 0.0, 0.0002,
        max_sm_clock_mhz=1530, memory_total_bytes=32 * (1 << 30),
        source="refresh 20 ms and full duty cycle assumed",
    ),
    "A100": GpuProduct(
        "NVIDIA A100-SXM4-80GB", NVML_DEVICE_ARCH["AMPERE"], 0.1, 0.25, 0.005, 0.0, 0.0002,
        source="25% duty (Yang et al.); 100 ms refresh (Zeus); GA100: GetPowerUsage instant",
    ),
    "H100": GpuProduct(
        "NVIDIA H100 80GB HBM3", NVML_DEVICE_ARCH["HOPPER"], 0.1, 0.25, 0.005, 1.0, 0.0002,
        max_sm_clock_mhz=1980,
        source="25% duty (Yang et al.); 100 ms refresh (Zeus); GetPowerUsage 1 s average (NVML)",
    ),
    "A10": GpuProduct(
        "NVIDIA A10", NVML_DEVICE_ARCH["AMPERE"], 0.1, 1.0, 0.005, 1.0, 0.0002,
        max_sm_clock_mhz=1695, memory_total_bytes=24 * (1 << 30),
        source="GetPowerUsage 1 s average (NVML, Ampere not GA100); duty assumed full",
    ),
    "GH200": GpuProduct(
        "NVIDIA GH200 480GB", NVML_DEVICE_ARCH["HOPPER"], 0.1, 0.25, 0.005, 1.0, 0.0002,
        energy_scope="module", module_extra_w=150.0, max_sm_clock_mhz=1980,
        memory_total_bytes=96 * (1 << 30),
        source="module scope (Zeus #172); rest of the module's 150 W assumed",
    ),
    "slow-counter": GpuProduct(
        "NVIDIA Slow-Counter GPU (FAKE)", NVML_DEVICE_ARCH["TURING"], 1.0, 1.0, 0.01, 1.0,
        0.0002, source="a counter refreshing about once a second, as issue 15 reports",
    ),
}  # fmt: skip


# -- power traces -------------------------------------------------------------------------------


class PiecewisePower:
    """Piecewise-constant power (W) over time (s since the GPU's epoch), integrated exactly.

    ``times`` are the starts of the segments (increasing; the first is the start of the
    trace), ``watts`` the power of each; before the first start the power is ``watts[0]``,
    after the last start it stays at ``watts[-1]``.
    """

    def __init__(self, times: Sequence[float], watts: Sequence[float]) -> None:
        if len(times) != len(watts) or not times:
            raise ValueError("times and watts must be non-empty and of equal length")
        self.times = list(times)
        self.watts = list(watts)
        self._cumulative = [0.0]
        for i in range(1, len(self.times)):
            self._cumulative.append(
                self._cumulative[-1] + self.watts[i - 1] * (self.times[i] - self.times[i - 1])
            )

    def __call__(self, t: float) -> float:
        i = bisect.bisect_right(self.times, t) - 1
        return self.watts[max(i, 0)]

    def _energy_to(self, t: float) -> float:
        if t <= self.times[0]:
            return self.watts[0] * (t - self.times[0])
        i = bisect.bisect_right(self.times, t) - 1
        return self._cumulative[i] + self.watts[i] * (t - self.times[i])

    def energy_j(self, t0: float, t1: float) -> float:
        """∫ power dt over ``[t0, t1]``, joules, exact."""
        return self._energy_to(t1) - self._energy_to(t0)


def _value(v: float | Callable[[float], float], t: float) -> float:
    return float(v(t)) if callable(v) else float(v)


# -- processes ----------------------------------------------------------------------------------


@dataclass
class FakeProcess:
    """What ``nvmlDeviceGetComputeRunningProcesses`` returns per process (bytes)."""

    pid: int
    usedGpuMemory: int | None = 1 << 30  # noqa: N815 (pynvml's field name)
    gpuInstanceId: int = UINT_NA  # noqa: N815
    computeInstanceId: int = UINT_NA  # noqa: N815


class _ProcessInfoV2(ctypes.Structure):
    """pynvml's c_nvmlProcessInfo_v2_t, which nvidia-ml-py 13 also uses for ``_v3``."""

    _fields_ = [
        ("pid", ctypes.c_uint),
        ("usedGpuMemory", ctypes.c_ulonglong),
        ("gpuInstanceId", ctypes.c_uint),
        ("computeInstanceId", ctypes.c_uint),
    ]


class _ProcessInfoV3Driver(ctypes.Structure):
    """What a driver writes for ``nvmlDeviceGetComputeRunningProcesses_v3`` when it has the
    confidential-computing field (nvml.h's nvmlProcessInfo_t: 32 bytes, not 24)."""

    _fields_ = [
        ("pid", ctypes.c_uint),
        ("usedGpuMemory", ctypes.c_ulonglong),
        ("gpuInstanceId", ctypes.c_uint),
        ("computeInstanceId", ctypes.c_uint),
        ("usedGpuCcProtectedMemory", ctypes.c_ulonglong),
    ]


def garbled_v3_entries(processes: Sequence[FakeProcess]) -> list[FakeProcess]:
    """The process list as nvidia-ml-py 13 decodes a driver's 32-byte v3 structs (24-byte
    layout): the first entry is right, the ones after it are misaligned garbage."""
    if not processes:
        return []
    count = len(processes)
    driver = (_ProcessInfoV3Driver * count)()
    for slot, proc in zip(driver, processes, strict=True):
        slot.pid = proc.pid
        slot.usedGpuMemory = (1 << 64) - 1 if proc.usedGpuMemory is None else proc.usedGpuMemory
        slot.gpuInstanceId = proc.gpuInstanceId
        slot.computeInstanceId = proc.computeInstanceId
        slot.usedGpuCcProtectedMemory = 0
    raw = ctypes.string_at(ctypes.addressof(driver), ctypes.sizeof(driver))
    size = ctypes.sizeof(_ProcessInfoV2) * count
    decoded = (_ProcessInfoV2 * count).from_buffer_copy(raw[:size])
    return [
        FakeProcess(
            int(d.pid),
            None if d.usedGpuMemory == (1 << 64) - 1 else int(d.usedGpuMemory),
            int(d.gpuInstanceId),
            int(d.computeInstanceId),
        )
        for d in decoded
    ]


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


@dataclass
class FakeValue:
    """pynvml's c_nvmlValue_t union: every member holds the value."""

    dVal: float = 0.0  # noqa: N815
    uiVal: int = 0  # noqa: N815
    ulVal: int = 0  # noqa: N815
    ullVal: int = 0  # noqa: N815
    sllVal: int = 0  # noqa: N815
    siVal: int = 0  # noqa: N815
    usVal: int = 0  # noqa: N815

    @classmethod
    def of(cls, value: float) -> FakeValue:
        n = int(value)
        return cls(float(value), n & UINT_NA, n, n, n, n, n & 0xFFFF)


@dataclass
class FakeFieldValue:
    """pynvml's c_nvmlFieldValue_t."""

    fieldId: int  # noqa: N815
    scopeId: int  # noqa: N815
    timestamp: int  #: µs since the epoch
    latencyUsec: int  # noqa: N815
    valueType: int  # noqa: N815
    nvmlReturn: int  # noqa: N815
    value: FakeValue


@dataclass
class FakeC2cModeInfo:
    isC2cEnabled: int  # noqa: N815


# -- GPUs ---------------------------------------------------------------------------------------


@dataclass
class FakeGpu:
    """One simulated GPU.

    ``power_w`` and the clock/temperature fields may be constants or functions of ``t`` =
    seconds since this GPU's epoch (set when the :class:`FakeNvml` is built); ``power_w`` may
    also be a :class:`PiecewisePower` (integrated exactly). ``errors`` maps an NVML function
    name to the error code it raises for this GPU (e.g.
    ``{"nvmlDeviceGetTotalEnergyConsumption": 3}`` for a pre-Volta board);
    ``transient_errors`` maps a function name to ``(probability, code)`` of failing one call.
    ``throttle_s`` maps a clock-event reason (:data:`FI_THROTTLE`) to the cumulative seconds
    it held the clocks down, as a function of ``t``.
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
    # -- realistic behaviour (defaults: the idealized sensor of earlier tests) --
    graphics_clock_mhz: float | Callable[[float], float] | None = None  #: None: the SM clock
    video_clock_mhz: int = 1275
    boost_clock_mhz: int | None = None  #: NVML_CLOCK_ID_CUSTOMER_BOOST_MAX; None: max clock
    architecture: int = NVML_DEVICE_ARCH["AMPERE"]
    ideal_sensor: bool = True  #: power readings are the true power at the instant of the call
    sensor_duty: float = 1.0
    sensor_lag_s: float = 0.0
    counter_phase_s: float = 0.0
    power_usage_average_s: float = 0.0
    power_instant_field: bool = True  #: the driver answers NVML_FI_DEV_POWER_INSTANT
    read_latency_s: float = 0.0
    transient_errors: dict[str, tuple[float, int]] = field(default_factory=dict)
    energy_scope: str = "gpu"
    module_extra_w: float = 0.0
    throttle_s: dict[str, float | Callable[[float], float]] = field(default_factory=dict)
    #: the driver writes 32-byte v3 process structs that the bindings decode as 24-byte ones
    process_struct_mismatch: bool = False
    #: (gpuInstanceId, computeInstanceId) of each MIG slice; default (1, 0), (2, 0), ...
    mig_ids: tuple[tuple[int, int], ...] = ()
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _steps: list[float] = field(default_factory=lambda: [0.0], repr=False)
    _samples: list[float] = field(default_factory=list, repr=False)

    @classmethod
    def product(cls, key: str, uuid: str, **overrides: Any) -> FakeGpu:
        """A GPU behaving like product ``key`` of :data:`PRODUCTS` (realistic sensor)."""
        p = PRODUCTS[key]
        values: dict[str, Any] = {
            "name": p.name,
            "architecture": p.architecture,
            "counter_period_s": p.counter_period_s,
            "sensor_duty": p.sensor_duty,
            "sensor_lag_s": p.sensor_lag_s,
            "power_usage_average_s": p.power_usage_average_s,
            "read_latency_s": p.read_latency_s,
            "energy_scope": p.energy_scope,
            "module_extra_w": p.module_extra_w,
            "max_sm_clock_mhz": p.max_sm_clock_mhz,
            "app_sm_clock_mhz": p.max_sm_clock_mhz,
            "sm_clock_mhz": p.max_sm_clock_mhz,
            "memory_total_bytes": p.memory_total_bytes,
            "ideal_sensor": False,
        }
        values.update(overrides)
        return cls(uuid, **values)

    # -- the power the board draws, and what its sensor makes of it ----------------------------

    def board_power_w(self, t: float) -> float:
        """True power of what NVML meters (the whole module on GH200), W."""
        extra = self.module_extra_w if self.energy_scope == "module" else 0.0
        return _value(self.power_w, t) + extra

    def energy_j_between(self, t0: float, t1: float, n: int = 2000) -> float:
        """Exact-enough ∫ power dt over ``[t0, t1]`` (s since epoch): exact for a
        :class:`PiecewisePower` or a constant, composite Simpson otherwise. Ground truth."""
        if t1 <= t0:
            return 0.0
        extra = self.module_extra_w * (t1 - t0) if self.energy_scope == "module" else 0.0
        power = self.power_w
        if isinstance(power, PiecewisePower):
            return power.energy_j(t0, t1) + extra
        if not callable(power):
            return float(power) * (t1 - t0) + extra
        h = (t1 - t0) / n
        total = 0.0
        for i in range(n):
            a = t0 + i * h
            mid = 4 * _value(power, a + h / 2)
            total += h / 6 * (_value(power, a) + mid + _value(power, a + h))
        return total + extra

    def update_time(self, k: int) -> float:
        """When the ``k``-th counter update becomes visible, s since epoch."""
        return self.counter_phase_s + k * self.counter_period_s

    def _sample_mean_w(self, k: int) -> float:
        """Mean power the sensor saw for update ``k`` (its sample window clipped at t=0)."""
        end = self.update_time(k) - self.sensor_lag_s
        start = end - self.sensor_duty * self.counter_period_s
        start = max(start, 0.0)
        if end <= start:
            return 0.0 if end <= 0 else self.board_power_w(end)
        return self.energy_j_between(start, end, 100) / (end - start)

    def _extend(self, k: int) -> None:
        """Compute updates up to ``k`` (the lock is held)."""
        while len(self._steps) <= k:
            j = len(self._steps)
            if self.ideal_sensor or (self.sensor_duty >= 1.0 and self.sensor_lag_s == 0.0):
                a = max(self.update_time(j) - self.counter_period_s, 0.0)
                increment = self.energy_j_between(a, self.update_time(j), 100)
                mean = increment / self.counter_period_s
            else:
                mean = self._sample_mean_w(j)
                increment = mean * self.counter_period_s
            self._steps.append(self._steps[-1] + increment)
            self._samples.append(mean)

    def _last_update(self, t: float) -> int:
        return math.floor((t - self.counter_phase_s) / self.counter_period_s)

    def counter_mj(self, t: float) -> int:
        """The counter at ``t``: energy up to the last update at or before ``t``, mJ."""
        k = self._last_update(t)
        with self._lock:
            self._extend(max(k, 0))
            joules = self._steps[k] if k >= 1 else 0.0
        return self.energy_offset_mj + int(joules * 1000)

    def true_counter_j(self, t: float) -> float:
        """What an ideal counter would read at ``t`` (energy since epoch), J."""
        return self.energy_j_between(0.0, t)

    def instant_power_w(self, t: float) -> float:
        """NVML_FI_DEV_POWER_INSTANT: the latest sample's mean (true power if ideal), W."""
        if self.ideal_sensor:
            return self.board_power_w(t)
        k = self._last_update(t)
        if k < 1:
            return self.board_power_w(0.0)
        with self._lock:
            self._extend(k)
            return self._samples[k - 1]

    def power_usage_w(self, t: float) -> float:
        """nvmlDeviceGetPowerUsage: instant, or the mean of the last second's samples, W."""
        if self.ideal_sensor or self.power_usage_average_s <= 0:
            return self.instant_power_w(t)
        k = self._last_update(t)
        n = max(1, round(self.power_usage_average_s / self.counter_period_s))
        if k < 1:
            return self.board_power_w(0.0)
        with self._lock:
            self._extend(k)
            window = self._samples[max(0, k - n) : k]
        return sum(window) / len(window)

    def throttle_ns(self, reason: str, t: float) -> int:
        return int(_value(self.throttle_s.get(reason, 0.0), t) * 1e9)

    def mig_slice_ids(self) -> list[tuple[int, int]]:
        return list(self.mig_ids) or [(m + 1, 0) for m in range(len(self.mig_uuids))]


# -- the module ---------------------------------------------------------------------------------

#: Functions NVML marks deprecated ("will be removed in CUDA 14.0") that our code must not need.
DEPRECATED_FUNCTIONS = (
    "nvmlDeviceGetTemperature",
    "nvmlDeviceGetApplicationsClock",
    "nvmlDeviceGetDefaultApplicationsClock",
    "nvmlDeviceGetCurrentClocksThrottleReasons",
    "nvmlDeviceGetViolationStatus",
)
#: Symbols a pre-R510 driver (R470) lacks.
R470_MISSING = (
    "nvmlDeviceGetComputeRunningProcesses_v3",
    "nvmlDeviceGetTemperatureV",
    "nvmlDeviceGetCurrentClocksEventReasons",
)


class FakeNvml(types.ModuleType):
    """A stand-in for the ``pynvml`` module over :class:`FakeGpu` objects.

    Args:
        gpus: the node's GPUs, in NVML (PCI) order.
        init_error: ``nvmlInit`` raises this code.
        clock: time source (seconds); a fake clock makes runs deterministic.
        sleep: advances ``clock`` by read latencies (default ``time.sleep``); pass the fake
            clock's sleep with a fake clock.
        missing_symbols: C symbols the driver's library lacks (calls raise FunctionNotFound).
        removed_deprecated: the deprecated functions in :data:`DEPRECATED_FUNCTIONS` are gone
            from the library (CUDA 14).
        privileged: the caller may query aggregate processes on a MIG GPU's parent handle.
        seed: seeds latency jitter and transient errors.
    """

    NVML_SUCCESS = 0
    NVML_FEATURE_DISABLED = 0
    NVML_FEATURE_ENABLED = 1
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_GRAPHICS = 0
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_CLOCK_VIDEO = 3
    NVML_CLOCK_ID_CURRENT = 0
    NVML_CLOCK_ID_APP_CLOCK_TARGET = 1
    NVML_CLOCK_ID_APP_CLOCK_DEFAULT = 2
    NVML_CLOCK_ID_CUSTOMER_BOOST_MAX = 3
    NVML_DEVICE_MIG_DISABLE = 0
    NVML_DEVICE_MIG_ENABLE = 1
    NVML_FI_DEV_POWER_AVERAGE = FI_POWER_AVERAGE
    NVML_FI_DEV_POWER_INSTANT = FI_POWER_INSTANT
    NVML_FI_DEV_PERF_POLICY_POWER = 74
    NVML_FI_DEV_PERF_POLICY_THERMAL = 75
    NVML_FI_DEV_PERF_POLICY_SYNC_BOOST = 76
    NVML_FI_DEV_PERF_POLICY_BOARD_LIMIT = 77
    NVML_FI_DEV_CLOCKS_EVENT_REASON_SW_THERM_SLOWDOWN = 269
    NVML_FI_DEV_CLOCKS_EVENT_REASON_HW_THERM_SLOWDOWN = 270
    NVML_FI_DEV_CLOCKS_EVENT_REASON_HW_POWER_BRAKE_SLOWDOWN = 271
    NVML_POWER_SCOPE_GPU = POWER_SCOPE_GPU
    NVML_POWER_SCOPE_MODULE = POWER_SCOPE_MODULE
    NVML_VALUE_TYPE_DOUBLE = 0
    NVML_VALUE_TYPE_UNSIGNED_INT = 1
    NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3
    NVML_DEVICE_ARCH_VOLTA = NVML_DEVICE_ARCH["VOLTA"]
    NVML_DEVICE_ARCH_AMPERE = NVML_DEVICE_ARCH["AMPERE"]
    NVML_DEVICE_ARCH_HOPPER = NVML_DEVICE_ARCH["HOPPER"]
    NVMLError = NVMLError
    NVMLLibraryMismatchError = NVMLLibraryMismatchError

    def __init__(
        self,
        gpus: list[FakeGpu],
        *,
        init_error: int | None = None,
        driver_version: str = "550.54.15",
        cuda_driver_version: int = 12040,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] | None = None,
        missing_symbols: Iterable[str] = (),
        removed_deprecated: bool = False,
        privileged: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__("pynvml", "FAKE pynvml for tests (tests/fakes_nvml.py)")
        for const, code in ERROR_CODES.items():
            setattr(self, const, code)
        for name, cls in ERROR_CLASSES.items():
            setattr(self, name, cls)
        self.gpus = gpus
        self.clock = clock
        self.sleep = sleep or time.sleep
        self.init_error = init_error
        self.init_count = 0
        self.driver_version = driver_version
        self.cuda_driver_version = cuda_driver_version
        self.missing_symbols = set(missing_symbols)
        if removed_deprecated:
            self.missing_symbols |= set(DEPRECATED_FUNCTIONS)
        self.privileged = privileged
        self.calls: dict[str, int] = {}
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        now = clock()
        for gpu in gpus:
            gpu.epoch = now

    @classmethod
    def r470(cls, gpus: list[FakeGpu], **kwargs: Any) -> FakeNvml:
        """A node with an R470 driver: no ``_v3`` process query, no TemperatureV, no
        NVML_FI_DEV_POWER_INSTANT."""
        for gpu in gpus:
            gpu.power_instant_field = False
        return cls(gpus, driver_version="470.182.03", cuda_driver_version=11040,
                   missing_symbols=R470_MISSING, **kwargs)  # fmt: skip

    # -- helpers ------------------------------------------------------------------------------

    def _require_init(self) -> None:
        if self.init_count <= 0:
            raise NVMLError(ERROR_CODES["NVML_ERROR_UNINITIALIZED"])

    def _symbol(self, function: str) -> None:
        self.calls[function] = self.calls.get(function, 0) + 1
        if function in self.missing_symbols:
            raise NVMLError(_FUNCTION_NOT_FOUND)

    def _random(self) -> float:
        with self._rng_lock:
            return self._rng.random()

    def _gpu(self, handle: FakeHandle, function: str, *, mig_ok: bool = False) -> FakeGpu:
        """Checks shared by every device call; spends half the call's latency."""
        self._symbol(function)
        self._require_init()
        if not isinstance(handle, FakeHandle) or not 0 <= handle.gpu < len(self.gpus):
            raise NVMLError(ERROR_CODES["NVML_ERROR_INVALID_ARGUMENT"])
        gpu = self.gpus[handle.gpu]
        if gpu.read_latency_s > 0:
            self.sleep(gpu.read_latency_s * (0.25 + 0.5 * self._random()))
        if handle.mig is not None and not mig_ok:
            raise NVMLError(_NOT_SUPPORTED)
        base = function.removesuffix("_v2").removesuffix("_v3")  # errors on a query, any version
        code = gpu.errors.get(function, gpu.errors.get(base))
        if code is not None:
            raise NVMLError(code)
        transient = gpu.transient_errors.get(function, gpu.transient_errors.get(base))
        if transient is not None and self._random() < transient[0]:
            raise NVMLError(transient[1])
        return gpu

    def _done(self, gpu: FakeGpu) -> None:
        """The other half of a call's latency, after its value was taken."""
        if gpu.read_latency_s > 0:
            self.sleep(gpu.read_latency_s * (0.25 + 0.5 * self._random()))

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
        raise NVMLError(_NOT_FOUND)

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

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: FakeHandle) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetMaxMigDeviceCount")
        return 7 if gpu.mig_mode is not None and gpu.mig_mode[0] == 1 else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(  # noqa: N802
        self, handle: FakeHandle, index: int
    ) -> FakeHandle:
        gpu = self._gpu(handle, "nvmlDeviceGetMigDeviceHandleByIndex")
        if not 0 <= index < len(gpu.mig_uuids):
            raise NVMLError(_NOT_FOUND)
        return FakeHandle(handle.gpu, index)

    def nvmlDeviceGetGpuInstanceId(self, handle: FakeHandle) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetGpuInstanceId", mig_ok=True)
        if handle.mig is None:
            raise NVMLError(ERROR_CODES["NVML_ERROR_INVALID_ARGUMENT"])
        return gpu.mig_slice_ids()[handle.mig][0]

    def nvmlDeviceGetComputeInstanceId(self, handle: FakeHandle) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetComputeInstanceId", mig_ok=True)
        if handle.mig is None:
            raise NVMLError(ERROR_CODES["NVML_ERROR_INVALID_ARGUMENT"])
        return gpu.mig_slice_ids()[handle.mig][1]

    def nvmlDeviceGetIndex(self, handle: FakeHandle) -> int:  # noqa: N802
        self._gpu(handle, "nvmlDeviceGetIndex")
        return handle.gpu

    def nvmlDeviceGetUUID(self, handle: FakeHandle) -> str:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetUUID", mig_ok=True)
        return gpu.uuid if handle.mig is None else gpu.mig_uuids[handle.mig]

    def nvmlDeviceGetName(self, handle: FakeHandle) -> str:  # noqa: N802
        return self._gpu(handle, "nvmlDeviceGetName", mig_ok=True).name

    def nvmlDeviceGetArchitecture(self, handle: FakeHandle) -> int:  # noqa: N802
        return self._gpu(handle, "nvmlDeviceGetArchitecture", mig_ok=True).architecture

    def nvmlDeviceGetC2cModeInfoV(self, handle: FakeHandle) -> FakeC2cModeInfo:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetC2cModeInfoV")
        if gpu.energy_scope != "module":
            raise NVMLError(_NOT_SUPPORTED)
        return FakeC2cModeInfo(1)

    # -- energy and power ---------------------------------------------------------------------

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeHandle) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetTotalEnergyConsumption")
        value = gpu.counter_mj(self._t(gpu))
        self._done(gpu)
        return value

    def nvmlDeviceGetPowerUsage(self, handle: FakeHandle) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetPowerUsage")
        value = round(gpu.power_usage_w(self._t(gpu)) * 1000)
        self._done(gpu)
        return value

    def nvmlDeviceGetFieldValues(  # noqa: N802
        self, handle: FakeHandle, field_ids: Sequence[int | tuple[int, int]]
    ) -> list[FakeFieldValue]:
        gpu = self._gpu(handle, "nvmlDeviceGetFieldValues")
        t = self._t(gpu)
        out = []
        for spec in field_ids:
            fid, scope = spec if isinstance(spec, tuple) else (spec, 0)
            ret, value, vtype = _NOT_SUPPORTED, 0.0, 1
            scope_ok = scope == POWER_SCOPE_GPU or (
                scope == POWER_SCOPE_MODULE and gpu.energy_scope == "module"
            )
            denied = gpu.errors.get("nvmlDeviceGetPowerUsage")  # the same sensor
            if fid in (FI_POWER_INSTANT, FI_POWER_AVERAGE) and denied is not None:
                ret = denied
            elif fid == FI_POWER_INSTANT and gpu.power_instant_field and scope_ok:
                ret, value = _OK, round(gpu.instant_power_w(t) * 1000)
            elif fid == FI_POWER_AVERAGE and gpu.power_instant_field and scope_ok:
                ret, value = _OK, round(gpu.power_usage_w(t) * 1000)
            elif fid in FI_THROTTLE.values():
                reason = next(k for k, v in FI_THROTTLE.items() if v == fid)
                ret, value, vtype = _OK, gpu.throttle_ns(reason, t), 3
            out.append(
                FakeFieldValue(
                    fid, scope, int((gpu.epoch + t) * 1e6), 0, vtype, ret, FakeValue.of(value)
                )
            )
        self._done(gpu)
        return out

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: FakeHandle) -> int:  # noqa: N802
        return self._gpu(handle, "nvmlDeviceGetEnforcedPowerLimit").power_limit_mw

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle: FakeHandle) -> int:  # noqa: N802
        return self._gpu(handle, "nvmlDeviceGetPowerManagementDefaultLimit").default_power_limit_mw

    # -- clocks, temperature, state -----------------------------------------------------------

    def nvmlDeviceGetClockInfo(self, handle: FakeHandle, clock_type: int) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetClockInfo")
        t = self._t(gpu)
        if clock_type == self.NVML_CLOCK_SM:
            source: float | Callable[[float], float] = gpu.sm_clock_mhz
        elif clock_type == self.NVML_CLOCK_GRAPHICS:
            source = gpu.sm_clock_mhz if gpu.graphics_clock_mhz is None else gpu.graphics_clock_mhz
        elif clock_type == self.NVML_CLOCK_MEM:
            source = gpu.mem_clock_mhz
        elif clock_type == self.NVML_CLOCK_VIDEO:
            source = gpu.video_clock_mhz
        else:
            raise NVMLError(ERROR_CODES["NVML_ERROR_INVALID_ARGUMENT"])
        return int(_value(source, t))

    def nvmlDeviceGetMaxClockInfo(self, handle: FakeHandle, clock_type: int) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetMaxClockInfo")
        if clock_type == self.NVML_CLOCK_MEM:
            return gpu.max_mem_clock_mhz
        if clock_type == self.NVML_CLOCK_VIDEO:
            return gpu.video_clock_mhz
        return gpu.max_sm_clock_mhz

    def nvmlDeviceGetApplicationsClock(self, handle: FakeHandle, clock_type: int) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetApplicationsClock")
        return gpu.app_mem_clock_mhz if clock_type == self.NVML_CLOCK_MEM else gpu.app_sm_clock_mhz

    def nvmlDeviceGetDefaultApplicationsClock(self, handle: FakeHandle, clock_type: int) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetDefaultApplicationsClock")
        return gpu.max_mem_clock_mhz if clock_type == self.NVML_CLOCK_MEM else gpu.max_sm_clock_mhz

    def nvmlDeviceGetClock(self, handle: FakeHandle, clock_type: int, clock_id: int) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetClock")
        mem = clock_type == self.NVML_CLOCK_MEM
        if clock_id == self.NVML_CLOCK_ID_CURRENT:
            return int(_value(gpu.mem_clock_mhz if mem else gpu.sm_clock_mhz, self._t(gpu)))
        if clock_id == self.NVML_CLOCK_ID_APP_CLOCK_TARGET:
            return gpu.app_mem_clock_mhz if mem else gpu.app_sm_clock_mhz
        if clock_id == self.NVML_CLOCK_ID_APP_CLOCK_DEFAULT:
            return gpu.max_mem_clock_mhz if mem else gpu.max_sm_clock_mhz
        if clock_id == self.NVML_CLOCK_ID_CUSTOMER_BOOST_MAX:
            if mem:
                return gpu.max_mem_clock_mhz
            return gpu.boost_clock_mhz or gpu.max_sm_clock_mhz
        raise NVMLError(ERROR_CODES["NVML_ERROR_INVALID_ARGUMENT"])

    def nvmlDeviceGetTemperature(self, handle: FakeHandle, sensor: int) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetTemperature")
        return int(_value(gpu.temperature_c, self._t(gpu)))

    def nvmlDeviceGetTemperatureV(self, handle: FakeHandle, sensor: int) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetTemperatureV")
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
            raise NVMLError(_NOT_SUPPORTED)
        return list(gpu.mig_mode)

    def nvmlDeviceGetEccMode(self, handle: FakeHandle) -> list[int]:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetEccMode")
        if gpu.ecc_mode is None:
            raise NVMLError(_NOT_SUPPORTED)
        return list(gpu.ecc_mode)

    # -- memory and processes -----------------------------------------------------------------

    def _slice_processes(self, gpu: FakeGpu, handle: FakeHandle) -> list[FakeProcess]:
        """What a query on ``handle`` lists: a MIG slice's own processes; on the parent of a
        MIG GPU, everything for a privileged caller and nothing otherwise."""
        mig_on = gpu.mig_mode is not None and gpu.mig_mode[0] == 1
        if handle.mig is not None:
            gi, ci = gpu.mig_slice_ids()[handle.mig]
            return [p for p in gpu.processes if (p.gpuInstanceId, p.computeInstanceId) == (gi, ci)]
        if mig_on and not self.privileged:
            return []
        return list(gpu.processes)

    def nvmlDeviceGetMemoryInfo(self, handle: FakeHandle) -> FakeMemory:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetMemoryInfo", mig_ok=True)
        total = gpu.memory_total_bytes
        if handle.mig is not None:
            total //= max(len(gpu.mig_uuids), 1)
        used = sum(p.usedGpuMemory or 0 for p in self._slice_processes(gpu, handle))
        return FakeMemory(total, total - used, used)

    def nvmlDeviceGetComputeRunningProcesses_v2(  # noqa: N802
        self, handle: FakeHandle
    ) -> list[FakeProcess]:
        gpu = self._gpu(handle, "nvmlDeviceGetComputeRunningProcesses_v2", mig_ok=True)
        return [replace(p) for p in self._slice_processes(gpu, handle)]

    def nvmlDeviceGetComputeRunningProcesses_v3(  # noqa: N802
        self, handle: FakeHandle
    ) -> list[FakeProcess]:
        gpu = self._gpu(handle, "nvmlDeviceGetComputeRunningProcesses_v3", mig_ok=True)
        processes = self._slice_processes(gpu, handle)
        if gpu.process_struct_mismatch:
            return garbled_v3_entries(processes)
        return [replace(p) for p in processes]

    def nvmlDeviceGetComputeRunningProcesses(self, handle: FakeHandle) -> list[FakeProcess]:  # noqa: N802
        # pynvml 13: @throwOnVersionMismatch around nvmlDeviceGetComputeRunningProcesses_v3.
        try:
            return self.nvmlDeviceGetComputeRunningProcesses_v3(handle)
        except ERROR_CLASSES["NVMLError_FunctionNotFound"]:
            raise NVMLLibraryMismatchError(
                "Unversioned function called and the pyNVML version does not match the NVML "
                "lib version. Either use matching pyNVML and NVML lib versions or use a "
                "versioned function such as nvmlDeviceGetComputeRunningProcesses_v2"
            ) from None


def make_uuid(n: int) -> str:
    """A well-formed NVML GPU UUID, distinct per ``n``."""
    return f"GPU-{n:08x}-1111-2222-3333-{n:012x}"


def make_mig_uuid(n: int) -> str:
    """A well-formed NVML MIG UUID (R470+ form), distinct per ``n``."""
    return f"MIG-{n:08x}-aaaa-bbbb-cccc-{n:012x}"


def make_legacy_mig_uuid(gpu_uuid: str, gpu_instance: int, compute_instance: int) -> str:
    """The R450-era MIG identifier: ``MIG-GPU-<uuid>/<gi>/<ci>``."""
    return f"MIG-{gpu_uuid}/{gpu_instance}/{compute_instance}"


class FakeClock:
    """A manual clock for deterministic runs: ``sleep`` advances it."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)


def gpu_field_names() -> list[str]:
    """Public field names of :class:`FakeGpu` (for tests that check compatibility)."""
    return [f.name for f in fields(FakeGpu) if not f.name.startswith("_")]
