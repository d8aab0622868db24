"""Device state: GPU snapshots and session facts through the fake NVML; host facts."""

from __future__ import annotations

import json

from tests.fakes_nvml import DEPRECATED_FUNCTIONS, FakeGpu, FakeNvml, make_uuid
from whisperbench.meters.device_state import (
    THROTTLE_COUNTER_FIELDS,
    DeviceStateMeter,
    GpuRef,
    decode_throttle_reasons,
    format_cuda_version,
    gpu_snapshot,
    host_info,
    machine_info,
)
from whisperbench.meters.nvml_api import nvml_query


def _fake(**kwargs: object) -> FakeNvml:
    fake = FakeNvml([FakeGpu(make_uuid(0), **kwargs)])  # type: ignore[arg-type]
    fake.nvmlInit()
    return fake


def _ref(fake: FakeNvml) -> GpuRef:
    return GpuRef("cuda:0", fake.nvmlDeviceGetHandleByIndex(0), 0)


def test_gpu_snapshot_units_and_names() -> None:
    fake = _fake(power_w=123.456, throttle_mask=0x1 | 0x2, temperature_c=51)
    snap = gpu_snapshot(fake, _ref(fake))
    assert snap["sm_clock_mhz"] == 1410
    assert snap["mem_clock_mhz"] == 1593
    assert snap["app_sm_clock_mhz"] == 1410
    assert snap["power_limit_w"] == 400.0  # from 400000 mW
    assert snap["power_w"] == 123.456
    assert snap["temperature_c"] == 51
    assert snap["throttle_reasons"] == ["GpuIdle", "ApplicationsClocksSetting"]
    assert snap["unavailable"] == {}
    json.dumps(snap)


def test_app_clock_falls_back_to_the_deprecated_function() -> None:
    fake = _fake(errors={"nvmlDeviceGetClock": 3}, app_sm_clock_mhz=1005)
    assert gpu_snapshot(fake, _ref(fake))["app_sm_clock_mhz"] == 1005


def test_unsupported_fields_are_none_with_reason() -> None:
    fake = _fake(
        errors={
            "nvmlDeviceGetClock": 3,
            "nvmlDeviceGetApplicationsClock": 3,
            "nvmlDeviceGetPowerUsage": 4,
        }
    )
    snap = gpu_snapshot(fake, _ref(fake))
    assert snap["app_sm_clock_mhz"] is None
    assert snap["power_w"] is None
    unavailable = snap["unavailable"]
    assert isinstance(unavailable, dict)
    assert "NVMLError_NotSupported" in unavailable["app_sm_clock_mhz"]
    assert "NVMLError_NoPermission" in unavailable["power_w"]


def test_throttle_reasons_fall_back_to_the_legacy_function() -> None:
    fake = _fake(errors={"nvmlDeviceGetCurrentClocksEventReasons": 13}, throttle_mask=0x4)
    assert gpu_snapshot(fake, _ref(fake))["throttle_reasons"] == ["SwPowerCap"]


def test_decode_throttle_reasons_and_cuda_version() -> None:
    assert decode_throttle_reasons(0) == []
    assert decode_throttle_reasons(0x1 | 0x40 | 0x10000) == [
        "GpuIdle",
        "HwThermalSlowdown",
        "0x10000",
    ]
    assert format_cuda_version(12040) == "12.4"
    assert format_cuda_version(11080) == "11.8"


def test_nvml_query_maps_errors_and_missing_functions() -> None:
    fake = _fake(errors={"nvmlDeviceGetTemperature": 3})
    h = fake.nvmlDeviceGetHandleByIndex(0)
    result = nvml_query(fake, "nvmlDeviceGetTemperature", h, 0)
    assert result.value is None
    assert result.code == 3
    assert result.reason == "nvmlDeviceGetTemperature: NVMLError_NotSupported (Not Supported)"
    missing = nvml_query(fake, "nvmlDeviceGetSomethingNew", h)
    assert missing.reason is not None
    assert "not provided" in missing.reason


