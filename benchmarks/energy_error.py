"""How far is the GPU energy figure from the truth? The meter against the fake NVML's ground truth.

Run: ``python benchmarks/energy_error.py [--trials 40] [--json out.json] [--quick]``

No GPU is needed and no time passes: the real :class:`~whisperbench.meters.NvmlEnergyMeter`
reads the FAKE NVML of ``tests/fakes_nvml.py`` on a fake clock, so every run is deterministic
(seeded) and takes seconds. The fake's products model what published measurements and NVML's
documentation say real boards do (refresh period, a sensor sampling 25% of each period on
A100/H100 and extrapolating, lag, read latency; see ``tests/fakes_nvml.PRODUCTS``); the
workloads model a Whisper round's power: CPU feature extraction at near-idle power, an
encoder burst, a decoder loop of short kernels with launch gaps, detokenization.

Each trial opens a window on a random counter phase, runs whole rounds (each jittered; with the
idle pause :func:`whisperbench.measure.measure` inserts to step them across the sensor's
sampling grid, where this code has one), closes it, and compares:

* ``energy_j`` with the energy of the **rounds**: what ``j_per_audio_s`` claims. Idle time
  inside the window (edge alignment) counts against it; phase-stepping pauses are taken out
  at the warm idle power, as measure() does;
* ``energy_above_idle_j`` with the work's energy above the true warm idle power (the idle
  power handed to the meter is exact here, so this isolates the window's own error).

Reported per product, workload and window length: the mean error (bias) and the 95th
percentile and maximum of ``|error|`` over the trials, in percent. Scenarios beyond the plain
ones: ``contended`` (NVML reads take 5 ms: a busy CPU), ``4gpu`` (four GPUs of one node,
counters on different phases, all metered; the error of their sum), ``no-step`` (no
phase-stepping pause: rounds locked onto the sampling grid stay locked).

The same script runs against older whisperbench code (it feature-detects the meter's
arguments), which is how the before/after figures in docs/measurement.md were made.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import random
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the fakes live in tests/

from tests.fakes_nvml import (  # noqa: E402
    FakeClock,
    FakeGpu,
    FakeNvml,
    PiecewisePower,
    make_uuid,
)
from whisperbench.meters.base import MeterSet  # noqa: E402
from whisperbench.meters.gpu_mapping import GpuTarget, resolve_nvml_index  # noqa: E402
from whisperbench.meters.nvml_energy import NvmlEnergyMeter  # noqa: E402


@dataclass(frozen=True)
class Levels:
    """A workload's power levels on one product, W (assumed, typical of inference)."""

    idle: float  #: warm idle: the device at its working state, nothing running
    cpu: float  #: during CPU phases (features, detokenize): near idle, clocks up
    encoder: float
    decoder_hi: float  #: a decoder kernel
    decoder_lo: float  #: a launch gap between decoder kernels


LEVELS = {
    "V100": Levels(60, 70, 250, 170, 95),
    "A100": Levels(85, 95, 330, 210, 120),
    "H100": Levels(120, 135, 600, 350, 180),
    "A10": Levels(35, 40, 145, 110, 60),
    "GH200": Levels(120, 135, 600, 350, 180),
    "slow-counter": Levels(35, 40, 145, 110, 60),
}


@dataclass(frozen=True)
class Workload:
    """Rounds of a Whisper-like power profile: ``round_s`` long, jittered by ``jitter``."""

    name: str
    round_s: float
    jitter: float
    steady: bool = False


WORKLOADS = (
    Workload("steady", 0.5, 0.0, steady=True),
    Workload("rounds-0.237s", 0.237, 0.01),
    Workload("rounds-1.73s", 1.73, 0.01),
    Workload("rounds-0.300s-j1%", 0.300, 0.01),  # 3 counter periods, 1% jitter
    Workload("rounds-0.300s-j0.2%", 0.300, 0.002),  # locked onto the sampling grid
)


def round_segments(levels: Levels, length_s: float) -> list[tuple[float, float]]:
    """(duration s, watts) segments of one round."""
    segments = [(0.08 * length_s, levels.cpu), (0.20 * length_s, levels.encoder)]
    decoder_s, step_s = 0.64 * length_s, 0.006
    steps = max(1, int(decoder_s / step_s))
    for _ in range(steps):
        segments += [(step_s * 2 / 3, levels.decoder_hi), (step_s / 3, levels.decoder_lo)]
    segments.append((decoder_s - steps * step_s, levels.decoder_hi))
    segments.append((0.08 * length_s, levels.cpu))
    return [(d, w) for d, w in segments if d > 0]


