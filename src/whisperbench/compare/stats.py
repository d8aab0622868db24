"""The significance tests behind the gate, one per level of evidence.

Variance lives at several levels (Kalibera & Jones, "Rigorous Benchmarking in Reasonable
Time", ISMM 2013): rounds inside one process share its machine state (neighbours' load,
clocks, heat, memory layout), so two processes of the same code differ by more than their
rounds suggest. A test must therefore work at the level where independent evidence lives:

- :func:`run_level_test`: **several runs (processes) per side**. Each run contributes one
  value (the figure its JSON reports); the test is a one-sided t-test on the log of those
  values (Welch's when both sides have two runs or more; with one run on a side, the other
  side's spread stands for both, a prediction-interval test). Its interval for the ratio
  NEW / BASE is the matching t interval, back-transformed.
- :func:`paired_test`: **interleaved pairs in several process pairs** (``whisperbench ab``:
  rounds A B, B A, A B, ... inside each pair of worker processes, several pairs of
  processes). Pairs measured seconds apart cancel drift; a process's own state (memory
  layout, where it landed) does not cancel inside it, so each process pair contributes one
  value, its mean log ratio, and the test is the one-sided Wilcoxon signed-rank test across
  process pairs, exact (no ties) up to :data:`EXACT_PAIRS_LIMIT`; the estimate is the
  Hodges-Lehmann median of Walsh averages, with the distribution-free interval from the same
  null distribution, so that ``p < alpha`` exactly when the interval excludes no change.
- :func:`shift_test`: one-sided Mann-Whitney U on the **rounds** of one run per side. Kept
  to say what the rounds alone would claim; the gate never decides on it (see
  ``reports/README.md``).

All tests report one-sided p-values in both directions, so the rule can test the direction
the estimate points to. scipy is imported when a test runs, not with this module, so that
loading a comparison (or the pytest plugin) stays light.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_ALPHA",
    "EXACT_PAIRS_LIMIT",
    "ShiftEstimate",
    "ShiftTest",
    "coefficient_of_variation",
    "paired_test",
    "run_level_test",
    "shift_test",
    "signed_rank_null",
    "smallest_p",
]

#: One-sided false-alarm rate per gated comparison (see ``benchmarks/gate_error_rates.py`` for
#: the rates measured on a busy 2-core machine with it).
DEFAULT_ALPHA = 0.01

#: Up to this many process pairs, the exact signed-rank distribution (no ties or zeros).
EXACT_PAIRS_LIMIT = 400

#: Ties in samples this small get the exact permutation distribution (C(n+m, n) <= this).
_EXACT_WITH_TIES_LIMIT = 20_000
#: Samples without ties up to this size get scipy's exact distribution.
_EXACT_SIZE_LIMIT = 100


@dataclass(frozen=True)
class ShiftEstimate:
    """How much NEW differs from BASE, how sure we are, and what it rests on.

    ``change`` is the estimated relative change NEW / BASE - 1 (None when BASE is 0 on an
    additive scale); ``low``/``high`` bound it with confidence 1 - 2 alpha (two-sided), which
    is the one-sided 1 - alpha bound in each direction, so ``low > 0`` exactly when
    ``p_greater < alpha`` (up to ties); a bound is None when the data are too few to reach
    alpha. ``p_greater`` tests "NEW is larger", ``p_less`` "NEW is smaller". ``smallest_p``
    is the least p-value any data of this size could give (0 when unbounded).
    """

    change: float | None
    low: float | None
    high: float | None
    p_greater: float
    p_less: float
    smallest_p: float
    evidence: str  #: "3 vs 3 runs", "20 pairs"
    method: str

    def p(self, larger: bool) -> float:
        """The one-sided p-value for "NEW is larger" (``larger``) or "NEW is smaller"."""
        return self.p_greater if larger else self.p_less


@dataclass(frozen=True)
class ShiftTest:
    """Outcome of testing whether ``later`` is shifted above ``earlier`` (rounds, MWU).

    ``p`` is the one-sided p-value; ``smallest_p`` is the smallest p-value any data of
    these sizes could give (1 / C(n + m, n)).
    """

    p: float
    smallest_p: float
    n_earlier: int
    n_later: int
    method: str


# -- runs: t-test on log run values ------------------------------------------------------------


def run_level_test(base: Sequence[float], new: Sequence[float], alpha: float) -> ShiftEstimate:
    """One-sided t-tests of NEW against BASE on one value per run (process).

    Values are compared on a log scale when all are positive (a ratio, the way slowdowns
    compound), else on their own scale (the change is then relative to BASE's mean). With two
    runs or more on each side, Welch's t (no equal-variance assumption); with one run on one
    side, the other side's variance stands for both (df = its runs - 1).

    Raises ValueError when there is no variance estimate: fewer than 3 runs in all or one
    run per side, or a side without runs.
    """
    n_base, n_new = len(base), len(new)
    if n_base < 1 or n_new < 1 or max(n_base, n_new) < 2:
        raise ValueError(f"{n_base} vs {n_new} runs: need two runs on at least one side")
    from scipy.stats import t as student

    log = all(v > 0 for v in (*base, *new))
    xs = [math.log(v) for v in base] if log else list(base)
    ys = [math.log(v) for v in new] if log else list(new)
    diff = statistics.fmean(ys) - statistics.fmean(xs)
    if n_base >= 2 and n_new >= 2:
        var_b, var_n = statistics.variance(xs), statistics.variance(ys)
        se = math.sqrt(var_b / n_base + var_n / n_new)
        df = _welch_df(var_b, n_base, var_n, n_new)
        method = "Welch t on log run values" if log else "Welch t on run values"
    else:
        wide = xs if n_base >= 2 else ys
        se = statistics.stdev(wide) * math.sqrt(1 / n_base + 1 / n_new)
        df = float(len(wide) - 1)
        side = "BASE" if n_base >= 2 else "NEW"
        method = f"t on {'log ' if log else ''}run values, {side}'s spread for both"
    if se == 0:
        p_greater = 0.0 if diff > 0 else 1.0
        p_less = 0.0 if diff < 0 else 1.0
        low = high = diff
    else:
        statistic = diff / se
        p_greater = float(student.sf(statistic, df))
        p_less = float(student.cdf(statistic, df))
        margin = float(student.ppf(1 - alpha, df)) * se
        low, high = diff - margin, diff + margin
    evidence = f"{n_base} vs {n_new} runs"
    if log:
        change, low_c, high_c = math.expm1(diff), math.expm1(low), math.expm1(high)
        return ShiftEstimate(change, low_c, high_c, p_greater, p_less, 0.0, evidence, method)
    scale = abs(statistics.fmean(xs))
    if scale == 0:
        return ShiftEstimate(None, None, None, p_greater, p_less, 0.0, evidence, method)
    return ShiftEstimate(
        diff / scale, low / scale, high / scale, p_greater, p_less, 0.0, evidence, method
    )


def _welch_df(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom (the larger side's n - 1 when both are 0)."""
    a, b = var_a / n_a, var_b / n_b
    if a + b == 0:
        return float(max(n_a, n_b) - 1)
    return (a + b) ** 2 / (a**2 / (n_a - 1) + b**2 / (n_b - 1))


# -- pairs: Wilcoxon signed-rank on log pair ratios --------------------------------------------


def signed_rank_null(n: int) -> list[float]:
    """P(T+ = s) for s = 0 .. n(n+1)/2 under H0: the signed-rank statistic of ``n`` pairs
    with no ties or zeros (each rank's sign a fair coin). Raises ValueError for n < 0."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    import numpy as np

    dist = np.zeros(n * (n + 1) // 2 + 1)
    dist[0] = 1.0
    top = 0
    for rank in range(1, n + 1):
        shifted = np.zeros_like(dist)
        shifted[rank : top + rank + 1] = dist[: top + 1]
        dist = 0.5 * (dist + shifted)
        top += rank
    return [float(value) for value in dist]


def paired_test(
    processes: Sequence[tuple[Sequence[float], Sequence[float]]], alpha: float
) -> ShiftEstimate:
    """One-sided Wilcoxon signed-rank tests across process pairs of an interleaved A/B run.

    ``processes[k]`` holds process pair ``k``'s values of BASE and of NEW, paired by
    position (its interleaved rounds, or its one reading each). Each process pair gives one
    difference: the mean log ratio of its pairs when every value is positive, else the mean
    difference (the change is then relative to BASE's mean). Those differences are
    independent and, when nothing changed, symmetric about 0 (the order A B / B A
    alternates), which is what the signed-rank test needs; the rounds inside one process
    are not independent of each other (they share its memory layout and machine state).
    Raises ValueError for no process pairs or a pair whose sides differ in length.
    """
    if not processes:
        raise ValueError("no process pairs")
    for base, new in processes:
        if len(base) != len(new) or not base:
            raise ValueError(
                f"paired samples differ in length or are empty: {len(base)} vs {len(new)}"
            )
    log = all(v > 0 for base, new in processes for v in (*base, *new))
    diffs = [
        statistics.fmean(
            math.log(n) - math.log(b) if log else n - b for b, n in zip(base, new, strict=True)
        )
        for base, new in processes
    ]
    sizes = {len(base) for base, _ in processes}
    each = (
        " (pairs vary)"
        if len(sizes) > 1
        else " (one reading each)"
        if sizes == {1}
        else f" x {sizes.pop()} pairs"
    )
    evidence = f"{len(processes)} process pair{'s' if len(processes) > 1 else ''}{each}"
    center, low, high, p_greater, p_less, floor, exact = _signed_rank(diffs, alpha)
    method = (
        f"Wilcoxon signed-rank ({'exact' if exact else 'normal approx.'}) on each process "
        f"pair's mean {'log ratio' if log else 'difference'}"
    )
    if log:
        return ShiftEstimate(
            math.expm1(center),
            None if low is None else math.expm1(low),
            None if high is None else math.expm1(high),
            p_greater,
            p_less,
            floor,
            evidence,
            method,
        )
    scale = abs(statistics.fmean(v for base, _ in processes for v in base))
    if scale == 0:
        return ShiftEstimate(None, None, None, p_greater, p_less, floor, evidence, method)
    return ShiftEstimate(
        center / scale,
        None if low is None else low / scale,
        None if high is None else high / scale,
        p_greater,
        p_less,
        floor,
        evidence,
        method,
    )


def _signed_rank(
    diffs: Sequence[float], alpha: float
) -> tuple[float, float | None, float | None, float, float, float, bool]:
    """Hodges-Lehmann centre, its 1 - 2 alpha bounds (None: too few to reach alpha), the
    one-sided p-values (greater, less), the smallest possible p, and whether it was exact."""
    n = len(diffs)
    walsh = sorted((diffs[i] + diffs[j]) / 2 for i in range(n) for j in range(i, n))
    center = statistics.median(walsh)
    nonzero = [d for d in diffs if d != 0]
    ranks = _midranks([abs(d) for d in nonzero])
    tied = len(set(ranks)) < len(ranks) or len(nonzero) < n
    exact = not tied and n <= EXACT_PAIRS_LIMIT
    if exact:
        null = signed_rank_null(n)
        t_plus = round(sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0))
        p_greater = math.fsum(null[t_plus:])
        p_less = math.fsum(null[: t_plus + 1])
        critical = _critical_count(null, alpha)
    else:
        p_greater, p_less = _signed_rank_normal(nonzero, ranks)
        critical = _critical_count_normal(n, alpha)
    total = len(walsh)
    bounded = critical <= total  # too few to reach alpha: no bound either way
    low = walsh[total - critical] if bounded else None
    high = walsh[critical - 1] if bounded else None
    return center, low, high, p_greater, p_less, 0.5**n, exact


def _midranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n of ``values``, ties given their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def _critical_count(null: Sequence[float], alpha: float) -> int:
    """The least c with P(T+ >= c) < alpha (len(null) when no c reaches it)."""
    tail = 0.0
    for count in range(len(null) - 1, -1, -1):
        if tail + null[count] >= alpha:
            return count + 1
        tail += null[count]
    return 0


def _signed_rank_normal(nonzero: Sequence[float], ranks: Sequence[float]) -> tuple[float, float]:
    from scipy.stats import norm

    m = len(nonzero)
    if m == 0:
        return 1.0, 1.0
    t_plus = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    mean = m * (m + 1) / 4
    counts: dict[float, int] = {}
    for rank in ranks:
        counts[rank] = counts.get(rank, 0) + 1
    variance = m * (m + 1) * (2 * m + 1) / 24 - sum(c**3 - c for c in counts.values()) / 48
    if variance <= 0:
        return 1.0, 1.0
    sd = math.sqrt(variance)
    return (
        float(norm.sf((t_plus - mean - 0.5) / sd)),
        float(norm.cdf((t_plus - mean + 0.5) / sd)),
    )


def _critical_count_normal(n: int, alpha: float) -> int:
    from scipy.stats import norm

    mean = n * (n + 1) / 4
    sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    return math.ceil(mean + 0.5 + float(norm.isf(alpha)) * sd)


# -- rounds of one run per side: Mann-Whitney U ------------------------------------------------


def smallest_p(n: int, m: int) -> float:
    """The least one-sided Mann-Whitney p-value for samples of sizes n and m."""
    if n < 1 or m < 1:
        return 1.0
    return 1.0 / math.comb(n + m, n)


def shift_test(earlier: Sequence[float], later: Sequence[float]) -> ShiftTest:
    """One-sided Mann-Whitney U: is ``later`` stochastically greater than ``earlier``?

    Exact p-values without ties up to 100 rounds a side and with ties for small samples;
    otherwise the normal approximation with tie and continuity corrections.
    Raises ValueError on empty samples.
    """
    if not earlier or not later:
        raise ValueError("both samples need at least one value")
    n, m = len(later), len(earlier)
    floor = smallest_p(n, m)
    if len(set(earlier) | set(later)) == 1:
        return ShiftTest(1.0, floor, m, n, "all rounds equal")
    has_ties = len(set(earlier)) + len(set(later)) < n + m or bool(set(earlier) & set(later))
    if has_ties and math.comb(n + m, n) <= _EXACT_WITH_TIES_LIMIT:
        return ShiftTest(_exact_with_ties(earlier, later), floor, m, n, "exact (ties)")
    from scipy.stats import mannwhitneyu

    if not has_ties and max(n, m) <= _EXACT_SIZE_LIMIT:
        result = mannwhitneyu(later, earlier, alternative="greater", method="exact")
        name = "exact"
    else:
        result = mannwhitneyu(later, earlier, alternative="greater", method="asymptotic")
        name = "normal approx."
    return ShiftTest(float(result.pvalue), floor, m, n, name)


def _exact_with_ties(earlier: Sequence[float], later: Sequence[float]) -> float:
    """Exact conditional p-value: the share of all splits of the pooled mid-ranks whose
    rank sum for ``later`` is at least the observed one (U is that sum minus a constant)."""
    from scipy.stats import rankdata

    ranks = [float(r) for r in rankdata([*earlier, *later])]
    observed = sum(ranks[len(earlier) :])
    at_least = total = 0
    for split in itertools.combinations(ranks, len(later)):
        total += 1
        at_least += sum(split) >= observed - 1e-9
    return at_least / total


def coefficient_of_variation(samples: Sequence[float]) -> float | None:
    """stdev / |mean| (None for fewer than 2 samples or a zero mean)."""
    if len(samples) < 2:
        return None
    mean = statistics.fmean(samples)
    return statistics.stdev(samples) / abs(mean) if mean else None
