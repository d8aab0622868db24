"""GPU energy through NVML: the total-energy counter, or integrated power polling.

Length: over 450 lines because it is one meter — counter path, polling path, idle baselines
and the window's validity checks — whose accuracy argument is documented here, where it is
implemented (edge alignment is in ``nvml_edges``, power sources in ``nvml_power``, process
lists in ``gpu_processes``, the mapping to CUDA devices in ``gpu_mapping``).

**Counter path** (``energy_source="nvml_energy_counter"``). ``nvmlDeviceGetTotalEnergyConsumption``
returns the board's energy since the driver loaded, in millijoules (Volta and newer); on a
GH200 superchip the whole module's (``energy_scope="superchip_module"``). The driver
refreshes it every ~100 ms (about once a second on some products), so both window edges are
aligned to counter updates (:mod:`whisperbench.meters.nvml_edges`): the difference then
covers exactly the interval between two updates, and ``edge_uncertainty_s`` — the sum of the
two edges' bracket half-widths — bounds how far that interval's ends are from the reported
``t_begin_s``/``t_end_s``. Idle device time inside the window (from the begin edge to the
work, from the end of the work to the end edge; at most one refresh period each) is recorded
as ``edge_idle_s``; its energy is in ``energy_j``.

What alignment cannot remove is the sensor behind the counter: A100/H100 boards sample power
during about a quarter of each period and extrapolate; the error this leaves, per product and
window length, is measured by ``benchmarks/energy_error.py`` and stated in
docs/measurement.md. Shorter windows than ``min_window_s`` are flagged invalid.

**Polling path** (``energy_source="nvml_power_polling"``), used when the counter is not
supported (pre-Volta) or not readable: a thread reads power every ``poll_interval_s`` (50 ms)
— ``NVML_FI_DEV_POWER_INSTANT`` where the driver has it, else ``nvmlDeviceGetPowerUsage``,
a 1 s average on Ampere-and-newer GPUs other than GA100 (``power_source`` says which) — and
integrates with the trapezoid rule (:func:`trapezoid_energy_j`); the first and last samples
are at the window edges. A few failed samples (under 5%) are bridged and noted.

**Idle** is measured twice when :func:`whisperbench.measure.measure` runs the meters: cold
(before warm-up) and warm (after it, right before the window); energy above idle subtracts
the warm one (:data:`whisperbench.meters.readings.ABOVE_IDLE_REFERENCE`).

**Validity** (``invalid_reasons``): ``zero_energy``, ``window_shorter_than_min:…``,
``other_process_on_gpu:pids=…`` (compute processes other than ours at either edge),
``clock_throttled:<reason>=<s>s`` (NVML's throttle counters grew by more than
``throttle_limit_fraction`` of the window *inside* it), ``sm_clock_changed:A->BMHz`` (only
when the clock was expected to be fixed, ``expect_fixed_sm_clock``; unlocked boost clocks move
between idle edges and that is only noted), ``sm_clock_off_lock:...`` (a sweep locked the clock
and an edge read another), ``temperature_rise:DC>LC``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

from whisperbench.meters.base import window_invalid_reasons
from whisperbench.meters.device_state import read_temperature_c, read_throttle_ns
from whisperbench.meters.gpu_mapping import GpuTarget
from whisperbench.meters.gpu_processes import running_processes
from whisperbench.meters.nvml_api import NvmlResult, nvml_query
from whisperbench.meters.nvml_edges import CounterEdges, Edge
from whisperbench.meters.nvml_power import SUPERCHIP_MODULE, PowerReader, is_superchip_module
from whisperbench.meters.readings import EnergyReading, IdleBaseline
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

#: A polling window survives this share of failed samples (bridged by the trapezoid rule).
_MAX_FAILED_SAMPLE_SHARE = 0.05


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
class _Checks:
    sm_clock_mhz: int | None
    temperature_c: int | None
    pids: tuple[int, ...] | None
    throttle_ns: dict[str, int] | None
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
        align_poll_s: pause between counter reads while aligning, seconds.
        align_timeout_s: longest wait for a counter update at an edge, seconds; at least three
            observed update periods.
        idle_poll_s: counter read interval while measuring idle power.
        edges: aligns this meter's edges together with the other GPUs' of the same set
            (default: alone).
        expect_fixed_sm_clock: the SM clock is locked for the run, so a different clock at the
            two edges invalidates the window (otherwise it is noted only).
        throttle_limit_fraction: throttling for longer than this share of the window flags it.
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
        align_timeout_s: float = 2.5,
        idle_poll_s: float = 0.002,
        edges: CounterEdges | None = None,
        expect_fixed_sm_clock: bool = False,
        throttle_limit_fraction: float = 0.01,
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
        self.expect_fixed_sm_clock = expect_fixed_sm_clock
        self.throttle_limit_fraction = throttle_limit_fraction
        #: The SM clock a sweep locked (MHz): a window whose clock is off it is invalid.
        self.expected_sm_clock_mhz: int | None = None
        self._poll_interval_s = poll_interval_s
        self._align = align_to_counter
        self._align_timeout_s = align_timeout_s
        self._idle_poll_s = idle_poll_s
        self._pid = os.getpid() if pid is None else pid
        self._clock = clock
        self._sleep = sleep
        self._notes: list[str] = []
        self.energy_scope = target.energy_scope
        module = is_superchip_module(nvml, target.handle)
        if module:
            self.energy_scope = SUPERCHIP_MODULE
            self._notes.append(
                "scope: a superchip (GH200): energy and power are the whole module's (GPU, CPU "
                "and memory), not the GPU's alone"
            )
        self.source: str | None
        self.power: PowerReader | None = None
        self.unavailable_reason: str | None = None
        counter = self._read_counter()
        if counter.ok:
            self.source = ENERGY_COUNTER
        else:
            power = PowerReader(nvml, target.handle, module_scope=module)
            if power.source is not None:
                self.source, self.power = POWER_POLLING, power
                self._notes += [f"energy_counter_unavailable: {counter.reason}", *power.notes]
            else:
                self.source = None
                self.unavailable_reason = f"{counter.reason}; {power.unavailable_reason}"
        if target.mig_uuid:
            self._notes.append(
                f"mig: process runs on {target.mig_uuid}; energy is the whole parent GPU "
                f"{target.uuid} (all MIG slices)"
            )
        self.idle = IdleBaseline()
        self.counter_update_period_s: float | None = None
        self._edges = edges if edges is not None else CounterEdges(
            poll_s=align_poll_s, clock=clock, sleep=sleep
        )  # fmt: skip
        if self.source == ENERGY_COUNTER and self._align:
            self._edges.join(self, self._read_counter, self._timeout_s, self._stage_checks)
        self._staged: _Checks | None = None
        self._sampler: Sampler | None = None
        self._idle_sampler: Sampler | None = None
        self._begin_edge: Edge | None = None
        self._begin_checks: _Checks | None = None
        self._begin_error: str | None = None
        self._begin_t = 0.0
        self._open = False

    @property
    def active(self) -> bool:
        """True when the counter or power polling works on this device."""
        return self.source is not None

    @property
    def idle_power_w(self) -> float | None:
        """The idle power above-idle energy subtracts (warm), W."""
        return self.idle.reference_w

    @property
    def update_period_s(self) -> float | None:
        """The counter's refresh period seen during idle, seconds (the meter set's view)."""
        return self.counter_update_period_s if self.source == ENERGY_COUNTER else None

    @property
    def power_source(self) -> str | None:
        """The power reading integrated by the polling path."""
        return self.power.source if self.power is not None else None

    # -- NVML reads -------------------------------------------------------------------------

    def _read_counter(self) -> NvmlResult:
        return nvml_query(self._nvml, "nvmlDeviceGetTotalEnergyConsumption", self.target.handle)

    def _power_w_or_none(self) -> float | None:
        return self.power.read_w() if self.power is not None else None

    def _counter_mj_or_none(self) -> float | None:
        result = self._read_counter()
        return float(result.value) if result.ok else None

    def _timeout_s(self) -> float:
        period = self.counter_update_period_s or 0.0
        return max(self._align_timeout_s, 3.0 * period)

    def _plain_edge(self) -> Edge | str:
        start = self._clock()
        result = self._read_counter()
        end = self._clock()
        if not result.ok:
            return str(result.reason)
        return Edge(int(result.value), (start + end) / 2.0, None, end)

    def _edge(self, which: str) -> Edge | str:
        if self._align:
            return self._edges.edge(self, which)
        if which == "begin":
            self._stage_checks()
        edge = self._plain_edge()
        if which == "end":
            self._stage_checks()
        return edge

    def _stage_checks(self) -> None:
        self._staged = self._checks()

    def _checks(self) -> _Checks:
        nvml, h = self._nvml, self.target.handle
        notes: list[str] = []
        clock = nvml_query(nvml, "nvmlDeviceGetClockInfo", h, nvml.NVML_CLOCK_SM)
        temp = read_temperature_c(nvml, h)
        throttle, throttle_reason = read_throttle_ns(nvml, h)
        pids, process_notes = self._pids()
        notes += process_notes
        for what, result in (("sm_clock", clock), ("temperature", temp)):
            if not result.ok:
                notes.append(f"{what}_check_unavailable: {result.reason}")
        if throttle is None:
            notes.append(f"throttle_check_unavailable: {throttle_reason}")
        return _Checks(
            sm_clock_mhz=int(clock.value) if clock.ok else None,
            temperature_c=int(temp.value) if temp.ok else None,
            pids=pids,
            throttle_ns=throttle,
            notes=tuple(notes),
        )

    def _pids(self) -> tuple[tuple[int, ...] | None, list[str]]:
        """Processes on the metered GPU. On a MIG slice the parent's (aggregate) list shows
        every slice only to a privileged caller; the slice's own list is added, and a parent
        list without our pid is said to be incomplete."""
        parent = running_processes(self._nvml, self.target.handle)
        notes = [f"processes: {n}" for n in parent.notes]
        if parent.pids is None:
            notes.append(f"processes_check_unavailable: {parent.reason}")
        if self.target.mig_handle is None:
            return parent.pids, notes
        own = running_processes(self._nvml, self.target.mig_handle)
        if own.pids is None:
            return parent.pids, [*notes, f"mig_slice_processes_unavailable: {own.reason}"]
        if parent.pids is not None and self._pid in own.pids and self._pid not in parent.pids:
            notes.append(
                "process_check_incomplete: the MIG parent lists no processes to this caller "
                "(not privileged); work on other slices would be in the whole-GPU figure unseen"
            )
        return tuple(sorted(set(parent.pids or ()) | set(own.pids))), notes

    # -- idle baseline ----------------------------------------------------------------------

    def start_idle(self) -> None:
        """Start sampling the counter (or power) for an idle baseline."""
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

    def finish_idle(self, phase: str = "warm") -> None:
        """Stop sampling; keep idle power in W as the ``phase`` (``"cold"``: before warm-up,
        ``"warm"``: right before the window) baseline, and the counter's update period."""
        sampler, self._idle_sampler = self._idle_sampler, None
        if sampler is None:
            return
        power, reason = self._idle_power(sampler)
        self.idle = self.idle.with_phase(phase, power, reason)

    def _idle_power(self, sampler: Sampler) -> tuple[float | None, str | None]:
        samples = sampler.stop()
        if sampler.error is not None:
            return None, f"idle sampling failed: {sampler.error}"
        if len(samples) < 2:
            return None, "too few idle samples"
        if self.source == POWER_POLLING:
            duration = samples[-1][0] - samples[0][0]
            energy = trapezoid_energy_j([t for t, _ in samples], [w for _, w in samples])
            return (energy / duration, None) if duration > 0 else (None, "zero idle duration")
        # Counter: times of updates are midpoints between the reads around each change.
        changes = [
            ((samples[i - 1][0] + samples[i][0]) / 2.0, samples[i][1])
            for i in range(1, len(samples))
            if samples[i][1] != samples[i - 1][1]
        ]
        if len(changes) < 2:
            return None, (
                f"energy counter updated {len(changes)} time(s) during the idle period; "
                "lengthen idle_s"
            )
        (t_first, e_first), (t_last, e_last) = changes[0], changes[-1]
        periods = sorted(changes[i][0] - changes[i - 1][0] for i in range(1, len(changes)))
        self.counter_update_period_s = periods[len(periods) // 2]
        return (e_last - e_first) / 1000.0 / (t_last - t_first), None

    # -- window -----------------------------------------------------------------------------

    def begin(self) -> None:
        """Synchronize, record clocks/temperature/processes, then read (or start polling)."""
        if self._open:
            raise RuntimeError(f"{self.name}: begin() twice")
        self._open = True
        self._begin_error = None
        self._begin_edge = None
        self._begin_checks = None
        if not self.active:
            self._begin_t = self._clock()
            return
        self._sync()
        if self.source == ENERGY_COUNTER:
            edge = self._edge("begin")
            self._begin_checks, self._staged = self._staged, None
            if isinstance(edge, str):
                self._begin_error = edge
                self._begin_t = self._clock()
            else:
                self._begin_edge = edge
                self._begin_t = edge.t_s
        else:
            self._begin_checks = self._checks()
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
        work_end = self._clock()
        if not self.active:
            return self._reading(None, work_end - self._begin_t, [], [], null=self._null())
        notes = list(self._notes)
        energy_j: float | None = None
        null: str | None = None
        t_begin, t_end = self._begin_t, work_end
        uncertainty: float | None = None
        edge_idle: float | None = None
        if self.source == ENERGY_COUNTER:
            edge = self._edge("end")
            after, self._staged = self._staged or self._checks(), None
            begin = self._begin_edge
            if self._begin_error is not None:
                null = f"energy counter unreadable at begin: {self._begin_error}"
            elif isinstance(edge, str):
                null = f"energy counter unreadable at end: {edge}"
            elif begin is not None:
                t_end = edge.t_s
                notes += [n for n in (begin.note, edge.note) if n]
                if begin.uncertainty_s is not None and edge.uncertainty_s is not None:
                    uncertainty = begin.uncertainty_s + edge.uncertainty_s
                    edge_idle = max(begin.round_end_s - begin.t_s, 0.0) + max(
                        edge.t_s - edge.round_start_s, 0.0
                    )
                if edge.energy_mj < begin.energy_mj:
                    null = "energy counter went backwards (driver reloaded?)"
                else:
                    energy_j = (edge.energy_mj - begin.energy_mj) / 1000.0
        else:
            after = self._checks()
            energy_j, null, t_begin, t_end = self._integrate(sampler, samples, notes)
        window_s = t_end - t_begin
        reasons: list[str] = []
        if energy_j is not None:
            reasons = window_invalid_reasons(energy_j, window_s, self.min_window_s, self.name)
            reasons += self._state_reasons(self._begin_checks, after, notes, window_s)
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
            edge_idle=edge_idle,
        )

    def _integrate(
        self, sampler: Sampler | None, samples: list[tuple[float, float]], notes: list[str]
    ) -> tuple[float | None, str | None, float, float]:
        """The polling path's energy, null reason and edge times."""
        t_begin, t_end = self._begin_t, self._clock()
        if sampler is None or sampler.error is not None:
            error = sampler.error if sampler is not None else "no sampler"
            return None, f"power polling failed: {error}", t_begin, t_end
        if len(samples) < 2:
            return None, "fewer than two power samples", t_begin, t_end
        if sampler.failures > _MAX_FAILED_SAMPLE_SHARE * (len(samples) + sampler.failures):
            return None, f"{sampler.failures} power sample(s) failed to read", t_begin, t_end
        if sampler.failures:
            notes.append(f"power_samples_bridged: {sampler.failures} failed read(s)")
        energy = trapezoid_energy_j([t for t, _ in samples], [w for _, w in samples])
        return energy, None, samples[0][0], samples[-1][0]

    def _null(self) -> str:
        return f"not metered: {self.unavailable_reason}"

    def _state_reasons(
        self, before: _Checks | None, after: _Checks, notes: list[str], window_s: float
    ) -> list[str]:
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
                # another PID namespace (containers) or the MPS server. Cannot tell.
                notes.append(
                    f"process_check_ambiguous: pid {seen[0]} listed, ours ({self._pid}) not"
                )
            elif others:
                reasons.append("other_process_on_gpu:pids=" + ",".join(map(str, others)))
        reasons += self._throttle_reasons(before, after, notes, window_s)
        if (
            before.sm_clock_mhz is not None
            and after.sm_clock_mhz is not None
            and before.sm_clock_mhz != after.sm_clock_mhz
        ):
            change = f"{before.sm_clock_mhz}->{after.sm_clock_mhz}MHz"
            if self.expect_fixed_sm_clock or self.expected_sm_clock_mhz is not None:
                reasons.append(f"sm_clock_changed:{change}")
            else:
                notes.append(f"sm_clock_at_idle_edges:{change} (boost clocks unlocked)")
        reasons += off_lock_reasons(self.expected_sm_clock_mhz, before.sm_clock_mhz,
                                    after.sm_clock_mhz)  # fmt: skip
        if before.temperature_c is not None and after.temperature_c is not None:
            rise = after.temperature_c - before.temperature_c
            if rise > self.temperature_rise_limit_c:
                reasons.append(f"temperature_rise:{rise}C>{self.temperature_rise_limit_c:g}C")
        return reasons

    def _throttle_reasons(
        self, before: _Checks, after: _Checks, notes: list[str], window_s: float
    ) -> list[str]:
        """Time each throttle counter grew inside the window; too much flags the window."""
        if before.throttle_ns is None or after.throttle_ns is None or window_s <= 0:
            return []
        grown = {
            name: (after.throttle_ns[name] - before.throttle_ns[name]) / 1e9
            for name in before.throttle_ns
            if name in after.throttle_ns and after.throttle_ns[name] > before.throttle_ns[name]
        }
        if not grown:
            return []
        shown = ",".join(f"{name}={seconds:.3g}s" for name, seconds in sorted(grown.items()))
        if max(grown.values()) > self.throttle_limit_fraction * window_s:
            return [f"clock_throttled:{shown}"]
        notes.append(f"clock_throttled_briefly:{shown}")
        return []

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
        edge_idle: float | None = None,
    ) -> EnergyReading:
        idle = self.idle
        return EnergyReading(
            meter=self.name,
            device=self.target.label,
            kind="gpu",
            energy_source=self.source,
            energy_scope=self.energy_scope,
            window_s=window_s,
            energy_j=energy_j,
            idle_power_w=idle.reference_w,
            valid=None if energy_j is None else not reasons,
            invalid_reasons=tuple(reasons),
            null_reason=null,
            idle_null_reason=idle.reference_reason,
            notes=tuple(notes),
            nvml_index=self.target.nvml_index,
            uuid=self.target.uuid,
            t_begin_s=t_begin,
            t_end_s=t_end,
            edge_uncertainty_s=uncertainty,
            counter_update_period_s=self.counter_update_period_s,
            samples=samples,
            power_source=self.power_source,
            edge_idle_s=edge_idle,
            idle_power_cold_w=idle.cold_w,
            idle_power_warm_w=idle.warm_w,
        )

    def close(self) -> None:
        """Stop any sampler still running (a window abandoned without end())."""
        for sampler in (self._sampler, self._idle_sampler):
            if sampler is not None:
                sampler.stop()
        self._sampler = self._idle_sampler = None
        self._open = False