def trace(
    levels: Levels,
    work: Workload,
    start_s: float,
    window_s: float,
    rng: random.Random,
    pause_s: float = 0.0,
    rounds_count: int = 1,
) -> tuple[PiecewisePower, list[tuple[float, float]]]:
    """The power over time (idle, then whole rounds from ``start_s`` with ``pause_s`` of idle
    before each but the first, then idle) and the rounds' (start, end) times."""
    times, watts = [0.0], [levels.idle]
    t = start_s
    rounds: list[tuple[float, float]] = []
    if work.steady:
        times.append(t)
        watts.append(levels.encoder)
        end = t + window_s + rng.uniform(0.0, 1.0)  # the work ends on any phase of the counter
        rounds.append((t, end))
        t = end
    else:
        for i in range(rounds_count):
            if i and pause_s > 0:
                times.append(t)
                watts.append(levels.idle)
                t += pause_s
            length = work.round_s * (1.0 + work.jitter * rng.gauss(0.0, 1.0))
            begin = t
            for duration, power in round_segments(levels, length):
                times.append(t)
                watts.append(power)
                t += duration
            rounds.append((begin, t))
    times.append(t)
    watts.append(levels.idle)
    return PiecewisePower(times, watts), rounds


def planned_pause_s(work: Workload, period_s: float, window_s: float) -> float:
    """The idle pause measure() inserts before each round (0 where this code has none)."""
    try:
        from whisperbench.meters.sampling_grid import phase_step_pause_s
    except ImportError:  # whisperbench before phase stepping
        return 0.0
    if work.steady:
        return 0.0
    return phase_step_pause_s(work.round_s, period_s, max(1, round(window_s / work.round_s)))


def lock_flagged(starts: Sequence[float], period_s: float) -> bool:
    """Whether this code flags the window's rounds as locked onto the sampling grid."""
    try:
        from whisperbench.meters.sampling_grid import grid_lock_reason
    except ImportError:
        return False
    return grid_lock_reason(starts, period_s) is not None


def _supports(parameter: str) -> bool:
    return parameter in inspect.signature(NvmlEnergyMeter.__init__).parameters


def _set_idle(meter: NvmlEnergyMeter, idle_w: float) -> None:
    """Hand the meter the exact warm idle power (its own idle measurement needs real time)."""
    if hasattr(meter, "idle") and hasattr(meter.idle, "with_phase"):
        meter.idle = meter.idle.with_phase("warm", idle_w, None)
    else:  # whisperbench before the cold/warm split
        meter.idle_power_w = idle_w  # type: ignore[misc]
        meter.idle_null_reason = None  # type: ignore[attr-defined]


@dataclass
class Trial:
    error_pct: float  #: energy_j vs the work's energy
    above_idle_error_pct: float  #: energy_above_idle_j vs the work's energy above idle
    edge_idle_s: float  #: window seconds outside the work (time, from the truth)
    flagged: bool  #: the suite would flag this window sampling_grid_lock (invalid)


