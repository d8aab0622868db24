"""Two runs compared: every (benchmark, metric) pair judged, and the gate's answer.

:func:`compare_runs` pairs the benchmarks of BASE and NEW (:mod:`whisperbench.runs`), refuses
runs from different machines (:mod:`~whisperbench.compare.machines`) unless allowed, and
judges every shown metric (:mod:`~whisperbench.compare.metrics`) of every pair with the rule
(:mod:`~whisperbench.compare.rule`). :class:`Comparison` says whether the gate fails.
Exit codes of the front ends: :data:`EXIT_OK` pass, :data:`EXIT_REGRESSION` a regression in
a gated metric, :data:`EXIT_USAGE` a usage error (missing run, unknown metric, bad threshold,
machines that differ).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from whisperbench.compare.machines import blocking_differences, other_differences
from whisperbench.compare.metrics import DEFAULT_METRICS, METRICS, Metric
from whisperbench.compare.rule import Decision, Threshold, Verdict, decide
from whisperbench.compare.stats import DEFAULT_ALPHA
from whisperbench.runs import Benchmark, Run, RunError, match_benchmarks

__all__ = [
    "DEFAULT_THRESHOLD",
    "EXIT_OK",
    "EXIT_REGRESSION",
    "EXIT_USAGE",
    "CompareOptions",
    "Comparison",
    "MachineMismatchError",
    "Row",
    "compare_runs",
]

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2

#: Threshold of metrics shown but not gated.
DEFAULT_THRESHOLD = Threshold(10.0, relative=True)


class MachineMismatchError(RunError):
    """The runs were measured on different hardware or at a different operating point."""

    def __init__(self, differences: Sequence[str]) -> None:
        shown = "; ".join(differences[:3])
        more = f" (+{len(differences) - 3} more)" if len(differences) > 3 else ""
        super().__init__(
            f"runs come from different machines or device settings: {shown}{more}; "
            "refusing to compare (--allow-machine-mismatch to compare anyway)"
        )
        self.differences = tuple(differences)


@dataclass(frozen=True)
class CompareOptions:
    """How to compare; defaults gate nothing and show :data:`DEFAULT_METRICS`."""

    gates: Mapping[str, Threshold] = field(default_factory=dict)  #: metric -> threshold
    metrics: tuple[str, ...] = DEFAULT_METRICS  #: shown (gated metrics are always shown)
    threshold: Threshold = DEFAULT_THRESHOLD  #: for metrics shown but not gated
    alpha: float = DEFAULT_ALPHA
    fail_without_samples: bool = False
    fail_on_missing: bool = False
    allow_machine_mismatch: bool = False

    def shown_metrics(self) -> list[Metric]:
        names = list(dict.fromkeys([*self.gates, *self.metrics]))
        return [METRICS[name] for name in names]


@dataclass(frozen=True)
class Row:
    """One metric of one benchmark pair."""

    base: Benchmark
    new: Benchmark
    metric: Metric
    threshold: Threshold
    gated: bool
    decision: Decision

    def fails(self, options: CompareOptions) -> bool:
        """Whether this row fails the gate under ``options``."""
        if not self.gated:
            return False
        verdict = self.decision.verdict
        if verdict is Verdict.REGRESSION:
            return True
        if verdict is Verdict.NO_SAMPLES and self.decision.worse:
            return options.fail_without_samples
        if verdict is Verdict.UNAVAILABLE and self.decision.base is not None:
            return options.fail_on_missing
        return False


@dataclass(frozen=True)
class Comparison:
    """Everything ``compare`` found; :attr:`failed` is the gate's answer."""

    base: Run
    new: Run
    options: CompareOptions
    rows: tuple[Row, ...]
    only_base: tuple[Benchmark, ...]
    only_new: tuple[Benchmark, ...]
    machine_differences: tuple[str, ...]  #: blocking ones, shown when allowed
    other_differences: tuple[str, ...]

    @property
    def failures(self) -> list[Row]:
        return [row for row in self.rows if row.fails(self.options)]

    @property
    def missing_failures(self) -> tuple[Benchmark, ...]:
        return self.only_base if self.options.fail_on_missing and self.options.gates else ()

    @property
    def failed(self) -> bool:
        return bool(self.failures or self.missing_failures)

    @property
    def exit_code(self) -> int:
        return EXIT_REGRESSION if self.failed else EXIT_OK


def compare_runs(base: Run, new: Run, options: CompareOptions) -> Comparison:
    """Pair the runs and judge every shown metric of every pair.

    Raises :class:`MachineMismatchError` when the machines differ and that is not allowed, and
    :class:`~whisperbench.runs.RunError` when the runs share no benchmark.
    """
    matching = match_benchmarks(base, new)
    if not matching.pairs:
        raise RunError(
            f"{base.label} and {new.label} share no benchmark (paired by fullname and params)"
        )
    blocking = blocking_differences(base, new, matching.pairs)
    if blocking and not options.allow_machine_mismatch:
        raise MachineMismatchError(blocking)
    rows = tuple(
        Row(
            base=bench_base,
            new=bench_new,
            metric=metric,
            threshold=options.gates.get(metric.name, options.threshold),
            gated=metric.name in options.gates,
            decision=decide(
                metric,
                bench_base,
                bench_new,
                options.gates.get(metric.name, options.threshold),
                options.alpha,
            ),
        )
        for bench_base, bench_new in matching.pairs
        for metric in options.shown_metrics()
    )
    return Comparison(
        base=base,
        new=new,
        options=options,
        rows=_drop_empty_metrics(rows),
        only_base=matching.only_base,
        only_new=matching.only_new,
        machine_differences=tuple(blocking),
        other_differences=tuple(other_differences(base, new)),
    )


def _drop_empty_metrics(rows: tuple[Row, ...]) -> tuple[Row, ...]:
    """Hide ungated metrics that neither run recorded for any benchmark (e.g. CUDA on CPU)."""
    recorded = {
        row.metric.name
        for row in rows
        if row.gated or row.decision.base is not None or row.decision.new is not None
    }
    return tuple(row for row in rows if row.metric.name in recorded)
