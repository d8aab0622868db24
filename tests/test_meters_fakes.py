"""The fake NVML is faithful to the real bindings where whisperbench depends on them."""

from __future__ import annotations

import pynvml
import pytest

from tests.fakes_nvml import ERROR_CLASSES, ERROR_CODES, FakeGpu, FakeNvml, make_uuid


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