def run_trial(
    product: str,
    work: Workload,
    window_s: float,
    seed: int,
    *,
    gpus: int = 1,
    read_latency_s: float | None = None,
    step: bool = True,
) -> Trial:
    rng = random.Random(seed)
    clock = FakeClock()
    levels = LEVELS[product]
    fakes = []
    for i in range(gpus):
        overrides: dict[str, Any] = {"power_w": levels.idle}
        period = FakeGpu.product(product, make_uuid(i)).counter_period_s
        overrides["counter_phase_s"] = rng.uniform(0.0, period)
        if read_latency_s is not None:
            overrides["read_latency_s"] = read_latency_s
        fakes.append(FakeGpu.product(product, make_uuid(i), **overrides))
    fake = FakeNvml(fakes, clock=clock.now, sleep=clock.sleep, seed=seed)
    fake.nvmlInit()
    clock.t = 5.0 + rng.uniform(0.0, 1.0)  # some history before the window
    meters = []
    shared: dict[str, Any] = {}
    if gpus > 1 and _supports("edges"):
        from whisperbench.meters.nvml_edges import CounterEdges

        shared["edges"] = CounterEdges(clock=clock.now, sleep=clock.sleep)
    for i in range(gpus):
        found = resolve_nvml_index(fake, i)
        assert isinstance(found, GpuTarget)
        meter = NvmlEnergyMeter(
            fake, found, min_window_s=0.0, clock=clock.now, sleep=clock.sleep, pid=1, **shared
        )  # type: ignore[arg-type]
        _set_idle(meter, levels.idle + fakes[i].module_extra_w)
        meters.append(meter)
    meter_set = MeterSet(
        meters,
        min_window_s=0.0,
        idle_s=0.0,
        gpu_energy_wanted=True,
        clock=clock.now,
        sleep=clock.sleep,
    )
    period = fakes[0].counter_period_s
    pause = planned_pause_s(work, period, window_s) if step else 0.0
    count = max(1, round(window_s / work.round_s))
    meter_set.begin()
    start = clock.t
    rounds: list[tuple[float, float]] = []
    for gpu in fakes:
        gpu.power_w, rounds = trace(
            levels, work, start, window_s, random.Random(seed + 1), pause, count
        )
    end = rounds[-1][1]
    clock.t = end
    readings = meter_set.end()
    paused = pause * (len(rounds) - 1)
    if "idle_pause_s" in inspect.signature(readings.energy_figures).parameters:
        total = readings.energy_figures(1.0, 1, idle_pause_s=paused).total
    else:  # whisperbench before phase stepping
        total = readings.energy_figures(1.0, 1).total
    energy = math.nan if total.energy_j is None else total.energy_j
    above = math.nan if total.energy_above_idle_j is None else total.energy_above_idle_j
    # The truth is the rounds' energy: idle pauses and edge waits count as error.
    truth = sum(g.energy_j_between(a - g.epoch, b - g.epoch) for g in fakes for a, b in rounds)
    idle_total = sum(levels.idle + g.module_extra_w for g in fakes)
    truth_above = truth - idle_total * sum(b - a for a, b in rounds)
    edge_idle = statistics.fmean(
        max(start - (r.t_begin_s or start), 0.0) + max((r.t_end_s or end) - end, 0.0)
        for r in readings.gpu_energy
    )
    return Trial(
        100.0 * (energy / truth - 1.0),
        100.0 * (above / truth_above - 1.0),
        edge_idle,
        not work.steady and lock_flagged([a for a, _ in rounds], period),
    )


@dataclass
class Cell:
    product: str
    workload: str
    scenario: str
    window_s: float
    trials: int
    mean_pct: float
    p95_abs_pct: float
    max_abs_pct: float
    above_idle_p95_abs_pct: float
    edge_idle_mean_s: float
    flagged_share: float  #: windows the suite flags sampling_grid_lock
    valid_max_abs_pct: float  #: the largest |error| among the windows not flagged


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def measure_cell(
    product: str, work: Workload, window_s: float, trials: int, scenario: str = "plain"
) -> Cell:
    kwargs: dict[str, Any] = {}
    if scenario == "contended":
        kwargs["read_latency_s"] = 0.005
    elif scenario == "4gpu":
        kwargs["gpus"] = 4
    elif scenario == "no-step":
        kwargs["step"] = False
    results = [
        run_trial(product, work, window_s, 1000 * i + int(window_s * 10), **kwargs)
        for i in range(trials)
    ]
    errors = [r.error_pct for r in results]
    valid = [abs(r.error_pct) for r in results if not r.flagged]
    return Cell(
        product,
        work.name,
        scenario,
        window_s,
        trials,
        statistics.fmean(errors),
        _p95([abs(e) for e in errors]),
        max(abs(e) for e in errors),
        _p95([abs(r.above_idle_error_pct) for r in results]),
        statistics.fmean(r.edge_idle_s for r in results),
        sum(r.flagged for r in results) / len(results),
        max(valid) if valid else math.nan,
    )


