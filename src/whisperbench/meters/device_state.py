"""The state of the machine as part of the result: GPU clocks, limits, temperatures; host facts.

Two levels:

* :func:`machine_info` — once per session: host (CPU model, cores, threads, versions, OS) and
  every NVML GPU's fixed facts (name, UUID, driver, CUDA driver version, power limit, MIG,
  ECC, persistence mode).
* :func:`window_snapshot` (through :class:`DeviceStateMeter`) — before and after each window:
  clocks, application clocks, power limit, power, temperature, throttle reasons, host load.

NVML errors are mapped once, in :func:`whisperbench.meters.nvml_api.nvml_query`. A field that
could not be read is ``None`` and its reason is listed under ``"unavailable"``; nothing is
ever filled in with a guess.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil

from whisperbench.meters.nvml_api import NvmlResult, import_nvml, nvml_query
from whisperbench.meters.readings import DeviceStateReading

__all__ = [
    "THROTTLE_COUNTER_FIELDS",
    "THROTTLE_REASON_BITS",
    "DeviceStateMeter",
    "GpuRef",
    "decode_throttle_reasons",
    "format_cuda_version",
    "gpu_snapshot",
    "gpu_static_info",
    "host_info",
    "host_snapshot",
    "machine_info",
    "read_temperature_c",
    "read_throttle_ns",
    "window_snapshot",
]

#: NVML clock-event ("throttle") reason bits and their names, as in pynvml's
#: ``nvmlClocksEventReason*`` / ``nvmlClocksThrottleReason*`` constants.
THROTTLE_REASON_BITS: tuple[tuple[int, str], ...] = (
    (0x0001, "GpuIdle"),
    (0x0002, "ApplicationsClocksSetting"),
    (0x0004, "SwPowerCap"),
    (0x0008, "HwSlowdown"),
    (0x0010, "SyncBoost"),
    (0x0020, "SwThermalSlowdown"),
    (0x0040, "HwThermalSlowdown"),
    (0x0080, "HwPowerBrakeSlowdown"),
    (0x0100, "DisplayClockSetting"),
    (0x0200, "BoardLimit"),
    (0x0400, "Reliability"),
)


def decode_throttle_reasons(mask: int) -> list[str]:
    """Names of the set bits of an NVML clock-event mask; unknown bits as ``"0x..."``."""
    names = [name for bit, name in THROTTLE_REASON_BITS if mask & bit]
    known = 0
    for bit, _ in THROTTLE_REASON_BITS:
        known |= bit
    unknown = mask & ~known
    if unknown:
        names.append(f"0x{unknown:x}")
    return names


#: Cumulative clock-event ("throttle") counters NVML keeps, ns: name -> NVML_FI_DEV_* field id
#: (NVML_FI_DEV_PERF_POLICY_POWER/_THERMAL/_SYNC_BOOST/_BOARD_LIMIT and
#: NVML_FI_DEV_CLOCKS_EVENT_REASON_SW_THERM/HW_THERM/HW_POWER_BRAKE_SLOWDOWN). Their difference
#: over a window says how long the clocks were held down *inside* it; the event-reason mask
#: is only the state at the instant of the read.
THROTTLE_COUNTER_FIELDS: tuple[tuple[str, int], ...] = (
    ("SwPowerCap", 74),
    ("Thermal", 75),
    ("SyncBoost", 76),
    ("BoardLimit", 77),
    ("SwThermalSlowdown", 269),
    ("HwThermalSlowdown", 270),
    ("HwPowerBrakeSlowdown", 271),
)


def read_temperature_c(nvml: ModuleType, handle: Any) -> NvmlResult:
    """GPU temperature, °C: ``nvmlDeviceGetTemperatureV``, else the deprecated
    ``nvmlDeviceGetTemperature`` ("will be removed in CUDA 14.0") for drivers before it."""
    sensor = getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
    result = nvml_query(nvml, "nvmlDeviceGetTemperatureV", handle, sensor)
    if result.ok:
        return result
    legacy = nvml_query(nvml, "nvmlDeviceGetTemperature", handle, sensor)
    if legacy.ok:
        return legacy
    return NvmlResult(None, f"{result.reason}; {legacy.reason}", legacy.code)


def read_throttle_ns(nvml: ModuleType, handle: Any) -> tuple[dict[str, int] | None, str | None]:
    """The cumulative throttle counters of :data:`THROTTLE_COUNTER_FIELDS` that the driver
    answers, ns; ``(None, reason)`` when it answers none."""
    ids = [field_id for _, field_id in THROTTLE_COUNTER_FIELDS]
    result = nvml_query(nvml, "nvmlDeviceGetFieldValues", handle, ids)
    if not result.ok:
        return None, result.reason
    counters = {
        name: int(entry.value.ullVal)
        for (name, _), entry in zip(THROTTLE_COUNTER_FIELDS, result.value, strict=False)
        if int(entry.nvmlReturn) == 0
    }
    if not counters:
        return None, "nvmlDeviceGetFieldValues: no throttle counter supported"
    return counters, None


def format_cuda_version(version: int) -> str:
    """``12040`` (``nvmlSystemGetCudaDriverVersion``) → ``"12.4"``."""
    return f"{version // 1000}.{(version % 1000) // 10}"


@dataclass(frozen=True)
class GpuRef:
    """A GPU to describe: its label in results, NVML handle and NVML index."""

    label: str
    handle: Any
    nvml_index: int | None


class _Fields:
    """Collects values and the reasons for the ``None`` ones."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}
        self.unavailable: dict[str, str] = {}

    def put(
        self, key: str, result: NvmlResult, convert: Callable[[Any], object] = lambda v: v
    ) -> None:
        if result.ok and result.value is not None:
            self.values[key] = convert(result.value)
        else:
            self.values[key] = None
            self.unavailable[key] = result.reason or "not reported"

    def done(self) -> dict[str, object]:
        return {**self.values, "unavailable": dict(self.unavailable)}


