"""Window edges aligned to NVML energy-counter updates, for every metered GPU at once.

``nvmlDeviceGetTotalEnergyConsumption`` returns the energy at the counter's *last update*
(every ~100 ms; about once a second on some products). A window whose edges are plain reads
covers an interval shifted by up to one update period at each edge. Aligning an edge means
reading the counter in a loop until its value changes: the window then starts (or ends) at
that update, whose time is known to lie between the last read of the old value and the first
read of the new one (the *bracket*; its half-width is the edge's uncertainty).

What the counter difference covers is exact — the energy between two updates — whatever the
bracket's width; the bracket only says *when* those updates were. Waiting for a narrower
bracket costs a whole update period of idle device inside the window, so:

* the **end** edge takes the first update after the work (the device idles from the end of
  the work to that update: at most one period, half on average);
* the **begin** edge, polled before the work starts, takes the most recent update once every
  device has shown one, so the work starts within a period of every device's edge;
* all devices are aligned **together** (one polling loop round-robin), so with several GPUs
  each window gains at most one period of idle per edge, not one per GPU;
* a device whose counter shows no update within ``timeout_s`` keeps a plain read, noted;
* transient read errors (timeout, unknown) are retried (three in a row at most), noted.

Slow reads (a contended CPU) widen brackets but never lengthen the wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from whisperbench.meters.nvml_api import NvmlResult

__all__ = ["TRANSIENT_CODES", "CounterEdges", "Edge", "align_edges"]

#: NVML_ERROR_TIMEOUT and NVML_ERROR_UNKNOWN: retried at an edge rather than failing it.
TRANSIENT_CODES = frozenset({10, 999})
_RETRIES = 3


@dataclass(frozen=True)
class Edge:
    """One window edge of one device.

    Attributes:
        energy_mj: the counter's value at the edge.
        t_s: estimated time of the update (middle of its bracket); for a plain read, the
            middle of the read.
        uncertainty_s: half-width of the bracket; ``None`` when not aligned.
        detected_s: when the update was seen (the end of the read that returned it).
        note: what went differently (timeout, retried errors).
        round_start_s, round_end_s: when the alignment of this edge (every device's) started
            and ended: at an end edge the work ended just before the start, at a begin edge
            it starts just after the end.
    """

    energy_mj: int
    t_s: float
    uncertainty_s: float | None
    detected_s: float
    note: str | None = None
    round_start_s: float = 0.0
    round_end_s: float = 0.0


@dataclass
class _Poll:
    read: Callable[[], NvmlResult]
    timeout_s: float
    last_value: int | None = None
    last_start: float = 0.0
    first_t: float = 0.0
    edge: Edge | None = None
    error: str | None = None
    retries: int = 0


def _read(poll: _Poll, clock: Callable[[], float], sleep: Callable[[float], None],
          pause_s: float) -> tuple[NvmlResult, float, float]:  # fmt: skip
    """One counter read, retrying up to ``_RETRIES`` transient errors in a row:
    (result, start, end)."""
    attempt = 0
    while True:
        start = clock()
        result = poll.read()
        end = clock()
        if result.ok or result.code not in TRANSIENT_CODES or attempt >= _RETRIES:
            return result, start, end
        attempt += 1
        poll.retries += 1
        sleep(pause_s)


def align_edges(
    reads: Sequence[Callable[[], NvmlResult]],
    *,
    latest: bool,
    timeouts_s: Sequence[float],
    poll_s: float = 0.0005,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Edge | str]:
    """Align one edge for every device (see the module docstring), polling them together.

    Args:
        reads: one counter read per device (``nvml_query`` of the total-energy counter).
        latest: ``True`` for a begin edge (each device's most recent update once all have
            updated), ``False`` for an end edge (each device's first update).
        timeouts_s: per device, how long to wait for an update before a plain read.
        poll_s: pause between rounds of reads.

    Returns:
        Per device, its :class:`Edge` or the reason its counter could not be read.
    """
    round_start = clock()
    polls = [_Poll(read, timeout) for read, timeout in zip(reads, timeouts_s, strict=True)]
    for poll in polls:
        result, start, end = _read(poll, clock, sleep, poll_s)
        if not result.ok:
            poll.error = str(result.reason)
            continue
        poll.last_value, poll.last_start, poll.first_t = int(result.value), start, start
        poll.edge = Edge(int(result.value), (start + end) / 2.0, None, end)

    def waiting(poll: _Poll) -> bool:
        return poll.error is None and poll.edge is not None and poll.edge.uncertainty_s is None

    def timed_out(poll: _Poll, now: float) -> bool:
        return now - poll.first_t >= poll.timeout_s

    while True:
        now = clock()
        pending = [p for p in polls if waiting(p) and not timed_out(p, now)]
        if not pending:
            break
        sleep(poll_s)
        for poll in polls:
            if poll.error is not None or (not latest and not waiting(poll)):
                continue
            if waiting(poll) and timed_out(poll, clock()):
                continue
            result, start, end = _read(poll, clock, sleep, poll_s)
            if not result.ok:
                if result.code not in TRANSIENT_CODES:
                    poll.error = str(result.reason)
                continue  # the bracket stays open from the last good read: still correct
            value = int(result.value)
            if value != poll.last_value:
                half = (end - poll.last_start) / 2.0
                poll.edge = Edge(value, (poll.last_start + end) / 2.0, half, end)
                poll.last_value = value
            poll.last_start = start
    round_end = clock()
    out: list[Edge | str] = []
    for poll in polls:
        if poll.error is not None or poll.edge is None:
            out.append(poll.error or "energy counter not read")
            continue
        notes = []
        if poll.edge.uncertainty_s is None:
            notes.append(f"counter_alignment_timeout: no update in {poll.timeout_s:.2f}s")
        if poll.retries:
            notes.append(f"counter_read_retried: {poll.retries} transient NVML error(s)")
        edge = poll.edge
        out.append(
            Edge(edge.energy_mj, edge.t_s, edge.uncertainty_s, edge.detected_s,
                 "; ".join(notes) or None, round_start, round_end)
        )  # fmt: skip
    return out


class CounterEdges:
    """Aligns the edges of several energy meters together, within the ``Meter`` protocol.

    The meters of a :class:`~whisperbench.meters.base.MeterSet` begin one after another and
    end in reverse order. Each counter meter asks this object for its edge; the first to ask
    in a window triggers the alignment of every member (after ``before`` has run for all of
    them at a begin edge, and before ``after`` at an end edge), and the others collect the
    results. A member asking again before the others collected theirs starts a new round.
    """

    def __init__(
        self,
        *,
        poll_s: float = 0.0005,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._members: list[object] = []
        self._reads: dict[int, Callable[[], NvmlResult]] = {}
        self._timeouts: dict[int, Callable[[], float]] = {}
        self._hooks: dict[int, Callable[[], None]] = {}
        self._results: dict[str, dict[int, Edge | str]] = {"begin": {}, "end": {}}
        self._poll_s = poll_s
        self._clock = clock
        self._sleep = sleep

    def join(
        self,
        member: object,
        read: Callable[[], NvmlResult],
        timeout_s: Callable[[], float],
        checks: Callable[[], None],
    ) -> None:
        """Add a meter: its counter read, its timeout (asked at each edge: it may learn its
        counter's period), and its state checks (run for all members before a begin edge and
        after an end edge)."""
        key = id(member)
        if key not in self._reads:
            self._members.append(member)
        self._reads[key] = read
        self._timeouts[key] = timeout_s
        self._hooks[key] = checks

    @property
    def size(self) -> int:
        return len(self._members)

    def edge(self, member: object, which: str) -> Edge | str:
        """This member's ``"begin"`` or ``"end"`` edge, aligning every member if needed."""
        results = self._results[which]
        key = id(member)
        if key not in results:
            keys = [id(m) for m in self._members]
            if which == "begin":
                for k in keys:
                    self._hooks[k]()
            edges = align_edges(
                [self._reads[k] for k in keys],
                latest=which == "begin",
                timeouts_s=[self._timeouts[k]() for k in keys],
                poll_s=self._poll_s,
                clock=self._clock,
                sleep=self._sleep,
            )
            if which == "end":
                for k in keys:
                    self._hooks[k]()
            results.clear()
            results.update(zip(keys, edges, strict=True))
        return results.pop(key)
