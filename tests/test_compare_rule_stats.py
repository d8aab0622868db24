"""The gate's statistics: known p-values on both sides of alpha, false alarms within alpha,
real regressions caught, and evidence counted where it lives (runs, process pairs).

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
    ONE_RUN_PER_SIDE,
    Threshold,
    Verdict,
    decide,
    parse_fail_spec,
    parse_threshold,
)
from whisperbench.compare.stats import (
    DEFAULT_ALPHA,
    paired_test,
    run_level_test,
    shift_test,
    signed_rank_null,
    smallest_p,
)
from whisperbench.runs import Benchmark

AUDIO_S = 5.0
RTF = METRICS["rtf"]
FIVE_PERCENT = Threshold(5.0, relative=True)
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


def runs(rtfs: list[float]) -> list[Benchmark]:
    """One benchmark per run, each run's RTF as given (5 equal rounds)."""
    return [bench([rtf * AUDIO_S] * 5) for rtf in rtfs]


def sf_t4(statistic: float) -> float:
    """P(T > statistic) for Student's t with 4 degrees of freedom, in closed form."""
    u = statistic / math.sqrt(4 + statistic**2)
    return 0.5 - 0.75 * u * (1 - u**2 / 3)


# -- known p-values, both sides of alpha --------------------------------------------------------


@pytest.mark.parametrize(
    ("statistic", "verdict"), [(3.8, Verdict.REGRESSION), (3.7, Verdict.INCONCLUSIVE)]
)
def test_runs_known_p_on_both_sides_of_alpha(statistic: float, verdict: Verdict) -> None:
    """3 vs 3 runs whose log values spread by d on each side: Welch's t has df = 4 exactly and
    t = c / sqrt(2 d^2 / 3); t = 3.8 gives p = 0.00955 < 0.01, t = 3.7 gives p = 0.01042."""
    d = 0.02
    shift = statistic * math.sqrt(2 * d**2 / 3)
    base = runs([0.1 * math.exp(-d), 0.1, 0.1 * math.exp(d)])
    new = runs([0.1 * math.exp(shift + k * d) for k in (-1, 0, 1)])
    decision = decide(RTF, base, new, FIVE_PERCENT, DEFAULT_ALPHA)
    assert decision.p == pytest.approx(sf_t4(statistic), rel=1e-9)
    assert (decision.p < DEFAULT_ALPHA) is (statistic == 3.8)
    assert decision.verdict is verdict
    assert decision.test == "3 vs 3 runs"
    assert decision.estimate == pytest.approx(math.expm1(shift))
    assert decision.low is not None
    assert (decision.low > 0) is (statistic == 3.8)  # the interval agrees with the test


#: Distinct slowdowns (no ties in the ranks, so the exact distribution applies).
SLOWER = [1.20 + 0.01 * k for k in range(7)]


@pytest.mark.parametrize(
    ("ratios", "p", "verdict"),
    [
        (SLOWER[:7], 1 / 128, Verdict.REGRESSION),  # T+ = 28 of 28: p = 1/2^7
        (SLOWER[:6], 1 / 64, Verdict.INCONCLUSIVE),  # 6 process pairs can never reach 0.01
        ([*SLOWER[:6], 1 / 1.01], 2 / 128, Verdict.INCONCLUSIVE),  # T+ = 27: p = 2/128
    ],
)
def test_process_pairs_known_p_on_both_sides_of_alpha(
    ratios: list[float], p: float, verdict: Verdict
) -> None:
    """A/B: each process pair's rounds slower by its ratio; the signed-rank test across
    process pairs has an exact, known p."""
    base = [bench([0.4, 0.41, 0.39]) for _ in ratios]
    new = [bench([r * 0.4, r * 0.41, r * 0.39]) for r in ratios]
    decision = decide(RTF, base, new, FIVE_PERCENT, DEFAULT_ALPHA, paired=True)
    assert decision.p == pytest.approx(p)
    assert decision.verdict is verdict
    assert decision.test.startswith(f"{len(ratios)} process pairs x 3 pairs")
    loose = decide(RTF, base, new, FIVE_PERCENT, 0.02, paired=True)
    assert loose.verdict is (Verdict.REGRESSION if p < 0.02 else Verdict.INCONCLUSIVE)


