"""RAPL through the real file code over a fake powercap tree."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.fakes_powercap import FakePowercap
from whisperbench.meters.rapl import RaplEnergyMeter, RaplZone, discover_rapl, wrap_delta_uj
from whisperbench.schema import energy_fields


def _zones(tree: FakePowercap) -> list[RaplZone]:
    zones, reasons, _ = discover_rapl(tree.root, reader=tree.read_text)
    assert reasons == []
    return zones


def _meter(tree: FakePowercap, label: str, **kwargs: object) -> RaplEnergyMeter:
    zone = next(z for z in _zones(tree) if z.label == label)
    return RaplEnergyMeter(zone, reader=tree.read_text, **kwargs)  # type: ignore[arg-type]


def test_meters_package_and_dram_but_not_core_uncore_or_psys(tmp_path: Path) -> None:
    tree = FakePowercap(tmp_path / "powercap")
    tree.add_package(0)
    tree.add_package(1)
    tree.add_psys(2)
    zones, reasons, notes = discover_rapl(tree.root, reader=tree.read_text)
    assert reasons == []
    assert [(z.label, z.scope) for z in zones] == [
        ("cpu-package-0", "cpu_package"),
        ("cpu-package-1", "cpu_package"),
        ("cpu-dram-0", "cpu_dram"),
        ("cpu-dram-1", "cpu_dram"),
    ]
    assert any("core" in n and "inside package-0" in n for n in notes)
    assert any("psys overlaps" in n for n in notes)


def test_psys_is_used_alone_when_there_is_no_package(tmp_path: Path) -> None:
    tree = FakePowercap(tmp_path / "powercap")
    tree.add_psys(0)
    assert [z.label for z in _zones(tree)] == ["cpu-psys"]


def test_overlapping_domains_are_not_double_counted(tmp_path: Path) -> None:
    """Core and uncore advance too, but only package + DRAM reach the window's figure."""
    from whisperbench.meters.readings import WindowReadings

    tree = FakePowercap(tmp_path / "powercap")
    tree.add_package(0)
    tree.add_psys(1)
    meters = [RaplEnergyMeter(z, reader=tree.read_text, min_window_s=0.0) for z in _zones(tree)]
    for m in meters:
        m.begin()
    tree.advance("intel-rapl:0", 30_000_000)  # package: 30 J
    tree.advance("intel-rapl:0:0", 20_000_000)  # core, inside package
    tree.advance("intel-rapl:0:1", 5_000_000)  # uncore, inside package
    tree.advance("intel-rapl:0:2", 4_000_000)  # dram: 4 J
    tree.advance("intel-rapl:1", 50_000_000)  # psys: everything
    readings = [m.end() for m in meters]
    window = WindowReadings.from_readings(readings, window_s=1.0, gpu_energy_wanted=False)
    summary = energy_fields(window.energy_figures(audio_s=10.0, tokens=100))
    assert summary["energy_j"] == pytest.approx(34.0)
    assert summary["energy_source"] == "rapl"
    assert summary["j_per_audio_s"] == pytest.approx(3.4)
    assert summary["j_per_token"] == pytest.approx(0.34)
    assert [d["device"] for d in summary["energy_devices"]] == ["cpu-package-0", "cpu-dram-0"]


def test_wrap_around_uses_max_energy_range(tmp_path: Path) -> None:
    tree = FakePowercap(tmp_path / "powercap")
    tree.add_package(0, max_range_uj=1_000_000_000, energy_uj=999_000_000, dram=False)
    meter = _meter(tree, "cpu-package-0", min_window_s=0.0)
    meter.begin()
    tree.advance("intel-rapl:0", 3_000_000)  # crosses the range: counter now 2_000_000
    assert tree.energy("intel-rapl:0") == 2_000_000
    reading = meter.end()
    assert reading.energy_j == pytest.approx(3.0)
    assert wrap_delta_uj(999_000_000, 2_000_000, 1_000_000_000) == 3_000_000
    assert wrap_delta_uj(5, 3, None) is None


