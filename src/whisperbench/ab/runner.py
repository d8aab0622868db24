"""Run two versions' workers side by side and interleave their measured rounds.

Each version is a Python interpreter (its virtualenv) and optionally a source folder put
first on ``PYTHONPATH`` (a checkout's ``src``): two checkouts in one environment, or two
environments. A *process pair* is one worker of each: both load their model and warm up at
the same time; then their measured rounds alternate in a balanced order, A B, B A, A B, ...
(so a steady drift and any advantage of going first or second cancel over pairs), and only
one worker computes at a time while the other waits on its stdin. Pair ``i`` is round ``i``
of each side. Several process pairs run one after the other, because a process's own state
(memory layout, where the OS placed it) shifts all its rounds alike: measured here, two
workers of the same code differ by 3-7% in their medians (``reports/README.md``).

Raises :class:`AbError` (one line, naming the side) when a worker cannot start, reports an
error, breaks the protocol or stops answering.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from whisperbench.ab import protocol
from whisperbench.ab.worker import WORKER_MODULE

__all__ = ["AbError", "PairTimes", "SideResult", "Version", "order", "run_ab"]

#: Seconds to wait for a worker to load its model and warm up, and for one round.
DEFAULT_TIMEOUT_S = 1800.0


class AbError(Exception):
    """A worker failed; the message is one line naming the side."""


@dataclass(frozen=True)
class Version:
    """One side: how to start its worker."""

    label: str  #: "A" or "B"
    python: str  #: interpreter of its environment
    path: str | None = None  #: put first on PYTHONPATH (a checkout's src folder)
    extra_args: tuple[str, ...] = ()  #: worker arguments for this side only (--slowdown)

    def describe(self) -> str:
        where = f", PYTHONPATH={self.path}" if self.path else ""
        extra = f", {' '.join(self.extra_args)}" if self.extra_args else ""
        return f"{self.python}{where}{extra}"


@dataclass(frozen=True)
class SideResult:
    """What one worker measured: its ``ready`` facts, the result and per-round wall times."""

    version: Version
    ready: dict[str, Any]
    extra_info: dict[str, Any]
    machine_info: dict[str, Any]
    wall_s: list[float]
    process: int = 0  #: index of the process pair it belongs to


@dataclass(frozen=True)
class PairTimes:
    """One pair's round seconds, as measured by each worker."""

    process: int  #: index of the process pair
    index: int  #: index of the pair inside it
    first: str  #: the side that ran first
    a_s: float
    b_s: float


def order(pairs: int, start: int = 0) -> list[tuple[str, str]]:
    """The balanced order of ``pairs`` pairs: (A, B), (B, A), (A, B), ...; from (B, A)
    when ``start`` is odd (the process pair's index, so an odd count still balances)."""
    return [("A", "B") if (i + start) % 2 == 0 else ("B", "A") for i in range(pairs)]


@dataclass
class _Worker:
    version: Version
    process: subprocess.Popen[str]
    stderr: IO[bytes]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def start_reader(self) -> None:
        def pump() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.put(line)
            self.lines.put(None)

        threading.Thread(target=pump, name=f"ab-{self.version.label}", daemon=True).start()

    def command(self, word: str) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(word + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise AbError(self._died("while being sent a command")) from None

    def event(self, expected: str, timeout_s: float) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout_s)
        except queue.Empty:
            raise AbError(
                f"{self.version.label}: no answer within {timeout_s:g} s (waiting for "
                f"{expected!r}); the worker was stopped"
            ) from None
        if line is None:
            raise AbError(self._died(f"before sending {expected!r}"))
        try:
            message = protocol.decode(line)
        except ValueError as exc:
            raise AbError(f"{self.version.label}: {exc}") from None
        if message[protocol.EVENT] == "error":
            raise AbError(f"{self.version.label}: {message.get(protocol.MESSAGE)}")
        if message[protocol.EVENT] != expected:
            raise AbError(
                f"{self.version.label}: expected {expected!r}, got {message[protocol.EVENT]!r}"
            )
        return message

    def _died(self, when: str) -> str:
        try:
            status = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            status = None
        self.stderr.seek(0)
        tail = [line for line in self.stderr.read().decode(errors="replace").splitlines() if line]
        hint = ""
        if any(
            f"No module named {WORKER_MODULE.rsplit('.', 1)[0]}" in line for line in tail
        ) or any("No module named" in line and "whisperbench" in line for line in tail):
            hint = " (does this version of whisperbench have `whisperbench ab`?)"
        last = tail[-1] if tail else "no output"
        return f"{self.version.label}: the worker exited (status {status}) {when}: {last}{hint}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self.stderr.close()


