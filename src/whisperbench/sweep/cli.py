"""``whisperbench sweep plan|run|task|worker|status`` and ``whisperbench merge``.

Exit codes: 0 every cell done (or nothing to do); 1 some cells failed (each is named, the
others are kept); 2 usage error found before anything runs (a bad plan, no permission to set
clocks, a folder another sweep is using, SLURM tools missing); 130/143 interrupted by
SIGINT/SIGTERM (finished cells are kept; rerun to go on).
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

from whisperbench.argtypes import int_at_least
from whisperbench.sweep.clocks import CLOCK_MODES

__all__ = ["add_merge_arguments", "add_sweep_arguments", "run_merge"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _error(message: str) -> int:
    print(f"whisperbench sweep: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sweep`` command and its subcommands."""
    parser.description = (
        "Sweep a plan (run options x GPU operating points x runs) on this machine's GPUs or "
        "as a SLURM job array; every cell writes its own pytest-benchmark JSON shard."
    )
    commands = parser.add_subparsers(dest="sweep_command", metavar="SUBCOMMAND", required=True)

    plan = commands.add_parser("plan", help="print a plan's cells and their count; runs nothing")
    plan.add_argument("plan", type=Path, metavar="PLAN.toml")
    plan.set_defaults(handler=_plan)

    run = commands.add_parser("run", help="run a plan's pending cells (resumable)")
    run.add_argument("plan", type=Path, metavar="PLAN.toml")
    run.add_argument(
        "--dir",
        type=Path,
        default=None,
        metavar="SWEEP",
        help="sweep folder. Default: sweeps/<plan name>",
    )
    run.add_argument(
        "--executor",
        choices=("local", "slurm"),
        default="local",
        help="local: one worker per GPU here; slurm: a job array. Default: local",
    )
    run.add_argument(
        "--gpus",
        default="all",
        metavar="WHICH",
        help="local: the GPUs to use, all or NVML indices '0,1'. Default: all",
    )
    run.add_argument(
        "--clocks",
        choices=CLOCK_MODES,
        default="set",
        help="set: whisperbench sets and restores operating points; external: an "
        "outside framework set them, record only. Default: set",
    )
    run.add_argument(
        "--retry-failed",
        action="store_true",
        help="run cells that failed before again. Default: skip them",
    )
    run.add_argument(
        "--sbatch-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="slurm: an #SBATCH line, e.g. --sbatch-arg=--partition=gpu; "
        "repeatable, added to the plan's [slurm] sbatch",
    )
    run.add_argument(
        "--max-parallel",
        type=int_at_least(1),
        default=None,
        metavar="K",
        help="slurm: at most K tasks at once (--array=...%%K). Default: the plan's",
    )
    run.add_argument(
        "--cpus-per-task",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help="slurm: CPUs per task. Default: the plan's, else SLURM's",
    )
    run.add_argument(
        "--gpus-per-task",
        type=int_at_least(0),
        default=None,
        metavar="N",
        help="slurm: GPUs per task. Default: 1 unless every cell runs on the CPU",
    )
    run.add_argument(
        "--wait",
        action="store_true",
        help="slurm: follow the job to its end, then summarize. Default: return after submitting",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="slurm: write the sbatch script and print it; submit nothing",
    )
    run.add_argument(
        "--python",
        default=sys.executable,
        metavar="PATH",
        help="the Python that runs workers and tasks. Default: this one",
    )
    run.set_defaults(handler=_run)

    task = commands.add_parser("task", help="measure one cell (what each SLURM array task runs)")
    task.add_argument("dir", type=Path, metavar="SWEEP")
    task.add_argument("--cell", type=int_at_least(0), required=True, metavar="INDEX")
    task.add_argument("--clocks", choices=CLOCK_MODES, default="set")
    task.set_defaults(handler=_task)

    worker = commands.add_parser("worker", help="measure one run's pending cells (local workers)")
    worker.add_argument("dir", type=Path, metavar="SWEEP")
    worker.add_argument("--run", type=int_at_least(1), default=None, metavar="N")
    worker.add_argument("--gpu-uuid", default=None, metavar="UUID")
    worker.add_argument("--clocks", choices=CLOCK_MODES, default="set")
    worker.set_defaults(handler=_worker)

    status = commands.add_parser(
        "status", help="count done/failed/pending cells; rewrite the summary"
    )
    status.add_argument("dir", type=Path, metavar="SWEEP")
    status.set_defaults(handler=_status)


def _plan(args: argparse.Namespace) -> int:
    from whisperbench.sweep.plan import PlanError, describe, load_plan

    try:
        plan = load_plan(args.plan)
    except PlanError as error:
        return _error(str(error))
    print(describe(plan.cells()))
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from whisperbench.sweep.clocks import ClockControlError
    from whisperbench.sweep.folder import SweepFolder
    from whisperbench.sweep.plan import PlanError, load_plan

    try:
        plan = load_plan(args.plan)
        folder = SweepFolder.create(args.dir or Path("sweeps") / plan.name, plan)
    except PlanError as error:
        return _error(str(error))
    if args.executor == "slurm":
        return _run_slurm(folder, args)
    from whisperbench.sweep.local import SweepBusyError, local_gpus, preflight, run_local

    try:
        gpus = local_gpus(args.gpus)
        for line in preflight(folder, gpus, args.clocks):
            print(f"whisperbench sweep: {line}", file=sys.stderr)
    except (ClockControlError, ValueError) as error:
        return _error(str(error))
    pending = [s for s in folder.statuses() if s.state != "done"]
    where = "GPUs " + ",".join(str(g.index) for g in gpus) if gpus else "CPU"
    print(
        f"sweep {plan.name}: {len(folder.cells)} cells, {len(pending)} to run, "
        f"{len(gpus) or 1} worker(s) ({where}), folder {folder.root}",
        file=sys.stderr,
    )
    try:
        code = run_local(
            folder, gpus, clocks=args.clocks, retry_failed=args.retry_failed, python=args.python
        )
    except SweepBusyError as error:
        return _error(str(error))
    return _report(folder, code)