def test_signed_rank_null_distribution_is_the_known_one() -> None:
    # n = 3: T+ takes 0..6 with counts 1, 1, 1, 2, 1, 1, 1 over 2^3 sign patterns.
    assert signed_rank_null(3) == pytest.approx([c / 8 for c in (1, 1, 1, 2, 1, 1, 1)])
    assert sum(signed_rank_null(20)) == pytest.approx(1.0)
    assert signed_rank_null(10)[-1] == pytest.approx(2.0**-10)


def test_hodges_lehmann_estimate_and_exact_interval() -> None:
    """Five process pairs with log ratios 1..5 %: Walsh averages' median is 3 %; with
    alpha = 1/32 + tiny, the 1-2 alpha bounds are the extreme Walsh averages."""
    logs = [0.01, 0.02, 0.03, 0.04, 0.05]
    processes = [([1.0], [math.exp(v)]) for v in logs]
    result = paired_test(processes, alpha=0.0313)
    assert result.change == pytest.approx(math.expm1(0.03))
    assert result.p_greater == pytest.approx(1 / 32)
    assert result.low == pytest.approx(math.expm1(0.01))
    assert result.high == pytest.approx(math.expm1(0.05))
    assert paired_test(processes, alpha=0.03).low is None  # 5 pairs cannot reach 0.03


# -- evidence at the level where the noise lives ------------------------------------------------


def test_one_run_per_side_is_untested_and_says_what_rounds_alone_claim() -> None:
    """The false alarm the issue reports: rounds of one process are not independent
    evidence, so 1 vs 1 runs beyond the threshold is untested, not a regression."""
    base = bench([0.40, 0.41, 0.40, 0.41, 0.40])
    new = bench([0.46, 0.47, 0.46, 0.47, 0.46])  # +15 %, fully separated rounds
    decision = decide(RTF, base, new, TEN_PERCENT, DEFAULT_ALPHA)
    assert decision.verdict is Verdict.UNTESTED
    assert decision.test == "1 vs 1 run"
    assert ONE_RUN_PER_SIDE in decision.reason
    assert f"its rounds alone would give p={1 / 252:.2g}" in decision.reason
    row = Row((base,), (new,), RTF, TEN_PERCENT, gated=True, decision=decision)
    assert not row.fails(CompareOptions())
    assert row.fails(CompareOptions(fail_without_samples=True))


def test_one_reading_metrics_are_tested_across_runs() -> None:
    """Energy over one window is one value per run: untested with one run per side, tested
    with several."""

    def energy(value: float) -> Benchmark:
        return bench([0.4] * 5, j_per_audio_s=value, energy_valid=True)

    metric = METRICS["j_per_audio_s"]
    single = decide(metric, energy(10.0), energy(12.0), TEN_PERCENT, DEFAULT_ALPHA)
    assert single.verdict is Verdict.UNTESTED
    several = decide(
        metric,
        [energy(v) for v in (10.0, 10.1, 9.9)],
        [energy(v) for v in (12.0, 12.1, 11.9)],
        TEN_PERCENT,
        DEFAULT_ALPHA,
    )
    assert several.verdict is Verdict.REGRESSION
    assert several.test == "3 vs 3 runs"


def test_two_base_runs_against_this_one_use_the_base_spread() -> None:
    """The pytest gate's case: a baseline of several runs against this one run."""
    decision = decide(RTF, runs([0.100, 0.102, 0.098]), runs([0.130]), TEN_PERCENT, DEFAULT_ALPHA)
    assert decision.verdict is Verdict.REGRESSION
    assert decision.test == "3 vs 1 runs"
    assert "BASE's spread for both" in decision.method


def test_beyond_threshold_but_not_significant_is_inconclusive() -> None:
    base, new = runs([0.10, 0.13, 0.08]), runs([0.12, 0.09, 0.14])  # +5 % geometric, noisy
    decision = decide(RTF, base, new, Threshold(2.0, relative=True), DEFAULT_ALPHA)
    assert decision.verdict is Verdict.INCONCLUSIVE
    assert decision.p is not None
    assert decision.p >= DEFAULT_ALPHA
    assert "not significant: p=" in decision.reason
    assert "noisy: BASE runs spread" in decision.reason


