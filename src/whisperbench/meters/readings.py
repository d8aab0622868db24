"""What meters return: frozen readings with units in their names, and the window summary.

Every meter's :meth:`end` returns one :class:`Reading`. :class:`WindowReadings` gathers the
readings of one measurement window and flattens them into the dictionaries the result schema
stores (:meth:`WindowReadings.energy_summary`, :meth:`WindowReadings.memory_summary`,
:attr:`WindowReadings.device_state`).

Units are in field names: ``_s`` seconds, ``_j`` joules, ``_w`` watts, ``_bytes`` bytes,
``_mhz`` megahertz, ``_c`` degrees Celsius. A field that could not be measured is ``None``,
never an estimate, and a ``*_reason`` field says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ENERGY_KEYS",
    "ENERGY_SUMMARY_KEYS",
    "MEMORY_SUMMARY_KEYS",
    "DeviceStateReading",
    "EnergyReading",
    "EnergyWarning",
    "MemoryReading",
    "Reading",
    "WindowReadings",
]

#: The energy keys shared by the window summary and by each per-device entry.
ENERGY_KEYS: tuple[str, ...] = (
    "energy_j",
    "energy_above_idle_j",
    "idle_power_w",
    "avg_power_w",
    "j_per_audio_s",
    "j_per_token",
    "energy_source",
    "energy_window_s",
    "energy_valid",
    "energy_invalid_reasons",
    "energy_null_reason",
)
#: Exactly the keys of :meth:`WindowReadings.energy_summary`.
ENERGY_SUMMARY_KEYS: tuple[str, ...] = (*ENERGY_KEYS, "energy_devices")
#: Extra keys of each entry of ``energy_devices`` (besides :data:`ENERGY_KEYS`).
DEVICE_KEYS: tuple[str, ...] = ("device", "nvml_index", "uuid", "energy_scope")
#: Exactly the keys of :meth:`WindowReadings.memory_summary`.
MEMORY_SUMMARY_KEYS: tuple[str, ...] = (
    "peak_rss_bytes",
    "cuda_peak_allocated_bytes",
    "cuda_peak_reserved_bytes",
    "nvml_process_gpu_memory_bytes",
)


class EnergyWarning(UserWarning):
    """Emitted when an energy window reads 0 J (shorter than the counter's update period)."""


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
        idle_power_w: idle power measured before the window, watts; ``None`` if not measured
            (see ``idle_null_reason``).
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

    def as_dict(self, audio_s: float, tokens: int) -> dict[str, object]:
        """This device as one ``energy_devices`` entry (:data:`ENERGY_KEYS` + device keys)."""
        return {
            "device": self.device,
            "nvml_index": self.nvml_index,
            "uuid": self.uuid,
            "energy_scope": self.energy_scope,
            **_energy_fields(
                energy_j=self.energy_j,
                above_idle_j=self.energy_above_idle_j,
                idle_power_w=self.idle_power_w,
                avg_power_w=self.avg_power_w,
                source=self.energy_source,
                window_s=self.window_s if self.energy_j is not None else None,
                valid=self.valid,
                invalid_reasons=list(self.invalid_reasons),
                null_reason=self.null_reason,
                audio_s=audio_s,
                tokens=tokens,
            ),
        }


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
        energy: one reading per metered device (GPUs and RAPL domains).
        memory: the memory reading, if a memory meter ran.
        state: device state before/after, if a state meter ran.
        gpu_energy_wanted: ``True`` when GPUs were selected for metering (``gpus="auto"`` on a
            CUDA device, or explicit NVML indices); the window's energy then comes from GPUs
            only, never silently from the CPU.
        energy_null_reasons: why sensors are absent (set when the meter set was built).
        min_window_s: the minimum window the energy figures were judged against.
    """

    window_s: float
    energy: tuple[EnergyReading, ...] = ()
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
            energy=tuple(energy),
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
        return tuple(r for r in self.energy if r.kind == "gpu")

    @property
    def cpu_energy(self) -> tuple[EnergyReading, ...]:
        """The CPU (RAPL) readings."""
        return tuple(r for r in self.energy if r.kind == "cpu")

    def energy_summary(self, audio_s: float, tokens: int) -> dict[str, object]:
        """The window's energy as flat fields, per :data:`ENERGY_SUMMARY_KEYS`.

        Which devices make ``energy_j``: the GPUs when GPUs were selected for metering
        (``gpu_energy_wanted``), otherwise the CPU's RAPL domains (package + DRAM, never
        overlapping domains). GPU and CPU figures are never added together; every device is
        listed in ``energy_devices`` either way. Across the chosen devices energies, idle
        powers and average powers are summed and ``energy_window_s`` is the longest device
        window; the figure is ``None`` if any chosen device could not be read (a partial sum
        would understate), and it is valid only if every chosen device is valid.
        ``energy_invalid_reasons`` is the union of the devices' reasons (per-device detail in
        ``energy_devices``).

        ``j_per_audio_s`` and ``j_per_token`` divide the total ``energy_j`` (not the
        above-idle figure) by ``audio_s`` and ``tokens``; ``None`` when the divisor is not
        positive.

        Args:
            audio_s: seconds of audio processed in the window.
            tokens: tokens generated in the window.
        """
        devices = [r.as_dict(audio_s, tokens) for r in self.energy]
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
            fields = _energy_fields(
                energy_j=None,
                above_idle_j=None,
                idle_power_w=None,
                avg_power_w=None,
                source=_joined_source(group),
                window_s=None,
                valid=None,
                invalid_reasons=[],
                null_reason=null_reason,
                audio_s=audio_s,
                tokens=tokens,
            )
            return {**fields, "energy_devices": devices}

        energy_j = sum(r.energy_j for r in group if r.energy_j is not None)
        idle_power_w = _sum_or_none([r.idle_power_w for r in group])
        above_j = _sum_or_none([r.energy_above_idle_j for r in group])
        avg_power_w = _sum_or_none([r.avg_power_w for r in group])
        reasons: list[str] = []
        for r in group:
            reasons.extend(x for x in r.invalid_reasons if x not in reasons)
        valid = all(r.valid is True for r in group)
        fields = _energy_fields(
            energy_j=energy_j,
            above_idle_j=above_j,
            idle_power_w=idle_power_w,
            avg_power_w=avg_power_w,
            source=_joined_source(group),
            window_s=max(r.window_s for r in group),
            valid=valid,
            invalid_reasons=reasons,
            null_reason=None,
            audio_s=audio_s,
            tokens=tokens,
        )
        return {**fields, "energy_devices": devices}

    def memory_summary(self) -> dict[str, object]:
        """The window's memory as flat fields, per :data:`MEMORY_SUMMARY_KEYS`."""
        m = self.memory
        return {
            "peak_rss_bytes": m.peak_rss_bytes if m else None,
            "cuda_peak_allocated_bytes": m.cuda_peak_allocated_bytes if m else None,
            "cuda_peak_reserved_bytes": m.cuda_peak_reserved_bytes if m else None,
            "nvml_process_gpu_memory_bytes": m.nvml_process_gpu_memory_bytes if m else None,
        }

    @property
    def device_state(self) -> dict[str, object]:
        """``{"before": {"host": ..., "gpus": [...]}, "after": ...}``, JSON-serializable."""
        if self.state is None:
            return {"before": None, "after": None}
        return {"before": dict(self.state.before), "after": dict(self.state.after)}


def _joined_source(group: Sequence[EnergyReading]) -> str | None:
    sources = sorted({r.energy_source for r in group if r.energy_source})
    return "+".join(sources) if sources else None


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


def _energy_fields(
    *,
    energy_j: float | None,
    above_idle_j: float | None,
    idle_power_w: float | None,
    avg_power_w: float | None,
    source: str | None,
    window_s: float | None,
    valid: bool | None,
    invalid_reasons: list[str],
    null_reason: str | None,
    audio_s: float,
    tokens: int,
) -> dict[str, object]:
    return {
        "energy_j": energy_j,
        "energy_above_idle_j": above_idle_j,
        "idle_power_w": idle_power_w,
        "avg_power_w": avg_power_w,
        "j_per_audio_s": _ratio(energy_j, audio_s),
        "j_per_token": _ratio(energy_j, tokens),
        "energy_source": source,
        "energy_window_s": window_s,
        "energy_valid": valid if energy_j is not None else None,
        "energy_invalid_reasons": invalid_reasons,
        "energy_null_reason": null_reason,
    }
