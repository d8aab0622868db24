"""The meter protocol and :class:`MeterSet`, which runs meters around a measurement window.

A meter has a ``name``, ``begin()``, ``end() -> Reading`` and ``close()``. A
:class:`MeterSet` begins its meters in order and ends them in reverse order, so the meters
listed last (energy) hug the workload most tightly. Whatever happens — a meter failing to
begin, the workload raising, a meter failing to end — every meter that began is ended, so no
sampling thread outlives the window.

Usage::

    meters = build_meter_set(device="cuda:0")
    meters.measure_idle("cold")            # optional: before warm-up
    ...                                    # warm up
    meters.measure_idle("warm")            # optional; otherwise done before the first window
    with meters:                           # begin() ... end()
        run_one_round()
        while meters.energy_active and meters.elapsed_s() < meters.min_window_s:
            run_one_round()
    readings = meters.readings             # WindowReadings
    meters.close()                         # releases NVML
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol, TypeVar, runtime_checkable

from whisperbench.meters.readings import EnergyReading, EnergyWarning, Reading, WindowReadings

__all__ = [
    "EnergyMeter",
    "Meter",
    "MeterSet",
    "NullEnergyMeter",
    "window_invalid_reasons",
]

R_co = TypeVar("R_co", bound=Reading, covariant=True)


@runtime_checkable
class Meter(Protocol[R_co]):
    """Something measured over a window.

    ``begin()`` opens the window, ``end()`` closes it and returns a frozen reading; a meter
    that starts a thread in ``begin()`` joins it in ``end()`` even when ``end()`` raises.
    ``close()`` releases resources held across windows and is safe to call twice.
    """

    @property
    def name(self) -> str:
        """A short, unique name, e.g. ``"memory"``, ``"nvml:cuda:0"``, ``"rapl:cpu-package-0"``."""
        ...

    def begin(self) -> None:
        """Open a window."""
        ...

    def end(self) -> R_co:
        """Close the window and return its reading."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


@runtime_checkable
class EnergyMeter(Meter[EnergyReading], Protocol):
    """An energy meter: a :class:`Meter` that also measures an idle baseline.

    ``start_idle()`` / ``finish_idle(phase)`` bracket an idle period (nothing running); the
    meter keeps the idle power of that phase (``"cold"``: before warm-up; ``"warm"``: right
    before the window) and reports both in every later reading.
    """

    @property
    def active(self) -> bool:
        """True when a sensor is read (False for a null meter that only reports a reason)."""
        ...

    def start_idle(self) -> None:
        """Begin the idle baseline."""
        ...

    def finish_idle(self, phase: str = "warm") -> None:
        """End the idle baseline and keep the idle power as ``phase``'s."""
        ...


