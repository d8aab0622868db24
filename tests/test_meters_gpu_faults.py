"""What real GPUs do that an agreeable fake hid (issue 15's "certain" items), each pinned.

Every test here runs the meters against the realistic fake NVML (tests/fakes_nvml.py):
containers and MPS that hide our pid, an R470 driver whose bindings raise a plain
``NVMLLibraryMismatchError``, garbled process entries, MIG slices, 1 s averaged power,
removed deprecated functions, GH200's module-wide counter, and edge bounds that add up.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.fakes_nvml import (
    UINT_NA,
    FakeClock,
    FakeGpu,
    FakeNvml,
    FakeProcess,
    PiecewisePower,
    make_legacy_mig_uuid,
    make_mig_uuid,
    make_uuid,
)
from whisperbench.meters.device_state import GpuRef, gpu_snapshot
from whisperbench.meters.gpu_mapping import GpuTarget, resolve_cuda_ordinal, resolve_nvml_index
from whisperbench.meters.memory import MemoryMeter, process_gpu_memory_bytes
from whisperbench.meters.nvml_api import nvml_query
from whisperbench.meters.nvml_energy import NvmlEnergyMeter
from whisperbench.meters.readings import EnergyReading

PID = os.getpid()
GIB = 1 << 30


def _init(fake: FakeNvml) -> FakeNvml:
    fake.nvmlInit()
    return fake


def _target(fake: FakeNvml, index: int = 0) -> GpuTarget:
    found = resolve_nvml_index(fake, index)
    assert isinstance(found, GpuTarget)
    return GpuTarget(found.label, found.nvml_index, found.handle, found.uuid, None, "test", True)


def _memory(fake: FakeNvml, handles: list[object]) -> tuple[int | None, tuple[str, ...]]:
    meter = MemoryMeter(nvml=fake, nvml_handles=handles)
    meter.begin()
    reading = meter.end()
    return reading.nvml_process_gpu_memory_bytes, reading.notes


def _window(meter: NvmlEnergyMeter, clock: FakeClock, seconds: float) -> EnergyReading:
    meter.begin()
    clock.sleep(seconds)
    return meter.end()


# -- 1: our pid not listed is "unknown", never 0 bytes ------------------------------------------


@pytest.mark.parametrize(
    ("listed", "why"),
    [
        ([FakeProcess(731_002, 3 * GIB)], "container: NVML lists the host pid"),
        ([FakeProcess(4_001, 5 * GIB)], "MPS: NVML lists the MPS server"),
    ],
)
def test_process_memory_is_unknown_when_our_pid_is_not_listed(
    listed: list[FakeProcess], why: str
) -> None:
    fake = _init(FakeNvml([FakeGpu.product("A100", make_uuid(0), processes=listed)]))
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    used, reason = process_gpu_memory_bytes(fake, handle, PID)
    assert used is None, why
    assert reason is not None
    assert "not in NVML's process list" in reason
    assert _memory(fake, [handle])[0] is None


# -- 2: an old driver's binding error is mapped once, never crashes a window --------------------


def test_library_mismatch_is_mapped_to_a_reason_not_raised() -> None:
    fake = _init(FakeNvml.r470([FakeGpu(make_uuid(0), processes=[FakeProcess(PID)])]))
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    result = nvml_query(fake, "nvmlDeviceGetComputeRunningProcesses", handle)
    assert not result.ok
    assert result.reason is not None
    assert "NVMLLibraryMismatchError" in result.reason


def test_r470_driver_window_runs_and_the_process_check_still_works() -> None:
    clock = FakeClock()
    gpu = FakeGpu(make_uuid(0), processes=[FakeProcess(PID, 2 * GIB), FakeProcess(4242)])
    fake = _init(FakeNvml.r470([gpu], clock=clock.now, sleep=clock.sleep))
    meter = NvmlEnergyMeter(fake, _target(fake), min_window_s=1.0, clock=clock.now,
                            sleep=clock.sleep, pid=PID)  # type: ignore[arg-type]  # fmt: skip
    reading = _window(meter, clock, 2.0)
    assert reading.energy_j is not None
    assert reading.invalid_reasons == ("other_process_on_gpu:pids=4242",)
    assert _memory(fake, [fake.nvmlDeviceGetHandleByIndex(0)])[0] == 2 * GIB


# -- 4: garbled process entries are detected, and the v2 query used instead ---------------------


def test_garbled_process_entries_are_detected_and_the_v2_list_used() -> None:
    clock = FakeClock()
    gpu = FakeGpu(make_uuid(0), process_struct_mismatch=True,
                  processes=[FakeProcess(PID, 2 * GIB), FakeProcess(4242, GIB)])  # fmt: skip
    fake = _init(FakeNvml([gpu], clock=clock.now, sleep=clock.sleep))
    raw = fake.nvmlDeviceGetComputeRunningProcesses(fake.nvmlDeviceGetHandleByIndex(0))
    assert raw[1].pid in (0, UINT_NA)  # what the binding hands back
    meter = NvmlEnergyMeter(fake, _target(fake), min_window_s=1.0, clock=clock.now,
                            sleep=clock.sleep, pid=PID)  # type: ignore[arg-type]  # fmt: skip
    reading = _window(meter, clock, 2.0)
    assert reading.invalid_reasons == ("other_process_on_gpu:pids=4242",)
    assert any("garbled" in note for note in reading.notes), reading.notes
    assert _memory(fake, [fake.nvmlDeviceGetHandleByIndex(0)])[0] == 2 * GIB


def test_garbled_entries_without_a_v2_query_are_refused_with_the_reason() -> None:
    gpu = FakeGpu(make_uuid(0), process_struct_mismatch=True,
                  processes=[FakeProcess(31337, GIB), FakeProcess(PID, 2 * GIB)])  # fmt: skip
    fake = _init(FakeNvml([gpu], missing_symbols={"nvmlDeviceGetComputeRunningProcesses_v2"}))
    used, reason = process_gpu_memory_bytes(fake, fake.nvmlDeviceGetHandleByIndex(0), PID)
    assert used is None
    assert reason is not None
    assert "garbled" in reason
    assert "nvidia-ml-py" in reason


# -- 5: MIG: process and memory queries go to the slice ------------------------------------------


def _mig_node(**kwargs: object) -> tuple[FakeNvml, FakeGpu]:
    ours = FakeProcess(PID, 2 * GIB, gpuInstanceId=1, computeInstanceId=0)
    theirs = FakeProcess(4242, 5 * GIB, gpuInstanceId=2, computeInstanceId=0)
    gpu = FakeGpu.product("A100", make_uuid(0), mig_mode=(1, 1), processes=[ours, theirs],
                          mig_uuids=(make_mig_uuid(1), make_mig_uuid(2)))  # fmt: skip
    return _init(FakeNvml([gpu], **kwargs)), gpu  # type: ignore[arg-type]


def test_mig_slice_memory_comes_from_the_slice_handle() -> None:
    fake, _ = _mig_node()  # unprivileged: the parent handle lists nothing
    target = resolve_cuda_ordinal(fake, 0, uuid_lookup=None,
                                  environ={"CUDA_VISIBLE_DEVICES": make_mig_uuid(1)})  # fmt: skip
    assert isinstance(target, GpuTarget)
    assert target.mig_handle is not None
    assert fake.nvmlDeviceGetUUID(target.mig_handle) == make_mig_uuid(1)
    assert _memory(fake, [target.process_handle])[0] == 2 * GIB


def test_legacy_mig_id_resolves_to_the_slice_handle() -> None:
    legacy = make_legacy_mig_uuid(make_uuid(0), 2, 0)
    fake, gpu = _mig_node()
    gpu.mig_uuids = (make_mig_uuid(1), make_mig_uuid(2))  # the driver speaks the new form ...
    target = resolve_cuda_ordinal(fake, 0, uuid_lookup=None,
                                  environ={"CUDA_VISIBLE_DEVICES": legacy})  # fmt: skip
    assert isinstance(target, GpuTarget)
    assert target.mig_uuid == legacy  # ... the environment the old one: found by gi/ci
    assert target.mig_handle is not None
    assert fake.nvmlDeviceGetGpuInstanceId(target.mig_handle) == 2


def test_mig_energy_stays_on_the_parent_and_the_check_says_what_it_cannot_see() -> None:
    clock = FakeClock()
    fake, _ = _mig_node(clock=clock.now, sleep=clock.sleep)
    target = resolve_cuda_ordinal(fake, 0, uuid_lookup=None,
                                  environ={"CUDA_VISIBLE_DEVICES": make_mig_uuid(1)})  # fmt: skip
    assert isinstance(target, GpuTarget)
    meter = NvmlEnergyMeter(fake, target, min_window_s=1.0, clock=clock.now, sleep=clock.sleep,
                            pid=PID)  # type: ignore[arg-type]  # fmt: skip
    reading = _window(meter, clock, 2.0)
    assert reading.energy_j is not None  # from the parent: slices have no counter
    assert reading.energy_scope == "gpu_whole_mig_parent"
    assert any(n.startswith("process_check_incomplete") for n in reading.notes), reading.notes


# -- 6: the polling fallback reads instantaneous power and says which ---------------------------


def test_polling_fallback_uses_instant_power_where_the_driver_has_it() -> None:
    """H100 whose counter is unreadable: GetPowerUsage is a 1 s average, so a step from 100 W
    to 500 W 0.3 s into a 1.5 s window would be integrated about 0.5 s late (about 20% low);
    NVML_FI_DEV_POWER_INSTANT follows within one refresh period."""
    gpu = FakeGpu.product("H100", make_uuid(0), sensor_duty=1.0, read_latency_s=0.0,
                          errors={"nvmlDeviceGetTotalEnergyConsumption": 3})  # fmt: skip
    fake = _init(FakeNvml([gpu]))
    step_at = time.perf_counter() - gpu.epoch + 1.3  # 0.3 s into the window below
    gpu.power_w = PiecewisePower([0.0, step_at], [100.0, 500.0])
    meter = NvmlEnergyMeter(fake, _target(fake), poll_interval_s=0.01, min_window_s=0.5)  # type: ignore[arg-type]
    time.sleep(1.0)  # a second of 100 W history: the average starts settled
    meter.begin()
    time.sleep(1.5)
    reading = meter.end()
    assert reading.energy_source == "nvml_power_polling"
    assert reading.power_source == "nvml_field_power_instant"
    assert reading.t_begin_s is not None
    assert reading.t_end_s is not None
    truth = gpu.energy_j_between(reading.t_begin_s - gpu.epoch, reading.t_end_s - gpu.epoch)
    assert reading.energy_j is not None
    assert abs(reading.energy_j / truth - 1) < 0.08


def test_polling_without_the_instant_field_says_it_integrates_an_average() -> None:
    gpu = FakeGpu.product("H100", make_uuid(0), read_latency_s=0.0, power_instant_field=False,
                          errors={"nvmlDeviceGetTotalEnergyConsumption": 3})  # fmt: skip
    fake = _init(FakeNvml([gpu]))
    meter = NvmlEnergyMeter(fake, _target(fake), poll_interval_s=0.01, min_window_s=0.0)  # type: ignore[arg-type]
    meter.begin()
    time.sleep(0.1)
    reading = meter.end()
    assert reading.power_source == "nvml_power_usage"
    assert any("1 s average" in n for n in reading.notes)


# -- 7: TemperatureV, GH200's module scope, and edge bounds that add up -------------------------


def test_temperature_is_read_where_the_deprecated_function_is_gone() -> None:
    clock = FakeClock()
    gpu = FakeGpu(make_uuid(0), temperature_c=lambda t: 40 + 10 * t)
    fake = _init(FakeNvml([gpu], clock=clock.now, sleep=clock.sleep, removed_deprecated=True))
    snap = gpu_snapshot(fake, GpuRef("cuda:0", fake.nvmlDeviceGetHandleByIndex(0), 0))
    assert snap["temperature_c"] == 40
    meter = NvmlEnergyMeter(fake, _target(fake), min_window_s=1.0, clock=clock.now,
                            sleep=clock.sleep, temperature_rise_limit_c=10.0)  # type: ignore[arg-type]  # fmt: skip
    reading = _window(meter, clock, 2.0)
    assert any(r.startswith("temperature_rise:") for r in reading.invalid_reasons)
    assert not any("temperature_check_unavailable" in n for n in reading.notes)


def test_gh200_energy_is_labelled_as_the_whole_module() -> None:
    clock = FakeClock()
    gpu = FakeGpu.product("GH200", make_uuid(0), read_latency_s=0.0)
    fake = _init(FakeNvml([gpu], clock=clock.now, sleep=clock.sleep))
    meter = NvmlEnergyMeter(fake, _target(fake), min_window_s=1.0, clock=clock.now,
                            sleep=clock.sleep)  # type: ignore[arg-type]  # fmt: skip
    reading = _window(meter, clock, 2.0)
    assert reading.energy_scope == "superchip_module"


def test_edge_uncertainty_bounds_the_sum_of_both_edges() -> None:
    """Both edges land where the update is exactly at one end of its bracket, so each edge's
    error equals its half-width: the bound on the window is their sum, not the larger."""
    step = 2.0**-10
    clock = FakeClock()
    gpu = FakeGpu(make_uuid(0), power_w=300.0, counter_period_s=0.125)
    fake = _init(FakeNvml([gpu], clock=clock.now, sleep=clock.sleep))
    clock.t = 0.125 - step
    meter = NvmlEnergyMeter(fake, _target(fake), min_window_s=0.0, clock=clock.now,
                            sleep=clock.sleep, align_poll_s=step)  # type: ignore[arg-type]  # fmt: skip
    meter.begin()
    clock.t = 1.0 - step
    reading = meter.end()
    assert reading.t_begin_s is not None
    assert reading.t_end_s is not None
    assert reading.edge_uncertainty_s is not None
    error = abs(reading.t_begin_s - 0.125) + abs(reading.t_end_s - 1.0)
    assert error == pytest.approx(step, abs=1e-12)
    assert error <= reading.edge_uncertainty_s + 1e-12
