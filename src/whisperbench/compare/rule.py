"""The gate's rule: when is a change between two benchmarks a regression?

A change is called a **regression** only when both hold (asv ``compare``, pyperf
``compare_to``):

1. its estimate is larger than the metric's threshold, in the metric's worse direction: a
   percentage of the base value (``10%``) or an absolute amount in the metric's unit
   (``0.02``);
2. it is statistically significant at the level where independent evidence lives
   (:mod:`whisperbench.compare.stats`): p < alpha (default 0.01, one-sided) from

   - **pairs** (``whisperbench ab``: rounds of A and B interleaved in several pairs of worker
     processes): Wilcoxon signed-rank across process pairs on each one's mean log ratio;
   - **runs** (several processes on at least one side, three in all): a t-test on the log
     of each run's value;
   - never from the rounds of one run per side: rounds share their process's machine
     state, so they cannot tell a change from run-to-run noise. One run per side, beyond
     the threshold, is **untested** (what the rounds alone would claim is shown).

Otherwise, beyond the threshold:

- **inconclusive** when the test does not reach alpha, including when the process pairs are
  too few for any data to reach it (6 process pairs: p >= 1/64);
- **untested** when there is nothing to test (one run per side); the gate fails on these
  only when asked to (``--fail-without-samples``);
- ``exact`` metrics (allocator bytes, WER) have no sampling noise: the threshold decides.

The mirror image (better by more than the threshold, significant) is an **improvement**.
Within the threshold the verdict is **same**, whatever the p-value. A value missing from
either side is **unavailable**, with the reason the run recorded.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from whisperbench.compare.metrics import METRICS, Metric, unknown_metric_message
from whisperbench.compare.stats import (
    ShiftEstimate,
    coefficient_of_variation,
    paired_test,
    run_level_test,
    shift_test,
)
from whisperbench.runs import Benchmark

__all__ = [
    "MORE_RUNS",
    "ONE_RUN_PER_SIDE",
    "Decision",
    "Threshold",
    "Verdict",
    "decide",
    "parse_fail_spec",
    "parse_threshold",
]

#: pyperf's noise policy: a spread over 10% of the mean is flagged in the reason.
NOISY_CV = 0.10

_THRESHOLD = re.compile(r"^\s*(?P<amount>\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*(?P<pct>%?)\s*$")

#: Why one run per side is untested, as reasons say it (renderers add :data:`MORE_RUNS`).
ONE_RUN_PER_SIDE = "one run per side: run-to-run noise cannot be estimated"
#: How to get evidence the rule can test.
MORE_RUNS = (
    "one run per side cannot tell a change from run-to-run noise: give two runs or more on "
    "a side (compare --base RUN... --new RUN..., or --whisper-compare repeated), or "
    "interleave both versions with whisperbench ab"
)


class Verdict(str, Enum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    SAME = "same"
    INCONCLUSIVE = "inconclusive"
    UNTESTED = "untested"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Threshold:
    """The smallest change that counts: ``amount`` percent of base, or absolute units."""

    amount: float
    relative: bool

    def __str__(self) -> str:
        return f"{self.amount:g}%" if self.relative else f"{self.amount:g}"

    def exceeded(self, worse_by: float, base: float) -> bool:
        """Whether a change of ``worse_by`` (metric units, > 0 is worse) passes the threshold."""
        if worse_by <= 0:
            return False
        if not self.relative:
            return worse_by > self.amount
        if base == 0:
            return True
        return worse_by > self.amount / 100 * abs(base)


@dataclass(frozen=True)
class Decision:
    """The verdict on one metric of one benchmark (over its runs or pairs) and its grounds.

    ``base``/``new`` are each side's value: the JSON's figure for one run, the geometric
    mean over several runs. ``estimate`` is the relative change the verdict rests on (for
    pairs, the Hodges-Lehmann median pair ratio - 1), ``low``/``high`` its 1 - 2 alpha
    interval (None: no interval, or too few data to bound it).
    """

    verdict: Verdict
    base: float | None
    new: float | None
    worse: bool | None  #: True when NEW is worse than BASE (None if equal or unavailable)
    p: float | None  #: one-sided p-value in the direction of the change
    test: str  #: the evidence: "3 vs 3 runs", "20 pairs", "1 vs 1 run", "exact", "-"
    reason: str
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    method: str = ""  #: the test behind ``p`` ("Welch t on log run values", ...)

    @property
    def change(self) -> float | None:
        """Relative change NEW / BASE - 1: the estimate, else from the two values (None when
        BASE is 0 or a value is missing)."""
        if self.estimate is not None:
            return self.estimate
        if self.base is None or self.new is None or self.base == 0:
            return None
        return self.new / self.base - 1


def parse_threshold(text: str) -> Threshold:
    """``"10%"`` -> 10 percent of base; ``"0.02"`` -> 0.02 in the metric's unit.

    Raises ValueError with a one-line message for anything else (negative, NaN, empty).
    """
    match = _THRESHOLD.match(text)
    if not match:
        raise ValueError(f"bad threshold {text!r}: use a percentage like 10% or a number like 0.02")
    amount = float(text.strip().rstrip("%"))
    if not math.isfinite(amount):
        raise ValueError(f"bad threshold {text!r}: not a finite number")
    return Threshold(amount, relative=bool(match["pct"]))


def parse_fail_spec(text: str) -> tuple[str, Threshold]:
    """``"rtf:10%"`` -> ("rtf", 10%). Raises ValueError with a one-line message."""
    name, sep, threshold = text.partition(":")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"bad gate {text!r}: use METRIC:THRESHOLD, e.g. rtf:10% or wer:0.02")
    if name not in METRICS:
        raise ValueError(unknown_metric_message(name))
    return name, parse_threshold(threshold)


def center(values: Sequence[float]) -> float:
    """One side's value over its runs: the geometric mean when all are positive (what the
    log-scale test compares), else the mean; a single run's value unchanged."""
    if len(values) == 1:
        return values[0]
    if all(v > 0 for v in values):
        return statistics.geometric_mean(values)
    return statistics.fmean(values)


