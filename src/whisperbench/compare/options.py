"""The gate's options, defined once for both front ends.

``whisperbench compare`` adds them without a prefix (``--fail``, ``--metrics``, ...), the
pytest plugin with ``whisper-compare-`` (``--whisper-compare-fail``, ...), the way
pytest-benchmark shares its options between its plugin and its CLI
(``add_global_options(addoption, prefix="benchmark-")``)::

    add_gate_options(parser.add_argument)                                 # argparse
    add_gate_options(group.addoption, prefix="whisper-compare-")          # pytest

:func:`options_from` turns the parsed values back into :class:`CompareOptions` for either.
What stays with each front end: where BASE and NEW come from (the CLI's positionals, the
plugin's ``--whisper-compare=BASE`` and this run) and where run ids are looked up (the CLI's
``--storage``, pytest-benchmark's ``--benchmark-storage``).

The ``type=`` functions raise :class:`argparse.ArgumentTypeError` with a one-line message,
which both argparse and pytest turn into a usage error.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from whisperbench.compare.comparison import DEFAULT_THRESHOLD, CompareOptions
from whisperbench.compare.metrics import DEFAULT_METRICS, METRICS, unknown_metric_message
from whisperbench.compare.rule import Threshold, parse_fail_spec, parse_threshold
from whisperbench.compare.stats import DEFAULT_ALPHA

__all__ = [
    "GATE_OPTIONS",
    "PYTEST_PREFIX",
    "add_gate_options",
    "alpha_type",
    "dest",
    "fail_spec_type",
    "markdown_from",
    "metrics_type",
    "options_from",
    "threshold_type",
]

#: ``argparse.ArgumentParser.add_argument`` or pytest's ``OptionGroup.addoption``.
AddOption = Callable[..., Any]
#: Reads a parsed value by its destination name (:func:`dest`).
GetOption = Callable[[str], Any]

#: The prefix of the gate options in pytest (``--whisper-compare-fail``, ...).
PYTEST_PREFIX = "whisper-compare-"

#: Every gate option, without prefix or dashes, in the order :func:`add_gate_options` adds them.
GATE_OPTIONS = (
    "fail",
    "metrics",
    "threshold",
    "alpha",
    "fail-without-samples",
    "fail-on-missing",
    "allow-machine-mismatch",
    "markdown",
    "allow-missing",
)


def fail_spec_type(text: str) -> tuple[str, Threshold]:
    """argparse type for ``METRIC:THRESHOLD`` (``rtf:10%``, ``wer:0.02``)."""
    try:
        return parse_fail_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def threshold_type(text: str) -> Threshold:
    """argparse type for a threshold: a percentage of base (``10%``) or an absolute amount."""
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


def metrics_type(text: str) -> tuple[str, ...]:
    """argparse type for a comma-separated list of known metric names (not empty)."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        if name not in METRICS:
            raise argparse.ArgumentTypeError(unknown_metric_message(name))
    if not names:
        raise argparse.ArgumentTypeError("empty metric list")
    return names


def dest(name: str, prefix: str = "") -> str:
    """Where a parsed option lands: ``dest("fail-on-missing", "whisper-compare-")`` is
    ``"whisper_compare_fail_on_missing"`` (argparse's and pytest's rule)."""
    return f"{prefix}{name}".replace("-", "_")


def add_gate_options(add: AddOption, prefix: str = "") -> None:
    """Add the gate options through ``add`` as ``--{prefix}fail``, ``--{prefix}metrics``, ...

    ``add`` is ``parser.add_argument`` (argparse) or ``group.addoption`` (pytest); the names
    are :data:`GATE_OPTIONS`. String defaults go through their ``type=`` like given values.
    """
    add(
        f"--{prefix}fail",
        action="append",
        type=fail_spec_type,
        default=[],
        metavar="METRIC:THRESHOLD",
        help="Gate on METRIC: fail when it is worse by more than THRESHOLD "
        "(10%% of base, or an absolute amount like 0.02) and significantly "
        "so. Repeatable. Metrics: " + ", ".join(METRICS) + ". Default: %(default)r (none)",
    )
    add(
        f"--{prefix}metrics",
        type=metrics_type,
        default=",".join(DEFAULT_METRICS),
        metavar="NAMES",
        help="Comma-separated metrics to show besides the gated ones. Default: %(default)s",
    )
    add(
        f"--{prefix}threshold",
        type=threshold_type,
        default=str(DEFAULT_THRESHOLD),
        metavar="THRESHOLD",
        help="Threshold for metrics shown but not gated. Default: %(default)s",
    )
    add(
        f"--{prefix}alpha",
        type=alpha_type,
        default=DEFAULT_ALPHA,
        metavar="ALPHA",
        help="Significance level of the one-sided test. Default: %(default)r",
    )
    add(
        f"--{prefix}fail-without-samples",
        action="store_true",
        default=False,
        help="Also fail when a gated metric is beyond its threshold but could not be tested "
        "(one run per side; a one-reading metric such as energy or peak RSS in an A/B run). "
        "Default: %(default)r (report them as untested)",
    )
    add(
        f"--{prefix}fail-on-missing",
        action="store_true",
        default=False,
        help="Also fail when NEW lacks a benchmark of BASE. Default: %(default)r (list them "
        "only; a gated metric missing from NEW always fails, see --allow-missing)",
    )
    add(
        f"--{prefix}allow-machine-mismatch",
        action="store_true",
        default=False,
        help="Compare runs from different GPUs, clocks or power limits. "
        "Default: %(default)r (refuse: usage error, exit 2 from the CLI, 4 from pytest)",
    )
    add(
        f"--{prefix}markdown",
        type=Path,
        default=None,
        metavar="FILE",
        help="Also write the comparison as Markdown to FILE. Default: %(default)s",
    )
    add(
        f"--{prefix}allow-missing",
        action="store_true",
        default=False,
        help="Let a gated metric that NEW did not record (null: no sensor, an invalid energy "
        "window, random weights' WER) pass. Default: %(default)r (it fails the gate: a "
        "broken metric must not hide in CI)",
    )


def options_from(get: GetOption, prefix: str = "") -> CompareOptions:
    """The :class:`CompareOptions` that the options added with ``prefix`` were parsed into.

    ``get`` reads a value by its :func:`dest`: ``lambda name: getattr(args, name)`` for
    argparse, ``config.getoption`` for pytest.
    """

    def value(name: str) -> Any:
        return get(dest(name, prefix))

    return CompareOptions(
        gates=dict(value("fail")),
        metrics=tuple(value("metrics")),
        threshold=value("threshold"),
        alpha=value("alpha"),
        fail_without_samples=value("fail-without-samples"),
        fail_on_missing=value("fail-on-missing"),
        allow_machine_mismatch=value("allow-machine-mismatch"),
        allow_missing=value("allow-missing"),
    )


def markdown_from(get: GetOption, prefix: str = "") -> Path | None:
    """The ``--{prefix}markdown`` FILE to write the comparison to, or None."""
    path: Path | None = get(dest("markdown", prefix))
    return path
