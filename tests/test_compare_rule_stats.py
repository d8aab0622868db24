"""The gate's statistics: false alarms stay within alpha, real regressions are caught.

Benchmarks are built in memory from per-round samples (``rounds_inference_s``), the way
the suite records them, and judged with :func:`whisperbench.compare.rule.decide`.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whisperbench.compare.comparison import CompareOptions, Row
from whisperbench.compare.metrics import METRICS
from whisperbench.compare.rule import (
    Threshold,
    Verdict,
    decide,
    parse_fail_spec,
    parse_threshold,
)
from whisperbench.compare.stats import DEFAULT_ALPHA, shift_test, smallest_p
from whisperbench.runs import Benchmark

AUDIO_S = 5.0
RTF = METRICS["rtf"]
TEN_PERCENT = Threshold(10.0, relative=True)
ANY_CHANGE = Threshold(0.0, relative=True)


def bench(rounds: list[float], **extra: Any) -> Benchmark:
    """A whisperbench benchmark whose per-round inference seconds are ``rounds``."""
    seconds = [float(r) for r in rounds]
    info = {
        "schema_version": 1,
        "audio_s": AUDIO_S,
        "inference_s": statistics.fmean(seconds),
        "rounds_inference_s": seconds,
        "rtf": float(sum(rounds)) / (AUDIO_S * len(rounds)),
        "rtfx": AUDIO_S * len(rounds) / float(sum(rounds)),
        **extra,
    }
    stats = {"data": seconds, "median": statistics.median(seconds)}
    return Benchmark("t[x]", "b.py::t[x]", {}, None, stats, info, "synthetic")


def noise(rng: np.random.Generator, shape: str, cv: float, n: int) -> np.ndarray:
    if shape == "normal":
        return rng.normal(1.0, cv, n)
    if shape == "lognormal":
        return rng.lognormal(0.0, cv, n)
    return 1.0 + cv * rng.standard_t(3, n) / math.sqrt(3)  # heavy tails, like a GPU's hiccups


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    rounds=st.integers(5, 20),
    cv=st.floats(0.005, 0.2),
    shape=st.sampled_from(["normal", "lognormal", "heavy"]),
)
def test_same_distribution_false_alarms_stay_within_alpha(
    seed: int, rounds: int, cv: float, shape: str
) -> None:
    """500 pairs of runs of the same code: regressions called at most alpha + 2 % of the time.

    The threshold is 0 % so the significance test alone stands between noise and a failure.
    """
    rng = np.random.default_rng(seed)
    draws = 500
    alarms = 0
    for _ in range(draws):
        base = bench(list(0.4 * noise(rng, shape, cv, rounds)))
        new = bench(list(0.4 * noise(rng, shape, cv, rounds)))
        alarms += decide(RTF, base, new, ANY_CHANGE, DEFAULT_ALPHA).verdict is Verdict.REGRESSION
    assert alarms / draws <= DEFAULT_ALPHA + 0.02


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    cv=st.floats(0.0, 0.05),
    shape=st.sampled_from(["normal", "lognormal"]),
)
def test_a_clear_20_percent_regression_with_15_rounds_always_fails(
    seed: int, cv: float, shape: str
) -> None:
    rng = np.random.default_rng(seed)
    base = bench(list(0.4 * noise(rng, shape, cv, 15)))
    new = bench(list(0.48 * noise(rng, shape, cv, 15)))
    for metric in (RTF, METRICS["rtfx"], METRICS["inference_s"], METRICS["time"]):
        decision = decide(metric, base, new, TEN_PERCENT, DEFAULT_ALPHA)
        assert decision.verdict is Verdict.REGRESSION, (metric.name, decision)
        assert decision.worse is True
        assert decision.p is not None
        assert decision.p < DEFAULT_ALPHA


def test_beyond_threshold_but_not_significant_is_inconclusive() -> None:
    base = bench([0.40, 0.52, 0.36, 0.50, 0.44])
    new = bench([0.47, 0.58, 0.40, 0.55, 0.43])  # +9.7 % mean, ranks interleaved
    decision = decide(RTF, base, new, Threshold(5.0, relative=True), DEFAULT_ALPHA)
    assert decision.verdict is Verdict.INCONCLUSIVE
    assert decision.p is not None
    assert decision.p >= DEFAULT_ALPHA
    assert "not significant: p=" in decision.reason
    row = Row(base, new, RTF, TEN_PERCENT, gated=True, decision=decision)
    assert not row.fails(CompareOptions(fail_without_samples=True))


def test_too_few_rounds_can_never_be_significant() -> None:
    base, new = bench([0.40, 0.41, 0.40]), bench([0.60, 0.61, 0.62])  # +50 %, fully separated
    decision = decide(RTF, base, new, TEN_PERCENT, DEFAULT_ALPHA)
    assert decision.verdict is Verdict.INCONCLUSIVE
    assert decision.p == pytest.approx(0.05)
    assert "3 vs 3 rounds cannot reach alpha=0.01 (best possible p=0.05)" in decision.reason


def test_significant_but_below_threshold_is_same() -> None:
    rng = np.random.default_rng(7)
    base = bench(list(0.40 * rng.normal(1, 0.002, 15)))
    new = bench(list(0.42 * rng.normal(1, 0.002, 15)))  # +5 %, p tiny
    decision = decide(RTF, base, new, TEN_PERCENT, DEFAULT_ALPHA)
    assert decision.verdict is Verdict.SAME
    assert decision.p is not None
    assert decision.p < 1e-6
    assert decision.reason.startswith("within 10% (p=")


def test_absolute_threshold_in_metric_units() -> None:
    base, new = bench([0.40] * 8 + [0.41] * 7), bench([0.50] * 8 + [0.51] * 7)
    # RTF 0.0810 -> 0.1010: +0.02 beyond an absolute 0.015, within an absolute 0.025.
    assert decide(RTF, base, new, Threshold(0.015, False), DEFAULT_ALPHA).verdict is (
        Verdict.REGRESSION
    )
    assert decide(RTF, base, new, Threshold(0.025, False), DEFAULT_ALPHA).verdict is Verdict.SAME


def test_one_reading_metrics_are_never_called_significant() -> None:
    base = bench([0.4] * 15, j_per_audio_s=10.0, energy_valid=True)
    new = bench([0.4] * 15, j_per_audio_s=20.0, energy_valid=True)
    decision = decide(METRICS["j_per_audio_s"], base, new, TEN_PERCENT, DEFAULT_ALPHA)
    assert decision.verdict is Verdict.NO_SAMPLES
    assert decision.p is None
    assert decision.worse is True
    row = Row(base, new, METRICS["j_per_audio_s"], TEN_PERCENT, gated=True, decision=decision)
    assert not row.fails(CompareOptions())
    assert row.fails(CompareOptions(fail_without_samples=True))


def test_higher_is_better_metric_reads_the_other_way() -> None:
    base, new = (
        bench([0.40 + 0.001 * i for i in range(15)]),
        bench([0.30 + 0.001 * i for i in range(15)]),
    )
    decision = decide(METRICS["rtfx"], base, new, TEN_PERCENT, DEFAULT_ALPHA)
    assert decision.verdict is Verdict.IMPROVEMENT  # faster: more audio seconds per second
    assert decision.change is not None
    assert decision.change > 0.3


@given(
    earlier=st.lists(st.floats(0.01, 10.0), min_size=1, max_size=12),
    later=st.lists(st.floats(0.01, 10.0), min_size=1, max_size=12),
)
def test_p_value_lies_between_the_best_possible_and_one(
    earlier: list[float], later: list[float]
) -> None:
    result = shift_test(earlier, later)
    assert result.smallest_p - 1e-12 <= result.p <= 1.0 + 1e-12


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_fully_separated_samples_reach_the_smallest_p(n: int) -> None:
    earlier = [1.0 + i for i in range(n)]
    later = [100.0 + i for i in range(n)]
    assert shift_test(earlier, later).p == pytest.approx(smallest_p(n, n))
    assert smallest_p(n, n) == pytest.approx(1 / math.comb(2 * n, n))


@given(amount=st.floats(0, 1000, allow_nan=False), percent=st.booleans())
def test_threshold_parsing_round_trips(amount: float, percent: bool) -> None:
    text = f"{amount!r}{'%' if percent else ''}"
    threshold = parse_threshold(text)
    assert threshold == Threshold(amount, relative=percent)


@given(text=st.text(max_size=12))
def test_threshold_parsing_fails_only_with_value_error(text: str) -> None:
    try:
        threshold = parse_threshold(text)
    except ValueError as exc:
        message = str(exc)
        assert "\n" not in message
    else:
        assert threshold.amount >= 0
        assert math.isfinite(threshold.amount)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("rtf:10%", ("rtf", Threshold(10.0, True))),
        ("wer:0.02", ("wer", Threshold(0.02, False))),
        (" j_per_audio_s : 5 % ", ("j_per_audio_s", Threshold(5.0, True))),
    ],
)
def test_fail_spec_parsing(spec: str, expected: tuple[str, Threshold]) -> None:
    assert parse_fail_spec(spec) == expected
