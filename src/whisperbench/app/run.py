"""``whisperbench run``: gather audio -> measure through a session -> seed record -> write.

Exit codes:

- 0: ok;
- 1: some inputs failed (each named on stderr and in ``failures``; the rest are still measured
  and written);
- 2: usage error, found before anything is measured (a bad flag, an output file that is a
  folder or an input, more samples than memory holds, damaged weights...);
- 3: the results could not be written to ``--output-file`` (a full disk): one line on stderr,
  the JSON on stdout instead;
- 130 / 143: interrupted by SIGINT (Ctrl-C) / SIGTERM (SLURM's time limit, ``kill``): what
  finished is written, marked ``"interrupted": true``, with the unfinished inputs listed, and
  one line on stderr says so.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whisperbench import schema
from whisperbench.app.inputs import (
    Workload,
    check_sample_count,
    gather_audio,
    input_names,
    source_conflict,
)
from whisperbench.app.output import (
    OutputError,
    check_output_file,
    print_summary,
    progress,
    write_record,
)
from whisperbench.app.record import nothing_measured_record, per_clip_times, seed_record
from whisperbench.interrupts import (
    Interrupted,
    exit_code,
    interrupts_raised,
    signal_name,
    signal_of,
    signals_deferred,
)
from whisperbench.options import run_options_from
from whisperbench.schema import Result

__all__ = [
    "EXIT_INPUT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXIT_WRITE_FAILED",
    "UsageError",
    "run",
]

EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE, EXIT_WRITE_FAILED = 0, 1, 2, 3

log = logging.getLogger("whisperbench")


class UsageError(Exception):
    """Bad input that stops the run before anything is measured (exit 2)."""


@dataclass
class _Progress:
    """How far a run got, for what an interrupt writes."""

    output_checked: bool = False  #: --output-file passed its checks: safe to write
    work: Workload | None = None
    result: Result | None = None  #: every clip measured
    #: the final record is written (or, if that failed, printed): an interrupt changes nothing
    recorded: bool = False


def _configure_logging(args: argparse.Namespace) -> None:
    level = "WARNING" if args.quiet and args.log_level == "INFO" else args.log_level
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    log.setLevel(level)
    import transformers

    # transformers' own chatter (generation-config notes) only when debugging.
    if level == "DEBUG":
        transformers.logging.set_verbosity_info()
    else:
        transformers.logging.set_verbosity_error()
    # Its "Loading weights" bar only where ours would show: a terminal, not --quiet.
    if args.quiet or not sys.stderr.isatty():
        transformers.logging.disable_progress_bar()
    if args.quiet and args.log_level == "INFO":
        # --quiet: whisperbench's warnings and anyone's errors, not other libraries' import-time
        # warnings (torch's, or torchao's when it is installed and transformers imports it).
        logging.getLogger().setLevel(logging.ERROR)
        logging.getLogger("torch").setLevel(logging.ERROR)  # torch logs with its own handler


def run(args: argparse.Namespace) -> int:
    """The run command; returns the exit code. SIGTERM is handled like Ctrl-C throughout."""
    with interrupts_raised():
        state = _Progress()
        try:
            _configure_logging(args)
            return _run(args, state)
        except UsageError as error:
            log.error("%s", error)
            return EXIT_USAGE
        except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM raised as one
            return _interrupted(args, state, stop)


def _read_inputs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """``(flag, path)`` of every file or folder the run reads, for the output-file check."""
    inputs = [("--audio-file", str(path)) for path in args.audio_file or ()]
    inputs += [
        (f"the reference beside {path}", str(Path(path).with_suffix(".txt")))
        for path in args.audio_file or ()
    ]
    if args.references:
        inputs.append(("--references", args.references))
    if args.dataset_path:
        inputs.append(("--dataset-path", args.dataset_path))
    return inputs


def _run(args: argparse.Namespace, state: _Progress) -> int:
    from whisperbench.measure import plan_batches
    from whisperbench.models.integrity import WeightsIntegrityError
    from whisperbench.models.loading import WeightsUnavailable
    from whisperbench.session import check_options, open_session

    options = run_options_from(lambda dest: getattr(args, dest))
    try:
        check_output_file(args.output_file, _read_inputs(args))
        conflict = source_conflict(args)
        if conflict:
            raise UsageError(conflict)
        check_sample_count(args)
        checked = check_options(options)
    except (OutputError, ValueError) as error:  # PrecisionError is a ValueError
        raise UsageError(str(error)) from None
    state.output_checked = True

    try:
        work = gather_audio(args)
    except (ValueError, LookupError, OSError) as error:
        raise UsageError(str(error)) from None
    state.work = work
    for failure in work.failures:
        log.error("%s: %s", failure[schema.INPUT], failure[schema.ERROR])
    if not work.clips:
        log.error("no audio could be loaded; nothing measured")
        record = nothing_measured_record(work.failures, _run_facts(args, work))
        written = _write(args, record)
        return EXIT_INPUT_FAILED if written else EXIT_WRITE_FAILED

    log.info(
        "loading %s (%s, %s, weights: %s)",
        checked.spec.model_id,
        checked.precision.device,
        checked.precision.dtype,
        options.weights,
    )
    try:
        session = open_session(checked)
    except (WeightsUnavailable, WeightsIntegrityError) as error:
        raise UsageError(str(error)) from None
    loaded = session.loaded
    log.info(
        "loaded in %.2f s from %s (%s)", loaded.load_s, loaded.weights.source, loaded.weights.origin
    )

    batches = len(plan_batches([clip.num_samples for clip in work.clips], options.batch_size))
    tick, close = progress(batches * (options.rounds + options.warmup_rounds), not args.quiet)
    try:
        with session:
            result = state.result = session.measure(work.clips, on_batch=tick)
    finally:
        close()

    record = _record(args, work, result, range(len(work.clips)), _run_facts(args, work))
    written = _write(args, record, state)
    if not args.quiet:
        print_summary(record)
    if not written:
        return EXIT_WRITE_FAILED
    return EXIT_INPUT_FAILED if work.failures else EXIT_OK


def _run_facts(
    args: argparse.Namespace,
    work: Workload | None,
    *,
    interrupted_by: str | None = None,
    unfinished: list[str] | None = None,
) -> dict[str, Any]:
    return {
        schema.INTERRUPTED: interrupted_by is not None,
        schema.INTERRUPTED_BY: interrupted_by,
        schema.UNFINISHED: unfinished or [],
        schema.AUDIO_SOURCE: work.source if work is not None else None,
        schema.AUDIO_LOAD_S: work.load_s if work is not None else None,
        schema.ARGV: sys.argv[1:],
    }


def _record(
    args: argparse.Namespace,
    work: Workload,
    result: Result,
    clips: Any,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The seed record of ``result``, whose clips are ``work.clips[i] for i in clips``."""
    return seed_record(
        result,
        per_clip_times=per_clip_times(result),
        failures=work.failures,
        extra=extra,
        inputs=[work.inputs[i] for i in clips],
    )


