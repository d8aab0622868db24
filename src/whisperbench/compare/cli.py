"""``whisperbench compare BASE NEW``: the command-line front end of the gate.

Adds BASE, NEW, the gate options (:mod:`whisperbench.compare.options`, no prefix) and
``--storage`` to a parser, and runs the comparison from the parsed arguments: the table on
stdout, the Markdown form to ``--markdown FILE``, an error as one line on stderr.
Exit codes: 0 pass, 1 regression in a gated metric, 2 usage error (missing run, unknown
metric, bad threshold, machines that differ, a Markdown file that cannot be written).
"""

from __future__ import annotations

import argparse
import sys

from whisperbench.compare.comparison import EXIT_USAGE, compare_runs
from whisperbench.compare.options import add_gate_options, markdown_from, options_from
from whisperbench.compare.render import render_markdown, render_text
from whisperbench.runs import DEFAULT_STORAGE, RunError, load_runs

__all__ = ["add_compare_arguments", "run_compare"]


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
    add_gate_options(parser.add_argument)
    parser.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        metavar="DIR",
        help="pytest-benchmark storage for run ids. Default: %(default)s",
    )


def run_compare(args: argparse.Namespace) -> int:
    """Run ``whisperbench compare`` from parsed arguments; returns the exit code."""

    def get(name: str) -> object:
        return getattr(args, name)

    try:
        base, new = load_runs([args.base, args.new], storage=args.storage)
        comparison = compare_runs(base, new, options_from(get))
    except RunError as exc:
        print(f"whisperbench compare: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(render_text(comparison))
    markdown = markdown_from(get)
    if markdown is not None:
        try:
            markdown.write_text(render_markdown(comparison), encoding="utf-8")
        except OSError as exc:
            print(f"whisperbench compare: error: cannot write {markdown}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return comparison.exit_code