def _mw_to_w(value: Any) -> float:
    return float(value) / 1000.0


def gpu_snapshot(nvml: ModuleType, gpu: GpuRef) -> dict[str, object]:
    """The per-window state of one GPU (clocks in MHz, power in W, temperature in °C).

    Keys: ``device, nvml_index, sm_clock_mhz, mem_clock_mhz, app_sm_clock_mhz,
    app_mem_clock_mhz, power_limit_w, power_w, graphics_clock_mhz, temperature_c,
    throttle_counters_s, throttle_reasons, throttle_reasons_mask, unavailable``
    (``throttle_counters_s``: cumulative seconds each clock-event reason held the clocks down,
    see :data:`THROTTLE_COUNTER_FIELDS`). NVML has no getter for clocks locked with
    ``nvmlDeviceSetGpuLockedClocks`` (``nvidia-smi -lgc``): the lock shows as the current SM
    clock staying put, which the energy meter checks across each window.
    """
    h = gpu.handle
    f = _Fields()
    f.values["device"] = gpu.label
    f.values["nvml_index"] = gpu.nvml_index
    f.put("sm_clock_mhz", nvml_query(nvml, "nvmlDeviceGetClockInfo", h, nvml.NVML_CLOCK_SM), int)
    f.put("mem_clock_mhz", nvml_query(nvml, "nvmlDeviceGetClockInfo", h, nvml.NVML_CLOCK_MEM), int)
    f.put("app_sm_clock_mhz", _app_clock(nvml, h, nvml.NVML_CLOCK_SM), int)
    f.put("app_mem_clock_mhz", _app_clock(nvml, h, nvml.NVML_CLOCK_MEM), int)
    f.put("power_limit_w", nvml_query(nvml, "nvmlDeviceGetEnforcedPowerLimit", h), _mw_to_w)
    f.put("power_w", nvml_query(nvml, "nvmlDeviceGetPowerUsage", h), _mw_to_w)
    f.put(
        "graphics_clock_mhz",
        nvml_query(nvml, "nvmlDeviceGetClockInfo", h, nvml.NVML_CLOCK_GRAPHICS),
        int,
    )
    f.put("temperature_c", read_temperature_c(nvml, h), int)
    throttle, throttle_reason = read_throttle_ns(nvml, h)
    f.put(
        "throttle_counters_s",
        NvmlResult(throttle, throttle_reason),
        lambda v: {name: ns / 1e9 for name, ns in v.items()},
    )
    reasons = nvml_query(nvml, "nvmlDeviceGetCurrentClocksEventReasons", h)
    if not reasons.ok:
        legacy = nvml_query(nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", h)
        reasons = legacy if legacy.ok else reasons
    f.put("throttle_reasons", reasons, lambda v: decode_throttle_reasons(int(v)))
    f.put("throttle_reasons_mask", reasons, int)
    return f.done()


def _app_clock(nvml: ModuleType, handle: Any, clock_type: int) -> NvmlResult:
    """Application clock target, MHz: ``nvmlDeviceGetClock(..., APP_CLOCK_TARGET)``, else the
    deprecated ``nvmlDeviceGetApplicationsClock`` (to be removed with CUDA 14)."""
    target_id = getattr(nvml, "NVML_CLOCK_ID_APP_CLOCK_TARGET", 1)
    result = nvml_query(nvml, "nvmlDeviceGetClock", handle, clock_type, target_id)
    if result.ok:
        return result
    legacy = nvml_query(nvml, "nvmlDeviceGetApplicationsClock", handle, clock_type)
    if legacy.ok:
        return legacy
    return NvmlResult(None, f"{result.reason}; {legacy.reason}", legacy.code)


def gpu_static_info(nvml: ModuleType, gpu: GpuRef) -> dict[str, object]:
    """Fixed facts of one GPU for the session record.

    Keys: ``device, nvml_index, name, uuid, memory_total_bytes, max_sm_clock_mhz,
    max_mem_clock_mhz, power_limit_w, default_power_limit_w, persistence_mode, mig_mode,
    mig_mode_pending, ecc_mode, ecc_mode_pending, unavailable``. Booleans are ``None`` where the
    GPU does not support the feature (e.g. MIG before Ampere).
    """
    h = gpu.handle
    f = _Fields()
    f.values["device"] = gpu.label
    f.values["nvml_index"] = gpu.nvml_index
    f.put("name", nvml_query(nvml, "nvmlDeviceGetName", h), str)
    f.put("uuid", nvml_query(nvml, "nvmlDeviceGetUUID", h), str)
    f.put(
        "memory_total_bytes",
        nvml_query(nvml, "nvmlDeviceGetMemoryInfo", h),
        lambda v: int(v.total),
    )
    f.put(
        "max_sm_clock_mhz",
        nvml_query(nvml, "nvmlDeviceGetMaxClockInfo", h, nvml.NVML_CLOCK_SM),
        int,
    )
    f.put(
        "max_mem_clock_mhz",
        nvml_query(nvml, "nvmlDeviceGetMaxClockInfo", h, nvml.NVML_CLOCK_MEM),
        int,
    )
    f.put("power_limit_w", nvml_query(nvml, "nvmlDeviceGetEnforcedPowerLimit", h), _mw_to_w)
    f.put(
        "default_power_limit_w",
        nvml_query(nvml, "nvmlDeviceGetPowerManagementDefaultLimit", h),
        _mw_to_w,
    )
    f.put(
        "persistence_mode",
        nvml_query(nvml, "nvmlDeviceGetPersistenceMode", h),
        lambda v: int(v) == nvml.NVML_FEATURE_ENABLED,
    )
    mig = nvml_query(nvml, "nvmlDeviceGetMigMode", h)
    f.put("mig_mode", mig, lambda v: int(v[0]) == nvml.NVML_DEVICE_MIG_ENABLE)
    f.put("mig_mode_pending", mig, lambda v: int(v[1]) == nvml.NVML_DEVICE_MIG_ENABLE)
    ecc = nvml_query(nvml, "nvmlDeviceGetEccMode", h)
    f.put("ecc_mode", ecc, lambda v: int(v[0]) == nvml.NVML_FEATURE_ENABLED)
    f.put("ecc_mode_pending", ecc, lambda v: int(v[1]) == nvml.NVML_FEATURE_ENABLED)
    return f.done()


def _cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in text.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or None


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def host_info() -> dict[str, object]:
    """Fixed host facts: CPU model, cores, torch threads, versions, OS, relevant env vars."""
    torch_threads: int | None = None
    torch_cuda: str | None = None
    torch_mod = sys.modules.get("torch")
    if torch_mod is None:
        try:
            torch_mod = importlib.import_module("torch")
        except ImportError:
            torch_mod = None
    if torch_mod is not None:
        torch_threads = int(torch_mod.get_num_threads())
        torch_cuda = torch_mod.version.cuda
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = None
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": usable,
        "torch_threads": torch_threads,
        "memory_total_bytes": int(psutil.virtual_memory().total),
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "torch_version": _version("torch"),
        "torch_cuda_version": torch_cuda,
        "transformers_version": _version("transformers"),
        "nvidia_ml_py_version": _version("nvidia-ml-py"),
        "os": platform.platform(),
        "machine": platform.machine(),
        "env": {
            key: os.environ.get(key)
            for key in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "OMP_NUM_THREADS")
        },
    }


