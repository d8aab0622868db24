"""CPU energy through RAPL, read from the Linux powercap tree (``/sys/class/powercap``).

Zones are directories ``intel-rapl:<n>`` (top level) with subzones ``intel-rapl:<n>:<m>``
(also symlinked at the top level); each has ``name``, ``energy_uj`` (microjoules, a wrapping
counter) and ``max_energy_range_uj``. AMD CPUs use the same ``intel-rapl`` names on Linux
5.8 and later.

**Which domains are summed.** Domains overlap, so only non-overlapping ones are metered:

* ``package-<n>`` (the whole socket: cores, caches, uncore) — metered, label
  ``cpu-package-<n>``;
* ``dram`` (a subzone of a package in sysfs, but *not* part of the package's energy) —
  metered, label ``cpu-dram-<n>``;
* ``core`` (PP0) and ``uncore`` (PP1) are *inside* the package — never metered;
* ``psys`` (platform: package + DRAM + more, client CPUs) overlaps everything — metered
  **alone**, label ``cpu-psys``, only when there is no package domain;
* ``intel-rapl-mmio:*`` duplicates the package through MMIO — ignored.

**Wrap-around.** ``energy_uj`` wraps to 0 after ``max_energy_range_uj``. Each meter reads its
counter at both edges and once a second in between (``accumulate_interval_s``), adding
``(new - old) mod max_energy_range_uj`` per step, so a window of any length is correct as long
as the counter wraps less than once per step (it takes minutes even at full load).

**Unreadable counters.** Since Linux 5.10 ``energy_uj`` is readable by root only
(CVE-2020-8694); VMs usually have no powercap tree at all. Both cases give no meter and a
reason string (:func:`discover_rapl`), never an estimate.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from whisperbench.meters.base import window_invalid_reasons
from whisperbench.meters.readings import EnergyReading, IdleBaseline

__all__ = [
    "DEFAULT_POWERCAP_ROOT",
    "RaplEnergyMeter",
    "RaplZone",
    "discover_rapl",
    "read_text",
    "wrap_delta_uj",
]

DEFAULT_POWERCAP_ROOT = Path("/sys/class/powercap")
_TOP_ZONE = re.compile(r"^intel-rapl:(\d+)$")
_SUB_ZONE = re.compile(r"^intel-rapl:(\d+):(\d+)$")
_PACKAGE = re.compile(r"^package-(\d+)$")

ReadText = Callable[[Path], str]


def read_text(path: Path) -> str:
    """Read a sysfs file (the seam tests replace to emulate a non-root reader)."""
    return path.read_text(encoding="ascii")


def wrap_delta_uj(before_uj: int, after_uj: int, max_range_uj: int | None) -> int | None:
    """Microjoules between two reads of a wrapping counter (at most one wrap).

    Returns ``None`` when the counter went backwards and the range is unknown.
    """
    if after_uj >= before_uj:
        return after_uj - before_uj
    if max_range_uj is None or max_range_uj <= 0:
        return None
    return after_uj + max_range_uj - before_uj


@dataclass(frozen=True)
class RaplZone:
    """One metered RAPL domain.

    Attributes:
        path: the zone directory.
        name: contents of its ``name`` file (``package-0``, ``dram``, ``psys``).
        label: device label in results (``cpu-package-0``, ``cpu-dram-0``, ``cpu-psys``).
        scope: ``cpu_package``, ``cpu_dram`` or ``cpu_platform_psys``.
        max_range_uj: ``max_energy_range_uj``, ``None`` if unreadable (wraps then null the
            window).
    """

    path: Path
    name: str
    label: str
    scope: str
    max_range_uj: int | None

    @property
    def energy_path(self) -> Path:
        """The ``energy_uj`` file."""
        return self.path / "energy_uj"


def _read_int(path: Path, reader: ReadText) -> int:
    return int(reader(path).strip())


def _describe_error(path: Path, exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return (
            f"permission denied reading {path} (energy_uj is root-only since Linux 5.10, "
            "CVE-2020-8694)"
        )
    return f"cannot read {path}: {exc.strerror or exc}"


def discover_rapl(
    root: Path = DEFAULT_POWERCAP_ROOT, *, reader: ReadText = read_text
) -> tuple[list[RaplZone], list[str], list[str]]:
    """Find the non-overlapping RAPL domains under ``root`` and check they are readable.

    Returns:
        ``(zones, reasons, notes)``: the readable domains to meter; why RAPL cannot be
        metered (prefixed ``"RAPL: "``; non-empty means ``zones`` is empty); and what was
        left out on purpose (overlapping domains).
    """
    if not root.is_dir():
        return [], [f"RAPL: {root} not present"], []
    packages: list[tuple[int, Path, str]] = []
    drams: list[tuple[int, Path]] = []
    psys: list[Path] = []
    notes: list[str] = []
    unreadable: list[str] = []
    for top in sorted(root.iterdir(), key=lambda p: p.name):
        match = _TOP_ZONE.match(top.name)
        if not match:
            continue
        try:
            name = reader(top / "name").strip()
        except OSError as exc:
            unreadable.append(_describe_error(top / "name", exc))
            continue
        package = _PACKAGE.match(name)
        if package:
            socket = int(package.group(1))
            packages.append((socket, top, name))
            for sub in sorted(top.iterdir(), key=lambda p: p.name):
                if not _SUB_ZONE.match(sub.name):
                    continue
                try:
                    sub_name = reader(sub / "name").strip()
                except OSError as exc:
                    unreadable.append(_describe_error(sub / "name", exc))
                    continue
                if sub_name == "dram":
                    drams.append((socket, sub))
                else:
                    notes.append(f"rapl: {sub.name} ({sub_name}) is inside {name}; not added")
        elif name == "psys":
            psys.append(top)
        else:
            notes.append(f"rapl: {top.name} ({name}) not metered")
    candidates: list[tuple[Path, str, str, str]] = []
    for socket, path, name in packages:
        candidates.append((path, name, f"cpu-package-{socket}", "cpu_package"))
    for socket, path in drams:
        candidates.append((path, "dram", f"cpu-dram-{socket}", "cpu_dram"))
    if packages and psys:
        notes.append("rapl: psys overlaps package and dram; not added")
    elif psys:
        candidates.append((psys[0], "psys", "cpu-psys", "cpu_platform_psys"))
    if not candidates:
        reasons = [f"RAPL: {u}" for u in unreadable] or [f"RAPL: no intel-rapl zones under {root}"]
        return [], reasons, notes
    zones: list[RaplZone] = []
    for path, name, label, scope in candidates:
        try:
            _read_int(path / "energy_uj", reader)
        except OSError as exc:
            return [], [f"RAPL: {_describe_error(path / 'energy_uj', exc)}"], notes
        except ValueError:
            return [], [f"RAPL: {path / 'energy_uj'} is not an integer"], notes
        try:
            max_range: int | None = _read_int(path / "max_energy_range_uj", reader)
        except (OSError, ValueError):
            max_range = None
            notes.append(f"rapl: {path / 'max_energy_range_uj'} unreadable; a wrap nulls a window")
        zones.append(RaplZone(path, name, label, scope, max_range))
    return zones, [], notes


class RaplEnergyMeter:
    """Energy of one RAPL domain over a window (``energy_source="rapl"``).

    A background thread reads the counter every ``accumulate_interval_s`` so wrap-arounds are
    counted however long the window. The thread runs only between :meth:`begin` and
    :meth:`end` (and during the idle baseline).

    Args:
        zone: the domain (from :func:`discover_rapl`).
        min_window_s: shorter windows are flagged invalid.
        accumulate_interval_s: seconds between reads inside a window.
        reader: reads a sysfs file (tests emulate permissions through it).
    """

    active = True
    kind = "cpu"

    def __init__(
        self,
        zone: RaplZone,
        *,
        min_window_s: float = 5.0,
        accumulate_interval_s: float = 1.0,
        reader: ReadText = read_text,
        notes: Sequence[str] = (),
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.zone = zone
        self.name = f"rapl:{zone.label}"
        self.min_window_s = min_window_s
        self._interval_s = accumulate_interval_s
        self._reader = reader
        self._notes = tuple(notes)
        self._clock = clock
        self.idle = IdleBaseline()
        self._idle_error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_uj = 0
        self._total_uj = 0
        self._t0 = 0.0
        self._error: str | None = None
        self._begin_error: str | None = None
        self._open = False

    # -- accumulation -----------------------------------------------------------------------

    def _step(self) -> None:
        """Read the counter once and add the (wrap-corrected) increase."""
        try:
            now = _read_int(self.zone.energy_path, self._reader)
        except (OSError, ValueError) as exc:
            with self._lock:
                if self._error is None:
                    self._error = (
                        _describe_error(self.zone.energy_path, exc)
                        if isinstance(exc, OSError)
                        else f"bad value in {self.zone.energy_path}"
                    )
            return
        with self._lock:
            delta = wrap_delta_uj(self._last_uj, now, self.zone.max_range_uj)
            if delta is None:
                self._error = self._error or "counter went backwards and its range is unknown"
            else:
                self._total_uj += delta
            self._last_uj = now

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._step()

    def _start(self) -> str | None:
        self._error = None
        self._total_uj = 0
        try:
            self._last_uj = _read_int(self.zone.energy_path, self._reader)
        except (OSError, ValueError) as exc:
            return (
                _describe_error(self.zone.energy_path, exc)
                if isinstance(exc, OSError)
                else f"bad value in {self.zone.energy_path}"
            )
        self._t0 = self._clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"whisperbench-{self.name}", daemon=True
        )
        self._thread.start()
        return None

    def _finish(self) -> tuple[float | None, float, str | None]:
        """Stop the thread, take the last step; ``(joules or None, seconds, error)``."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()
            self._step()
        window_s = self._clock() - self._t0
        if self._error is not None:
            return None, window_s, self._error
        return self._total_uj / 1e6, window_s, None

    # -- idle baseline ----------------------------------------------------------------------

    @property
    def idle_power_w(self) -> float | None:
        """The idle power above-idle energy subtracts (warm), W."""
        return self.idle.reference_w

    def start_idle(self) -> None:
        """Start accumulating for an idle baseline."""
        self._idle_error = self._start()

    def finish_idle(self, phase: str = "warm") -> None:
        """Stop; keep the idle power in W as the ``phase`` (``"cold"``/``"warm"``) baseline."""
        if self._idle_error is not None:
            self.idle = self.idle.with_phase(phase, None, self._idle_error)
            self._idle_error = None
            return
        if self._thread is None:
            return
        energy_j, window_s, error = self._finish()
        if energy_j is None or window_s <= 0:
            self.idle = self.idle.with_phase(phase, None, error or "zero idle duration")
        else:
            self.idle = self.idle.with_phase(phase, energy_j / window_s, None)

    # -- window -----------------------------------------------------------------------------

    def begin(self) -> None:
        """Read the counter and start accumulating."""
        if self._open:
            raise RuntimeError(f"{self.name}: begin() twice")
        self._open = True
        self._begin_error = self._start()
        if self._begin_error is not None:
            self._t0 = self._clock()

    def end(self) -> EnergyReading:
        """Stop accumulating and return the reading."""
        if not self._open:
            raise RuntimeError(f"{self.name}: end() without begin()")
        self._open = False
        energy_j, window_s, error = self._finish()
        if self._begin_error is not None:
            energy_j, error = None, self._begin_error
        reasons: list[str] = []
        if energy_j is not None:
            reasons = window_invalid_reasons(energy_j, window_s, self.min_window_s, self.name)
        return EnergyReading(
            meter=self.name,
            device=self.zone.label,
            kind="cpu",
            energy_source="rapl",
            energy_scope=self.zone.scope,
            window_s=window_s,
            energy_j=energy_j,
            idle_power_w=self.idle.reference_w,
            idle_power_cold_w=self.idle.cold_w,
            idle_power_warm_w=self.idle.warm_w,
            valid=None if energy_j is None else not reasons,
            invalid_reasons=tuple(reasons),
            null_reason=None if energy_j is not None else f"RAPL: {error}",
            idle_null_reason=self.idle.reference_reason,
            notes=self._notes,
            t_begin_s=self._t0,
            t_end_s=self._t0 + window_s,
        )

    def close(self) -> None:
        """Stop the thread if a window was abandoned."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()
        self._open = False
