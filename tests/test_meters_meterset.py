"""MeterSet and the factory: every meter ended, no leaked thread, summaries, selection rules."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.fakes_nvml import FakeGpu, FakeNvml, FakeProcess, make_uuid
from tests.fakes_powercap import FakePowercap
from whisperbench.meters import (
    EnergyReading,
    MeterSet,
    WindowReadings,
    build_meter_set,
)
from whisperbench.meters.readings import Reading
from whisperbench.schema import energy_fields, memory_fields

# GPU-focused tests leave the fake RAPL counters still: their 0 J warnings are expected here
# (the warning itself is tested in test_meters_rapl.py and test_meters_nvml.py).
#: The output names of the window's energy and memory, pinned here as the data contract.
ENERGY_SUMMARY_KEYS = (
    "energy_j",
    "energy_above_idle_j",
    "idle_power_w",
    "avg_power_w",
    "j_per_audio_s",
    "j_per_token",
    "energy_source",
    "energy_window_s",
    "energy_valid",
    "energy_invalid_reasons",
    "energy_null_reason",
    "energy_scope",
    "idle_power_cold_w",
    "idle_power_warm_w",
    "idle_reference",
    "power_source",
    "energy_devices",
)
MEMORY_SUMMARY_KEYS = (
    "peak_rss_bytes",
    "cuda_peak_allocated_bytes",
    "cuda_peak_reserved_bytes",
    "nvml_process_gpu_memory_bytes",
)

pytestmark = pytest.mark.filterwarnings("ignore::whisperbench.meters.readings.EnergyWarning")


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def _node(n: int = 2, **gpu_kwargs: object) -> FakeNvml:
    gpus = [FakeGpu(make_uuid(i), counter_period_s=0.02, **gpu_kwargs) for i in range(n)]  # type: ignore[arg-type]
    return FakeNvml(gpus)


def _tree(tmp_path: Path) -> FakePowercap:
    tree = FakePowercap(tmp_path / "powercap")
    tree.add_package(0)
    return tree


def _build(tmp_path: Path, fake: FakeNvml | None, **kwargs: object) -> MeterSet:
    tree = _tree(tmp_path)
    options: dict[str, object] = {
        "idle_s": 0.0,
        "min_window_s": 0.0,
        "rapl_root": tree.root,
        "rapl_reader": tree.read_text,
        "nvml_module": fake,
        "cuda_uuid_lookup": lambda i: make_uuid(i)[4:],
        "cuda_memory": False,
        "power_poll_interval_s": 0.01,
    }
    options.update(kwargs)
    return build_meter_set(**options)  # type: ignore[arg-type]


# -- the CPU-only machine this is built on --------------------------------------------------


def test_cpu_only_without_rapl_gives_null_energy_with_reason(tmp_path: Path) -> None:
    meters = build_meter_set(device="cpu", rapl_root=tmp_path / "absent", idle_s=0.0)
    assert not meters.energy_active
    with meters:
        time.sleep(0.02)
    readings = meters.readings
    assert readings is not None
    summary = energy_fields(readings.energy_figures(audio_s=5.0, tokens=20))
    assert tuple(summary) == ENERGY_SUMMARY_KEYS
    for key in ("energy_j", "energy_above_idle_j", "idle_power_w", "avg_power_w",
                "j_per_audio_s", "j_per_token", "energy_window_s", "energy_source"):  # fmt: skip
        assert summary[key] is None, key
    assert summary["energy_valid"] is None
    assert summary["energy_invalid_reasons"] == []
    assert summary["energy_devices"] == []
    assert summary["energy_null_reason"] == (
        f"no NVML device metered (device is cpu); RAPL: {tmp_path / 'absent'} not present"
    )
    memory = memory_fields(readings.memory)
    assert tuple(memory) == MEMORY_SUMMARY_KEYS
    assert isinstance(memory["peak_rss_bytes"], int)
    assert memory["cuda_peak_allocated_bytes"] is None
    assert readings.state is not None
    json.dumps(dict(readings.state.before))
    assert readings.state.before["gpus"] == []
    meters.close()


def test_cpu_run_with_rapl_reports_cpu_energy(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    meters = build_meter_set(device="cpu", rapl_root=tree.root, rapl_reader=tree.read_text,
                             idle_s=0.0, min_window_s=0.0)  # fmt: skip
    assert meters.energy_active
    with meters:
        tree.advance("intel-rapl:0", 2_000_000)
        tree.advance("intel-rapl:0:2", 500_000)
    summary = energy_fields(meters.readings.energy_figures(1.0, 1))  # type: ignore[union-attr]
    assert summary["energy_j"] == pytest.approx(2.5)
    assert summary["energy_source"] == "rapl"
    assert summary["energy_valid"] is True
    assert summary["energy_null_reason"] is None


# -- GPU runs through the fake NVML ------------------------------------------------------------


def test_cuda_run_meters_its_gpu_and_lists_cpu_separately(tmp_path: Path) -> None:
    fake = _node(2, power_w=150.0, processes=[FakeProcess(os.getpid())])
    meters = _build(tmp_path, fake, device="cuda:1", idle_s=0.1, min_window_s=0.2)
    assert meters.energy_active
    assert meters.gpu_energy_wanted
    with meters:
        while meters.elapsed_s() < meters.min_window_s:
            time.sleep(0.05)
    summary = energy_fields(meters.readings.energy_figures(audio_s=2.0, tokens=10))  # type: ignore[union-attr]
    devices = summary["energy_devices"]
    assert isinstance(devices, list)
    assert [d["device"] for d in devices] == ["cpu-package-0", "cpu-dram-0", "cuda:1"]
    gpu = devices[2]
    reading_keys = {"edge_uncertainty_s", "edge_idle_s", "counter_update_period_s", "energy_notes"}
    assert set(gpu) == {*ENERGY_SUMMARY_KEYS[:-1], "device", "nvml_index", "uuid", *reading_keys}
    assert (gpu["nvml_index"], gpu["uuid"], gpu["energy_scope"]) == (1, make_uuid(1), "gpu")
    assert summary["energy_j"] == gpu["energy_j"]  # GPU only: the CPU's 0 J is not added
    assert summary["energy_source"] == "nvml_energy_counter"
    assert summary["avg_power_w"] == pytest.approx(150.0, rel=0.02)
    assert summary["idle_power_w"] == pytest.approx(150.0, rel=0.05)
    assert summary["energy_valid"] is True, summary["energy_invalid_reasons"]
    assert summary["j_per_audio_s"] == pytest.approx(summary["energy_j"] / 2.0)  # type: ignore[operator]
    state = meters.readings.state  # type: ignore[union-attr]
    assert state is not None
    json.dumps(dict(state.before))
    assert state.before["gpus"][0]["sm_clock_mhz"] == 1410
    assert memory_fields(meters.readings.memory)["nvml_process_gpu_memory_bytes"] == 1 << 30  # type: ignore[union-attr]
    meters.close()
    assert fake.init_count == 0


def test_nvml_init_failure_on_cuda_run_nulls_energy_not_cpu_substitute(tmp_path: Path) -> None:
    fake = FakeNvml([FakeGpu(make_uuid(0))], init_error=12)  # NVML_ERROR_LIBRARY_NOT_FOUND
    meters = _build(tmp_path, fake, device="cuda:0")
    assert not meters.energy_meters[-1].active
    with meters:
        pass
    summary = energy_fields(meters.readings.energy_figures(1.0, 1))  # type: ignore[union-attr]
    assert summary["energy_j"] is None
    assert summary["energy_valid"] is None
    reason = summary["energy_null_reason"]
    assert isinstance(reason, str)
    assert reason.startswith("cuda:0: ")
    assert "NVMLError_LibraryNotFound" in reason
    assert [d["device"] for d in summary["energy_devices"]] == [  # type: ignore[union-attr]
        "cpu-package-0", "cpu-dram-0", "cuda:0",
    ]  # fmt: skip


def test_one_unreadable_gpu_of_two_nulls_the_sum(tmp_path: Path) -> None:
    fake = _node(2)
    fake.gpus[1].errors = {"nvmlDeviceGetTotalEnergyConsumption": 4, "nvmlDeviceGetPowerUsage": 4}
    meters = _build(tmp_path, fake, device="cpu", gpus="0,1")
    with meters:
        time.sleep(0.05)
    summary = energy_fields(meters.readings.energy_figures(1.0, 1))  # type: ignore[union-attr]
    assert summary["energy_j"] is None
    assert str(summary["energy_null_reason"]).startswith("nvml:1: ")
    meters.close()


def test_all_gpus_sum_and_valid_only_if_all_valid(tmp_path: Path) -> None:
    fake = _node(2, power_w=100.0)
    fake.gpus[1].processes = [FakeProcess(31337)]
    meters = _build(tmp_path, fake, device="cpu", gpus="all")
    assert meters.gpu_energy_wanted
    with meters:
        time.sleep(0.1)
    readings = meters.readings
    assert readings is not None
    summary = energy_fields(readings.energy_figures(1.0, 1))
    per_gpu = [r.energy_j for r in readings.gpu_energy]
    assert [r.device for r in readings.gpu_energy] == ["nvml:0", "nvml:1"]
    assert summary["energy_j"] == pytest.approx(sum(e for e in per_gpu if e is not None))
    assert summary["energy_valid"] is False
    assert summary["energy_invalid_reasons"] == ["other_process_on_gpu:pids=31337"]
    meters.close()


def test_all_gpus_without_nvml_falls_back_to_cpu(tmp_path: Path) -> None:
    fake = FakeNvml([], init_error=9)  # NVML_ERROR_DRIVER_NOT_LOADED
    meters = _build(tmp_path, fake, device="cpu", gpus="all")
    assert not meters.gpu_energy_wanted
    assert any("NVMLError_DriverNotLoaded" in r for r in meters.energy_null_reasons)


def test_pynvml_is_imported_lazily_so_sys_modules_injection_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _node(1)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    meters = _build(tmp_path, None, device="cpu", gpus="all")
    assert fake.init_count == 1
    assert [m.name for m in meters.energy_meters][-1] == "nvml:nvml:0"
    meters.close()
    assert fake.init_count == 0


def test_bad_options_raise() -> None:
    with pytest.raises(ValueError, match="device"):
        build_meter_set(device="gpu")
    with pytest.raises(ValueError, match="gpus"):
        build_meter_set(device="cpu", gpus="first")


# -- no leaks ----------------------------------------------------------------------------------


def test_no_thread_left_after_the_workload_raises(tmp_path: Path) -> None:
    fake = _node(1, errors={"nvmlDeviceGetTotalEnergyConsumption": 3})  # polling thread
    before = _threads()
    meters = _build(tmp_path, fake, device="cuda:0")
    during: list[int] = []

    def workload() -> None:
        during.append(len(_threads() - before))
        raise RuntimeError("workload failed")

    with pytest.raises(RuntimeError, match="workload failed"), meters:
        workload()
    assert during[0] >= 4  # RSS, RAPL package and DRAM, power polling
    assert _threads() == before
    assert not meters.in_window
    meters.close()


class _Exploding:
    def __init__(self, name: str, where: str) -> None:
        self.name, self.where = name, where

    def begin(self) -> None:
        if self.where == "begin":
            raise OSError("begin failed")

    def end(self) -> Reading:
        if self.where == "end":
            raise OSError("end failed")
        return Reading(self.name)

    def close(self) -> None:
        pass


def test_meter_failing_to_begin_ends_the_ones_already_begun(tmp_path: Path) -> None:
    from whisperbench.meters.memory import MemoryMeter

    before = _threads()
    meters = MeterSet([MemoryMeter(), _Exploding("x", "begin")], idle_s=0.0)
    with pytest.raises(OSError, match="begin failed"):
        meters.begin()
    assert _threads() == before
    assert not meters.in_window


def test_meter_failing_to_end_does_not_stop_the_others_ending() -> None:
    from whisperbench.meters.memory import MemoryMeter

    before = _threads()
    meters = MeterSet([MemoryMeter(), _Exploding("x", "end")], idle_s=0.0)
    meters.begin()
    with pytest.raises(OSError, match="end failed"):
        meters.end()
    assert _threads() == before


def test_idle_is_measured_before_the_first_window(tmp_path: Path) -> None:
    fake = _node(1, power_w=80.0)
    meters = _build(tmp_path, fake, device="cuda:0", idle_s=0.15)
    with meters:
        time.sleep(0.05)
    assert meters.readings is not None
    summary = energy_fields(meters.readings.energy_figures(1.0, 1))
    assert summary["idle_power_w"] == pytest.approx(80.0, rel=0.05)
    assert summary["energy_above_idle_j"] == pytest.approx(0.0, abs=0.5)
    meters.close()


# -- aggregation rules -------------------------------------------------------------------------


def _energy(device: str, kind: str, joules: float | None, **kwargs: object) -> EnergyReading:
    return EnergyReading(meter=device, device=device, kind=kind, energy_source="x",
                         energy_scope="gpu", window_s=10.0, energy_j=joules,
                         valid=None if joules is None else True, **kwargs)  # type: ignore[arg-type]  # fmt: skip


def test_summary_sums_energy_idle_and_power_of_the_chosen_group() -> None:
    readings = WindowReadings.from_readings(
        [
            _energy("cuda:0", "gpu", 1000.0, idle_power_w=50.0),
            _energy("cuda:1", "gpu", 500.0, idle_power_w=30.0),
            _energy("cpu-package-0", "cpu", 300.0, idle_power_w=20.0),
        ],
        window_s=10.0,
        gpu_energy_wanted=True,
    )
    s = energy_fields(readings.energy_figures(audio_s=30.0, tokens=150))
    assert s["energy_j"] == 1500.0
    assert s["idle_power_w"] == 80.0
    assert s["energy_above_idle_j"] == pytest.approx(1500.0 - 80.0 * 10.0)
    assert s["avg_power_w"] == pytest.approx(150.0)
    assert s["j_per_audio_s"] == pytest.approx(50.0)
    assert s["j_per_token"] == pytest.approx(10.0)
    assert s["energy_window_s"] == 10.0
    assert s["energy_valid"] is True
    cpu_window = WindowReadings.from_readings(
        readings.energy_readings, window_s=10.0, gpu_energy_wanted=False
    )
    cpu_only = energy_fields(cpu_window.energy_figures(30.0, 0))
    assert cpu_only["energy_j"] == 300.0
    assert cpu_only["j_per_token"] is None  # zero tokens: no ratio


def test_summary_missing_idle_on_one_device_makes_above_idle_none() -> None:
    readings = WindowReadings.from_readings(
        [_energy("cuda:0", "gpu", 100.0, idle_power_w=5.0), _energy("cuda:1", "gpu", 100.0)],
        window_s=10.0,
        gpu_energy_wanted=True,
    )
    s = energy_fields(readings.energy_figures(1.0, 1))
    assert s["energy_j"] == 200.0
    assert s["idle_power_w"] is None
    assert s["energy_above_idle_j"] is None


def test_the_set_knows_its_counters_refresh_period_after_an_idle_measurement(
    tmp_path: Path,
) -> None:
    """What measure() sizes windows and steps rounds by (meters.sampling_grid)."""
    fake = _node(2)  # counters refreshing every 20 ms
    meters = _build(tmp_path, fake, device="cpu", gpus="all", idle_s=0.3)
    assert meters.counter_period_s is None
    meters.measure_idle("cold")
    assert meters.counter_period_s == pytest.approx(0.02, rel=0.3)
    with pytest.raises(ValueError, match="idle phase"):
        meters.measure_idle("lukewarm")
    meters.close()