def test_accumulator_counts_several_wraps_in_one_window(tmp_path: Path) -> None:
    tree = FakePowercap(tmp_path / "powercap")
    tree.add_package(0, max_range_uj=10_000_000, energy_uj=0, dram=False)
    meter = _meter(tree, "cpu-package-0", min_window_s=0.0, accumulate_interval_s=0.01)
    meter.begin()
    for _ in range(5):  # 5 × 7 J = 35 J, 3.5 times the 10 J range
        tree.advance("intel-rapl:0", 7_000_000)
        time.sleep(0.05)  # let the accumulator see each step
    reading = meter.end()
    assert reading.energy_j == pytest.approx(35.0)


def test_permission_denied_gives_none_with_reason(tmp_path: Path) -> None:
    tree = FakePowercap(tmp_path / "powercap")
    tree.add_package(0)
    tree.deny("intel-rapl:0")
    zones, reasons, _ = discover_rapl(tree.root, reader=tree.read_text)
    assert zones == []
    assert len(reasons) == 1
    assert reasons[0].startswith("RAPL: permission denied reading")
    assert "CVE-2020-8694" in reasons[0]


def test_absent_tree_gives_reason(tmp_path: Path) -> None:
    zones, reasons, _ = discover_rapl(tmp_path / "nope")
    assert zones == []
    assert reasons == [f"RAPL: {tmp_path / 'nope'} not present"]


def test_tree_without_rapl_zones_gives_reason(tmp_path: Path) -> None:
    (tmp_path / "powercap" / "dtpm").mkdir(parents=True)
    zones, reasons, _ = discover_rapl(tmp_path / "powercap")
    assert zones == []
    assert reasons[0].startswith("RAPL: no intel-rapl zones")


def test_counter_unreadable_mid_window_gives_null(tmp_path: Path) -> None:
    tree = FakePowercap(tmp_path / "powercap")
    tree.add_package(0, dram=False)
    meter = _meter(tree, "cpu-package-0", min_window_s=0.0)
    meter.begin()
    tree.deny("intel-rapl:0")
    reading = meter.end()
    assert reading.energy_j is None
    assert reading.null_reason is not None
    assert "permission denied" in reading.null_reason


def test_zero_and_short_windows_are_invalid(tmp_path: Path) -> None:
    from whisperbench.meters.readings import EnergyWarning

    tree = FakePowercap(tmp_path / "powercap")
    tree.add_package(0, dram=False)
    meter = _meter(tree, "cpu-package-0", min_window_s=5.0)
    meter.begin()
    with pytest.warns(EnergyWarning):
        reading = meter.end()
    assert reading.valid is False
    assert reading.invalid_reasons[0] == "zero_energy"
    assert reading.invalid_reasons[1].startswith("window_shorter_than_min:")


def test_idle_baseline(tmp_path: Path) -> None:
    tree = FakePowercap(tmp_path / "powercap")
    tree.add_package(0, dram=False)
    meter = _meter(tree, "cpu-package-0")
    meter.start_idle()
    time.sleep(0.2)
    tree.advance("intel-rapl:0", 4_000_000)
    meter.finish_idle()
    assert meter.idle_power_w is not None
    assert 4.0 / 0.5 < meter.idle_power_w < 4.0 / 0.19


def test_no_thread_survives_end(tmp_path: Path) -> None:
    tree = FakePowercap(tmp_path / "powercap")
    tree.add_package(0)
    before = set(threading.enumerate())
    meters = [RaplEnergyMeter(z, reader=tree.read_text) for z in _zones(tree)]
    for m in meters:
        m.begin()
    assert len(set(threading.enumerate()) - before) == len(meters)
    tree.advance("intel-rapl:0", 1_000_000)
    tree.advance("intel-rapl:0:2", 1_000_000)
    for m in meters:
        m.end()
    assert set(threading.enumerate()) == before