def test_significant_but_below_threshold_is_same() -> None:
    base, new = runs([0.1000, 0.1001, 0.0999]), runs([0.1050, 0.1051, 0.1049])  # +5 %
    decision = decide(RTF, base, new, TEN_PERCENT, DEFAULT_ALPHA)
    assert decision.verdict is Verdict.SAME
    assert decision.p is not None
    assert decision.p < 1e-4
    assert decision.reason.startswith("within 10% (p=")


def test_absolute_threshold_in_metric_units() -> None:
    base, new = runs([0.080, 0.081, 0.082]), runs([0.100, 0.101, 0.102])
    # RTF 0.0810 -> 0.1010 (geometric means): +0.02 beyond an absolute 0.015, within 0.025.
    assert decide(RTF, base, new, Threshold(0.015, False), DEFAULT_ALPHA).verdict is (
        Verdict.REGRESSION
    )
    assert decide(RTF, base, new, Threshold(0.025, False), DEFAULT_ALPHA).verdict is Verdict.SAME


def test_side_values_are_geometric_means_of_the_runs() -> None:
    decision = decide(RTF, runs([0.1, 0.4]), runs([0.2, 0.2]), ANY_CHANGE, DEFAULT_ALPHA)
    assert decision.base == pytest.approx(0.2)  # sqrt(0.1 * 0.4)
    assert decision.new == pytest.approx(0.2)
    assert decision.change == pytest.approx(0.0)


def test_higher_is_better_metric_reads_the_other_way() -> None:
    base, new = runs([0.100, 0.101, 0.099]), runs([0.075, 0.076, 0.074])
    decision = decide(METRICS["rtfx"], base, new, TEN_PERCENT, DEFAULT_ALPHA)
    assert decision.verdict is Verdict.IMPROVEMENT  # faster: more audio seconds per second
    assert decision.change is not None
    assert decision.change > 0.3


def test_missing_gated_metric_in_new_fails_unless_allowed() -> None:
    base = bench([0.4] * 5, wer=0.05)
    new = bench([0.4] * 5, wer=None)
    decision = decide(METRICS["wer"], base, new, TEN_PERCENT, DEFAULT_ALPHA)
    assert decision.verdict is Verdict.UNAVAILABLE
    assert decision.reason == "NEW: wer not recorded"
    row = Row((base,), (new,), METRICS["wer"], TEN_PERCENT, gated=True, decision=decision)
    assert row.fails(CompareOptions())
    assert not row.fails(CompareOptions(allow_missing=True))
    # Missing only from BASE (a metric NEW adds) is no failure.
    flipped = decide(METRICS["wer"], new, base, TEN_PERCENT, DEFAULT_ALPHA)
    assert not Row((new,), (base,), METRICS["wer"], TEN_PERCENT, True, flipped).fails(
        CompareOptions()
    )


# -- error rates on simulated processes (the measured ones: benchmarks/gate_error_rates.py) --


def noise(rng: np.random.Generator, shape: str, cv: float, n: int) -> np.ndarray:
    if shape == "normal":
        return rng.normal(1.0, cv, n)
    if shape == "lognormal":
        return rng.lognormal(0.0, cv, n)
    return 1.0 + cv * rng.standard_t(3, n) / math.sqrt(3)  # heavy tails, like a GPU's hiccups


