"""The fake NVML is faithful to the real bindings where whisperbench depends on them."""

from __future__ import annotations

import pynvml
import pytest

from tests.fakes_nvml import (
    ERROR_CLASSES,
    ERROR_CODES,
    UINT_NA,
    FakeClock,
    FakeFieldValue,
    FakeGpu,
    FakeNvml,
    FakeProcess,
    FakeValue,
    PiecewisePower,
    _ProcessInfoV2,
    garbled_v3_entries,
    make_legacy_mig_uuid,
    make_mig_uuid,
    make_uuid,
)


def test_error_codes_and_class_names_match_real_pynvml() -> None:
    for const, code in ERROR_CODES.items():
        assert getattr(pynvml, const) == code, const
    for name, cls in ERROR_CLASSES.items():
        real = getattr(pynvml, name)
        assert issubclass(real, pynvml.NVMLError)
        assert issubclass(cls, FakeNvml.NVMLError)
        assert cls().value == real().value, name
        assert type(FakeNvml.NVMLError(cls().value)) is cls


def test_error_constructor_maps_code_to_subclass_like_pynvml() -> None:
    real = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
    fake = FakeNvml.NVMLError(3)
    assert type(real).__name__ == type(fake).__name__ == "NVMLError_NotSupported"
    assert str(real) == str(fake) == "Not Supported"
    assert str(pynvml.NVMLError(4)) == str(FakeNvml.NVMLError(4)) == "Insufficient Permissions"


def test_constants_match_real_pynvml() -> None:
    fake = FakeNvml([])
    for const in (
        "NVML_CLOCK_SM",
        "NVML_CLOCK_MEM",
        "NVML_CLOCK_GRAPHICS",
        "NVML_TEMPERATURE_GPU",
        "NVML_FEATURE_ENABLED",
        "NVML_DEVICE_MIG_ENABLE",
    ):
        assert getattr(fake, const) == getattr(pynvml, const), const


def test_every_fake_function_exists_in_real_pynvml() -> None:
    names = [n for n in dir(FakeNvml) if n.startswith("nvml")]
    assert len(names) > 20
    missing = [n for n in names if not hasattr(pynvml, n)]
    assert missing == []


