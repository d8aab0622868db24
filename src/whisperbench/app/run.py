"""``whisperbench run``: gather audio -> measure through a session -> seed record -> write.

Exit codes: 0 ok; 1 some inputs failed (each named on stderr and in ``failures``; the rest
are still measured and written); 2 usage error, found before anything is measured.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys

from whisperbench import schema
from whisperbench.app.inputs import gather_audio, source_conflict
from whisperbench.app.output import (
    OutputError,
    check_output_file,
    print_summary,
    progress,
    write_record,
)
from whisperbench.app.record import per_clip_times, seed_record
from whisperbench.options import run_options_from

__all__ = ["EXIT_INPUT_FAILED", "EXIT_OK", "EXIT_USAGE", "UsageError", "run"]

EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("whisperbench")


class UsageError(Exception):
    """Bad input that stops the run before anything is measured (exit 2)."""


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


def run(args: argparse.Namespace) -> int:
    """The run command; returns the exit code."""
    _configure_logging(args)
    try:
        return _run(args)
    except UsageError as error:
        log.error("%s", error)
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    from whisperbench.models.integrity import WeightsIntegrityError
    from whisperbench.models.loading import WeightsUnavailable
    from whisperbench.session import check_options, open_session

    options = run_options_from(lambda dest: getattr(args, dest))
    try:
        check_output_file(args.output_file)
        conflict = source_conflict(args)
        if conflict:
            raise UsageError(conflict)
        checked = check_options(options)
    except (OutputError, ValueError) as error:  # PrecisionError is a ValueError
        raise UsageError(str(error)) from None

    try:
        work = gather_audio(args)
    except (ValueError, LookupError, OSError) as error:
        raise UsageError(str(error)) from None
    for failure in work.failures:
        log.error("%s: %s", failure[schema.INPUT], failure[schema.ERROR])
    if not work.clips:
        log.error("no audio could be loaded; nothing measured")
        write_record(
            args.output_file,
            {schema.FAILURES: work.failures, schema.TOTAL_SAMPLES: 0, schema.TRANSCRIPTIONS: []},
        )
        return EXIT_INPUT_FAILED

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

    batches = math.ceil(len(work.clips) / options.batch_size)
    tick, close = progress(batches * (options.rounds + options.warmup_rounds), not args.quiet)
    try:
        with session:
            result = session.measure(work.clips, on_batch=tick)
    finally:
        close()

    record = seed_record(
        result,
        per_clip_times=per_clip_times(result, options.batch_size),
        failures=work.failures,
        extra={
            schema.AUDIO_SOURCE: work.source,
            schema.AUDIO_LOAD_S: work.load_s,
            schema.ARGV: sys.argv[1:],
        },
    )
    write_record(args.output_file, record)
    if not args.quiet:
        print_summary(record)
    return EXIT_INPUT_FAILED if work.failures else EXIT_OK