def _run_slurm(folder: object, args: argparse.Namespace) -> int:
    from whisperbench.sweep.folder import SweepFolder
    from whisperbench.sweep.slurm import SlurmError, sbatch_script, submit, wait
    from whisperbench.sweep.summary import record_execution, write_summary

    assert isinstance(folder, SweepFolder)
    if args.retry_failed:
        folder.clear_failures()
    pending = [s.cell.index for s in folder.statuses() if s.state == "pending"]
    if not pending:
        print(
            "whisperbench sweep: nothing to submit: every cell is done or failed "
            "(--retry-failed reruns failed ones)",
            file=sys.stderr,
        )
        return _report(folder, EXIT_OK)
    defaults = folder.plan.slurm
    script = sbatch_script(
        folder,
        pending,
        sbatch_args=[*defaults.sbatch, *args.sbatch_arg],
        max_parallel=args.max_parallel or defaults.max_parallel,
        cpus_per_task=args.cpus_per_task or defaults.cpus_per_task,
        gpus_per_task=args.gpus_per_task
        if args.gpus_per_task is not None
        else defaults.gpus_per_task,
        clocks=args.clocks,
        python=args.python,
    )
    folder.slurm_dir.mkdir(parents=True, exist_ok=True)
    path = folder.slurm_dir / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}.sbatch"
    path.write_text(script, encoding="utf-8")
    if args.dry_run:
        print(script)
        print(
            f"whisperbench sweep: wrote {path} ({len(pending)} cells); not submitted (--dry-run)",
            file=sys.stderr,
        )
        return EXIT_OK
    try:
        job = submit(path)
    except SlurmError as error:
        return _error(str(error))
    started = time.time()
    record_execution(
        folder,
        {
            "executor": "slurm",
            "job_id": job,
            "script": str(path),
            "cells": len(pending),
            "submitted_unix_s": started,
            "host": socket.gethostname(),
        },
    )
    print(
        f"whisperbench sweep: submitted job {job}: {len(pending)} task(s), script {path}",
        file=sys.stderr,
    )
    if not args.wait:
        return EXIT_OK
    try:
        wait(job)
    except SlurmError as error:
        return _error(str(error))
    record_execution(
        folder,
        {
            "executor": "slurm",
            "job_id": job,
            "finished_unix_s": time.time(),
            "wall_s": time.time() - started,
        },
    )
    write_summary(folder)
    summary_code = EXIT_OK if all(s.state == "done" for s in folder.statuses()) else EXIT_FAILED
    return _report(folder, summary_code)


def _report(folder: object, code: int) -> int:
    from whisperbench.sweep.folder import SweepFolder
    from whisperbench.sweep.summary import write_summary

    assert isinstance(folder, SweepFolder)
    summary = write_summary(folder)
    for outcome in summary["outcomes"]:
        if outcome["state"] == "failed":
            first = str(outcome["error"]).strip().splitlines()[0]
            print(f"  FAILED {outcome['id']}: {first}", file=sys.stderr)
    share = summary["share_measuring"]
    print(
        f"sweep {summary['sweep']}: {summary['done']}/{summary['cells']} cells done, "
        f"{summary['failed']} failed, {summary['pending']} pending"
        + (f"; {share:.0%} of worker time measuring" if share is not None else "")
        + f"; summary {folder.summary_path}"
    )
    return code


def _task(args: argparse.Namespace) -> int:
    from whisperbench.sweep.worker import run_worker

    return run_worker(args.dir, cell_indices=[args.cell], clocks=args.clocks)


def _worker(args: argparse.Namespace) -> int:
    from whisperbench.sweep.worker import run_worker

    return run_worker(args.dir, run=args.run, gpu_uuid=args.gpu_uuid, clocks=args.clocks)


def _status(args: argparse.Namespace) -> int:
    from whisperbench.sweep.folder import SweepFolder
    from whisperbench.sweep.plan import PlanError

    try:
        folder = SweepFolder.open(args.dir)
    except PlanError as error:
        return _error(str(error))
    return _report(folder, EXIT_OK)


def add_merge_arguments(parser: argparse.ArgumentParser) -> None:
    """``whisperbench merge SWEEP -o merged.json``."""
    parser.description = (
        "Merge a sweep's shards into one pytest-benchmark JSON (read by pytest-benchmark "
        "compare, whisperbench compare and report)."
    )
    parser.add_argument("dir", type=Path, metavar="SWEEP")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    parser.set_defaults(handler=run_merge)


def run_merge(args: argparse.Namespace) -> int:
    from whisperbench.sweep.folder import SweepFolder
    from whisperbench.sweep.merge import MergeError, merge
    from whisperbench.sweep.plan import PlanError

    try:
        folder = SweepFolder.open(args.dir)
        count, missing = merge(folder, args.output)
    except (PlanError, MergeError) as error:
        print(f"whisperbench merge: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"whisperbench merge: error: cannot write {args.output}: {error}", file=sys.stderr)
        return EXIT_USAGE
    for line in missing:
        print(f"  not merged: {line}", file=sys.stderr)
    print(f"merged {count} benchmark(s) of {len(folder.cells)} cell(s) into {args.output}")
    return EXIT_OK if not missing else EXIT_FAILED
