"""FAKE NVML with clock and power-limit control, for sweep tests (no GPU here).

Extends :class:`tests.fakes_nvml.FakeNvml` with the setters and tables a sweep uses, faithful
to pynvml's names, argument order and units (MHz, mW) and to NVML's rules:

* ``nvmlDeviceGetSupportedMemoryClocks(h)`` and ``nvmlDeviceGetSupportedGraphicsClocks(h,
  mem_mhz)`` list clocks (A100-like: 1593 MHz memory, SM 210-1410 MHz in 15 MHz steps);
* ``nvmlDeviceSetGpuLockedClocks(h, min, max)`` / ``ResetGpuLockedClocks``,
  ``SetMemoryLockedClocks`` / ``ResetMemoryLockedClocks`` (``NotSupported`` where
  ``locked_clocks=False``, i.e. pre-Volta), ``SetApplicationsClocks(h, mem, sm)`` /
  ``ResetApplicationsClocks``, ``SetPowerManagementLimit(h, mW)`` within
  ``GetPowerManagementLimitConstraints``; every setter raises ``NoPermission`` when the
  process may not set clocks (``can_set=False``), and a clock NVML does not list is
  ``InvalidArgument``;
* reads follow the state: the SM clock is the locked clock (less ``sm_drift_mhz``, a throttle
  scenario), else the application clock; the enforced limit is the set limit;
* the state can live in a JSON file (``state_file``) so that, like a real GPU, what one
  process set is what the next one sees (a worker killed mid-cell leaves its lock behind).

``install_from_env()`` is for ``sitecustomize.py`` in subprocess tests: it builds the fake
from the JSON config named by ``WHISPERBENCH_TEST_FAKE_NVML`` and puts it in
``sys.modules["pynvml"]`` (test code only; the package never reads that variable).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes_nvml import ERROR_CODES, FakeGpu, FakeHandle, FakeNvml, FakeProcess, NVMLError

A100_SM_CLOCKS_MHZ: tuple[int, ...] = tuple(range(210, 1411, 15))
A100_MEMORY_CLOCKS_MHZ: tuple[int, ...] = (1593,)
ENV_CONFIG = "WHISPERBENCH_TEST_FAKE_NVML"


@dataclass
class ClockState:
    """What has been set on one GPU (``None``: the default)."""

    locked_sm_mhz: int | None = None
    locked_mem_mhz: int | None = None
    app_sm_mhz: int | None = None
    app_mem_mhz: int | None = None
    power_limit_mw: int | None = None


@dataclass
class ClockModel:
    """Per-GPU clock tables and power-limit range."""

    sm_mhz: tuple[int, ...] = A100_SM_CLOCKS_MHZ
    memory_mhz: tuple[int, ...] = A100_MEMORY_CLOCKS_MHZ
    power_range_mw: tuple[int, int] = (100_000, 400_000)


def _error(name: str) -> NVMLError:
    return NVMLError(ERROR_CODES[name])


class FakeNvmlWithClocks(FakeNvml):
    """FAKE ``pynvml`` whose GPUs can be clocked and power-limited (see the module doc)."""

    def __init__(
        self,
        gpus: list[FakeGpu],
        *,
        model: ClockModel | None = None,
        can_set: bool = True,
        locked_clocks: bool = True,
        sm_drift_mhz: float | Callable[[float], float] = 0.0,
        state_file: Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(gpus, **kwargs)
        self.model = model or ClockModel()
        self.can_set = can_set
        self.locked_clocks = locked_clocks
        self.sm_drift_mhz = sm_drift_mhz
        self.state_file = state_file
        self._states: dict[str, ClockState] = {}
        self._loaded: tuple[int, int] | None = None  # the state file's (mtime_ns, size) read
        self.set_calls: list[tuple[str, tuple[Any, ...]]] = []  #: every setter call, in order

    # -- state ---------------------------------------------------------------------------------

    def _load(self) -> dict[str, ClockState]:
        """The state, re-read when another process changed the file (power is evaluated
        thousands of times a second by the energy counter: reads must stay cheap)."""
        if self.state_file is not None:
            try:
                stat = self.state_file.stat()
            except FileNotFoundError:
                return self._states
            if (stat.st_mtime_ns, stat.st_size) != self._loaded:
                raw = json.loads(self.state_file.read_text(encoding="utf-8"))
                self._states = {uuid: ClockState(**values) for uuid, values in raw.items()}
                self._loaded = (stat.st_mtime_ns, stat.st_size)
        return self._states

    def _save(self) -> None:
        if self.state_file is not None:
            data = {uuid: vars(state) for uuid, state in self._states.items()}
            self.state_file.write_text(json.dumps(data), encoding="utf-8")
            stat = self.state_file.stat()
            self._loaded = (stat.st_mtime_ns, stat.st_size)

    def state(self, gpu: FakeGpu) -> ClockState:
        return self._load().setdefault(gpu.uuid, ClockState())

    def current_sm_mhz(self, gpu: FakeGpu) -> int:
        state = self.state(gpu)
        if state.locked_sm_mhz is not None:
            drift = (
                self.sm_drift_mhz(self._t(gpu))
                if callable(self.sm_drift_mhz)
                else self.sm_drift_mhz
            )
            return int(state.locked_sm_mhz - drift)
        if state.app_sm_mhz is not None:
            return state.app_sm_mhz
        return int(
            gpu.sm_clock_mhz(self._t(gpu)) if callable(gpu.sm_clock_mhz) else gpu.sm_clock_mhz
        )

    def _setter(self, handle: FakeHandle, function: str, *args: Any) -> FakeGpu:
        gpu = self._gpu(handle, function)
        self.set_calls.append((function, args))
        if not self.can_set:
            raise _error("NVML_ERROR_NO_PERMISSION")
        return gpu

    # -- tables --------------------------------------------------------------------------------

    def nvmlDeviceGetSupportedMemoryClocks(self, handle: FakeHandle) -> list[int]:  # noqa: N802
        self._gpu(handle, "nvmlDeviceGetSupportedMemoryClocks")
        return list(self.model.memory_mhz)

    def nvmlDeviceGetSupportedGraphicsClocks(  # noqa: N802
        self, handle: FakeHandle, memory_clock_mhz: int
    ) -> list[int]:
        self._gpu(handle, "nvmlDeviceGetSupportedGraphicsClocks")
        if memory_clock_mhz not in self.model.memory_mhz:
            raise _error("NVML_ERROR_NOT_FOUND")
        return sorted(self.model.sm_mhz, reverse=True)  # NVML lists them highest first

    def nvmlDeviceGetPowerManagementLimitConstraints(self, handle: FakeHandle) -> list[int]:  # noqa: N802
        self._gpu(handle, "nvmlDeviceGetPowerManagementLimitConstraints")
        return list(self.model.power_range_mw)

    def nvmlDeviceGetPowerManagementLimit(self, handle: FakeHandle) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetPowerManagementLimit")
        return self.state(gpu).power_limit_mw or gpu.power_limit_mw

    # -- setters -------------------------------------------------------------------------------

    def nvmlDeviceSetGpuLockedClocks(self, handle: FakeHandle, low: int, high: int) -> None:  # noqa: N802
        gpu = self._setter(handle, "nvmlDeviceSetGpuLockedClocks", low, high)
        if not self.locked_clocks:
            raise _error("NVML_ERROR_NOT_SUPPORTED")
        if low > high or low not in self.model.sm_mhz or high not in self.model.sm_mhz:
            raise _error("NVML_ERROR_INVALID_ARGUMENT")
        self.state(gpu).locked_sm_mhz = high
        self._save()

    def nvmlDeviceResetGpuLockedClocks(self, handle: FakeHandle) -> None:  # noqa: N802
        gpu = self._setter(handle, "nvmlDeviceResetGpuLockedClocks")
        if not self.locked_clocks:
            raise _error("NVML_ERROR_NOT_SUPPORTED")
        self.state(gpu).locked_sm_mhz = None
        self._save()

    def nvmlDeviceSetMemoryLockedClocks(self, handle: FakeHandle, low: int, high: int) -> None:  # noqa: N802
        gpu = self._setter(handle, "nvmlDeviceSetMemoryLockedClocks", low, high)
        if not self.locked_clocks:
            raise _error("NVML_ERROR_NOT_SUPPORTED")
        if low > high or high not in self.model.memory_mhz:
            raise _error("NVML_ERROR_INVALID_ARGUMENT")
        self.state(gpu).locked_mem_mhz = high
        self._save()

    def nvmlDeviceResetMemoryLockedClocks(self, handle: FakeHandle) -> None:  # noqa: N802
        gpu = self._setter(handle, "nvmlDeviceResetMemoryLockedClocks")
        self.state(gpu).locked_mem_mhz = None
        self._save()

    def nvmlDeviceSetApplicationsClocks(self, handle: FakeHandle, mem: int, sm: int) -> None:  # noqa: N802
        gpu = self._setter(handle, "nvmlDeviceSetApplicationsClocks", mem, sm)
        if mem not in self.model.memory_mhz or sm not in self.model.sm_mhz:
            raise _error("NVML_ERROR_INVALID_ARGUMENT")
        state = self.state(gpu)
        state.app_mem_mhz, state.app_sm_mhz = mem, sm
        self._save()

    def nvmlDeviceResetApplicationsClocks(self, handle: FakeHandle) -> None:  # noqa: N802
        gpu = self._setter(handle, "nvmlDeviceResetApplicationsClocks")
        state = self.state(gpu)
        state.app_mem_mhz = state.app_sm_mhz = None
        self._save()

    def nvmlDeviceSetPowerManagementLimit(self, handle: FakeHandle, limit_mw: int) -> None:  # noqa: N802
        gpu = self._setter(handle, "nvmlDeviceSetPowerManagementLimit", limit_mw)
        low, high = self.model.power_range_mw
        if not low <= limit_mw <= high:
            raise _error("NVML_ERROR_INVALID_ARGUMENT")
        self.state(gpu).power_limit_mw = None if limit_mw == gpu.power_limit_mw else limit_mw
        self._save()

    # -- reads that follow the state -----------------------------------------------------------

    def nvmlDeviceGetClockInfo(self, handle: FakeHandle, clock_type: int) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetClockInfo")
        if clock_type in (self.NVML_CLOCK_SM, self.NVML_CLOCK_GRAPHICS):
            return self.current_sm_mhz(gpu)
        if clock_type == self.NVML_CLOCK_MEM:
            state = self.state(gpu)
            return (
                state.locked_mem_mhz
                or state.app_mem_mhz
                or int(
                    gpu.mem_clock_mhz(self._t(gpu))
                    if callable(gpu.mem_clock_mhz)
                    else gpu.mem_clock_mhz
                )
            )
        return super().nvmlDeviceGetClockInfo(handle, clock_type)

    def nvmlDeviceGetApplicationsClock(self, handle: FakeHandle, clock_type: int) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetApplicationsClock")
        state = self.state(gpu)
        if clock_type == self.NVML_CLOCK_MEM:
            return state.app_mem_mhz or gpu.app_mem_clock_mhz
        return state.app_sm_mhz or gpu.app_sm_clock_mhz

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: FakeHandle) -> int:  # noqa: N802
        gpu = self._gpu(handle, "nvmlDeviceGetEnforcedPowerLimit")
        return self.state(gpu).power_limit_mw or gpu.power_limit_mw


def clock_dependent_power(
    fake: FakeNvmlWithClocks, gpu: FakeGpu, idle_w: float, w_per_mhz: float
) -> Callable[[float], float]:
    """A power profile that follows the GPU's SM clock: ``idle_w + w_per_mhz * clock``."""
    return lambda t: idle_w + w_per_mhz * fake.current_sm_mhz(gpu)


