"""``whisperbench compare BASE NEW``: compare two runs and gate on regressions.

The rule is in :mod:`whisperbench.compare_gate`, the metrics in
:mod:`whisperbench.compare_metrics`, the tables in :mod:`whisperbench.compare_render`.
This module pairs the runs, applies the rule to every (benchmark, metric) and says whether
the gate fails. Exit codes: 0 pass, 1 regression in a gated metric, 2 usage error (missing
run, unknown metric, bad threshold, machines that differ).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from whisperbench.compare_gate import (
    Decision,
    Threshold,
    Verdict,
    decide,
    parse_fail_spec,
    parse_threshold,
)
from whisperbench.compare_machines import blocking_differences, other_differences
from whisperbench.compare_metrics import DEFAULT_METRICS, METRICS, Metric, unknown_metric_message
from whisperbench.compare_stats import DEFAULT_ALPHA
from whisperbench.runs import DEFAULT_STORAGE, Benchmark, Run, RunError, load_runs, match_benchmarks

__all__ = [
    "EXIT_OK",
    "EXIT_REGRESSION",
    "EXIT_USAGE",
    "CompareOptions",
    "Comparison",
    "MachineMismatchError",
    "Row",
    "add_compare_arguments",
    "alpha_type",
    "compare_runs",
    "fail_spec_type",
    "run_compare",
]

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2

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


# -- command line ----------------------------------------------------------------------------


def fail_spec_type(text: str) -> tuple[str, Threshold]:
    """argparse type for ``METRIC:THRESHOLD``."""
    try:
        return parse_fail_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _threshold(text: str) -> Threshold:
    try:
        return parse_threshold(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def alpha_type(text: str) -> float:
    """argparse type for a significance level in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"alpha must be a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"alpha must be between 0 and 1, got {text!r}")
    return value


def _metric_list(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        if name not in METRICS:
            raise argparse.ArgumentTypeError(unknown_metric_message(name))
    if not names:
        raise argparse.ArgumentTypeError("empty metric list")
    return names


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``compare``'s arguments to ``parser`` (the ``whisperbench compare`` subcommand)."""
    parser.description = (
        "Compare two pytest-benchmark runs of whisperbench and fail on regressions. A change "
        "is a regression only when it is beyond its threshold AND significant (one-sided "
        "Mann-Whitney U on per-round samples, p < alpha)."
    )
    parser.add_argument(
        "base",
        metavar="BASE",
        help="Baseline run: a JSON file or a storage id (0001, 0001_name, <machine-id>/0001).",
    )
    parser.add_argument("new", metavar="NEW", help="Run to judge: a JSON file or a storage id.")
    parser.add_argument(
        "--fail",
        dest="fail",
        action="append",
        type=fail_spec_type,
        default=[],
        metavar="METRIC:THRESHOLD",
        help="Gate on METRIC: fail when it is worse by more than THRESHOLD "
        "(10%% of base, or an absolute amount like 0.02) and significantly "
        "so. Repeatable. Metrics: " + ", ".join(METRICS) + ". Default: %(default)r (none)",
    )
    parser.add_argument(
        "--metrics",
        type=_metric_list,
        default=",".join(DEFAULT_METRICS),
        metavar="NAMES",
        help="Comma-separated metrics to show besides the gated ones. Default: %(default)s",
    )
    parser.add_argument(
        "--threshold",
        type=_threshold,
        default=str(DEFAULT_THRESHOLD),
        help="Threshold for metrics shown but not gated. Default: %(default)s",
    )
    parser.add_argument(
        "--alpha",
        type=alpha_type,
        default=DEFAULT_ALPHA,
        help="Significance level of the one-sided test. Default: %(default)r",
    )
    parser.add_argument(
        "--fail-without-samples",
        action="store_true",
        help="Also fail when a gated metric with one value per benchmark "
        "(energy, peak RSS) is beyond its threshold, untested. "
        "Default: %(default)r (report them as no_samples)",
    )
    parser.add_argument(
        "--fail-on-missing",
        action="store_true",
        help="Also fail when NEW lacks a benchmark of BASE, or a gated metric "
        "BASE recorded. Default: %(default)r (list them only)",
    )
    parser.add_argument(
        "--allow-machine-mismatch",
        action="store_true",
        help="Compare runs from different GPUs, clocks or power limits. "
        "Default: %(default)r (refuse, exit 2)",
    )
    parser.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        metavar="DIR",
        help="pytest-benchmark storage for run ids. Default: %(default)s",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        default=None,
        metavar="FILE",
        help="Also write the comparison as Markdown to FILE. Default: %(default)s",
    )


def options_from_args(args: argparse.Namespace) -> CompareOptions:
    return CompareOptions(
        gates=dict(args.fail),
        metrics=tuple(args.metrics),
        threshold=args.threshold,
        alpha=args.alpha,
        fail_without_samples=args.fail_without_samples,
        fail_on_missing=args.fail_on_missing,
        allow_machine_mismatch=args.allow_machine_mismatch,
    )


def run_compare(args: argparse.Namespace) -> int:
    """Run ``whisperbench compare`` from parsed arguments; returns the exit code."""
    from whisperbench.compare_render import render_markdown, render_text

    try:
        base, new = load_runs([args.base, args.new], storage=args.storage)
        comparison = compare_runs(base, new, options_from_args(args))
    except RunError as exc:
        print(f"whisperbench compare: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(render_text(comparison))
    if args.markdown is not None:
        try:
            args.markdown.write_text(render_markdown(comparison), encoding="utf-8")
        except OSError as exc:
            print(
                f"whisperbench compare: error: cannot write {args.markdown}: {exc}", file=sys.stderr
            )
            return EXIT_USAGE
    return comparison.exit_code
