"""Two sides compared: every (benchmark, metric) pair judged, and the gate's answer.

A side is one run or several (processes of the same code): :func:`compare_runs` pairs the
benchmarks of BASE and NEW (:func:`whisperbench.runs.match_sides`), refuses runs from
different machines (:mod:`~whisperbench.compare.machines`) unless allowed, and judges every
shown metric (:mod:`~whisperbench.compare.metrics`) of every benchmark over its runs with the
rule (:mod:`~whisperbench.compare.rule`); ``paired`` marks an A/B run whose rounds were
interleaved (``whisperbench ab``). :class:`Comparison` says whether the gate fails.
Exit codes of the front ends: :data:`EXIT_OK` pass, :data:`EXIT_REGRESSION` a regression (or
a gated metric missing from NEW), :data:`EXIT_USAGE` a usage error (missing run, unknown
metric, bad threshold, machines that differ).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from whisperbench.compare.machines import blocking_differences, other_differences
from whisperbench.compare.metrics import DEFAULT_METRICS, METRICS, Metric
from whisperbench.compare.rule import Decision, Threshold, Verdict, decide
from whisperbench.compare.stats import DEFAULT_ALPHA
from whisperbench.runs import Benchmark, Run, RunError, match_benchmarks, match_sides

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
    fail_on_missing: bool = False  #: fail when NEW lacks a benchmark of BASE
    allow_machine_mismatch: bool = False
    allow_missing: bool = False  #: let a gated metric missing from NEW pass

    def shown_metrics(self) -> list[Metric]:
        names = list(dict.fromkeys([*self.gates, *self.metrics]))
        return [METRICS[name] for name in names]


@dataclass(frozen=True)
class Row:
    """One metric of one benchmark: its record in each run of each side, and the verdict."""

    base: tuple[Benchmark, ...]
    new: tuple[Benchmark, ...]
    metric: Metric
    threshold: Threshold
    gated: bool
    decision: Decision

    @property
    def name(self) -> str:
        """The benchmark's name (as BASE's first run recorded it)."""
        return self.base[0].name

    def fails(self, options: CompareOptions) -> bool:
        """Whether this row fails the gate under ``options``."""
        if not self.gated:
            return False
        verdict = self.decision.verdict
        if verdict is Verdict.REGRESSION:
            return True
        if verdict is Verdict.UNTESTED and self.decision.worse:
            return options.fail_without_samples
        if verdict is Verdict.UNAVAILABLE and self.decision.new is None:
            return not options.allow_missing  # a gated metric NEW did not record
        return False


@dataclass(frozen=True)
class Comparison:
    """Everything ``compare`` found; :attr:`failed` is the gate's answer."""

    base: tuple[Run, ...]
    new: tuple[Run, ...]
    options: CompareOptions
    rows: tuple[Row, ...]
    only_base: tuple[Benchmark, ...]
    only_new: tuple[Benchmark, ...]
    machine_differences: tuple[str, ...]  #: blocking ones, shown when allowed
    other_differences: tuple[str, ...]
    paired: bool = False  #: an A/B run: rounds interleaved pair by pair

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


def compare_runs(
    base: Run | Sequence[Run],
    new: Run | Sequence[Run],
    options: CompareOptions,
    *,
    paired: bool = False,
) -> Comparison:
    """Pair the sides' benchmarks and judge every shown metric of every benchmark.

    ``base``/``new``: one run or several runs (processes) of the same code each. ``paired``:
    run ``k`` of each side is one pair of worker processes whose rounds were interleaved
    (``whisperbench ab``). Raises :class:`MachineMismatchError` when the machines differ and
    that is not allowed, :class:`~whisperbench.runs.RunError` when the sides share no
    benchmark or paired runs do not all hold it, and ValueError for paired sides of
    different sizes.
    """
    bases = (base,) if isinstance(base, Run) else tuple(base)
    news = (new,) if isinstance(new, Run) else tuple(new)
    if paired and len(bases) != len(news):
        raise ValueError(f"paired sides differ in runs: {len(bases)} vs {len(news)}")
    matching = match_sides(bases, news)
    if paired and any(
        len(group_base) != len(bases) or len(group_new) != len(news)
        for group_base, group_new in matching.pairs
    ):
        raise RunError("paired runs must each hold every benchmark they share")
    if not matching.pairs:
        raise RunError(
            f"{_labels(bases)} and {_labels(news)} share no benchmark "
            "(paired by fullname and params)"
        )
    blocking = _blocking(bases, news)
    if blocking and not options.allow_machine_mismatch:
        raise MachineMismatchError(blocking)
    rows = tuple(
        Row(
            base=group_base,
            new=group_new,
            metric=metric,
            threshold=options.gates.get(metric.name, options.threshold),
            gated=metric.name in options.gates,
            decision=decide(
                metric,
                group_base,
                group_new,
                options.gates.get(metric.name, options.threshold),
                options.alpha,
                paired=paired,
            ),
        )
        for group_base, group_new in matching.pairs
        for metric in options.shown_metrics()
    )
    return Comparison(
        base=bases,
        new=news,
        options=options,
        rows=_drop_empty_metrics(rows),
        only_base=matching.only_base,
        only_new=matching.only_new,
        machine_differences=tuple(blocking),
        other_differences=tuple(other_differences(bases[0], news[0])),
        paired=paired,
    )


def _labels(runs: Sequence[Run]) -> str:
    return runs[0].label if len(runs) == 1 else f"{runs[0].label} (+{len(runs) - 1} runs)"


def _blocking(bases: Sequence[Run], news: Sequence[Run]) -> list[str]:
    """Differences in hardware or operating point between BASE's first run and every other
    run of either side (each run is one machine state; all must be comparable)."""
    reference, found = bases[0], []
    for other in (*bases[1:], *news):
        pairs = match_benchmarks(reference, other).pairs
        found += blocking_differences(reference, other, pairs)
    return list(dict.fromkeys(found))


def _drop_empty_metrics(rows: tuple[Row, ...]) -> tuple[Row, ...]:
    """Hide ungated metrics that neither run recorded for any benchmark (e.g. CUDA on CPU)."""
    recorded = {
        row.metric.name
        for row in rows
        if row.gated or row.decision.base is not None or row.decision.new is not None
    }
    return tuple(row for row in rows if row.metric.name in recorded)