@dataclass
class FakeConfig:
    """What a subprocess's fake looks like (JSON in ``WHISPERBENCH_TEST_FAKE_NVML``)."""

    gpus: int = 1
    name: str = "NVIDIA A100-SXM4-80GB"
    state_file: str | None = None
    can_set: bool = True
    locked_clocks: bool = True
    sm_drift_mhz: float = 0.0
    idle_w: float = 50.0
    w_per_mhz: float = 0.2
    counter_period_s: float = 0.02
    own_pid_listed: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def build_fake(config: FakeConfig) -> FakeNvmlWithClocks:
    from tests.fakes_nvml import make_uuid

    gpus = [
        FakeGpu(
            make_uuid(i),
            name=config.name,
            counter_period_s=config.counter_period_s,
            processes=[FakeProcess(os.getpid())] if config.own_pid_listed else [],
        )
        for i in range(config.gpus)
    ]
    fake = FakeNvmlWithClocks(
        gpus,
        can_set=config.can_set,
        locked_clocks=config.locked_clocks,
        sm_drift_mhz=config.sm_drift_mhz,
        state_file=Path(config.state_file) if config.state_file else None,
    )
    for gpu in gpus:
        gpu.power_w = clock_dependent_power(fake, gpu, config.idle_w, config.w_per_mhz)
    return fake


