"""``whisperbench report RUN.json [RUN2.json ...] -o DIR``: the command-line front end.

Merges any number of runs (shards of one sweep from several GPUs or nodes, or runs to set
side by side) and writes ``report.md`` and ``report.html`` with PNG figures beside them
(:mod:`whisperbench.report.document`). The figures need matplotlib, the ``report`` extra
(``pip install 'whisperbench[report]'``); without it the command says so in one line.
Exit codes: 0 written, 2 usage error (missing run, no whisperbench benchmark, an output folder
that cannot be written, matplotlib not installed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from whisperbench.report.document import build_report, render_html, render_markdown
from whisperbench.runs import DEFAULT_STORAGE, RunError, load_runs

__all__ = ["EXIT_OK", "EXIT_USAGE", "MISSING_MATPLOTLIB", "add_report_arguments", "run_report"]

EXIT_OK, EXIT_USAGE = 0, 2

#: What ``whisperbench report`` says when the figures cannot be drawn.
MISSING_MATPLOTLIB = (
    "the report's figures need matplotlib, which is not installed: "
    "pip install 'whisperbench[report]'"
)


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``report``'s arguments to ``parser`` (the ``whisperbench report`` subcommand)."""
    parser.description = (
        "Merge pytest-benchmark runs of whisperbench (several GPUs or nodes too) into "
        "report.md and report.html with PNG figures."
    )
    parser.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="Run JSON files or storage ids (0001, <machine-id>/0001).",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("reports/report"),
        metavar="DIR",
        help="Folder to write into. Default: %(default)s",
    )
    parser.add_argument(
        "--title", default="whisperbench report", help="Report title. Default: %(default)r"
    )
    parser.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        metavar="DIR",
        help="pytest-benchmark storage for run ids. Default: %(default)s",
    )


def run_report(args: argparse.Namespace) -> int:
    """Run ``whisperbench report`` from parsed arguments; returns the exit code."""
    try:
        import matplotlib  # noqa: F401  (checked before any work; the figures import it)
    except ImportError:
        print(f"whisperbench report: error: {MISSING_MATPLOTLIB}", file=sys.stderr)
        return EXIT_USAGE
    try:
        runs = load_runs(args.runs, storage=args.storage)
        blocks = build_report(runs, args.output, args.title)
        (args.output / "report.md").write_text(render_markdown(blocks), encoding="utf-8")
        (args.output / "report.html").write_text(render_html(blocks, args.title), encoding="utf-8")
    except RunError as exc:
        print(f"whisperbench report: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"whisperbench report: error: cannot write to {args.output}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    drawn = sum(1 for block in blocks if block.kind == "image")
    print(f"wrote {args.output / 'report.md'}, {args.output / 'report.html'} and {drawn} figure(s)")
    return EXIT_OK