def _write(
    args: argparse.Namespace,
    record: dict[str, Any],
    state: _Progress | None = None,
    *,
    announce: bool = True,
) -> bool:
    """Write the record; a Ctrl-C or a SIGTERM cannot cut the write short. One that came
    during the write of the final record (``state`` given) is raised once it is written."""
    with signals_deferred() as received:
        written = write_record(args.output_file, record, announce=announce)
    if state is not None:
        state.recorded = True
        if received:
            raise Interrupted(received[0])
    return written


def _interrupted(args: argparse.Namespace, state: _Progress, stop: KeyboardInterrupt) -> int:
    """Write what finished, say so in one line, and return 130 (SIGINT) or 143 (SIGTERM)."""
    signum = signal_of(stop)
    name = signal_name(signum)
    if state.recorded:  # it came after the results were written: keep them as they are
        log.error("interrupted by %s after the results were recorded", name)
        return exit_code(signum)
    partial: Result | None = getattr(stop, "partial", None)
    finished: tuple[int, ...] = getattr(stop, "finished", ())
    work = state.work
    if state.result is not None and work is not None:  # measured, cut before the write
        partial, finished = state.result, tuple(range(len(work.clips)))
    inputs = work.inputs if work is not None else input_names(args)
    done = set(finished) if partial is not None else set()
    unfinished = [item for i, item in enumerate(inputs) if i not in done]
    facts = _run_facts(args, work, interrupted_by=name, unfinished=unfinished)
    if partial is not None and work is not None:
        record = _record(args, work, partial, finished, facts)
    else:
        record = nothing_measured_record(work.failures if work is not None else [], facts)
    written = state.output_checked and bool(args.output_file)
    if written:
        written = _write(args, record, announce=False)
    where = f"; written to {args.output_file}" if written else ""
    log.error(
        "interrupted by %s: %d of %d inputs finished%s; unfinished: %s",
        name,
        len(done),
        len(inputs),
        where,
        ", ".join(unfinished) if unfinished else "none",
    )
    if partial is not None and not args.quiet:
        print_summary(record)
    return exit_code(signum)
