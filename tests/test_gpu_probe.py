"""benchmarks/gpu_probe.py: exits cleanly without a GPU, and measures the fake's own model
right when pointed at the fake NVML (so on real hardware its numbers mean what they say)."""

from __future__ import annotations

import bisect
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.fakes_nvml import FakeClock, FakeGpu, FakeNvml, FakeProcess, make_uuid

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_probe.py"


def _probe_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_probe", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_a_gpu_it_says_so_and_exits_0() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=300, cwd=REPO)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "gpu_probe: no NVIDIA GPU to probe here" in done.stdout
    assert "Nothing to check" in done.stdout


class _History:
    """Power as set over time on the fake clock (W), looked up exactly for any past time."""

    def __init__(self, clock: FakeClock, epoch: float, watts: float) -> None:
        self.clock, self.epoch = clock, epoch
        self.times, self.watts = [0.0], [watts]

    def set(self, watts: float) -> None:
        self.times.append(self.clock.t - self.epoch)
        self.watts.append(watts)

    def __call__(self, t: float) -> float:
        return self.watts[max(bisect.bisect_right(self.times, t) - 1, 0)]


@pytest.mark.parametrize(
    ("product", "averaged", "partial_duty"),
    [("H100", True, True), ("A100", False, True), ("A10", True, False)],
)
def test_probe_recovers_the_fake_products_assumptions(
    product: str, averaged: bool, partial_duty: bool
) -> None:
    probe = _probe_module()
    clock = FakeClock()
    gpu = FakeGpu.product(product, make_uuid(0), processes=[FakeProcess(os.getpid())])
    fake = FakeNvml([gpu], clock=clock.now, sleep=clock.sleep)
    fake.nvmlInit()
    power = _History(clock, gpu.epoch, 80.0)
    gpu.power_w = power

    def load(on: bool) -> None:
        power.set(400.0 if on else 80.0)

    def burst(seconds: float) -> None:
        power.set(400.0)
        clock.sleep(seconds)
        power.set(80.0)

    report = probe.probe(fake, fake.nvmlDeviceGetHandleByIndex(0), load, burst,
                         clock=clock.now, sleep=clock.sleep)  # fmt: skip
    assert report["refresh_period_s"]["load"] == pytest.approx(gpu.counter_period_s, rel=0.05)
    rise = report["power_step"]
    assert rise["rise_instant_w_s"] <= 2 * gpu.counter_period_s
    if averaged:
        assert 0.6 <= rise["rise_usage_w_s"] <= 1.0  # a 1 s moving average: 10-90% in 0.8 s
    else:
        assert rise["rise_usage_w_s"] <= 2 * gpu.counter_period_s
    latency = report["read_latency"]["nvmlDeviceGetTotalEnergyConsumption"]
    assert 0.05 < latency["median_ms"] < 0.5  # the profile's 0.2 ms, jittered
    assert report["processes"]["our_pid_listed"] is True
    cv = report["duty_hint"]["cv"]
    assert (cv > 0.5) if partial_duty else (cv < 0.3), cv
