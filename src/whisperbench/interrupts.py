"""Interrupts that keep results: SIGTERM handled like Ctrl-C, and a quiet final write.

Python turns SIGINT (Ctrl-C) into ``KeyboardInterrupt``; SIGTERM, which SLURM sends at a job's
time limit and ``kill`` sends by default, ends the process at once, losing everything measured.
:func:`interrupts_raised` makes SIGTERM raise :class:`Interrupted`, a ``KeyboardInterrupt``,
so both signals unwind the same way: meters are ended, what finished is written, and the
process exits with the shell's code for the signal (130 for SIGINT, 143 for SIGTERM).
:func:`signals_deferred` holds both signals off while results are written, so a second Ctrl-C
cannot cut the write that keeps the first one's results.

The app (``whisperbench run``), the suite's pytest plugin and sweeps use these.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

__all__ = [
    "Interrupted",
    "exit_code",
    "interrupts_raised",
    "signal_name",
    "signal_of",
    "signals_deferred",
]

#: The signals that interrupt a run.
INTERRUPT_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal; a ``KeyboardInterrupt``, so it unwinds like Ctrl-C."""

    def __init__(self, signal_number: int = signal.SIGINT) -> None:
        super().__init__(signal_name(signal_number))
        self.signal_number = int(signal_number)


def signal_of(error: BaseException) -> int:
    """The signal behind an interrupt: SIGINT for a plain ``KeyboardInterrupt``."""
    return int(getattr(error, "signal_number", signal.SIGINT))


def signal_name(signal_number: int) -> str:
    """``"SIGTERM"`` for 15."""
    try:
        return signal.Signals(signal_number).name
    except ValueError:
        return f"signal {signal_number}"


def exit_code(signal_number: int) -> int:
    """The shell's exit status for a process ended by ``signal_number``: 128 + its number."""
    return 128 + int(signal_number)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _handled(signals: Sequence[signal.Signals], handler: Any) -> Iterator[None]:
    """``handler`` installed for each of ``signals`` inside; the previous handlers restored
    on exit (also those installed before a failure)."""
    previous: dict[signal.Signals, Any] = {}
    try:
        for number in signals:
            previous[number] = signal.signal(number, handler)
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


@contextlib.contextmanager
def interrupts_raised(
    signals: Sequence[signal.Signals] = (signal.SIGTERM,),
) -> Iterator[list[int]]:
    """Inside, each of ``signals`` raises :class:`Interrupted` in the main thread (SIGINT
    already raises ``KeyboardInterrupt``); the list yielded collects the signals received.
    The previous handlers are restored on exit. Outside the main thread (where Python cannot
    set handlers) nothing changes.
    """
    received: list[int] = []
    if not _in_main_thread():
        yield received
        return

    def raise_interrupted(number: int, frame: FrameType | None) -> None:
        received.append(number)
        raise Interrupted(number)

    with _handled(signals, raise_interrupted):
        yield received


@contextlib.contextmanager
def signals_deferred(
    signals: Sequence[signal.Signals] = INTERRUPT_SIGNALS,
) -> Iterator[list[int]]:
    """Inside, ``signals`` are recorded (in the list yielded) instead of acted on: for a
    write that must finish. Previous handlers are restored on exit; the signals received are
    not re-raised (the caller is already stopping). A no-op outside the main thread.
    """
    received: list[int] = []
    if not _in_main_thread():
        yield received
        return

    def record(number: int, frame: FrameType | None) -> None:
        received.append(number)

    with _handled(signals, record):
        yield received