#: Round lengths for the sweep: 28 spread over 0.12-0.59 s, and exact multiples of the period.
SWEEP_ROUNDS_S = (*(0.12 + 0.0173 * i for i in range(28)), 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


def sweep(product: str, window_s: float, jitter: float, trials: int) -> dict[str, float]:
    """Every round length of :data:`SWEEP_ROUNDS_S`: the worst windows, valid and flagged."""
    cells = [
        measure_cell(product, Workload(f"r{r:.3f}", r, jitter), window_s, trials)
        for r in SWEEP_ROUNDS_S
    ]
    worst = sorted(c.max_abs_pct for c in cells)
    valid = [c.valid_max_abs_pct for c in cells if not math.isnan(c.valid_max_abs_pct)]
    return {
        "round_lengths": len(cells),
        "median_of_max_abs_pct": statistics.median(worst),
        "p90_of_max_abs_pct": worst[int(0.9 * len(worst))],
        "max_abs_pct": worst[-1],
        "valid_max_abs_pct": max(valid) if valid else math.nan,
        "flagged_share": statistics.fmean(c.flagged_share for c in cells),
    }


def plan(quick: bool) -> list[tuple[str, Workload, float, str]]:
    windows = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0)
    cells: list[tuple[str, Workload, float, str]] = []
    for product in ("A100", "H100"):
        for work in WORKLOADS:
            for window in windows if not quick else (5.0, 10.0):
                cells.append((product, work, window, "plain"))
        for work in WORKLOADS[3:]:  # what the locked rounds do without phase stepping
            for window in (10.0,) if quick else (5.0, 10.0, 30.0):
                cells.append((product, work, window, "no-step"))
        for scenario in ("contended", "4gpu"):
            for window in (10.0,) if quick else (5.0, 10.0, 30.0):
                cells.append((product, WORKLOADS[1], window, scenario))
    for product in ("V100", "A10", "GH200", "slow-counter"):
        for work in WORKLOADS[:2] if quick else WORKLOADS:
            for window in (10.0,) if quick else (2.0, 5.0, 10.0, 30.0):
                cells.append((product, work, window, "plain"))
    cells.append(("slow-counter", WORKLOADS[1], 10.0, "contended"))
    return cells


def render(cells: Sequence[Cell]) -> str:
    head = (
        f"{'product':<13}{'workload':<22}{'scenario':<10}{'window':>7}"
        f"{'bias%':>8}{'p95|e|%':>9}{'max|e|%':>9}{'aboveidle p95%':>16}{'edge idle s':>12}"
        f"{'flagged':>8}{'valid max%':>11}"
    )
    lines = [head, "-" * len(head)]
    for c in cells:
        lines.append(
            f"{c.product:<13}{c.workload:<22}{c.scenario:<10}{c.window_s:>6.0f}s"
            f"{c.mean_pct:>8.2f}{c.p95_abs_pct:>9.2f}{c.max_abs_pct:>9.2f}"
            f"{c.above_idle_p95_abs_pct:>16.2f}{c.edge_idle_mean_s:>12.3f}"
            f"{c.flagged_share:>8.0%}{c.valid_max_abs_pct:>11.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trials", type=int, default=40, help="trials per cell. Default: 40")
    parser.add_argument("--quick", action="store_true", help="fewer cells (a smoke run)")
    parser.add_argument("--json", type=Path, help="also write the cells as JSON here")
    parser.add_argument("--no-sweep", action="store_true", help="skip the round-length sweep")
    args = parser.parse_args(argv)
    cells = [measure_cell(p, w, s, args.trials, sc) for p, w, s, sc in plan(args.quick)]
    out(render(cells))
    sweeps = {}
    if not args.no_sweep:
        out("\nround-length sweep (each round length: its worst window of the trials):")
        for product in ("A100", "H100"):
            for window in (10.0, 30.0):
                for jitter in (0.01, 0.002):
                    key = f"{product} {window:.0f}s jitter {jitter:.1%}"
                    sweeps[key] = sweep(product, window, jitter, max(4, args.trials // 4))
                    found = sweeps[key]
                    out(
                        f"{key:<26} median {found['median_of_max_abs_pct']:.2f}%  p90 "
                        f"{found['p90_of_max_abs_pct']:.2f}%  max {found['max_abs_pct']:.2f}%"
                        f"  valid max {found['valid_max_abs_pct']:.2f}%  flagged "
                        f"{found['flagged_share']:.0%}"
                    )
    if args.json:
        data = {"cells": [c.__dict__ for c in cells], "sweeps": sweeps}
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