def _spawn(version: Version, run_args: Sequence[str]) -> _Worker:
    env = dict(os.environ)
    if version.path:
        folder = str(Path(version.path).resolve())
        env["PYTHONPATH"] = os.pathsep.join(
            part for part in (folder, env.get("PYTHONPATH")) if part
        )
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the worker's life
    command = [version.python, "-m", WORKER_MODULE, *run_args, *version.extra_args]
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            encoding="utf-8",
            env=env,
        )
    except OSError as exc:
        stderr.close()
        raise AbError(
            f"{version.label}: cannot start {version.python}: {exc.strerror or exc}"
        ) from None
    worker = _Worker(version, process, stderr)
    worker.start_reader()
    return worker


def run_ab(
    a: Version,
    b: Version,
    run_args: Sequence[str],
    processes: int,
    pairs: int,
    *,
    on_pair: Callable[[PairTimes], None] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> tuple[list[SideResult], list[SideResult]]:
    """Measure ``processes`` pairs of workers, each ``pairs`` interleaved pairs of rounds.

    Process pairs run one after the other (a worker of A and one of B at a time, loading
    and warming up together, then alternating rounds); the side that goes first alternates
    from pair to pair and from one process pair to the next. ``run_args`` are the worker's
    run options (``--model tiny.en --dtype float32 ...``), the same for both sides.
    ``on_pair`` is called after every pair (progress). Returns each side's results, one per
    process, in order. Raises :class:`AbError`, and ValueError for counts below 1.
    """
    if processes < 1 or pairs < 1:
        raise ValueError(f"processes and pairs must be >= 1, got {processes} and {pairs}")
    sides: tuple[list[SideResult], list[SideResult]] = ([], [])
    for process in range(processes):
        side_a, side_b = _process_pair(
            a, b, run_args, process, pairs, on_pair=on_pair, timeout_s=timeout_s
        )
        sides[0].append(side_a)
        sides[1].append(side_b)
    return sides


def _process_pair(
    a: Version,
    b: Version,
    run_args: Sequence[str],
    process: int,
    pairs: int,
    *,
    on_pair: Callable[[PairTimes], None] | None,
    timeout_s: float,
) -> tuple[SideResult, SideResult]:
    workers: dict[str, _Worker] = {}
    try:
        for version in (a, b):
            workers[version.label] = _spawn(version, run_args)
        ready = {label: w.event("ready", timeout_s) for label, w in workers.items()}
        for index, (first, second) in enumerate(order(pairs, start=process)):
            seconds = {}
            for label in (first, second):
                workers[label].command(protocol.ROUND)
                seconds[label] = float(workers[label].event("round", timeout_s)["wall_s"])
            if on_pair is not None:
                on_pair(PairTimes(process, index, first, seconds[a.label], seconds[b.label]))
        results = {}
        for label, worker in workers.items():
            worker.command(protocol.FINISH)
            results[label] = worker.event("result", timeout_s)
    finally:
        for worker in workers.values():
            worker.stop()
    side_a, side_b = (
        SideResult(
            version=version,
            ready=ready[version.label],
            extra_info=dict(results[version.label]["extra_info"]),
            machine_info=dict(results[version.label]["machine_info"]),
            wall_s=[float(s) for s in results[version.label]["wall_s"]],
            process=process,
        )
        for version in (a, b)
    )
    return side_a, side_b
