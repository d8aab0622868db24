"""What meters return: frozen readings with units in their names, and the window summary.

Length: over 450 lines because every reading type, the idle baseline and the rule combining
devices into the window's figures are one vocabulary, read together by the schema.

Every meter's :meth:`end` returns one :class:`Reading`. :class:`WindowReadings` gathers the
readings of one measurement window; :meth:`WindowReadings.energy` combines the devices into
one typed :class:`WindowEnergy`. Output names are the result schema's business
(:mod:`whisperbench.schema`), not the meters'.

Units are in field names: ``_s`` seconds, ``_j`` joules, ``_w`` watts, ``_bytes`` bytes,
``_mhz`` megahertz, ``_c`` degrees Celsius. A field that could not be measured is ``None``,
never an estimate, and a ``*_reason`` field says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "ABOVE_IDLE_REFERENCE",
    "DeviceEnergy",
    "DeviceStateReading",
    "EnergyFigures",
    "EnergyReading",
    "EnergyWarning",
    "IdleBaseline",
    "MemoryReading",
    "Reading",
    "WindowEnergy",
    "WindowReadings",
]


class EnergyWarning(UserWarning):
    """Emitted when an energy window reads 0 J (shorter than the counter's update period)."""


#: The idle measurement that energy above idle is defined against — here and nowhere else.
#: ``"warm"``: the device idle at its working state, measured right before the window (after
#: warm-up, when :func:`whisperbench.measure.measure` runs it). ``"cold"`` idle, measured before
#: warm-up, finds the device at a lower performance state and would overstate the energy the
#: work adds. Both are recorded (docs/measurement.md, "Idle baseline").
ABOVE_IDLE_REFERENCE = "warm"


@dataclass(frozen=True)
class IdleBaseline:
    """Idle power of one device, measured cold (before warm-up) and warm (right before the
    window), watts; ``None`` with the reason where not measured."""

    cold_w: float | None = None
    warm_w: float | None = None
    cold_reason: str | None = "cold idle not measured"
    warm_reason: str | None = "warm idle not measured"

    def with_phase(self, phase: str, power_w: float | None, reason: str | None) -> IdleBaseline:
        """A copy with ``phase`` (``"cold"`` or ``"warm"``) set.

        Raises:
            ValueError: an unknown phase.
        """
        if phase == "cold":
            return IdleBaseline(power_w, self.warm_w, reason, self.warm_reason)
        if phase == "warm":
            return IdleBaseline(self.cold_w, power_w, self.cold_reason, reason)
        raise ValueError(f"idle phase must be 'cold' or 'warm', got {phase!r}")

    @property
    def reference_w(self) -> float | None:
        """The idle power above-idle energy subtracts (:data:`ABOVE_IDLE_REFERENCE`)."""
        return self.warm_w if ABOVE_IDLE_REFERENCE == "warm" else self.cold_w

    @property
    def reference_reason(self) -> str | None:
        """Why :attr:`reference_w` is ``None``."""
        if self.reference_w is not None:
            return None
        return self.warm_reason if ABOVE_IDLE_REFERENCE == "warm" else self.cold_reason


@dataclass(frozen=True)
class Reading:
    """Base of every meter's result.

    Attributes:
        meter: name of the meter that produced the reading.
    """

    meter: str


@dataclass(frozen=True)
class EnergyReading(Reading):
    """Energy of one device (one GPU, or one RAPL domain) over one window.

    Attributes:
        device: label: ``"cuda:0"`` (a CUDA device of this process), ``"nvml:2"`` (an NVML
            index metered on request), ``"cpu-package-0"``, ``"cpu-dram-0"``, ``"cpu-psys"``.
        kind: ``"gpu"`` or ``"cpu"``.
        energy_source: ``"nvml_energy_counter"``, ``"nvml_power_polling"`` or ``"rapl"``;
            ``None`` when nothing was read.
        energy_scope: what the figure covers: ``"gpu"``, ``"gpu_whole_mig_parent"`` (the
            process runs on a MIG slice; the figure is the whole physical GPU, every slice),
            ``"cpu_package"``, ``"cpu_dram"``, ``"cpu_platform_psys"``.
        window_s: seconds between the two reads that bound the energy figure.
        energy_j: joules consumed in the window; ``None`` if unreadable (see ``null_reason``).
        idle_power_w: the idle power energy above idle is measured against
            (:data:`ABOVE_IDLE_REFERENCE`: warm), watts; ``None`` if not measured (see
            ``idle_null_reason``).
        valid: ``True``/``False`` when ``energy_j`` is known, ``None`` otherwise.
        invalid_reasons: short strings, e.g. ``"zero_energy"``,
            ``"window_shorter_than_min:1.20s<5.00s"``.
        null_reason: why ``energy_j`` is ``None`` (without the device label; the window summary
            puts ``"<device>: "`` in front).
        idle_null_reason: why ``idle_power_w`` is ``None``.
        notes: facts that do not invalidate the figure (e.g. a check that could not run).
        nvml_index, uuid: the NVML device (the parent GPU for MIG), ``None`` for CPU domains.
        t_begin_s, t_end_s: ``time.perf_counter()`` at the window edges.
        edge_uncertainty_s: largest half-width of the interval in which a counter update at a
            window edge is known to lie (aligned counter reads); ``None`` if not aligned.
        counter_update_period_s: observed update period of the energy counter, if measured.
        samples: number of power samples integrated (polling path only).
        power_source: the power reading integrated (polling path): ``"nvml_field_power_instant"``
            or ``"nvml_power_usage"`` (a 1 s average on Ampere-and-newer but GA100).
        edge_idle_s: seconds of the window outside the work, the device idle: from the begin
            edge to the start of the work and from the end of the work to the end edge
            (aligned counter edges); their energy is in ``energy_j``.
        idle_power_cold_w, idle_power_warm_w: idle power before warm-up and right before the
            window, watts (``None`` where not measured).
    """

    device: str
    kind: str
    energy_source: str | None
    energy_scope: str | None
    window_s: float
    energy_j: float | None
    idle_power_w: float | None = None
    valid: bool | None = None
    invalid_reasons: tuple[str, ...] = ()
    null_reason: str | None = None
    idle_null_reason: str | None = None
    notes: tuple[str, ...] = ()
    nvml_index: int | None = None
    uuid: str | None = None
    t_begin_s: float | None = None
    t_end_s: float | None = None
    edge_uncertainty_s: float | None = None
    counter_update_period_s: float | None = None
    samples: int | None = None
    power_source: str | None = None
    edge_idle_s: float | None = None
    idle_power_cold_w: float | None = None
    idle_power_warm_w: float | None = None

    @property
    def energy_above_idle_j(self) -> float | None:
        """``energy_j - idle_power_w * window_s``, joules; may be slightly negative (noise)."""
        if self.energy_j is None or self.idle_power_w is None:
            return None
        return self.energy_j - self.idle_power_w * self.window_s

    @property
    def avg_power_w(self) -> float | None:
        """``energy_j / window_s``, watts."""
        if self.energy_j is None or self.window_s <= 0:
            return None
        return self.energy_j / self.window_s

    def figures(self, audio_s: float, tokens: int) -> EnergyFigures:
        """This device's energy with the per-audio-second and per-token figures."""
        return EnergyFigures.of(
            energy_j=self.energy_j,
            energy_above_idle_j=self.energy_above_idle_j,
            idle_power_w=self.idle_power_w,
            idle_power_cold_w=self.idle_power_cold_w,
            idle_power_warm_w=self.idle_power_warm_w,
            avg_power_w=self.avg_power_w,
            source=self.energy_source,
            power_source=self.power_source,
            scope=self.energy_scope,
            window_s=self.window_s if self.energy_j is not None else None,
            valid=self.valid,
            invalid_reasons=self.invalid_reasons,
            null_reason=self.null_reason,
            audio_s=audio_s,
            tokens=tokens,
        )


@dataclass(frozen=True)
class EnergyFigures:
    """Energy over one window, of one device or of the devices that make the window's figure.

    Attributes:
        energy_j: joules in the window; ``None`` when unreadable (``null_reason`` says why).
        energy_above_idle_j: ``energy_j`` less idle power x window seconds.
        idle_power_w: the idle power above-idle energy subtracts (warm), watts.
        idle_power_cold_w, idle_power_warm_w: idle power before warm-up and right before the
            window, watts.
        avg_power_w: ``energy_j / window_s``, watts.
        j_per_audio_s: ``energy_j`` per second of audio transcribed in the window.
        j_per_token: ``energy_j`` per token generated in the window.
        source: ``nvml_energy_counter``, ``nvml_power_polling``, ``rapl`` (joined by ``+``).
        power_source: the power reading a polling meter integrated (joined by ``+``).
        scope: what the figure covers (``gpu``, ``gpu_whole_mig_parent``,
            ``superchip_module``, ``cpu_package`` ...; joined by ``+``).
        window_s: seconds the figure covers; ``None`` when nothing was read.
        valid: whether the window passed every check; ``None`` when nothing was read.
        invalid_reasons: why it did not.
        null_reason: why ``energy_j`` is ``None``.
    """

    energy_j: float | None
    energy_above_idle_j: float | None
    idle_power_w: float | None
    avg_power_w: float | None
    j_per_audio_s: float | None
    j_per_token: float | None
    source: str | None
    window_s: float | None
    valid: bool | None
    invalid_reasons: tuple[str, ...]
    null_reason: str | None
    idle_power_cold_w: float | None = None
    idle_power_warm_w: float | None = None
    power_source: str | None = None
    scope: str | None = None

    @classmethod
    def of(
        cls,
        *,
        energy_j: float | None,
        energy_above_idle_j: float | None,
        idle_power_w: float | None,
        avg_power_w: float | None,
        source: str | None,
        window_s: float | None,
        valid: bool | None,
        invalid_reasons: Sequence[str],
        null_reason: str | None,
        audio_s: float,
        tokens: int,
        idle_power_cold_w: float | None = None,
        idle_power_warm_w: float | None = None,
        power_source: str | None = None,
        scope: str | None = None,
    ) -> EnergyFigures:
        """The figures, with the ratios to ``audio_s`` and ``tokens`` (``None`` when the
        divisor is not positive) and ``valid`` only where energy was read."""
        return cls(
            energy_j=energy_j,
            energy_above_idle_j=energy_above_idle_j,
            idle_power_w=idle_power_w,
            avg_power_w=avg_power_w,
            j_per_audio_s=_ratio(energy_j, audio_s),
            j_per_token=_ratio(energy_j, tokens),
            source=source,
            window_s=window_s,
            valid=valid if energy_j is not None else None,
            invalid_reasons=tuple(invalid_reasons),
            null_reason=null_reason,
            idle_power_cold_w=idle_power_cold_w,
            idle_power_warm_w=idle_power_warm_w,
            power_source=power_source,
            scope=scope,
        )


@dataclass(frozen=True)
class DeviceEnergy:
    """One metered device's figures, and which device it is."""

    device: str  #: ``cuda:0``, ``nvml:2``, ``cpu-package-0`` ... (see :class:`EnergyReading`)
    nvml_index: int | None
    uuid: str | None
    energy_scope: str | None
    figures: EnergyFigures
    #: the reading behind the figures (edge bounds, counter period, notes)
    reading: EnergyReading | None = None


@dataclass(frozen=True)
class WindowEnergy:
    """The window's energy (``total``) and every metered device's own figures."""

    total: EnergyFigures
    devices: tuple[DeviceEnergy, ...]


@dataclass(frozen=True)
class MemoryReading(Reading):
    """Memory over one window.

    Attributes:
        peak_rss_bytes: largest resident set size of this process seen in the window (sampled
            by a thread, plus one sample at each edge); a spike shorter than the sampling
            interval can be missed.
        rss_begin_bytes, rss_end_bytes: RSS at the window edges.
        rss_samples: number of RSS samples taken.
        rss_interval_s: sampling interval of the RSS thread.
        cuda_peak_allocated_bytes, cuda_peak_reserved_bytes: ``torch.cuda.max_memory_*`` after
            ``reset_peak_memory_stats`` at begin; ``None`` on CPU runs.
        nvml_process_gpu_memory_bytes: GPU memory NVML attributes to this process, summed over
            the metered GPUs, the larger of the values at the two edges (not a peak);
            ``None`` when not applicable or not readable (see ``notes``).
        notes: why a field is ``None``.
    """

    peak_rss_bytes: int | None
    rss_begin_bytes: int | None
    rss_end_bytes: int | None
    rss_samples: int
    rss_interval_s: float
    cuda_peak_allocated_bytes: int | None = None
    cuda_peak_reserved_bytes: int | None = None
    nvml_process_gpu_memory_bytes: int | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeviceStateReading(Reading):
    """Device and host state before and after a window (JSON-serializable dictionaries).

    Attributes:
        before, after: ``{"host": {...}, "gpus": [{...}, ...]}`` as built by
            :func:`whisperbench.meters.device_state.window_snapshot`.
    """

    before: Mapping[str, Any]
    after: Mapping[str, Any]


@dataclass(frozen=True)
class WindowReadings:
    """The readings of one measurement window.

    Attributes:
        window_s: wall seconds of the whole window (after synchronizing), as seen by the set.
        energy_readings: one reading per metered device (GPUs and RAPL domains).
        memory: the memory reading, if a memory meter ran.
        state: device state before/after, if a state meter ran.
        gpu_energy_wanted: ``True`` when GPUs were selected for metering (``gpus="auto"`` on a
            CUDA device, or explicit NVML indices); the window's energy then comes from GPUs
            only, never silently from the CPU.
        energy_null_reasons: why sensors are absent (set when the meter set was built).
        min_window_s: the minimum window the energy figures were judged against.
    """

    window_s: float
    energy_readings: tuple[EnergyReading, ...] = ()
    memory: MemoryReading | None = None
    state: DeviceStateReading | None = None
    gpu_energy_wanted: bool = False
    energy_null_reasons: tuple[str, ...] = ()
    min_window_s: float = 0.0
    extra: tuple[Reading, ...] = field(default=())

    @classmethod
    def from_readings(
        cls,
        readings: Sequence[Reading],
        *,
        window_s: float,
        gpu_energy_wanted: bool,
        energy_null_reasons: Sequence[str] = (),
        min_window_s: float = 0.0,
    ) -> WindowReadings:
        """Sort a meter set's readings by type."""
        energy: list[EnergyReading] = []
        memory: MemoryReading | None = None
        state: DeviceStateReading | None = None
        extra: list[Reading] = []
        for reading in readings:
            if isinstance(reading, EnergyReading):
                energy.append(reading)
            elif isinstance(reading, MemoryReading):
                memory = reading
            elif isinstance(reading, DeviceStateReading):
                state = reading
            else:
                extra.append(reading)
        return cls(
            window_s=window_s,
            energy_readings=tuple(energy),
            memory=memory,
            state=state,
            gpu_energy_wanted=gpu_energy_wanted,
            energy_null_reasons=tuple(energy_null_reasons),
            min_window_s=min_window_s,
            extra=tuple(extra),
        )

    @property
    def gpu_energy(self) -> tuple[EnergyReading, ...]:
        """The GPU readings."""
        return tuple(r for r in self.energy_readings if r.kind == "gpu")

    @property
    def cpu_energy(self) -> tuple[EnergyReading, ...]:
        """The CPU (RAPL) readings."""
        return tuple(r for r in self.energy_readings if r.kind == "cpu")

    def energy_figures(
        self,
        audio_s: float,
        tokens: int,
        extra_invalid_reasons: Sequence[str] = (),
        *,
        idle_pause_s: float = 0.0,
    ) -> WindowEnergy:
        """The window's energy: the chosen devices combined, and every device on its own.

        Which devices make the total: the GPUs when GPUs were selected for metering
        (``gpu_energy_wanted``), otherwise the CPU's RAPL domains (package + DRAM, never
        overlapping domains). GPU and CPU figures are never added together; every device is
        listed in ``devices`` either way. Across the chosen devices energies, idle powers and
        average powers are summed (sources and scopes joined by ``+``) and ``window_s`` is
        the longest device window; the total is ``None`` if any chosen device could not be
        read (a partial sum would understate), and it is valid only if every chosen device is
        valid. ``invalid_reasons`` is the union of the devices' reasons.

        ``j_per_audio_s`` and ``j_per_token`` divide the total ``energy_j`` (not the
        above-idle figure) by ``audio_s`` and ``tokens``.

        Args:
            audio_s: seconds of audio processed in the window.
            tokens: tokens generated in the window.
            extra_invalid_reasons: reasons found outside the meters (the rounds' phases
                against the GPU counters' sampling grid) that invalidate the GPU total.
            idle_pause_s: seconds of idle pauses inserted between rounds to step them
                across the GPU sensor's sampling grid; each GPU's figure loses them (window
                seconds) and their energy at its warm idle power (noted on the device).
        """
        readings = tuple(_without_pauses(r, idle_pause_s) for r in self.energy_readings)
        if readings != self.energy_readings:
            return replace(self, energy_readings=readings).energy_figures(
                audio_s, tokens, extra_invalid_reasons
            )
        devices = tuple(
            DeviceEnergy(
                device=r.device,
                nvml_index=r.nvml_index,
                uuid=r.uuid,
                energy_scope=r.energy_scope,
                figures=r.figures(audio_s, tokens),
                reading=r,
            )
            for r in self.energy_readings
        )
        group = self.gpu_energy if self.gpu_energy_wanted else self.cpu_energy
        null_reason: str | None = None
        if not group:
            absent = list(self.energy_null_reasons) or ["no energy sensor metered"]
            null_reason = "; ".join(absent)
        else:
            unread = [r for r in group if r.energy_j is None]
            if unread:
                null_reason = "; ".join(f"{r.device}: {r.null_reason}" for r in unread)
        if null_reason is not None:
            total = EnergyFigures.of(
                energy_j=None,
                energy_above_idle_j=None,
                idle_power_w=None,
                avg_power_w=None,
                source=_joined_source(group),
                power_source=_joined(r.power_source for r in group),
                scope=_joined(r.energy_scope for r in group),
                window_s=None,
                valid=None,
                invalid_reasons=(),
                null_reason=null_reason,
                audio_s=audio_s,
                tokens=tokens,
            )
            return WindowEnergy(total, devices)

        reasons: list[str] = []
        for r in group:
            reasons.extend(x for x in r.invalid_reasons if x not in reasons)
        extra = list(extra_invalid_reasons) if self.gpu_energy_wanted else []
        reasons += [x for x in extra if x not in reasons]
        total = EnergyFigures.of(
            energy_j=sum(r.energy_j for r in group if r.energy_j is not None),
            energy_above_idle_j=_sum_or_none([r.energy_above_idle_j for r in group]),
            idle_power_w=_sum_or_none([r.idle_power_w for r in group]),
            idle_power_cold_w=_sum_or_none([r.idle_power_cold_w for r in group]),
            idle_power_warm_w=_sum_or_none([r.idle_power_warm_w for r in group]),
            avg_power_w=_sum_or_none([r.avg_power_w for r in group]),
            source=_joined_source(group),
            power_source=_joined(r.power_source for r in group),
            scope=_joined(r.energy_scope for r in group),
            window_s=max(r.window_s for r in group),
            valid=all(r.valid is True for r in group) and not extra,
            invalid_reasons=reasons,
            null_reason=None,
            audio_s=audio_s,
            tokens=tokens,
        )
        return WindowEnergy(total, devices)


def _without_pauses(reading: EnergyReading, pause_s: float) -> EnergyReading:
    """A GPU reading less ``pause_s`` seconds of idle at its warm idle power."""
    if pause_s <= 0 or reading.kind != "gpu" or reading.energy_j is None:
        return reading
    idle_w = reading.idle_power_warm_w
    if idle_w is None:
        note = f"phase_step_pauses_kept: {pause_s:.3f}s of idle pauses (warm idle unknown)"
        return replace(reading, notes=(*reading.notes, note))
    removed_j = idle_w * pause_s
    note = f"phase_step_pauses_removed: {pause_s:.3f}s x {idle_w:.1f}W = {removed_j:.2f}J"
    return replace(
        reading,
        energy_j=reading.energy_j - removed_j,
        window_s=reading.window_s - pause_s,
        notes=(*reading.notes, note),
    )


def _joined_source(group: Sequence[EnergyReading]) -> str | None:
    return _joined(r.energy_source for r in group)


def _joined(values: Iterable[str | None]) -> str | None:
    distinct = sorted({v for v in values if v})
    return "+".join(distinct) if distinct else None


def _sum_or_none(values: Sequence[float | None]) -> float | None:
    """The sum, or ``None`` if any value is ``None`` (a partial sum would understate)."""
    total = 0.0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _ratio(numerator: float | None, denominator: float) -> float | None:
    if numerator is None or denominator <= 0:
        return None
    return numerator / denominator
