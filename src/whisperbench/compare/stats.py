"""The significance test behind the gate: one-sided Mann-Whitney U on per-round samples.

Like asv (``asv/statistics.py``: ``is_different``), the test is rank-based, so it assumes
no distribution for the rounds, and it is skipped when the sample sizes cannot reach the
chosen alpha even with perfectly separated samples. Unlike asv, it is one-sided (the gate
asks "is NEW worse?", or "is NEW better?", never "different?") and ties are handled by
the exact permutation distribution for small samples instead of asv's pessimistic
tie-breaking.

scipy is imported when a test runs, not with this module, so that loading a comparison (or
the pytest plugin) stays light.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_ALPHA", "ShiftTest", "coefficient_of_variation", "shift_test", "smallest_p"]

#: One-sided false-alarm rate per comparison. asv uses p < 0.002 two-sided; rounds on a GPU
#: are costly and pytest-benchmark's default is 5 of them: 5 vs 5 rounds reach p = 1/252.
DEFAULT_ALPHA = 0.01

#: Ties in samples this small get the exact permutation distribution (C(n+m, n) <= this).
_EXACT_WITH_TIES_LIMIT = 20_000
#: Samples without ties up to this size get scipy's exact distribution.
_EXACT_SIZE_LIMIT = 100


@dataclass(frozen=True)
class ShiftTest:
    """Outcome of testing whether ``later`` is shifted above ``earlier``.

    ``p`` is the one-sided p-value; ``smallest_p`` is the smallest p-value any data of
    these sizes could give (1 / C(n + m, n)).
    """

    p: float
    smallest_p: float
    n_earlier: int
    n_later: int
    method: str


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
