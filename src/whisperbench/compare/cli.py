"""``whisperbench compare``: the command-line front end of the gate on saved runs.

``whisperbench compare BASE NEW`` compares two runs; ``--base FILE... --new FILE...`` gives
each side several runs (processes of the same code), which is what lets the gate tell a
change from run-to-run noise. Adds the gate options (:mod:`whisperbench.compare.options`,
no prefix) and ``--storage`` to a parser, and runs the comparison from the parsed arguments:
the table and the one-line verdict on stdout, the Markdown form to ``--markdown FILE``, an
error as one line on stderr. Exit codes: 0 pass, 1 regression (or a gated metric missing
from NEW), 2 usage error (missing run, unknown metric, bad threshold, machines that differ,
a Markdown file that cannot be written).
"""

from __future__ import annotations

import argparse
import sys

from whisperbench.compare.comparison import EXIT_USAGE, compare_runs
from whisperbench.compare.options import add_gate_options, markdown_from, options_from
from whisperbench.compare.render import print_comparison
from whisperbench.runs import DEFAULT_STORAGE, RunError, load_runs

__all__ = ["add_compare_arguments", "run_compare"]


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``compare``'s arguments to ``parser`` (the ``whisperbench compare`` subcommand)."""
    parser.description = (
        "Compare pytest-benchmark runs of whisperbench and fail on regressions. A change is a "
        "regression only when its estimate is beyond its threshold AND significant at the "
        "level of runs: give several runs (processes) per side with --base/--new; one run per "
        "side cannot tell a change from run-to-run noise and is reported untested. For two "
        "versions of the code at hand, `whisperbench ab` interleaves their rounds instead."
    )
    parser.add_argument(
        "runs",
        nargs="*",
        metavar="BASE NEW",
        help="Two runs: a JSON file or a storage id each (0001, 0001_name, <machine-id>/0001). "
        "Default: none (use --base/--new)%(default).0s",
    )
    parser.add_argument(
        "--base",
        nargs="+",
        action="extend",
        default=[],
        metavar="RUN",
        help="Runs of the baseline, one per process (files or storage ids). "
        "Default: none%(default).0s",
    )
    parser.add_argument(
        "--new",
        nargs="+",
        action="extend",
        default=[],
        metavar="RUN",
        help="Runs to judge, one per process. Default: none%(default).0s",
    )
    add_gate_options(parser.add_argument)
    parser.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        metavar="DIR",
        help="pytest-benchmark storage for run ids. Default: %(default)s",
    )


def _sides(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """BASE and NEW run specs from the positionals or --base/--new. Raises RunError."""
    if args.runs and (args.base or args.new):
        raise RunError("give BASE NEW, or --base RUN... --new RUN..., not both")
    if args.runs:
        if len(args.runs) != 2:
            raise RunError(
                f"expected BASE NEW, got {len(args.runs)} run(s); for several runs per side "
                "use --base RUN... --new RUN..."
            )
        return [args.runs[0]], [args.runs[1]]
    if not args.base or not args.new:
        raise RunError("nothing to compare: give BASE NEW, or --base RUN... --new RUN...")
    return list(args.base), list(args.new)


def run_compare(args: argparse.Namespace) -> int:
    """Run ``whisperbench compare`` from parsed arguments; returns the exit code."""

    def get(name: str) -> object:
        return getattr(args, name)

    try:
        base_specs, new_specs = _sides(args)
        runs = load_runs([*base_specs, *new_specs], storage=args.storage)
        base, new = runs[: len(base_specs)], runs[len(base_specs) :]
        comparison = compare_runs(base, new, options_from(get))
    except RunError as exc:
        print(f"whisperbench compare: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    problem = print_comparison(comparison, markdown_from(get))
    if problem is not None:
        print(f"whisperbench compare: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    return comparison.exit_code