def decide(
    metric: Metric,
    base: Benchmark | Sequence[Benchmark],
    new: Benchmark | Sequence[Benchmark],
    threshold: Threshold,
    alpha: float,
    *,
    paired: bool = False,
) -> Decision:
    """Judge ``metric`` between one benchmark's runs on each side (see the module docstring).

    ``base``/``new`` are the benchmark as each run of a side recorded it. ``paired``: run
    ``k`` of BASE and run ``k`` of NEW are one pair of worker processes whose rounds were
    interleaved (``whisperbench ab``), so round ``i`` of one pairs with round ``i`` of the
    other. Raises ValueError when paired sides differ in their number of runs.
    """
    bases = (base,) if isinstance(base, Benchmark) else tuple(base)
    news = (new,) if isinstance(new, Benchmark) else tuple(new)
    missing = _missing(metric, bases, "BASE") or _missing(metric, news, "NEW")
    base_values = [v for b in bases if (v := metric.value(b)) is not None]
    new_values = [v for b in news if (v := metric.value(b)) is not None]
    base_value = center(base_values) if base_values else None
    new_value = center(new_values) if new_values else None
    if missing is not None or base_value is None or new_value is None:
        reason = missing or "not recorded"
        return Decision(Verdict.UNAVAILABLE, base_value, new_value, None, None, "-", reason)

    if metric.kind == "exact":
        worse_by = _worse_by(metric, base_value, new_value)
        worse = None if worse_by == 0 else worse_by > 0
        beyond = threshold.exceeded(abs(worse_by), base_value)
        side, limit = _side(worse), _limit(beyond, threshold)
        return Decision(
            _called(beyond, worse), base_value, new_value, worse, None, "exact", f"{side}, {limit}"
        )

    estimate, why_not = _estimate(metric, bases, news, base_values, new_values, alpha, paired)
    if estimate is None or estimate.change is None:
        return _untested(metric, bases, news, base_value, new_value, threshold, why_not)

    change = estimate.change  # > 0: NEW larger (relative to |BASE| on an additive scale)
    worse_by = abs(base_value) * (change if metric.better == "lower" else -change)
    worse = None if change == 0 else worse_by > 0
    beyond = threshold.exceeded(abs(worse_by), base_value)
    side, limit = _side(worse), _limit(beyond, threshold)
    p = estimate.p(larger=change > 0)
    grounds = f"{estimate.evidence}, {estimate.method}"

    def decision(verdict: Verdict, reason: str) -> Decision:
        return Decision(
            verdict,
            base_value,
            new_value,
            worse,
            p,
            estimate.evidence,
            reason,
            estimate=change,
            low=estimate.low,
            high=estimate.high,
            method=estimate.method,
        )

    noise = _noise_note(metric, bases, news, base_values, new_values, paired)
    if not beyond:
        return decision(Verdict.SAME, limit + (f" (p={p:.2g})" if p < alpha else "") + noise)
    if estimate.smallest_p >= alpha:
        return decision(
            Verdict.INCONCLUSIVE,
            f"{side}, {limit}, but {estimate.evidence} cannot reach alpha={alpha:g} (best "
            f"possible p={estimate.smallest_p:.2g}); run more",
        )
    if p >= alpha:
        return decision(
            Verdict.INCONCLUSIVE,
            f"{side}, {limit}, not significant: p={p:.2g} >= alpha={alpha:g} ({grounds}){noise}",
        )
    return decision(
        _called(True, worse),
        f"{side}, {limit}, significant: p={p:.2g} < alpha={alpha:g} ({grounds}){noise}",
    )