def test_calls_before_init_raise_uninitialized() -> None:
    fake = FakeNvml([FakeGpu(make_uuid(0))])
    with pytest.raises(fake.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()


def test_counter_is_in_millijoules_and_steps_every_period() -> None:
    t = [0.0]
    gpu = FakeGpu(make_uuid(0), power_w=250.0, counter_period_s=0.1, energy_offset_mj=0)
    fake = FakeNvml([gpu], clock=lambda: t[0])
    fake.nvmlInit()
    h = fake.nvmlDeviceGetHandleByIndex(0)
    t[0] = 0.05
    assert fake.nvmlDeviceGetTotalEnergyConsumption(h) == 0  # no update yet
    t[0] = 0.1
    assert fake.nvmlDeviceGetTotalEnergyConsumption(h) == 25_000  # 250 W * 0.1 s = 25 J
    t[0] = 0.199
    assert fake.nvmlDeviceGetTotalEnergyConsumption(h) == 25_000
    assert fake.nvmlDeviceGetPowerUsage(h) == 250_000  # mW


# -- the realistic model: what the fake now does that the code must cope with ------------------


def test_every_fake_constant_matches_real_pynvml() -> None:
    fake = FakeNvml([])
    names = [n for n in dir(type(fake)) if n.startswith("NVML_")]
    assert len(names) > 25
    assert [n for n in names if getattr(fake, n) != getattr(pynvml, n)] == []


def test_library_mismatch_error_is_a_plain_exception_like_pynvml() -> None:
    assert not issubclass(pynvml.NVMLLibraryMismatchError, pynvml.NVMLError)
    assert not issubclass(FakeNvml.NVMLLibraryMismatchError, FakeNvml.NVMLError)
    fake = FakeNvml.r470([FakeGpu(make_uuid(0), processes=[FakeProcess(10)])])
    fake.nvmlInit()
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(FakeNvml.NVMLLibraryMismatchError):
        fake.nvmlDeviceGetComputeRunningProcesses(handle)
    with pytest.raises(fake.NVMLError_FunctionNotFound):
        fake.nvmlDeviceGetComputeRunningProcesses_v3(handle)
    assert [p.pid for p in fake.nvmlDeviceGetComputeRunningProcesses_v2(handle)] == [10]


def test_struct_layouts_match_real_pynvml() -> None:
    real_process = [name for name, _ in pynvml.c_nvmlProcessInfo_v2_t._fields_]
    assert real_process == [name for name, _ in _ProcessInfoV2._fields_]
    assert real_process == list(FakeProcess.__dataclass_fields__)
    assert pynvml.c_nvmlProcessInfo_v3_t is pynvml.c_nvmlProcessInfo_v2_t  # the binding's choice
    real_field = [name for name, _ in pynvml.c_nvmlFieldValue_t._fields_]
    assert real_field == list(FakeFieldValue.__dataclass_fields__)
    real_value = [name for name, _ in pynvml.c_nvmlValue_t._fields_]
    assert real_value == list(FakeValue.__dataclass_fields__)


def test_garbled_v3_entries_decode_like_a_size_mismatch() -> None:
    procs = [FakeProcess(1234, 1 << 30), FakeProcess(5678, 2 << 30), FakeProcess(91, 3 << 30)]
    decoded = garbled_v3_entries(procs)
    assert (decoded[0].pid, decoded[0].usedGpuMemory) == (1234, 1 << 30)
    assert decoded[1].pid in (0, UINT_NA)  # misaligned: what the issue reports
    assert [p.pid for p in decoded[1:]] != [5678, 91]


def test_counter_with_partial_duty_cycle_extrapolates_the_sampled_part() -> None:
    """A100: 25 ms sampled of every 100 ms; power 400 W in the first half of each period,
    100 W in the second. The sample window (lag 5 ms) sees only the second half."""
    clock = FakeClock()
    wave = PiecewisePower([i * 0.05 for i in range(200)], [400.0, 100.0] * 100)
    gpu = FakeGpu.product("A100", make_uuid(0), power_w=wave, energy_offset_mj=0,
                          read_latency_s=0.0)  # fmt: skip
    fake = FakeNvml([gpu], clock=clock.now, sleep=clock.sleep)
    fake.nvmlInit()
    h = fake.nvmlDeviceGetHandleByIndex(0)
    clock.t = 5.0
    counted = fake.nvmlDeviceGetTotalEnergyConsumption(h) / 1000.0
    true = gpu.energy_j_between(0.0, 5.0)
    assert true == pytest.approx(1250.0)
    assert counted == pytest.approx(100.0 * 0.1 * 50, rel=1e-6)  # 50 updates of 100 W x 0.1 s
    assert fake.nvmlDeviceGetPowerUsage(h) == 100_000  # GA100: the latest sample, not averaged


def test_power_usage_is_a_one_second_average_on_hopper_and_instant_in_the_field() -> None:
    clock = FakeClock()
    step = PiecewisePower([0.0, 10.0], [100.0, 500.0])
    gpu = FakeGpu.product("H100", make_uuid(0), power_w=step, read_latency_s=0.0)
    fake = FakeNvml([gpu], clock=clock.now, sleep=clock.sleep)
    fake.nvmlInit()
    h = fake.nvmlDeviceGetHandleByIndex(0)
    clock.t = 10.5  # half a second after the step
    averaged = fake.nvmlDeviceGetPowerUsage(h) / 1000.0
    (instant,) = fake.nvmlDeviceGetFieldValues(h, [fake.NVML_FI_DEV_POWER_INSTANT])
    assert instant.nvmlReturn == fake.NVML_SUCCESS
    assert instant.value.uiVal == 500_000
    assert 250.0 < averaged < 350.0  # half of the last second at 100 W, half at 500 W


def test_reads_take_time_on_a_fake_clock_and_fail_transiently_with_a_seed() -> None:
    clock = FakeClock()
    flaky = {"nvmlDeviceGetTotalEnergyConsumption": (0.5, 999)}
    gpu = FakeGpu.product("A100", make_uuid(0), read_latency_s=0.004, transient_errors=flaky)
    fake = FakeNvml([gpu], clock=clock.now, sleep=clock.sleep, seed=3)
    fake.nvmlInit()
    h = fake.nvmlDeviceGetHandleByIndex(0)
    outcomes = []
    for _ in range(40):
        before = clock.t
        try:
            fake.nvmlDeviceGetTotalEnergyConsumption(h)
            outcomes.append("ok")
            assert 0.002 <= clock.t - before <= 0.006
        except fake.NVMLError_Unknown:
            outcomes.append("error")
    assert 5 < outcomes.count("error") < 35


def test_graphics_clock_and_every_clock_id() -> None:
    gpu = FakeGpu(make_uuid(0), sm_clock_mhz=1395, graphics_clock_mhz=1380, mem_clock_mhz=1593,
                  boost_clock_mhz=1410)  # fmt: skip
    fake = FakeNvml([gpu])
    fake.nvmlInit()
    h = fake.nvmlDeviceGetHandleByIndex(0)
    assert fake.nvmlDeviceGetClockInfo(h, fake.NVML_CLOCK_GRAPHICS) == 1380
    assert fake.nvmlDeviceGetClockInfo(h, fake.NVML_CLOCK_MEM) == 1593
    sm = fake.NVML_CLOCK_SM
    assert fake.nvmlDeviceGetClock(h, sm, fake.NVML_CLOCK_ID_APP_CLOCK_DEFAULT) == 1410
    assert fake.nvmlDeviceGetClock(h, sm, fake.NVML_CLOCK_ID_CUSTOMER_BOOST_MAX) == 1410


def test_removed_deprecated_functions_raise_function_not_found() -> None:
    fake = FakeNvml([FakeGpu(make_uuid(0))], removed_deprecated=True)
    fake.nvmlInit()
    h = fake.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(fake.NVMLError_FunctionNotFound):
        fake.nvmlDeviceGetTemperature(h, fake.NVML_TEMPERATURE_GPU)
    assert fake.nvmlDeviceGetTemperatureV(h, fake.NVML_TEMPERATURE_GPU) == 40


def test_mig_slices_have_their_own_processes_and_the_parent_lists_none_unprivileged() -> None:
    ours = FakeProcess(100, 2 << 30, gpuInstanceId=1, computeInstanceId=0)
    theirs = FakeProcess(200, 5 << 30, gpuInstanceId=2, computeInstanceId=0)
    slices = (make_mig_uuid(1), make_legacy_mig_uuid(make_uuid(0), 2, 0))
    gpu = FakeGpu(make_uuid(0), mig_mode=(1, 1), processes=[ours, theirs], mig_uuids=slices)
    for privileged, parent_pids in ((False, []), (True, [100, 200])):
        fake = FakeNvml([gpu], privileged=privileged)
        fake.nvmlInit()
        parent = fake.nvmlDeviceGetHandleByIndex(0)
        assert [p.pid for p in fake.nvmlDeviceGetComputeRunningProcesses(parent)] == parent_pids
        first = fake.nvmlDeviceGetHandleByUUID(make_mig_uuid(1))
        assert [p.pid for p in fake.nvmlDeviceGetComputeRunningProcesses(first)] == [100]
        assert fake.nvmlDeviceGetMemoryInfo(first).used == 2 << 30
        legacy = fake.nvmlDeviceGetHandleByUUID(make_legacy_mig_uuid(make_uuid(0), 2, 0))
        assert fake.nvmlDeviceGetGpuInstanceId(legacy) == 2
        assert fake.nvmlDeviceGetMigDeviceHandleByIndex(parent, 1) == legacy
        with pytest.raises(fake.NVMLError_NotSupported):
            fake.nvmlDeviceGetTotalEnergyConsumption(first)


def test_gh200_counts_the_whole_module() -> None:
    clock = FakeClock()
    gpu = FakeGpu.product("GH200", make_uuid(0), power_w=300.0, energy_offset_mj=0,
                          read_latency_s=0.0)  # fmt: skip
    fake = FakeNvml([gpu], clock=clock.now, sleep=clock.sleep)
    fake.nvmlInit()
    h = fake.nvmlDeviceGetHandleByIndex(0)
    clock.t = 1.05
    assert fake.nvmlDeviceGetTotalEnergyConsumption(h) == pytest.approx(450_000 * 1.0, rel=1e-6)
    assert fake.nvmlDeviceGetC2cModeInfoV(h).isC2cEnabled == 1
