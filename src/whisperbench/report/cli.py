"""``whisperbench report RUN.json [RUN2.json ...] -o DIR``: the command-line front end.

Merges any number of runs (shards of one sweep from several GPUs or nodes, or runs to set
side by side) and writes ``report.md`` with PNG figures beside it and ``report.html``, one
self-contained file with the figures embedded (:mod:`whisperbench.report.document`). A sweep
folder is merged first, its power profiles drawn. ``--baseline RUN...`` adds a comparison
section (the gate's table and verdict, judged with the gate options of ``whisperbench
compare``; the report's exit code does not depend on the verdict: gate with ``whisperbench
compare``). The figures need matplotlib, the ``report`` extra (``pip install
'whisperbench[report]'``); without it the command says so in one line. Exit codes: 0 written,
2 usage error (missing run, no whisperbench benchmark, an output folder that cannot be
written, matplotlib not installed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from whisperbench.runs import DEFAULT_STORAGE, RunError, load_runs

__all__ = ["EXIT_OK", "EXIT_USAGE", "MISSING_MATPLOTLIB", "add_report_arguments", "run_report"]

EXIT_OK, EXIT_USAGE = 0, 2

#: The one line printed when the figures cannot be drawn.
MISSING_MATPLOTLIB = (
    "the report's figures need matplotlib, which is not installed: "
    "pip install 'whisperbench[report]'"
)


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``report``'s arguments to ``parser`` (the ``whisperbench report`` subcommand)."""
    from whisperbench.compare.options import add_gate_options

    parser.description = (
        "Merge pytest-benchmark runs of whisperbench (several GPUs or nodes too) into "
        "report.md with PNG figures and report.html, one self-contained page."
    )
    parser.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="Run JSON files, storage ids (0001, <machine-id>/0001), or sweep folders "
        "(their shards are merged, their profiles drawn).",
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
        "--rtf-deadline",
        type=_positive,
        default=None,
        metavar="RTF",
        help="Name the least-energy SM clock whose RTF meets this deadline. Default: none",
    )
    parser.add_argument(
        "--profiles",
        type=Path,
        action="append",
        default=[],
        metavar="SWEEP",
        help="A sweep folder whose *_profile.csv power traces to draw (repeatable; a sweep "
        "folder given as RUN is added). Default: none",
    )
    parser.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        metavar="DIR",
        help="pytest-benchmark storage for run ids. Default: %(default)s",
    )
    parser.add_argument(
        "--baseline",
        nargs="+",
        action="extend",
        default=[],
        metavar="RUN",
        help="Runs to compare RUN... against (several runs, one per process, let the gate "
        "test changes against run-to-run noise): adds a comparison section. Default: none",
    )
    gate = parser.add_argument_group("the comparison (with --baseline; as whisperbench compare)")
    add_gate_options(gate.add_argument)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _sweeps_merged(specs: list[str], out: Path) -> tuple[list[str], list[Path]]:
    """Sweep folders among ``specs`` merged into ``out`` (their JSON files replace them)."""
    from whisperbench.sweep.folder import SweepFolder
    from whisperbench.sweep.merge import MergeError, merge
    from whisperbench.sweep.plan import PlanError

    resolved: list[str] = []
    sweeps: list[Path] = []
    for spec in specs:
        path = Path(spec)
        if not (path / "cells.json").is_file():
            resolved.append(spec)
            continue
        try:
            folder = SweepFolder.open(path)
            out.mkdir(parents=True, exist_ok=True)
            merged = out / f"sweep-{folder.plan.name}.json"
            merge(folder, merged)
        except (PlanError, MergeError) as error:
            raise RunError(str(error)) from None
        resolved.append(str(merged))
        sweeps.append(path)
    return resolved, sweeps


def run_report(args: argparse.Namespace) -> int:
    """Run ``whisperbench report`` from parsed arguments; returns the exit code."""
    try:
        import matplotlib  # noqa: F401  (drawn later; checked first, before any work)
    except ImportError:
        print(f"whisperbench report: error: {MISSING_MATPLOTLIB}", file=sys.stderr)
        return EXIT_USAGE
    from whisperbench.compare.options import options_from
    from whisperbench.report.document import build_report, render_html, render_markdown

    def get(name: str) -> object:
        return getattr(args, name)

    try:
        specs, sweeps = _sweeps_merged(list(args.runs), args.output)
        loaded = load_runs([*args.baseline, *specs], storage=args.storage)
        baseline, runs = loaded[: len(args.baseline)], loaded[len(args.baseline) :]
        blocks = build_report(
            runs,
            args.output,
            args.title,
            rtf_deadline=args.rtf_deadline,
            profile_folders=[*args.profiles, *sweeps],
            baseline=baseline,
            gate=options_from(get),
        )
        (args.output / "report.md").write_text(render_markdown(blocks), encoding="utf-8")
        (args.output / "report.html").write_text(
            render_html(blocks, args.title, images=args.output), encoding="utf-8"
        )
    except RunError as exc:
        print(f"whisperbench report: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"whisperbench report: error: cannot write to {args.output}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    drawn = sum(1 for block in blocks if block.kind == "image")
    print(
        f"wrote {args.output / 'report.md'} with {drawn} figure(s) beside it, and "
        f"{args.output / 'report.html'} (self-contained)"
    )
    return EXIT_OK