def process(rng: np.random.Generator, shape: str, run_cv: float, scale: float = 1.0) -> Benchmark:
    """One process: its own offset (run_cv), then 5 rounds around it (2 %)."""
    offset = abs(noise(rng, shape, run_cv, 1)[0])
    return bench(list(0.4 * scale * offset * rng.lognormal(0.0, 0.02, 5)))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_runs=st.integers(2, 6),
    run_cv=st.floats(0.01, 0.15),
    shape=st.sampled_from(["normal", "lognormal", "heavy"]),
)
def test_same_code_false_alarms_stay_within_alpha(
    seed: int, n_runs: int, run_cv: float, shape: str
) -> None:
    """400 A/A comparisons of n vs n processes, each process with its own offset: called
    regressions at most alpha + 2 % of the time, with a 0 % threshold (only the test stands
    between noise and a failure). A rounds-only test would fail most of them."""
    rng = np.random.default_rng(seed)
    alarms = 0
    for _ in range(400):
        base = [process(rng, shape, run_cv) for _ in range(n_runs)]
        new = [process(rng, shape, run_cv) for _ in range(n_runs)]
        alarms += decide(RTF, base, new, ANY_CHANGE, DEFAULT_ALPHA).verdict is Verdict.REGRESSION
    assert alarms / 400 <= DEFAULT_ALPHA + 0.02


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), process_cv=st.floats(0.0, 0.06))
def test_paired_false_alarms_stay_within_alpha(seed: int, process_cv: float) -> None:
    """A/A through ab: 10 process pairs of 3 interleaved pairs, each worker with its own
    offset; the rank test across process pairs is exact under symmetry."""
    rng = np.random.default_rng(seed)
    alarms = 0
    for _ in range(300):
        base, new = [], []
        for _ in range(10):
            drift = rng.lognormal(0.0, 0.05, 3)  # shared by both rounds of a pair
            base.append(bench(list(0.4 * drift * rng.lognormal(0.0, process_cv + 0.01, 1))))
            new.append(bench(list(0.4 * drift * rng.lognormal(0.0, process_cv + 0.01, 1))))
        verdict = decide(RTF, base, new, ANY_CHANGE, DEFAULT_ALPHA, paired=True).verdict
        alarms += verdict is Verdict.REGRESSION
    assert alarms / 300 <= DEFAULT_ALPHA + 0.025


def test_a_clear_20_percent_regression_over_three_runs_fails() -> None:
    rng = np.random.default_rng(5)
    base = [process(rng, "lognormal", 0.02) for _ in range(3)]
    new = [process(rng, "lognormal", 0.02, scale=1.2) for _ in range(3)]
    for metric in (RTF, METRICS["rtfx"], METRICS["inference_s"], METRICS["time"]):
        decision = decide(metric, base, new, TEN_PERCENT, DEFAULT_ALPHA)
        assert decision.verdict is Verdict.REGRESSION, (metric.name, decision)
        assert decision.worse is True


def test_run_level_test_needs_a_spread() -> None:
    with pytest.raises(ValueError, match="1 vs 1 runs: need two runs on at least one side"):
        run_level_test([1.0], [1.1], DEFAULT_ALPHA)


# -- the rounds test kept for the record ---------------------------------------------------------


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


@given(
    diffs=st.lists(st.floats(-0.5, 0.5, allow_nan=False), min_size=1, max_size=15),
    alpha=st.sampled_from([0.01, 0.05, 0.1]),
)
def test_paired_interval_agrees_with_its_test(diffs: list[float], alpha: float) -> None:
    """The lower bound is above no change exactly when p < alpha (no ties or zeros)."""
    values = [round(d, 6) for d in diffs]
    if len({abs(v) for v in values}) < len(values) or 0.0 in values:
        return  # ties or zeros: the normal approximation, where the two may differ
    result = paired_test([([1.0], [math.exp(v)]) for v in values], alpha)
    if result.low is not None:
        assert (result.low > 0) is (result.p_greater < alpha)
    else:
        assert result.p_greater >= alpha


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


def test_values_below_zero_are_compared_on_their_own_scale() -> None:
    """Energy above idle can be negative (a window quieter than the idle sample): no log,
    the change is relative to BASE's magnitude and its direction stays right."""
    metric = METRICS["energy_above_idle_j"]

    def window(value: float) -> Benchmark:
        return bench([0.4] * 5, energy_above_idle_j=value, energy_valid=True)

    base = [window(v) for v in (-1.0, -1.1, -0.9)]
    lower = [window(v) for v in (-2.0, -2.1, -1.9)]
    decision = decide(metric, base, lower, TEN_PERCENT, DEFAULT_ALPHA)
    assert decision.verdict is Verdict.IMPROVEMENT  # lower energy is better
    assert decision.change == pytest.approx(-1.0)
    assert "Welch t on run values" in decision.method
    assert decide(metric, lower, base, TEN_PERCENT, DEFAULT_ALPHA).verdict is Verdict.REGRESSION
