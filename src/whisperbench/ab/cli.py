"""``whisperbench ab``: measure two versions of the code interleaved and gate on the pairs.

::

    whisperbench ab --a-path ../base/src --b-path src --model tiny.en --dtype float32 \\
        --audio-duration 5 --processes 15 --pairs 3 --fail rtf:5%
    whisperbench ab --a-python ../base/.venv/bin/python --b-python .venv/bin/python ...

Each side's workers (:mod:`whisperbench.ab.worker`) run in its own Python (``--a-python``)
with its own source folder first on ``PYTHONPATH`` (``--a-path``); both measure the same
case (the run options of ``whisperbench run``). One worker of each side at a time, their
rounds alternate A B, B A, ...; several such process pairs run one after the other
(:mod:`whisperbench.ab.runner`). The decision is the gate's rule on the pairs
(:func:`whisperbench.compare.compare_runs` with ``paired=True``): Wilcoxon signed-rank
across process pairs on each one's mean log ratio, and the estimate beyond the threshold.
The table and the one-line verdict go to stdout, progress to stderr, each worker's run as
pytest-benchmark JSON to ``--output-dir``. Exit codes: 0 pass, 1 regression (or a gated
metric missing from B), 2 usage error or a worker that failed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from whisperbench.argtypes import int_at_least
from whisperbench.options import RunOptions, add_run_options, option_specs

__all__ = [
    "DEFAULT_GATES",
    "DEFAULT_PAIRS",
    "DEFAULT_PROCESSES",
    "add_ab_arguments",
    "run_ab_command",
    "side_document",
    "worker_arguments",
]

#: Process pairs and pairs of rounds in each, by default: with the default gate, the fewest
#: process pairs measured to catch a 10% slowdown at least 95% of the time, with A/A false
#: alarms under 1%, on a 2-core machine with CPU-heavy processes beside the runs (10 were
#: enough on a quiet one; reports/README.md, "Measured error rates").
DEFAULT_PROCESSES = 15
DEFAULT_PAIRS = 3
#: Gated when no --fail is given: RTF 5% worse, so that a 10% slowdown is called one.
DEFAULT_GATES = ("rtf:5%",)

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: Run options that the A/B mode sets itself (the worker measures one round per command,
#: with no energy window, idle sampling or GPU energy meter).
_NOT_FOR_AB = {"rounds", "min_window_s", "idle_s", "gpus"}


def add_ab_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``ab``'s arguments to ``parser`` (the ``whisperbench ab`` subcommand)."""
    from whisperbench.compare.options import add_gate_options

    parser.description = (
        "Measure two versions of whisperbench (or of the model stack under it) with their "
        "rounds interleaved A B, B A, ..., each in its own worker process and environment, "
        "and gate on the paired differences, which cancel the machine's drift. Without "
        f"--fail, gates {', '.join(DEFAULT_GATES)}."
    )
    sides = parser.add_argument_group("the two versions")
    for side in ("a", "b"):
        what = "baseline" if side == "a" else "version to judge"
        sides.add_argument(
            f"--{side}-python",
            default=sys.executable,
            metavar="PYTHON",
            help=f"Python of the {what}'s environment (a virtualenv's bin/python). "
            "Default: this Python, %(default)s",
        )
        sides.add_argument(
            f"--{side}-path",
            default=None,
            metavar="DIR",
            help=f"Source folder of the {what}, put first on PYTHONPATH (a checkout's src). "
            "Default: %(default)s (what its Python imports)",
        )
        sides.add_argument(
            f"--{side}-worker-arg",
            action="append",
            default=[],
            metavar="ARG",
            help=f"An extra argument for the {what}'s workers, repeatable: a run option for "
            "this side only (--threads 1), or, to test the gate itself, --slowdown FRACTION "
            "(a deliberate slowdown, see whisperbench.ab.slowdown); write it as "
            f"--{side}-worker-arg=--slowdown --{side}-worker-arg=0.1. Default: none%(default).0s",
        )
    measure = parser.add_argument_group("what to measure (both sides)")
    add_run_options(measure.add_argument, only=lambda name, _: name not in _NOT_FOR_AB)
    measure.add_argument(
        "--processes",
        type=int_at_least(1),
        default=DEFAULT_PROCESSES,
        metavar="K",
        help="Pairs of worker processes, one after the other (a process's own state shifts all "
        "its rounds, so evidence is counted in processes: 7 is the fewest the signed-rank test "
        "can call significant at alpha 0.01). Default: %(default)s",
    )
    measure.add_argument(
        "--pairs",
        type=int_at_least(1),
        default=DEFAULT_PAIRS,
        metavar="N",
        help="Measured rounds per side in each process pair, interleaved A B, B A, ... "
        "Default: %(default)s",
    )
    measure.add_argument("--quiet", action="store_true", help="No progress on stderr. Default: off")
    measure.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="Write each worker's run as pytest-benchmark JSON (DIR/a-1.json ... DIR/b-K.json), "
        "for `whisperbench report` or `whisperbench compare --base ... --new ...`. "
        "Default: %(default)s",
    )
    gate = parser.add_argument_group("the gate (as whisperbench compare)")
    add_gate_options(gate.add_argument)


