"""One version's side of ``whisperbench ab``: ``python -m whisperbench.ab.worker [run options]``.

Started by the coordinator (:mod:`whisperbench.ab.runner`) with this version's Python and
source folder. Takes the run options of ``whisperbench run`` (:mod:`whisperbench.options`),
opens a session (model loaded, meters built), then measures through
:meth:`whisperbench.session.Session.measure` as every front end does: the warm-up rounds run
first, then each measured round waits for a ``round`` command on stdin
(:mod:`whisperbench.ab.protocol`), so the coordinator can interleave it with the other
version's. The result is the same ``extra_info`` the suite writes, except energy: the meter
window holds the other version's rounds too, so energy fields are null with that reason.

Exit codes: 0 done, 1 a measured round failed, 2 the options or the model could not be used
(an ``error`` event says why in both cases), 3 the coordinator went away or broke the
protocol.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from whisperbench import __version__, schema
from whisperbench.ab import protocol
from whisperbench.options import RunOptions, add_run_options, run_options_from

__all__ = ["ENERGY_NOT_MEASURED", "WORKER_MODULE", "main", "worker_options"]

#: What the coordinator runs with ``-m``.
WORKER_MODULE = "whisperbench.ab.worker"
#: Why an A/B result carries no energy.
ENERGY_NOT_MEASURED = (
    "not measured by ab: the meter window spans the other version's interleaved rounds too"
)

EXIT_OK, EXIT_FAILED, EXIT_SETUP, EXIT_PROTOCOL = 0, 1, 2, 3


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < 10:
        raise argparse.ArgumentTypeError(f"slowdown must be in [0, 10), got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {WORKER_MODULE}",
        description="One side of whisperbench ab (started by it; not for direct use).",
    )
    add_run_options(parser.add_argument)
    parser.add_argument(
        "--slowdown",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="Testing the gate only (benchmarks/gate_error_rates.py): make every generate call "
        "slower by FRACTION of its own time (whisperbench.ab.slowdown). Default: 0",
    )
    return parser


def worker_options(options: RunOptions) -> RunOptions:
    """The options a worker measures with: no energy window to stretch, no idle sampling,
    no GPU energy meter (the window would hold the other version's rounds)."""
    return options.with_values(min_window_s=0.0, idle_s=0.0, gpus="none")


def main(argv: Sequence[str] | None = None) -> int:
    """Serve one ``ab`` side on stdin/stdout; returns the exit code."""
    events = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not break the protocol
    sys.stdout = sys.stderr
    args = build_parser().parse_args(argv)
    options = worker_options(run_options_from(lambda name: getattr(args, name)))
    try:
        return _serve(options, args.slowdown, events, sys.stdin)
    except (BrokenPipeError, EOFError):
        return EXIT_PROTOCOL
    finally:
        with contextlib.suppress(BrokenPipeError):
            events.close()


def _serve(options: RunOptions, slowdown: float, events: IO[str], commands: IO[str]) -> int:
    import transformers

    from whisperbench.ab.slowdown import slow_down
    from whisperbench.meters.device_state import machine_info
    from whisperbench.session import open_session, synthetic_clips

    transformers.logging.set_verbosity_error()
    try:
        session = open_session(options)
    except Exception as exc:  # every setup failure is one line for the coordinator
        protocol.send(events, {protocol.EVENT: "error", protocol.MESSAGE: _one_line(exc)})
        return EXIT_SETUP
    wall: list[float] = []
    with session:
        slow_down(session.loaded.model, slowdown)

        def run_rounds(target: Callable[[], Any], _: int) -> None:
            protocol.send(
                events,
                {
                    protocol.EVENT: "ready",
                    "protocol": protocol.PROTOCOL_VERSION,
                    "version": __version__,
                    "python": sys.executable,
                    "whisperbench": os.path.dirname(os.path.dirname(__file__)),
                    "slowdown": slowdown,
                },
            )
            for line in commands:
                command = line.strip()
                if command == protocol.FINISH:
                    return
                if command != protocol.ROUND:
                    raise EOFError(f"unknown command {command!r}")
                started = time.perf_counter()
                measured = target()
                wall.append(time.perf_counter() - started)
                protocol.send(
                    events,
                    {
                        protocol.EVENT: "round",
                        "wall_s": wall[-1],
                        schema.INFERENCE_S: measured.times.inference_s,
                    },
                )
            raise EOFError("the coordinator closed the command stream")

        try:
            result = session.measure(synthetic_clips(options), run_rounds=run_rounds)
        except EOFError:
            raise
        except Exception as exc:  # a failing round: one line for the coordinator
            protocol.send(events, {protocol.EVENT: "error", protocol.MESSAGE: _one_line(exc)})
            return EXIT_FAILED
    extra_info = result.to_extra_info()
    for name in schema.ENERGY_FIGURES:
        extra_info[name] = None
    extra_info[schema.ENERGY_VALID] = False
    extra_info[schema.ENERGY_NULL_REASON] = ENERGY_NOT_MEASURED
    protocol.send(
        events,
        {
            protocol.EVENT: "result",
            "extra_info": extra_info,
            "machine_info": {schema.WHISPERBENCH: machine_info()},
            "wall_s": wall,
        },
    )
    return EXIT_OK


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
