"""Check the fake NVML's assumptions on a real NVIDIA GPU, in a few minutes.

Run: ``python benchmarks/gpu_probe.py [--device cuda:0] [--json probe.json]``

``tests/fakes_nvml.py`` models each product's energy counter and power sensor from published
measurements (``PRODUCTS``); ``benchmarks/energy_error.py`` derives the suite's error bounds
from that model. This script measures, on the GPU at hand, what the model assumes:

1. **refresh period** of ``nvmlDeviceGetTotalEnergyConsumption``: the counter read in a tight
   loop, idle and under load; the median interval between changes;
2. **power averaging**: a step from idle to a steady load and back, read through
   ``nvmlDeviceGetPowerUsage`` and ``NVML_FI_DEV_POWER_INSTANT``; the 10-90% rise time of
   each (about one refresh period if instantaneous, about a second if a 1 s average);
3. **read latency** of every NVML call the meters make: median and 99th percentile;
4. **process list**: whether this process's pid is listed, whether the entries are valid
   (nvidia-ml-py's v3 struct against the driver's), and what the ``_v2`` query says;
5. **sensor duty cycle** (a hint): short bursts repeating slightly slower than the refresh
   period; a sensor that samples the whole period sees each burst in the increments, one
   that samples a quarter of it sees the bursts come and go (large spread of increments).

Without an NVIDIA GPU (this project's CI) it says so and exits 0. Compare the output with
``tests/fakes_nvml.PRODUCTS`` and fix the profile when they differ.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from whisperbench.meters.gpu_processes import running_processes  # noqa: E402
from whisperbench.meters.nvml_api import import_nvml, nvml_query  # noqa: E402

Clock = Callable[[], float]
Sleep = Callable[[float], None]
#: Turns the GPU load on (True) or off (False); returns when the GPU is in that state.
Load = Callable[[bool], None]


def counter_changes(
    nvml: ModuleType, handle: Any, seconds: float, clock: Clock, sleep: Sleep
) -> list[tuple[float, int]]:
    """(time, value) at every change of the energy counter seen in ``seconds`` of polling."""
    changes: list[tuple[float, int]] = []
    last: int | None = None
    end = clock() + seconds
    while clock() < end:
        start = clock()
        result = nvml_query(nvml, "nvmlDeviceGetTotalEnergyConsumption", handle)
        if not result.ok:
            raise RuntimeError(str(result.reason))
        stamp = (start + clock()) / 2.0
        if result.value != last:
            if last is not None:
                changes.append((stamp, int(result.value)))
            last = int(result.value)
        sleep(0.0002)
    return changes


def refresh_period_s(changes: Sequence[tuple[float, int]]) -> float | None:
    """Median interval between counter changes, seconds."""
    intervals = [b[0] - a[0] for a, b in itertools.pairwise(changes)]
    return statistics.median(intervals) if intervals else None


def read_power(nvml: ModuleType, handle: Any) -> dict[str, float | None]:
    """Power now, W, through GetPowerUsage and the instant field."""
    usage = nvml_query(nvml, "nvmlDeviceGetPowerUsage", handle)
    field = nvml_query(nvml, "nvmlDeviceGetFieldValues", handle, [186])  # POWER_INSTANT
    instant = None
    if field.ok and int(field.value[0].nvmlReturn) == 0:
        instant = field.value[0].value.uiVal / 1000.0
    return {"usage_w": usage.value / 1000.0 if usage.ok else None, "instant_w": instant}


def rise_time_s(samples: Sequence[tuple[float, float | None]], step_s: float) -> float | None:
    """10-90% rise time after a step at ``step_s`` of (time, watts) samples, seconds."""
    before = [w for t, w in samples if t < step_s and w is not None]
    after = [(t, w) for t, w in samples if t >= step_s and w is not None]
    if not before or len(after) < 4:
        return None
    low = statistics.median(before[-20:])
    high = statistics.median([w for _, w in after[-20:]])
    if high - low < 10.0:
        return None

    def crossing(fraction: float) -> float | None:
        level = low + fraction * (high - low)
        return next((t for t, w in after if w >= level), None)

    t10, t90 = crossing(0.1), crossing(0.9)
    return None if t10 is None or t90 is None else t90 - t10


def power_step(
    nvml: ModuleType, handle: Any, load: Load, clock: Clock, sleep: Sleep, hold_s: float = 3.0
) -> dict[str, float | None]:
    """Rise times of both power readings over an idle -> load step."""
    samples: dict[str, list[tuple[float, float | None]]] = {"usage_w": [], "instant_w": []}
    load(False)
    t0 = clock()
    step_at: float | None = None
    while clock() - t0 < 2 * hold_s:
        if step_at is None and clock() - t0 >= hold_s:
            load(True)
            step_at = clock()
        now = clock()
        for key, value in read_power(nvml, handle).items():
            samples[key].append((now, value))
        sleep(0.01)
    load(False)
    assert step_at is not None
    return {f"rise_{key}_s": rise_time_s(values, step_at) for key, values in samples.items()}


def read_latencies(nvml: ModuleType, handle: Any, calls: int, clock: Clock) -> dict[str, Any]:
    """Median and p99 duration of each NVML call the meters make, ms."""
    queries: dict[str, tuple[Any, ...]] = {
        "nvmlDeviceGetTotalEnergyConsumption": (),
        "nvmlDeviceGetPowerUsage": (),
        "nvmlDeviceGetFieldValues": ([186],),
        "nvmlDeviceGetComputeRunningProcesses": (),
        "nvmlDeviceGetClockInfo": (1,),
        "nvmlDeviceGetTemperatureV": (0,),
    }
    out: dict[str, Any] = {}
    for function, args in queries.items():
        times = []
        for _ in range(calls):
            start = clock()
            result = nvml_query(nvml, function, handle, *args)
            times.append((clock() - start) * 1e3)
        times.sort()
        out[function] = {
            "ok": result.ok,
            "median_ms": statistics.median(times),
            "p99_ms": times[min(len(times) - 1, int(0.99 * len(times)))],
        }
    return out


def process_list(nvml: ModuleType, handle: Any, pid: int) -> dict[str, Any]:
    """What NVML lists, validated, and whether our pid is among it."""
    listed = running_processes(nvml, handle)
    v2 = nvml_query(nvml, "nvmlDeviceGetComputeRunningProcesses_v2", handle)
    return {
        "pids": list(listed.pids) if listed.pids is not None else None,
        "reason": listed.reason,
        "notes": list(listed.notes),
        "our_pid": pid,
        "our_pid_listed": listed.pids is not None and pid in listed.pids,
        "v2_pids": [int(p.pid) for p in v2.value] if v2.ok else v2.reason,
    }


def duty_hint(
    nvml: ModuleType,
    handle: Any,
    burst: Callable[[float], None],
    period_s: float,
    seconds: float,
    clock: Clock,
    sleep: Sleep,
) -> dict[str, float | None]:
    """Bursts of 15% of the period, repeating 7% slower than it, for ``seconds``: the spread
    (coefficient of variation) of the counter's increments per update. A whole-period sensor
    sees about one burst in every increment (small spread); a quarter-period one sees the
    bursts come and go (spread near or above 1)."""
    increments: list[int] = []
    last = nvml_query(nvml, "nvmlDeviceGetTotalEnergyConsumption", handle).value
    end = clock() + seconds
    next_burst = clock()
    while clock() < end:
        if clock() >= next_burst:
            burst(0.15 * period_s)
            next_burst += 1.07 * period_s
        value = nvml_query(nvml, "nvmlDeviceGetTotalEnergyConsumption", handle).value
        if value != last:
            increments.append(int(value) - int(last))
            last = value
        sleep(0.0005)
    if len(increments) < 10:
        return {"increments": len(increments), "cv": None}
    mean = statistics.fmean(increments)
    return {"increments": len(increments), "cv": statistics.pstdev(increments) / mean}


def _torch_load(device: str) -> tuple[Load, Callable[[float], None]]:
    """A steady load switched on and off, and a burst of given seconds, on ``device``."""
    import threading

    import torch

    x = torch.randn(4096, 4096, device=device)
    state = {"on": False}

    def spin() -> None:
        while True:
            if state["on"]:
                torch.mm(x, x)
                torch.cuda.synchronize(device)
            else:
                time.sleep(0.001)

    threading.Thread(target=spin, daemon=True).start()

    def load(on: bool) -> None:
        state["on"] = on
        torch.cuda.synchronize(device)

    def burst(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            torch.mm(x, x)
            torch.cuda.synchronize(device)

    return load, burst


def no_gpu_reason(device: str) -> str | None:
    """Why this machine cannot be probed, or ``None``."""
    try:
        import torch
    except ImportError as exc:
        return f"torch not importable ({exc})"
    if not torch.cuda.is_available():
        return f"torch sees no CUDA device (torch {torch.__version__})"
    nvml, reason = import_nvml()
    if nvml is None:
        return str(reason)
    nvml.nvmlShutdown()
    index = int(device.split(":", 1)[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        return f"{device} not present ({torch.cuda.device_count()} CUDA device(s))"
    return None


def probe(
    nvml: ModuleType,
    handle: Any,
    load: Load,
    burst: Callable[[float], None],
    clock: Clock = time.perf_counter,
    sleep: Sleep = time.sleep,
) -> dict[str, Any]:
    """Every check, on an initialized NVML and the device's handle."""
    report: dict[str, Any] = {}
    name = nvml_query(nvml, "nvmlDeviceGetName", handle)
    driver = nvml_query(nvml, "nvmlSystemGetDriverVersion")
    report["device"] = {"name": name.value, "driver": driver.value}
    load(False)
    idle = counter_changes(nvml, handle, 3.0, clock, sleep)
    load(True)
    busy = counter_changes(nvml, handle, 3.0, clock, sleep)
    load(False)
    period = refresh_period_s(busy) or refresh_period_s(idle)
    report["refresh_period_s"] = {
        "idle": refresh_period_s(idle),
        "load": refresh_period_s(busy),
        "updates_seen": len(idle) + len(busy),
    }
    report["power_step"] = power_step(nvml, handle, load, clock, sleep)
    report["read_latency"] = read_latencies(nvml, handle, 200, clock)
    report["processes"] = process_list(nvml, handle, os.getpid())
    if period:
        report["duty_hint"] = duty_hint(nvml, handle, burst, period, 10.0, clock, sleep)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--device", default="cuda:0", help="CUDA device. Default: cuda:0")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    reason = no_gpu_reason(args.device)
    if reason is not None:
        print(f"gpu_probe: no NVIDIA GPU to probe here: {reason}. Nothing to check; run it on a "
              "machine with one (about 2 minutes).")  # fmt: skip
        return 0
    import torch

    from whisperbench.meters.gpu_mapping import GpuTarget, resolve_cuda_ordinal

    nvml, _ = import_nvml()
    assert nvml is not None
    try:
        index = torch.device(args.device).index or 0
        target = resolve_cuda_ordinal(nvml, index)
        if not isinstance(target, GpuTarget):
            print(f"gpu_probe: {target}")
            return 1
        torch.cuda.init()
        load, burst = _torch_load(args.device)
        report = probe(nvml, target.handle, load, burst)
        report["device"]["mig_handle"] = target.mig_handle is not None
        if target.mig_handle is not None:
            report["processes_mig_slice"] = process_list(nvml, target.mig_handle, os.getpid())
    finally:
        nvml.nvmlShutdown()
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