def worker_arguments(options: RunOptions) -> list[str]:
    """``options`` as the worker's command line (the app's flags), one value each."""
    argv: list[str] = []
    for name, spec in option_specs():
        if name in _NOT_FOR_AB:
            continue
        value = getattr(options, name)
        if spec.parse is None:
            if value:
                argv.append(f"--{spec.flag}")
        elif value is not None:
            argv += [f"--{spec.flag}", repr(value) if isinstance(value, float) else str(value)]
    return argv


def side_document(
    label: str, side: Any, case: str, params: Mapping[str, Any], pairs: int
) -> dict[str, Any]:
    """One worker of an A/B run as a pytest-benchmark JSON document with one benchmark.

    ``side`` is a :class:`whisperbench.ab.runner.SideResult`; ``stats`` are the worker's
    per-round wall seconds (pytest-benchmark's ``time``), ``extra_info`` the worker's result,
    ``whisperbench.ab`` how it was run (process pair, order of its pairs).
    """
    from whisperbench import schema
    from whisperbench.ab.runner import order

    wall = list(side.wall_s)
    data_stats: dict[str, Any] = {
        "min": min(wall),
        "max": max(wall),
        "mean": statistics.fmean(wall),
        "stddev": statistics.stdev(wall) if len(wall) > 1 else 0.0,
        "rounds": len(wall),
        "median": statistics.median(wall),
        "total": sum(wall),
        "iterations": 1,
        "data": wall,
    }
    return {
        "machine_info": side.machine_info,
        "commit_info": {},
        "benchmarks": [
            {
                "group": "ab",
                "name": f"ab[{case}]",
                "fullname": f"whisperbench ab::{case}",
                "params": dict(params),
                "param": case,
                "extra_info": side.extra_info,
                "options": {"timer": "perf_counter", "interleaved": True},
                "stats": data_stats,
            }
        ],
        "datetime": dt.datetime.now(dt.timezone.utc).isoformat(),
        "version": None,
        schema.WHISPERBENCH: {
            schema.SCHEMA_VERSION_FIELD: schema.SCHEMA_VERSION,
            "ab": {
                "side": label,
                "python": side.version.python,
                "path": side.version.path,
                "worker_args": list(side.version.extra_args),
                "process": side.process,
                "pairs": pairs,
                "order": ["".join(pair) for pair in order(pairs, start=side.process)],
                "ready": side.ready,
            },
        },
    }


def _workload_notes(sides: Any) -> list[str]:
    """Differences in what the two versions transcribed: pairs compare like with like only
    when both measured the same audio and decoded the same number of tokens."""
    from whisperbench import schema

    notes = []
    for field, what in ((schema.AUDIO_SHA256, "audio"), (schema.TOKENS, "tokens per round")):
        seen = {
            label: {str(s.extra_info.get(field)) for s in side}
            for label, side in zip("AB", sides, strict=True)
        }
        if seen["A"] != seen["B"]:
            notes.append(
                f"A and B differ in {what} ({', '.join(sorted(seen['A']))} vs "
                f"{', '.join(sorted(seen['B']))}): the pairs compare different work"
            )
    return notes