def _missing(metric: Metric, benches: Sequence[Benchmark], where: str) -> str | None:
    """Why ``metric`` is missing from a side (any of its runs), or None."""
    for index, bench in enumerate(benches):
        if metric.value(bench) is None:
            run = f" (run {index + 1} of {len(benches)})" if len(benches) > 1 else ""
            return f"{where}{run}: {metric.missing_reason(bench)}"
    return None


def _estimate(
    metric: Metric,
    bases: Sequence[Benchmark],
    news: Sequence[Benchmark],
    base_values: Sequence[float],
    new_values: Sequence[float],
    alpha: float,
    paired: bool,
) -> tuple[ShiftEstimate | None, str]:
    """The test the evidence allows, or None and why no test is possible."""
    if paired:
        if len(bases) != len(news):
            raise ValueError(f"paired sides differ in processes: {len(bases)} vs {len(news)}")
        processes: list[tuple[list[float], list[float]]] = []
        for index, (bench_base, bench_new) in enumerate(zip(bases, news, strict=True)):
            base_samples, new_samples = metric.samples(bench_base), metric.samples(bench_new)
            if base_samples is None or new_samples is None:  # one reading per process
                base_samples, new_samples = [base_values[index]], [new_values[index]]
            if len(base_samples) != len(new_samples):
                return None, (
                    f"{len(base_samples)} vs {len(new_samples)} rounds: not paired round by round"
                )
            processes.append((base_samples, new_samples))
        return paired_test(processes, alpha), ""
    if len(base_values) + len(new_values) >= 3:
        return run_level_test(base_values, new_values, alpha), ""
    return None, ONE_RUN_PER_SIDE


def _untested(
    metric: Metric,
    bases: Sequence[Benchmark],
    news: Sequence[Benchmark],
    base_value: float,
    new_value: float,
    threshold: Threshold,
    why_not: str,
) -> Decision:
    worse_by = _worse_by(metric, base_value, new_value)
    worse = None if worse_by == 0 else worse_by > 0
    beyond = threshold.exceeded(abs(worse_by), base_value)
    test = f"{len(bases)} vs {len(news)} run{'s' if len(bases) + len(news) > 2 else ''}"
    if not beyond:
        return Decision(
            Verdict.SAME, base_value, new_value, worse, None, test, _limit(False, threshold)
        )
    rounds = _rounds_only(metric, bases, news, worse)
    reason = f"{_side(worse)}, {_limit(True, threshold)}; not tested: {why_not}{rounds}"
    return Decision(Verdict.UNTESTED, base_value, new_value, worse, None, test, reason)


def _rounds_only(
    metric: Metric, bases: Sequence[Benchmark], news: Sequence[Benchmark], worse: bool | None
) -> str:
    """What the rounds alone would claim (the old, over-confident test), for the reason."""
    if len(bases) != 1 or len(news) != 1:
        return ""
    base_samples, new_samples = metric.samples(bases[0]), metric.samples(news[0])
    if not base_samples or not new_samples:
        return ""
    earlier, later = (base_samples, new_samples) if worse else (new_samples, base_samples)
    if metric.better == "higher":
        earlier, later = later, earlier
    result = shift_test(earlier, later)
    return f" (its rounds alone would give p={result.p:.2g})"


def _worse_by(metric: Metric, base_value: float, new_value: float) -> float:
    return new_value - base_value if metric.better == "lower" else base_value - new_value


def _side(worse: bool | None) -> str:
    return "worse" if worse else "better"


def _limit(beyond: bool, threshold: Threshold) -> str:
    return f"{'beyond' if beyond else 'within'} {threshold}"


def _called(beyond: bool, worse: bool | None) -> Verdict:
    if not beyond or worse is None:
        return Verdict.SAME
    return Verdict.REGRESSION if worse else Verdict.IMPROVEMENT


def _noise_note(
    metric: Metric,
    bases: Sequence[Benchmark],
    news: Sequence[Benchmark],
    base_values: Sequence[float],
    new_values: Sequence[float],
    paired: bool,
) -> str:
    """pyperf's policy: flag a spread over 10% of the mean (run values, or paired rounds)."""
    if paired:
        base_samples, new_samples = metric.samples(bases[0]), metric.samples(news[0])
        sides = (("A", base_samples or []), ("B", new_samples or []))
        what = "rounds"
    else:
        sides = (("BASE", list(base_values)), ("NEW", list(new_values)))
        what = "runs"
    noisy = [
        f"{label} {what} spread {cv:.0%}"
        for label, samples in sides
        if (cv := coefficient_of_variation(samples)) is not None and cv > NOISY_CV
    ]
    return f"; noisy: {', '.join(noisy)}" if noisy else ""