def host_snapshot() -> dict[str, object]:
    """Per-window host state: load average and current CPU frequency (MHz) where readable."""
    try:
        load_1m: float | None = os.getloadavg()[0]
    except OSError:
        load_1m = None
    try:
        freq = psutil.cpu_freq()
        cpu_mhz: float | None = float(freq.current) if freq else None
    except (OSError, NotImplementedError, AttributeError):
        cpu_mhz = None
    return {"time_unix_s": time.time(), "loadavg_1m": load_1m, "cpu_freq_mhz": cpu_mhz}


def window_snapshot(nvml: ModuleType | None, gpus: Sequence[GpuRef]) -> dict[str, object]:
    """``{"host": host_snapshot(), "gpus": [gpu_snapshot(...), ...]}``."""
    gpu_states = [gpu_snapshot(nvml, g) for g in gpus] if nvml is not None else []
    return {"host": host_snapshot(), "gpus": gpu_states}


def machine_info(*, nvml_module: ModuleType | None = None) -> dict[str, object]:
    """Session-level facts: ``{"host": ..., "nvml": ..., "gpus": [...]}``, JSON-serializable.

    ``nvml`` holds ``available``, ``reason`` (why not), ``driver_version``,
    ``cuda_driver_version`` (e.g. ``"12.4"``) and ``nvml_version``; ``gpus`` lists
    :func:`gpu_static_info` for every GPU NVML sees (labelled ``"nvml:<index>"``), whether or
    not this process uses it. Initializes and shuts NVML down itself.
    """
    nvml, reason = import_nvml(nvml_module)
    nvml_part: dict[str, object] = {"available": nvml is not None, "reason": reason}
    gpus: list[dict[str, object]] = []
    if nvml is not None:
        try:
            driver = nvml_query(nvml, "nvmlSystemGetDriverVersion")
            cuda = nvml_query(nvml, "nvmlSystemGetCudaDriverVersion")
            version = nvml_query(nvml, "nvmlSystemGetNVMLVersion")
            nvml_part["driver_version"] = driver.value
            nvml_part["cuda_driver_version"] = (
                format_cuda_version(int(cuda.value)) if cuda.ok else None
            )
            nvml_part["nvml_version"] = version.value
            nvml_part["unavailable"] = {
                key: r.reason
                for key, r in (
                    ("driver_version", driver),
                    ("cuda_driver_version", cuda),
                    ("nvml_version", version),
                )
                if r.reason
            }
            count = nvml_query(nvml, "nvmlDeviceGetCount")
            for index in range(int(count.value or 0)):
                handle = nvml_query(nvml, "nvmlDeviceGetHandleByIndex", index)
                if handle.ok:
                    gpus.append(gpu_static_info(nvml, GpuRef(f"nvml:{index}", handle.value, index)))
        finally:
            nvml.nvmlShutdown()
    return {"host": host_info(), "nvml": nvml_part, "gpus": gpus}


class DeviceStateMeter:
    """Snapshots host and GPU state at both edges of a window.

    Placed outermost in a :class:`~whisperbench.meters.base.MeterSet` (begins first, ends
    last) so its NVML queries stay outside the energy window.
    """

    name = "device_state"

    def __init__(self, nvml: ModuleType | None, gpus: Sequence[GpuRef]) -> None:
        self._nvml = nvml
        self._gpus = tuple(gpus)
        self._before: dict[str, object] | None = None

    def begin(self) -> None:
        """Take the "before" snapshot."""
        self._before = window_snapshot(self._nvml, self._gpus)

    def end(self) -> DeviceStateReading:
        """Take the "after" snapshot and return both."""
        if self._before is None:
            raise RuntimeError("DeviceStateMeter.end() without begin()")
        before, self._before = self._before, None
        return DeviceStateReading(self.name, before, window_snapshot(self._nvml, self._gpus))

    def close(self) -> None:
        """Nothing to release."""