def install_from_env() -> None:
    """Put the configured fake in ``sys.modules["pynvml"]`` (for ``sitecustomize.py``)."""
    path = os.environ.get(ENV_CONFIG)
    if not path:
        return
    config = FakeConfig(**json.loads(Path(path).read_text(encoding="utf-8")))
    sys.modules["pynvml"] = build_fake(config)


def sitecustomize_dir(folder: Path, repo: Path) -> Path:
    """A folder holding a ``sitecustomize.py`` that installs the fake in every Python started
    with it on ``PYTHONPATH`` (subprocess tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {str(repo)!r})\n"
        "from tests.fakes_nvml_clocks import install_from_env\ninstall_from_env()\n",
        encoding="utf-8",
    )
    return folder


def write_config(path: Path, config: FakeConfig) -> Path:
    path.write_text(json.dumps(vars(config)), encoding="utf-8")
    return path


__all__ = [
    "A100_MEMORY_CLOCKS_MHZ",
    "A100_SM_CLOCKS_MHZ",
    "ENV_CONFIG",
    "ClockModel",
    "ClockState",
    "FakeConfig",
    "FakeNvmlWithClocks",
    "build_fake",
    "clock_dependent_power",
    "install_from_env",
    "sitecustomize_dir",
    "write_config",
]
