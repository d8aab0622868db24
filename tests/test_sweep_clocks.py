"""Operating-point control through the FAKE NVML with clocks: snapping, locking, fallbacks,
permission errors, and restoring whatever happens (finally, a killed worker's leftovers)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.fakes_nvml import FakeGpu, FakeProcess, make_uuid
from tests.fakes_nvml_clocks import ClockModel, FakeNvmlWithClocks
from whisperbench.meters.gpu_mapping import resolve_nvml_index
from whisperbench.meters.nvml_energy import NvmlEnergyMeter, off_lock_reasons
from whisperbench.sweep.clocks import ClockControlError, GpuClocks, restore_leftovers, snap
from whisperbench.sweep.plan import OperatingPoint

HOST = "node1"


def _fake(tmp_path: Path, **kwargs: object) -> FakeNvmlWithClocks:
    fake = FakeNvmlWithClocks(
        [FakeGpu(make_uuid(0), power_limit_mw=400_000, app_sm_clock_mhz=1095)],
        state_file=tmp_path / "gpu-state.json",
        **kwargs,  # type: ignore[arg-type]
    )
    fake.nvmlInit()
    return fake


def _control(fake: FakeNvmlWithClocks, tmp_path: Path, mode: str = "set") -> GpuClocks:
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    return GpuClocks(fake, handle, make_uuid(0), tmp_path / "restore", HOST, mode)


def test_snap_takes_the_nearest_supported_clock() -> None:
    table = list(range(210, 1411, 15))
    assert snap(960, table) == 960
    assert snap(1000, table) == 1005
    assert snap(2000, table) == 1410
    assert snap(217, [210, 225]) == 210  # a tie goes to the lower clock
    with pytest.raises(ClockControlError, match="no supported clocks"):
        snap(900, [])


def test_lock_records_requested_set_and_actual_then_restore_unlocks(tmp_path: Path) -> None:
    fake = _fake(tmp_path)
    control = _control(fake, tmp_path)
    applied = control.apply(OperatingPoint(sm_clock_mhz=1000, power_limit_w=300.0))
    assert applied.method == "locked_clocks"
    assert (applied.requested.sm_clock_mhz, applied.sm_clock_mhz_set) == (1000, 1005)
    assert applied.sm_clock_mhz_actual == 1005  # read back from the GPU, not copied
    assert (applied.power_limit_w_set, applied.power_limit_w_actual) == (300.0, 300.0)
    assert "snapped to 1005 MHz" in applied.notes[0]
    record = tmp_path / "restore" / f"{HOST}-{make_uuid(0)}.json"
    saved = json.loads(record.read_text())
    assert (saved["power_limit_mw"], saved["locked"], saved["power_limit_set"]) == (
        400_000, True, True,
    )  # fmt: skip

    done = control.restore()
    assert done == ["SM clock unlocked", "power limit back to 400 W"]
    assert not record.exists()
    state = json.loads((tmp_path / "gpu-state.json").read_text())[make_uuid(0)]
    assert state["locked_sm_mhz"] is None
    assert state["power_limit_mw"] is None
    assert control.restore() == []  # idempotent


def test_pre_volta_falls_back_to_application_clocks_and_restores_them(tmp_path: Path) -> None:
    fake = _fake(tmp_path, locked_clocks=False)
    control = _control(fake, tmp_path)
    applied = control.apply(OperatingPoint(sm_clock_mhz=510))
    assert applied.method == "application_clocks"
    assert applied.sm_clock_mhz_actual == 510
    assert control.restore() == ["application clocks back to 1593/1095 MHz"]
    assert fake.nvmlDeviceGetApplicationsClock(fake.nvmlDeviceGetHandleByIndex(0), 1) == 1095


def test_no_permission_is_one_clear_error_naming_the_way_out(tmp_path: Path) -> None:
    control = _control(_fake(tmp_path, can_set=False), tmp_path)
    with pytest.raises(ClockControlError) as caught:
        control.apply(OperatingPoint(sm_clock_mhz=960))
    message = str(caught.value)
    assert "no permission to lock the SM clock at 960 MHz" in message
    assert "needs root" in message
    assert "--clocks external" in message
    assert control.restore() == []  # nothing was changed, nothing to undo


def test_a_power_limit_outside_the_range_is_refused(tmp_path: Path) -> None:
    control = _control(_fake(tmp_path, model=ClockModel(power_range_mw=(150_000, 400_000))),
                       tmp_path)  # fmt: skip
    with pytest.raises(ClockControlError, match=r"100 W is outside .* range 150-400 W"):
        control.apply(OperatingPoint(power_limit_w=100.0))


def test_external_mode_sets_nothing_and_records_what_runs(tmp_path: Path) -> None:
    fake = _fake(tmp_path)
    applied = _control(fake, tmp_path, "external").apply(OperatingPoint(sm_clock_mhz=510))
    assert fake.set_calls == []
    assert applied.method == "external"
    assert (applied.requested.sm_clock_mhz, applied.sm_clock_mhz_actual) == (510, 1410)
    assert applied.expected_sm_clock_mhz == 510  # a window at 1410 MHz will be flagged


def test_a_killed_workers_lock_is_restored_at_the_next_start(tmp_path: Path) -> None:
    # The first "worker" locks and dies without restoring (its process is gone, the GPU and
    # the record stay); a new process (a new fake reading the same GPU state) restores.
    _control(_fake(tmp_path), tmp_path).apply(OperatingPoint(sm_clock_mhz=510))
    later = _fake(tmp_path)
    handle = later.nvmlDeviceGetHandleByIndex(0)
    assert later.nvmlDeviceGetClockInfo(handle, later.NVML_CLOCK_SM) == 510
    lines = restore_leftovers(later, tmp_path / "restore", HOST)
    assert lines == [f"{make_uuid(0)}: SM clock unlocked (left by pid {os.getpid()})"]
    assert later.nvmlDeviceGetClockInfo(handle, later.NVML_CLOCK_SM) == 1410  # boost again
    assert restore_leftovers(later, tmp_path / "restore", HOST) == []
    assert restore_leftovers(later, tmp_path / "restore", "other-host") == []


def test_a_record_of_another_hosts_gpu_is_kept(tmp_path: Path) -> None:
    _control(_fake(tmp_path), tmp_path).apply(OperatingPoint(sm_clock_mhz=510))
    record = tmp_path / "restore" / f"{HOST}-{make_uuid(0)}.json"
    data = json.loads(record.read_text())
    data["uuid"] = make_uuid(9)
    moved = record.with_name(f"{HOST}-{make_uuid(9)}.json")
    moved.write_text(json.dumps(data))
    record.unlink()
    (line,) = restore_leftovers(_fake(tmp_path), tmp_path / "restore", HOST)
    assert "not on this host" in line
    assert moved.exists()


def test_a_window_whose_clock_left_the_lock_is_invalid(tmp_path: Path) -> None:
    assert off_lock_reasons(None, 510, 1410) == []
    assert off_lock_reasons(960, 960, 955) == []  # within 15 MHz
    assert off_lock_reasons(960, 960, 810) == ["sm_clock_off_lock:960/810MHz!=960MHz"]

    # Through the energy meter: the GPU is locked at 960 MHz but throttles 150 MHz below.
    fake = _fake(tmp_path, sm_drift_mhz=150.0)
    fake.gpus[0].processes = [FakeProcess(os.getpid())]
    fake.gpus[0].counter_period_s = 0.02
    control = _control(fake, tmp_path)
    applied = control.apply(OperatingPoint(sm_clock_mhz=960))
    target = resolve_nvml_index(fake, 0)
    assert not isinstance(target, str)
    meter = NvmlEnergyMeter(fake, target, min_window_s=0.0)
    meter.expected_sm_clock_mhz = applied.expected_sm_clock_mhz
    meter.begin()
    time.sleep(0.1)
    reading = meter.end()
    assert reading.valid is False
    assert "sm_clock_off_lock:810/810MHz!=960MHz" in reading.invalid_reasons
    control.restore()