class MeterSet:
    """Meters run together around one window at a time.

    Args:
        meters: in begin order; put energy meters last.
        min_window_s: energy windows shorter than this are flagged invalid by the energy
            meters; the caller runs more rounds until :meth:`elapsed_s` reaches it (only
            needed when :attr:`energy_active`).
        idle_s: seconds of idle baseline (:meth:`measure_idle`); 0 disables it.
        gpu_energy_wanted: GPUs were selected for metering (see
            :meth:`WindowReadings.energy_figures`).
        energy_null_reasons: why sensors are absent, for the summary's ``energy_null_reason``.
        synchronize: waits for queued device work; called at both edges of the window.
        closers: called by :meth:`close` after the meters are closed (e.g. ``nvmlShutdown``).
    """

    def __init__(
        self,
        meters: Sequence[Meter[Reading]],
        *,
        min_window_s: float = 5.0,
        idle_s: float = 1.0,
        gpu_energy_wanted: bool = False,
        energy_null_reasons: Sequence[str] = (),
        synchronize: Callable[[], None] | None = None,
        closers: Sequence[Callable[[], None]] = (),
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        names = [m.name for m in meters]
        if len(set(names)) != len(names):
            raise ValueError(f"meter names must be unique: {names}")
        if min_window_s < 0 or idle_s < 0:
            raise ValueError("min_window_s and idle_s must be >= 0")
        self.meters: tuple[Meter[Reading], ...] = tuple(meters)
        self.min_window_s = float(min_window_s)
        self.idle_s = float(idle_s)
        self.gpu_energy_wanted = gpu_energy_wanted
        self.energy_null_reasons = tuple(energy_null_reasons)
        self.readings: WindowReadings | None = None
        self._synchronize = synchronize or _no_sync
        self._closers = list(closers)
        self._clock = clock
        self._sleep = sleep
        self._started: list[Meter[Reading]] = []
        self._t0: float | None = None
        self._idle_done = False
        self._closed = False

    @property
    def energy_meters(self) -> tuple[EnergyMeter, ...]:
        """The energy meters (active or null)."""
        return tuple(m for m in self.meters if isinstance(m, EnergyMeter))

    @property
    def counter_period_s(self) -> float | None:
        """The longest update period the GPU energy counters showed during an idle
        measurement, seconds (a meter's ``update_period_s``); ``None`` when none was
        measured."""
        periods = [
            p for m in self.energy_meters if (p := getattr(m, "update_period_s", None)) is not None
        ]
        return max(periods) if periods else None

    @property
    def energy_active(self) -> bool:
        """True when any energy sensor is read; then stretch windows to :attr:`min_window_s`."""
        return any(m.active for m in self.energy_meters)

    def expect_sm_clock(self, mhz: int | None) -> None:
        """Windows from now on are invalid when a GPU's SM clock is off ``mhz`` (a clock a
        sweep locked); ``None`` stops checking."""
        for meter in self.meters:
            if hasattr(meter, "expected_sm_clock_mhz"):
                meter.expected_sm_clock_mhz = mhz

    @property
    def in_window(self) -> bool:
        """True between :meth:`begin` and :meth:`end`."""
        return self._t0 is not None

    def measure_idle(self, phase: str = "warm") -> None:
        """Measure idle power on every active energy meter, all at once, over ``idle_s``.

        ``phase`` is ``"cold"`` (before warm-up: the device at rest) or ``"warm"`` (after
        warm-up, right before the window: the device idle at its working state, which energy
        above idle subtracts). Without a warm measurement :meth:`begin` takes one before the
        first window. Nothing happens when ``idle_s`` is 0 (readings then carry
        ``idle_null_reason``).

        Raises:
            ValueError: an unknown phase.
            RuntimeError: inside an open window.
        """
        if phase not in ("cold", "warm"):
            raise ValueError(f"idle phase must be 'cold' or 'warm', got {phase!r}")
        if self.in_window:
            raise RuntimeError("measure_idle() inside an open window")
        if phase == "warm":
            self._idle_done = True
        active = [m for m in self.energy_meters if m.active]
        if self.idle_s <= 0 or not active:
            return
        self._synchronize()
        started: list[EnergyMeter] = []
        try:
            t0 = self._clock()
            for meter in active:
                meter.start_idle()
                started.append(meter)
            remaining = self.idle_s - (self._clock() - t0)
            if remaining > 0:
                self._sleep(remaining)
        finally:
            errors: list[BaseException] = []
            for meter in reversed(started):
                try:
                    meter.finish_idle(phase)
                except BaseException as exc:
                    errors.append(exc)
            if errors:
                raise errors[0]

    def begin(self) -> None:
        """Begin every meter in order; if one fails, end those already begun and re-raise."""
        if self._closed:
            raise RuntimeError("MeterSet is closed")
        if self.in_window:
            raise RuntimeError("begin() while a window is open")
        if not self._idle_done:
            self.measure_idle("warm")
        self.readings = None
        self._synchronize()
        started: list[Meter[Reading]] = []
        try:
            for meter in self.meters:
                meter.begin()
                started.append(meter)
        except BaseException:
            _end_quietly(started)
            raise
        self._started = started
        self._t0 = self._clock()

    def elapsed_s(self) -> float:
        """Seconds since :meth:`begin` returned (no synchronization)."""
        if self._t0 is None:
            raise RuntimeError("elapsed_s() outside a window")
        return self._clock() - self._t0

    def end(self) -> WindowReadings:
        """End every begun meter (reverse order) and return the window's readings.

        Every meter is ended even if others raise; the first error is then re-raised.
        """
        if self._t0 is None:
            raise RuntimeError("end() without begin()")
        started, self._started = self._started, []
        t0, self._t0 = self._t0, None
        errors: list[BaseException] = []
        try:
            self._synchronize()
        except BaseException as exc:
            errors.append(exc)
        window_s = self._clock() - t0
        readings: list[Reading] = []
        for meter in reversed(started):
            try:
                readings.append(meter.end())
            except BaseException as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
        readings.reverse()
        self.readings = WindowReadings.from_readings(
            readings,
            window_s=window_s,
            gpu_energy_wanted=self.gpu_energy_wanted,
            energy_null_reasons=self.energy_null_reasons,
            min_window_s=self.min_window_s,
        )
        return self.readings

    def __enter__(self) -> MeterSet:
        self.begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.end()
            return
        # The workload failed: end every meter anyway; the workload's error wins.
        with contextlib.suppress(Exception):
            self.end()

    def close(self) -> None:
        """End an open window (discarding it), close every meter, run the closers. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._t0 is not None:
            started, self._started, self._t0 = self._started, [], None
            _end_quietly(started)
        errors: list[BaseException] = []
        for meter in self.meters:
            try:
                meter.close()
            except Exception as exc:
                errors.append(exc)
        for closer in self._closers:
            try:
                closer()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


def _no_sync() -> None:
    return None


def _end_quietly(started: Sequence[Meter[Reading]]) -> None:
    """End meters in reverse order, discarding readings and errors (clean-up path)."""
    for meter in reversed(started):
        with contextlib.suppress(Exception):
            meter.end()


class NullEnergyMeter:
    """Stands in for a device that was asked for but cannot be metered (Zeus's null device).

    Its reading has ``energy_j=None`` and the reason, so the window's energy is ``None``
    rather than silently covering fewer devices than asked.
    """

    active = False

    def __init__(
        self,
        device: str,
        reason: str,
        *,
        kind: str = "gpu",
        nvml_index: int | None = None,
        uuid: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.name = f"null:{device}"
        self.device = device
        self.reason = reason
        self._kind = kind
        self._nvml_index = nvml_index
        self._uuid = uuid
        self._clock = clock
        self._t0: float | None = None

    def begin(self) -> None:
        """Note the time only."""
        self._t0 = self._clock()

    def end(self) -> EnergyReading:
        """A reading with ``energy_j=None`` and the reason."""
        t0 = self._t0 if self._t0 is not None else self._clock()
        self._t0 = None
        return EnergyReading(
            meter=self.name,
            device=self.device,
            kind=self._kind,
            energy_source=None,
            energy_scope=None,
            window_s=self._clock() - t0,
            energy_j=None,
            null_reason=self.reason,
            nvml_index=self._nvml_index,
            uuid=self._uuid,
        )

    def start_idle(self) -> None:
        """Nothing to measure."""

    def finish_idle(self, phase: str = "warm") -> None:
        """Nothing to measure."""

    def close(self) -> None:
        """Nothing to release."""


def window_invalid_reasons(
    energy_j: float, window_s: float, min_window_s: float, device: str
) -> list[str]:
    """The checks every energy meter applies: a 0 J window and a window shorter than minimum.

    A 0 J window also emits :class:`EnergyWarning` (the window was shorter than the
    counter's update period, or the sensor is stuck).
    """
    reasons: list[str] = []
    if energy_j <= 0.0:
        reasons.append("zero_energy")
        warnings.warn(
            f"{device}: the energy window read {energy_j:g} J over {window_s:.3f} s; the window "
            "is shorter than the counter's update period or the sensor is not updating. "
            "Run more rounds per window (min_window_s).",
            EnergyWarning,
            stacklevel=3,
        )
    if window_s < min_window_s:
        reasons.append(f"window_shorter_than_min:{window_s:.2f}s<{min_window_s:.2f}s")
    return reasons