def test_machine_info_with_fake_nvml() -> None:
    fake = FakeNvml(
        [FakeGpu(make_uuid(0)), FakeGpu(make_uuid(1), name="Tesla V100", mig_mode=None)]
    )
    info = machine_info(nvml_module=fake)
    json.dumps(info)
    assert fake.init_count == 0  # shut down again
    nvml = info["nvml"]
    assert isinstance(nvml, dict)
    assert nvml["driver_version"] == "550.54.15"
    assert nvml["cuda_driver_version"] == "12.4"
    gpus = info["gpus"]
    assert isinstance(gpus, list)
    assert [g["uuid"] for g in gpus] == [make_uuid(0), make_uuid(1)]
    assert gpus[0]["mig_mode"] is False
    assert gpus[0]["ecc_mode"] is True
    assert gpus[0]["persistence_mode"] is True
    assert gpus[0]["power_limit_w"] == 400.0
    assert gpus[1]["mig_mode"] is None
    assert "NVMLError_NotSupported" in gpus[1]["unavailable"]["mig_mode"]


def test_machine_info_without_nvml_says_why() -> None:
    info = machine_info(nvml_module=FakeNvml([], init_error=9))
    assert info["gpus"] == []
    nvml = info["nvml"]
    assert isinstance(nvml, dict)
    assert nvml["available"] is False
    assert "NVMLError_DriverNotLoaded" in str(nvml["reason"])


def test_host_info_facts() -> None:
    info = host_info()
    json.dumps(info)
    assert isinstance(info["cpu_model"], str)
    assert info["cpu_model"]
    assert isinstance(info["logical_cores"], int)
    assert info["logical_cores"] >= 1
    assert isinstance(info["torch_threads"], int)
    assert info["torch_version"]
    assert info["transformers_version"]
    assert info["python_version"]


def test_state_meter_snapshots_before_and_after() -> None:
    fake = _fake(temperature_c=lambda t: 40 if t < 0 else 45)
    meter = DeviceStateMeter(fake, [_ref(fake)])
    meter.begin()
    reading = meter.end()
    assert reading.before["gpus"][0]["device"] == "cuda:0"
    assert reading.after["gpus"][0]["temperature_c"] == 45
    assert "loadavg_1m" in reading.before["host"]


def test_the_schema_names_what_the_device_state_record_holds() -> None:
    """Readers take device-state names from the schema; the record must carry them."""
    from whisperbench import schema

    fake = _fake()
    snap = gpu_snapshot(fake, _ref(fake))
    read_by_compare_and_report = (
        schema.DEVICE,
        schema.NVML_INDEX,
        schema.SM_CLOCK_MHZ,
        schema.MEM_CLOCK_MHZ,
        schema.APP_SM_CLOCK_MHZ,
        schema.APP_MEM_CLOCK_MHZ,
        schema.POWER_LIMIT_W,
    )
    for name in read_by_compare_and_report:
        assert name in snap, name
    fake.nvmlShutdown()
    info = machine_info(nvml_module=_fake())
    assert {schema.HOST, schema.NVML, schema.GPUS} <= set(info)
    (gpu,) = info[schema.GPUS]  # type: ignore[misc]
    assert {schema.NAME, schema.UUID, schema.MIG_MODE, schema.POWER_LIMIT_W} <= set(gpu)
    assert schema.CPU_MODEL in info[schema.HOST]  # type: ignore[operator]
    assert schema.DRIVER_VERSION in info[schema.NVML]  # type: ignore[operator]
    meter = DeviceStateMeter(None, [])
    meter.begin()
    assert {schema.HOST, schema.GPUS} <= set(meter.end().before)


def test_snapshot_needs_no_deprecated_function() -> None:
    """With the functions NVML deprecates "for removal in CUDA 14" gone from the driver,
    every field is still read (TemperatureV, GetClock, CurrentClocksEventReasons)."""
    fake = FakeNvml([FakeGpu(make_uuid(0), graphics_clock_mhz=1380)], removed_deprecated=True)
    fake.nvmlInit()
    snap = gpu_snapshot(fake, _ref(fake))
    assert snap["unavailable"] == {}
    assert snap["temperature_c"] == 40
    assert snap["graphics_clock_mhz"] == 1380  # the graphics clock, not the memory clock
    assert snap["throttle_counters_s"] == {name: 0.0 for name, _ in THROTTLE_COUNTER_FIELDS}
    assert not any(fake.calls.get(name) for name in DEPRECATED_FUNCTIONS)