def run_ab_command(args: argparse.Namespace) -> int:
    """Run ``whisperbench ab`` from parsed arguments; returns the exit code."""
    from whisperbench.ab.runner import AbError, PairTimes, Version, run_ab
    from whisperbench.compare import compare_runs
    from whisperbench.compare.options import markdown_from, options_from
    from whisperbench.compare.render import print_comparison
    from whisperbench.compare.rule import parse_fail_spec
    from whisperbench.jsonio import write_json_atomic
    from whisperbench.pytest_plugin import case_id, case_params
    from whisperbench.runs import RunError, run_from_document
    from whisperbench.session import check_options

    def get(name: str) -> object:
        return getattr(args, name)

    def error(message: str) -> int:
        print(f"whisperbench ab: error: {message}", file=sys.stderr)
        return EXIT_USAGE

    options = RunOptions(
        **{name: getattr(args, name) for name, _ in option_specs() if name not in _NOT_FOR_AB}
    ).with_values(rounds=args.pairs)
    try:
        check_options(options)
    except (ValueError, KeyError) as exc:  # PrecisionError is a ValueError
        return error(str(exc))
    gate = options_from(get)
    if not gate.gates:
        gate = type(gate)(**{**gate.__dict__, "gates": dict(map(parse_fail_spec, DEFAULT_GATES))})
    if args.output_dir is not None and not args.output_dir.is_dir():
        return error(f"--output-dir {args.output_dir}: no such folder")
    a = Version("A", args.a_python, args.a_path, tuple(args.a_worker_arg))
    b = Version("B", args.b_python, args.b_path, tuple(args.b_worker_arg))
    for side in (a, b):
        flag = f"--{side.label.lower()}"
        if shutil.which(side.python) is None:
            return error(f"{side.label}: {flag}-python {side.python}: no such executable")
        if side.path is not None and not Path(side.path).is_dir():
            return error(f"{side.label}: {flag}-path {side.path}: no such folder")

    def progress(pair: PairTimes) -> None:
        if not args.quiet:
            ratio = pair.b_s / pair.a_s if pair.a_s > 0 else float("nan")
            print(
                f"processes {pair.process + 1}/{args.processes}, pair {pair.index + 1}/"
                f"{args.pairs} ({pair.first} first): A {pair.a_s:.4g} s, B {pair.b_s:.4g} s, "
                f"B/A {ratio:.3f}",
                file=sys.stderr,
                flush=True,
            )

    if not args.quiet:
        print(f"A: {a.describe()}\nB: {b.describe()}", file=sys.stderr, flush=True)
    try:
        sides = run_ab(
            a, b, worker_arguments(options), args.processes, args.pairs, on_pair=progress
        )
    except AbError as exc:
        return error(str(exc))
    except KeyboardInterrupt:
        print("whisperbench ab: interrupted; nothing decided", file=sys.stderr)
        return EXIT_INTERRUPTED
    case = case_id(options)
    params = case_params(options)
    documents = {
        (label, side.process): side_document(label, side, case, params, args.pairs)
        for label, results in (("A", sides[0]), ("B", sides[1]))
        for side in results
    }
    try:
        runs = {
            label: [
                run_from_document(
                    documents[(label, side.process)],
                    side.version.describe(),
                    f"{label}{side.process + 1}",
                )
                for side in results
            ]
            for label, results in (("A", sides[0]), ("B", sides[1]))
        }
        comparison = compare_runs(runs["A"], runs["B"], gate, paired=True)
    except RunError as exc:
        return error(str(exc))
    if args.output_dir is not None:
        for (label, process), document in documents.items():
            write_json_atomic(args.output_dir / f"{label.lower()}-{process + 1}.json", document)
    for note in _workload_notes(sides):
        print(f"WARNING: {note}")
    problem = print_comparison(comparison, markdown_from(get))
    if problem is not None:
        return error(problem)
    return comparison.exit_code
