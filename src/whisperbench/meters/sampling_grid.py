"""Rounds against the power sensor's sampling grid: predict a lock, step out of it, detect it.

On A100/H100 the power sensor samples about a quarter of every counter period (~25 ms of
100 ms) and extrapolates. Over many rounds that averages out *if* successive rounds start at
different phases of the counter period. Rounds whose length is (close to) a multiple of the
period start at the same phase every time, so the sensor keeps sampling the same parts of each
round and the window's energy is off by whatever those parts differ from the round's mean:
``benchmarks/energy_error.py`` measures up to ~20% for 0.3 s rounds on a 0.1 s counter, and a
longer window does not help.

* :func:`phase_step_pause_s` picks, from the warm-up round length and the counter period, a
  short device-idle pause to insert before each round (after the first) so the round starts
  step through the whole period; no pause when they already spread. The pauses' idle energy
  (warm idle power x pause seconds) is taken out of the window's figures.
* :func:`grid_lock_reason` checks the rounds that ran (real rounds jitter): when their start
  phases are too uneven (:func:`phase_discrepancy`), the window is flagged.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence

__all__ = [
    "ASSUMED_SENSOR_DUTY",
    "LOCK_DISCREPANCY",
    "LONG_ROUND_PERIODS",
    "REFERENCE_COUNTER_PERIOD_S",
    "grid_lock_reason",
    "phase_discrepancy",
    "phase_step_pause_s",
]

#: The share of each period the sensor samples where it is partial (A100/H100: 25%,
#: Yang et al. 2023). NVML does not report it.
ASSUMED_SENSOR_DUTY = 0.25
#: The counter period ``min_window_s`` is meant for; slower counters get proportionally longer
#: windows (the idle wait at the end edge is up to one period).
REFERENCE_COUNTER_PERIOD_S = 0.1
#: Round phases less even than this (circular discrepancy, 0 = even, 1 = all equal) flag the
#: window: in benchmarks/energy_error.py's model, windows above it were off by up to ~20%.
LOCK_DISCREPANCY = 0.25
#: Rounds at least this many periods long are neither stepped nor checked: the sensor's
#: windows fall on every part of a long round's slowly varying work within the round itself
#: (what remains is the error at each change of power, measured by energy_error.py).
LONG_ROUND_PERIODS = 10
#: Rounds are stepped when their phases would be less even than this.
_PLAN_DISCREPANCY = 0.1


def phase_discrepancy(starts_s: Sequence[float], period_s: float) -> float:
    """How unevenly ``start mod period`` covers the period: the circular (rotation-free)
    discrepancy of the phases, 0 for evenly spread, approaching 1 when all coincide."""
    n = len(starts_s)
    if period_s <= 0 or n < 2:
        return 0.0
    phases = sorted((s % period_s) / period_s for s in starts_s)
    deviations = [x - i / n for i, x in enumerate(phases)]
    return max(deviations) - min(deviations) + 1.0 / n


def _planned(round_s: float, period_s: float, rounds: int) -> float:
    return phase_discrepancy([i * round_s for i in range(rounds)], period_s)


def phase_step_pause_s(round_s: float, period_s: float, rounds: int) -> float:
    """The idle pause (s) to insert before each round after the first so that rounds of
    ``round_s`` stop starting on the same phases of a ``period_s`` counter period.

    0.0 when ``rounds`` rounds already spread evenly enough (discrepancy at most 0.1, or
    2/rounds for so few rounds that they cannot do better), and when the inputs say nothing
    (no period, fewer than two rounds). Otherwise the shortest pause that makes each round
    start an odd multiple of an eighth of a period after the one before: successive rounds
    then step through eight phases half a sampled share apart, a pattern that round-to-round
    jitter does not undo (finer steps were undone by 1% jitter in
    ``benchmarks/energy_error.py``). At most a quarter of a period per round; the pauses'
    idle energy is taken out of the window's figure
    (:meth:`whisperbench.meters.readings.WindowReadings.energy_figures`).
    """
    if period_s <= 0 or round_s <= 0 or rounds < 2 or round_s >= LONG_ROUND_PERIODS * period_s:
        return 0.0
    if _planned(round_s, period_s, rounds) <= max(_PLAN_DISCREPANCY, 2.0 / rounds):
        return 0.0
    step = round_s % period_s
    return min((j * period_s / 8.0 - step) % period_s for j in (1, 3, 5, 7))


def grid_lock_reason(starts_s: Sequence[float], period_s: float | None) -> str | None:
    """``"sampling_grid_lock:..."`` when the rounds that ran started at phases of the counter
    period too uneven for the sensor's partial sampling to average out, else ``None`` (also
    when the period is unknown). Rounds :data:`LONG_ROUND_PERIODS` periods or longer are not
    checked; for few rounds the limit grows (3/rounds): they could not spread evenly anyway."""
    if period_s is None or period_s <= 0 or len(starts_s) < 2:
        return None
    spacing = statistics.median(b - a for a, b in itertools.pairwise(starts_s))
    if spacing >= LONG_ROUND_PERIODS * period_s:
        return None
    found = phase_discrepancy(starts_s, period_s)
    if found <= max(LOCK_DISCREPANCY, 3.0 / len(starts_s)):
        return None
    return (
        f"sampling_grid_lock:round start phases of the {period_s * 1e3:.0f}ms counter period "
        f"uneven (discrepancy {found:.2f}>{LOCK_DISCREPANCY}); change the rounds' length"
    )
