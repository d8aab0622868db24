"""GPU energy through NVML: the total-energy counter, or integrated power polling.

Length: over 450 lines because it is one meter whose edge-alignment method is documented
here, where it is implemented (its mapping to CUDA devices is in ``gpu_mapping``, NVML's
errors in ``nvml_api``).

**Counter path** (``energy_source="nvml_energy_counter"``). ``nvmlDeviceGetTotalEnergyConsumption``
returns the board's energy since the driver loaded, in millijoules (Volta and newer). The
driver refreshes it on the order of every 100 ms, so a read returns the value at the *last
update*, not at the moment of reading: a plain difference of two reads covers an interval
shifted from the window by up to one update period at each edge, an error of up to
``2 × P × period / window`` (4 % for a 5 s window at constant power and a 100 ms period).

We remove that error by **aligning each window edge to a counter update**: after
synchronizing, the meter reads the counter in a tight loop (``align_poll_s``, 0.5 ms) until the
value changes, and takes the edge time as the midpoint of the interval in which the change
must have happened (between the start of the last read that returned the old value and the
end of the first read that returned the new one). An edge is accepted when that half-width is
at most ``edge_tolerance_s`` (2 ms); under CPU contention the meter waits for a later update,
and after ``align_timeout_s`` it keeps the tightest edge it saw. The remaining error is at
most ``P × (u_begin + u_end)`` with ``u`` the half-widths reported in ``edge_uncertainty_s``
(typically well under 1 ms, i.e. < 0.1 % of a 5 s window). The cost: each edge waits up to
one update period; at the end edge that wait is device-idle time included in the window (its
energy is in ``energy_j``; the above-idle figure removes it up to idle-power accuracy).

What alignment cannot remove: the counter is only as good as the power sensor behind it, and
A100/H100 boards sample power only part of the time (~25 %). Long windows (``min_window_s``,
default 5 s) average that out; shorter windows are flagged invalid.

**Polling path** (``energy_source="nvml_power_polling"``), used when the counter is not
supported (pre-Volta) or not readable: a thread reads ``nvmlDeviceGetPowerUsage`` (mW) every
``poll_interval_s`` (50 ms) and the samples are integrated with the trapezoid rule
(:func:`trapezoid_energy_j`); the first and last samples are taken at the window edges. On
Ampere-and-newer GPUs other than GA100 that function returns a 1 s average rather than
instantaneous power, which smears short windows; the reading's notes say so.

**Validity** (``invalid_reasons``): ``zero_energy``, ``window_shorter_than_min:…``,
``other_process_on_gpu:pids=…`` (compute processes other than ours at either edge),
``sm_clock_changed:A->BMHz``, ``sm_clock_off_lock:...`` (a sweep locked the clock and an edge
read another), ``temperature_rise:DC>LC``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

from whisperbench.meters.base import window_invalid_reasons
from whisperbench.meters.gpu_mapping import GpuTarget
from whisperbench.meters.nvml_api import NvmlResult, nvml_query
from whisperbench.meters.readings import EnergyReading
from whisperbench.meters.sampler import Sampler

__all__ = [
    "ENERGY_COUNTER",
    "POWER_POLLING",
    "NvmlEnergyMeter",
    "off_lock_reasons",
    "trapezoid_energy_j",
]

ENERGY_COUNTER = "nvml_energy_counter"
POWER_POLLING = "nvml_power_polling"

_POLLING_NOTE = (
    "power_polling: nvmlDeviceGetPowerUsage is a 1 s average on Ampere-and-newer GPUs other "
    "than GA100 (instantaneous on GA100 and older)"
)


def trapezoid_energy_j(times_s: Sequence[float], powers_w: Sequence[float]) -> float:
    """Integrate power samples over time with the trapezoid rule.

    Args:
        times_s: sample times, seconds, non-decreasing.
        powers_w: power at those times, watts.

    Returns:
        Joules between the first and the last sample (0.0 for fewer than two samples). For a
        curve with ``|P''| <= M`` the error is at most ``M * sum(h**3) / 12`` over the steps
        ``h``; exact for piecewise-linear power.

    Raises:
        ValueError: lengths differ or times decrease.
    """
    if len(times_s) != len(powers_w):
        raise ValueError("times_s and powers_w differ in length")
    total = 0.0
    for i in range(1, len(times_s)):
        h = times_s[i] - times_s[i - 1]
        if h < 0:
            raise ValueError("times_s must be non-decreasing")
        total += 0.5 * h * (powers_w[i] + powers_w[i - 1])
    return total


#: A locked SM clock may read this far off (MHz, or 1%) before the window is flagged.
OFF_LOCK_TOLERANCE_MHZ = 15


def off_lock_reasons(expected: int | None, before: int | None, after: int | None) -> list[str]:
    """``sm_clock_off_lock:...`` when the SM clock at either window edge is off the clock a
    sweep locked (throttling, another process resetting the lock); empty otherwise."""
    if expected is None:
        return []
    tolerance = max(OFF_LOCK_TOLERANCE_MHZ, 0.01 * expected)
    off = [c for c in (before, after) if c is not None and abs(c - expected) > tolerance]
    if not off:
        return []
    return [f"sm_clock_off_lock:{before}/{after}MHz!={expected}MHz"]


@dataclass(frozen=True)
class _Edge:
    energy_mj: int
    t_s: float
    uncertainty_s: float | None
    note: str | None = None


@dataclass(frozen=True)
class _Checks:
    sm_clock_mhz: int | None
    temperature_c: int | None
    pids: tuple[int, ...] | None
    notes: tuple[str, ...]


class NvmlEnergyMeter:
    """Energy of one NVML device over a window (see the module docstring for the method).

    Args:
        nvml: an initialized NVML module (``pynvml`` or a fake).
        target: the device.
        synchronize: waits for queued GPU work (``torch.cuda.synchronize``); called before each
            counter read at the window edges.
        min_window_s: shorter windows are flagged invalid.
        temperature_rise_limit_c: a larger rise between the edges flags the window invalid.
        poll_interval_s: power-polling interval (polling path).
        align_to_counter: align window edges to counter updates (counter path).
        align_poll_s, align_timeout_s, edge_tolerance_s: the alignment loop's read interval,
            give-up time, and accepted edge half-width, seconds.
        idle_poll_s: counter read interval while measuring idle power.
        pid: our process id, for the other-process check.
    """

    def __init__(
        self,
        nvml: ModuleType,
        target: GpuTarget,
        *,
        synchronize: Callable[[], None] | None = None,
        min_window_s: float = 5.0,
        temperature_rise_limit_c: float = 10.0,
        poll_interval_s: float = 0.05,
        align_to_counter: bool = True,
        align_poll_s: float = 0.0005,
        align_timeout_s: float = 1.0,
        edge_tolerance_s: float = 0.002,
        idle_poll_s: float = 0.002,
        pid: int | None = None,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._nvml = nvml
        self.target = target
        self.name = f"nvml:{target.label}"
        self._sync = synchronize or (lambda: None)
        self.min_window_s = min_window_s
        self.temperature_rise_limit_c = temperature_rise_limit_c
        #: The SM clock a sweep locked (MHz): a window whose clock is off it is invalid.
        self.expected_sm_clock_mhz: int | None = None
        self._poll_interval_s = poll_interval_s
        self._align = align_to_counter
        self._align_poll_s = align_poll_s
        self._align_timeout_s = align_timeout_s
        self._edge_tolerance_s = edge_tolerance_s
        self._idle_poll_s = idle_poll_s
        self._pid = os.getpid() if pid is None else pid
        self._clock = clock
        self._sleep = sleep
        self._notes: list[str] = []
        self.source: str | None
        self.unavailable_reason: str | None = None
        counter = self._read_counter()
        if counter.ok:
            self.source = ENERGY_COUNTER
        else:
            power = self._read_power()
            if power.ok:
                self.source = POWER_POLLING
                self._notes += [f"energy_counter_unavailable: {counter.reason}", _POLLING_NOTE]
            else:
                self.source = None
                self.unavailable_reason = f"{counter.reason}; {power.reason}"
        if target.mig_uuid:
            self._notes.append(
                f"mig: process runs on {target.mig_uuid}; energy is the whole parent GPU "
                f"{target.uuid} (all MIG slices)"
            )
        self.idle_power_w: float | None = None
        self.idle_null_reason: str | None = "idle power not measured"
        self.counter_update_period_s: float | None = None
        self._sampler: Sampler | None = None
        self._idle_sampler: Sampler | None = None
        self._begin_edge: _Edge | None = None
        self._begin_checks: _Checks | None = None
        self._begin_error: str | None = None
        self._begin_t = 0.0
        self._open = False

    @property
    def active(self) -> bool:
        """True when the counter or power polling works on this device."""
        return self.source is not None

    # -- NVML reads -------------------------------------------------------------------------

    def _read_counter(self) -> NvmlResult:
        return nvml_query(self._nvml, "nvmlDeviceGetTotalEnergyConsumption", self.target.handle)

    def _read_power(self) -> NvmlResult:
        return nvml_query(self._nvml, "nvmlDeviceGetPowerUsage", self.target.handle)

    def _power_w_or_none(self) -> float | None:
        result = self._read_power()
        return float(result.value) / 1000.0 if result.ok else None

    def _counter_mj_or_none(self) -> float | None:
        result = self._read_counter()
        return float(result.value) if result.ok else None

    def _read_edge(self) -> _Edge | str:
        """One counter read, aligned to a counter update unless alignment is off."""
        start = self._clock()
        first = self._read_counter()
        end = self._clock()
        if not first.ok:
            return str(first.reason)
        if not self._align:
            return _Edge(int(first.value), (start + end) / 2.0, None)
        deadline = start + self._align_timeout_s
        previous_value, previous_start = first.value, start
        best: _Edge | None = None
        while True:
            self._sleep(self._align_poll_s)
            start = self._clock()
            result = self._read_counter()
            end = self._clock()
            if not result.ok:
                return str(result.reason)
            if result.value != previous_value:
                half_width = (end - previous_start) / 2.0
                edge = _Edge(int(result.value), (previous_start + end) / 2.0, half_width)
                if best is None or half_width < (best.uncertainty_s or 0.0):
                    best = edge
                if half_width <= self._edge_tolerance_s:
                    return edge
                previous_value = result.value
            previous_start = start
            if end >= deadline:
                if best is not None:
                    return _Edge(
                        best.energy_mj,
                        best.t_s,
                        best.uncertainty_s,
                        f"counter_alignment_best_effort:±{(best.uncertainty_s or 0) * 1e3:.1f}ms",
                    )
                return _Edge(
                    int(result.value),
                    (start + end) / 2.0,
                    None,
                    f"counter_alignment_timeout: no update in {self._align_timeout_s:.2f}s",
                )

    def _checks(self) -> _Checks:
        nvml, h = self._nvml, self.target.handle
        notes: list[str] = []
        clock = nvml_query(nvml, "nvmlDeviceGetClockInfo", h, nvml.NVML_CLOCK_SM)
        temp = nvml_query(nvml, "nvmlDeviceGetTemperature", h, nvml.NVML_TEMPERATURE_GPU)
        procs = nvml_query(nvml, "nvmlDeviceGetComputeRunningProcesses", h)
        for what, result in (("sm_clock", clock), ("temperature", temp), ("processes", procs)):
            if not result.ok:
                notes.append(f"{what}_check_unavailable: {result.reason}")
        return _Checks(
            sm_clock_mhz=int(clock.value) if clock.ok else None,
            temperature_c=int(temp.value) if temp.ok else None,
            pids=tuple(int(p.pid) for p in procs.value) if procs.ok else None,
            notes=tuple(notes),
        )

    # -- idle baseline ----------------------------------------------------------------------

    def start_idle(self) -> None:
        """Start sampling the counter (or power) for the idle baseline."""
        if not self.active:
            return
        if self.source == ENERGY_COUNTER:
            read, interval = self._counter_mj_or_none, self._idle_poll_s
        else:
            read, interval = self._power_w_or_none, self._poll_interval_s
        self._idle_sampler = Sampler(
            read, interval, name=f"whisperbench-idle-{self.target.label}", clock=self._clock
        )
        self._idle_sampler.start()

    def finish_idle(self) -> None:
        """Stop sampling; keep idle power in W (and the counter's update period)."""
        sampler, self._idle_sampler = self._idle_sampler, None
        if sampler is None:
            return
        samples = sampler.stop()
        if sampler.error is not None:
            self.idle_power_w = None
            self.idle_null_reason = f"idle sampling failed: {sampler.error}"
            return
        if len(samples) < 2:
            self.idle_power_w, self.idle_null_reason = None, "too few idle samples"
            return
        if self.source == POWER_POLLING:
            duration = samples[-1][0] - samples[0][0]
            energy = trapezoid_energy_j([t for t, _ in samples], [w for _, w in samples])
            self.idle_power_w = energy / duration if duration > 0 else None
            self.idle_null_reason = None if duration > 0 else "zero idle duration"
            return
        # Counter: times of updates are midpoints between the reads around each change.
        changes = [
            ((samples[i - 1][0] + samples[i][0]) / 2.0, samples[i][1])
            for i in range(1, len(samples))
            if samples[i][1] != samples[i - 1][1]
        ]
        if len(changes) >= 2:
            (t_first, e_first), (t_last, e_last) = changes[0], changes[-1]
            self.idle_power_w = (e_last - e_first) / 1000.0 / (t_last - t_first)
            self.idle_null_reason = None
            periods = sorted(changes[i][0] - changes[i - 1][0] for i in range(1, len(changes)))
            self.counter_update_period_s = periods[len(periods) // 2]
        else:
            self.idle_power_w = None
            self.idle_null_reason = (
                f"energy counter updated {len(changes)} time(s) during the idle period; "
                "lengthen idle_s"
            )

    # -- window -----------------------------------------------------------------------------

    def begin(self) -> None:
        """Synchronize, record clocks/temperature/processes, then read (or start polling)."""
        if self._open:
            raise RuntimeError(f"{self.name}: begin() twice")
        self._open = True
        self._begin_error = None
        self._begin_edge = None
        if not self.active:
            self._begin_t = self._clock()
            return
        self._sync()
        self._begin_checks = self._checks()
        if self.source == ENERGY_COUNTER:
            edge = self._read_edge()
            if isinstance(edge, str):
                self._begin_error = edge
                self._begin_t = self._clock()
            else:
                self._begin_edge = edge
                self._begin_t = edge.t_s
        else:
            self._sampler = Sampler(
                self._power_w_or_none,
                self._poll_interval_s,
                name=f"whisperbench-power-{self.target.label}",
                clock=self._clock,
            )
            self._sampler.start()
            self._begin_t = self._sampler.samples[0][0] if self._sampler.samples else self._clock()

    def end(self) -> EnergyReading:
        """Synchronize, read (or stop polling), check, and return the reading."""
        if not self._open:
            raise RuntimeError(f"{self.name}: end() without begin()")
        self._open = False
        sampler, self._sampler = self._sampler, None
        try:
            self._sync()
        finally:
            samples = sampler.stop() if sampler is not None else []
        if not self.active:
            return self._reading(None, self._clock() - self._begin_t, [], [], null=self._null())
        notes = list(self._notes)
        energy_j: float | None = None
        null: str | None = None
        t_begin, t_end = self._begin_t, self._clock()
        uncertainty: float | None = None
        if self.source == ENERGY_COUNTER:
            edge = self._read_edge()
            begin = self._begin_edge
            if self._begin_error is not None:
                null = f"energy counter unreadable at begin: {self._begin_error}"
            elif isinstance(edge, str):
                null = f"energy counter unreadable at end: {edge}"
            elif begin is not None:
                t_end = edge.t_s
                notes += [n for n in (begin.note, edge.note) if n]
                if begin.uncertainty_s is not None and edge.uncertainty_s is not None:
                    uncertainty = max(begin.uncertainty_s, edge.uncertainty_s)
                if edge.energy_mj < begin.energy_mj:
                    null = "energy counter went backwards (driver reloaded?)"
                else:
                    energy_j = (edge.energy_mj - begin.energy_mj) / 1000.0
        else:
            assert sampler is not None
            if sampler.error is not None:
                null = f"power polling failed: {sampler.error}"
            elif sampler.failures:
                null = f"{sampler.failures} power sample(s) failed to read"
            elif len(samples) < 2:
                null = "fewer than two power samples"
            else:
                t_begin, t_end = samples[0][0], samples[-1][0]
                energy_j = trapezoid_energy_j([t for t, _ in samples], [w for _, w in samples])
        after = self._checks()
        window_s = t_end - t_begin
        reasons: list[str] = []
        if energy_j is not None:
            reasons = window_invalid_reasons(energy_j, window_s, self.min_window_s, self.name)
            reasons += self._state_reasons(self._begin_checks, after, notes)
        return self._reading(
            energy_j,
            window_s,
            reasons,
            notes,
            null=null,
            t_begin=t_begin,
            t_end=t_end,
            uncertainty=uncertainty,
            samples=len(samples) if self.source == POWER_POLLING else None,
        )

    def _null(self) -> str:
        return f"not metered: {self.unavailable_reason}"

    def _state_reasons(self, before: _Checks | None, after: _Checks, notes: list[str]) -> list[str]:
        reasons: list[str] = []
        if before is None:
            return reasons
        for note in (*before.notes, *after.notes):
            if note not in notes:
                notes.append(note)
        if before.pids is not None and after.pids is not None:
            seen = sorted(set(before.pids) | set(after.pids))
            others = [p for p in seen if p != self._pid]
            if self.target.used_by_process and self._pid not in seen and len(seen) == 1:
                # Only one process listed and it is not our pid: most likely ours seen from
                # another PID namespace (containers). Cannot tell; do not invalidate.
                notes.append(
                    f"process_check_ambiguous: pid {seen[0]} listed, ours ({self._pid}) not"
                )
            elif others:
                reasons.append("other_process_on_gpu:pids=" + ",".join(map(str, others)))
        if (
            before.sm_clock_mhz is not None
            and after.sm_clock_mhz is not None
            and before.sm_clock_mhz != after.sm_clock_mhz
        ):
            reasons.append(f"sm_clock_changed:{before.sm_clock_mhz}->{after.sm_clock_mhz}MHz")
        reasons += off_lock_reasons(self.expected_sm_clock_mhz, before.sm_clock_mhz,
                                    after.sm_clock_mhz)  # fmt: skip
        if before.temperature_c is not None and after.temperature_c is not None:
            rise = after.temperature_c - before.temperature_c
            if rise > self.temperature_rise_limit_c:
                reasons.append(f"temperature_rise:{rise}C>{self.temperature_rise_limit_c:g}C")
        return reasons

    def _reading(
        self,
        energy_j: float | None,
        window_s: float,
        reasons: list[str],
        notes: list[str],
        *,
        null: str | None,
        t_begin: float | None = None,
        t_end: float | None = None,
        uncertainty: float | None = None,
        samples: int | None = None,
    ) -> EnergyReading:
        return EnergyReading(
            meter=self.name,
            device=self.target.label,
            kind="gpu",
            energy_source=self.source,
            energy_scope=self.target.energy_scope,
            window_s=window_s,
            energy_j=energy_j,
            idle_power_w=self.idle_power_w,
            valid=None if energy_j is None else not reasons,
            invalid_reasons=tuple(reasons),
            null_reason=null,
            idle_null_reason=self.idle_null_reason if self.idle_power_w is None else None,
            notes=tuple(notes),
            nvml_index=self.target.nvml_index,
            uuid=self.target.uuid,
            t_begin_s=t_begin,
            t_end_s=t_end,
            edge_uncertainty_s=uncertainty,
            counter_update_period_s=self.counter_update_period_s,
            samples=samples,
        )

    def close(self) -> None:
        """Stop any sampler still running (a window abandoned without end())."""
        for sampler in (self._sampler, self._idle_sampler):
            if sampler is not None:
                sampler.stop()
        self._sampler = self._idle_sampler = None
        self._open = False
