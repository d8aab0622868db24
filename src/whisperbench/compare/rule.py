"""The gate's rule: when is a change between two benchmarks a regression?

A change is called a **regression** only when both hold (asv ``compare``, pyperf
``compare_to``):

1. it is larger than the metric's threshold, in the metric's worse direction: a percentage
   of the base value (``10%``) or an absolute amount in the metric's unit (``0.02``);
2. it is statistically significant: one-sided Mann-Whitney U on the per-round samples of
   both runs gives p < alpha (default 0.01, see :mod:`whisperbench.compare.stats`).

Otherwise, beyond the threshold:

- **inconclusive** when the test does not reach alpha, including when the rounds are too
  few for any data to reach it (3 vs 3 rounds: p >= 0.05);
- **no_samples** for metrics read once per benchmark (energy over one window, peak RSS):
  no test is possible, so nothing is called significant; the gate fails on these only when
  asked to (``--fail-without-samples``);
- ``exact`` metrics (allocator bytes, WER) have no sampling noise: the threshold decides.

The mirror image (better by more than the threshold, significant) is an **improvement**.
Within the threshold the verdict is **same**, whatever the p-value. A value missing from
either run is **unavailable**, with the reason the run recorded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum

from whisperbench.compare.metrics import METRICS, Metric, unknown_metric_message
from whisperbench.compare.stats import coefficient_of_variation, shift_test
from whisperbench.runs import Benchmark

__all__ = [
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


class Verdict(str, Enum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    SAME = "same"
    INCONCLUSIVE = "inconclusive"
    NO_SAMPLES = "no_samples"
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
    """The verdict on one metric of one benchmark pair, and everything it rests on."""

    verdict: Verdict
    base: float | None
    new: float | None
    worse: bool | None  #: True when NEW is worse than BASE (None if equal or unavailable)
    p: float | None  #: one-sided p-value in the direction of the change
    test: str  #: how significance was judged
    reason: str

    @property
    def change(self) -> float | None:
        """Relative change NEW / BASE - 1 (None when BASE is 0 or a value is missing)."""
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


def decide(
    metric: Metric, base: Benchmark, new: Benchmark, threshold: Threshold, alpha: float
) -> Decision:
    """Judge ``metric`` between two paired benchmarks (see the module docstring)."""
    base_value, new_value = metric.value(base), metric.value(new)
    if base_value is None or new_value is None:
        missing = base if base_value is None else new
        where = "BASE" if base_value is None else "NEW"
        reason = f"{where}: {metric.missing_reason(missing)}"
        return Decision(Verdict.UNAVAILABLE, base_value, new_value, None, None, "-", reason)

    worse_by = new_value - base_value if metric.better == "lower" else base_value - new_value
    worse = None if worse_by == 0 else worse_by > 0
    beyond = threshold.exceeded(abs(worse_by), base_value)
    side = "worse" if worse else "better"
    limit = f"{'beyond' if beyond else 'within'} {threshold}"

    if metric.kind == "exact":
        verdict = _called(beyond, worse)
        return Decision(verdict, base_value, new_value, worse, None, "exact", f"{side}, {limit}")

    base_samples, new_samples = metric.samples(base), metric.samples(new)
    if base_samples is None or new_samples is None:
        if not beyond:
            return Decision(Verdict.SAME, base_value, new_value, worse, None, "-", limit)
        why = (
            "no per-round data (save runs with --benchmark-save-data)"
            if metric.kind == "sampled"
            else "one reading per benchmark, nothing to test"
        )
        reason = f"{side}, {limit}; not tested: {why}"
        return Decision(Verdict.NO_SAMPLES, base_value, new_value, worse, None, "-", reason)

    earlier, later = (base_samples, new_samples) if worse else (new_samples, base_samples)
    if metric.better == "higher":
        earlier, later = later, earlier
    result = shift_test(earlier, later)
    test = f"MWU {len(base_samples)}/{len(new_samples)}"
    noise = _noise_note(base_samples, new_samples)
    if not beyond:
        reason = f"{limit}" + (f" (p={result.p:.2g})" if result.p < alpha else "") + noise
        return Decision(Verdict.SAME, base_value, new_value, worse, result.p, test, reason)
    if result.smallest_p >= alpha:
        reason = (
            f"{side}, {limit}, but {len(base_samples)} vs {len(new_samples)} rounds cannot reach "
            f"alpha={alpha:g} (best possible p={result.smallest_p:.2g}); run more rounds"
        )
        return Decision(Verdict.INCONCLUSIVE, base_value, new_value, worse, result.p, test, reason)
    if result.p >= alpha:
        reason = f"{side}, {limit}, not significant: p={result.p:.2g} >= alpha={alpha:g}{noise}"
        return Decision(Verdict.INCONCLUSIVE, base_value, new_value, worse, result.p, test, reason)
    reason = f"{side}, {limit}, significant: p={result.p:.2g} < alpha={alpha:g}{noise}"
    return Decision(_called(True, worse), base_value, new_value, worse, result.p, test, reason)


def _called(beyond: bool, worse: bool | None) -> Verdict:
    if not beyond or worse is None:
        return Verdict.SAME
    return Verdict.REGRESSION if worse else Verdict.IMPROVEMENT


def _noise_note(base: list[float], new: list[float]) -> str:
    noisy = [
        f"{label} spread {cv:.0%}"
        for label, samples in (("BASE", base), ("NEW", new))
        if (cv := coefficient_of_variation(samples)) is not None and cv > NOISY_CV
    ]
    return f"; noisy: {', '.join(noisy)}" if noisy else ""
