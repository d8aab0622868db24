"""FAKE Linux powercap tree for tests, readable by the real RAPL code in whisperbench.meters.rapl.

Mirrors sysfs: ``<root>/intel-rapl`` (the control type), ``<root>/intel-rapl:<n>`` per top
zone with ``name``, ``energy_uj``, ``max_energy_range_uj``; subzones are directories
``intel-rapl:<n>/intel-rapl:<n>:<m>`` *and* symlinks ``<root>/intel-rapl:<n>:<m>``, as the
kernel lays them out. Counters are in microjoules and wrap at ``max_energy_range_uj``.

Tests run as root here, and root reads a ``chmod 000`` file anyway; :meth:`FakePowercap.read_text`
emulates what a non-root reader sees (``PermissionError``, EACCES) for a file with no read bits.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

#: A typical Intel ``max_energy_range_uj`` (about 262 kJ).
INTEL_RANGE_UJ = 262_143_328_850


class FakePowercap:
    """Builds and drives a fake powercap tree under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "intel-rapl").mkdir(exist_ok=True)  # control type directory: no energy file
        self._ranges: dict[str, int] = {}

    def path(self, zone: str) -> Path:
        """Directory of ``zone`` (``"intel-rapl:0"`` or ``"intel-rapl:0:2"``)."""
        parts = zone.split(":")
        if len(parts) == 3:
            return self.root / f"{parts[0]}:{parts[1]}" / zone
        return self.root / zone

    def _write(self, path: Path, text: str) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o444
        os.chmod(tmp, mode)
        os.replace(tmp, path)  # atomic: a concurrent reader sees old or new, never half

    def _zone(self, zone: str, name: str, energy_uj: int, max_range_uj: int | None) -> None:
        d = self.path(zone)
        d.mkdir(parents=True, exist_ok=True)
        (d / "name").write_text(name + "\n")
        (d / "enabled").write_text("1\n")
        if max_range_uj is not None:
            (d / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
            self._ranges[zone] = max_range_uj
        (d / "energy_uj").write_text(f"{energy_uj}\n")
        if zone.count(":") == 2:
            link = self.root / zone
            if not link.exists():
                link.symlink_to(d, target_is_directory=True)

    def add_package(
        self,
        socket: int = 0,
        *,
        energy_uj: int = 1_000_000,
        max_range_uj: int = INTEL_RANGE_UJ,
        core: bool = True,
        uncore: bool = True,
        dram: bool = True,
    ) -> None:
        """Add ``intel-rapl:<socket>`` (package-<socket>) and its core/uncore/dram subzones."""
        top = f"intel-rapl:{socket}"
        self._zone(top, f"package-{socket}", energy_uj, max_range_uj)
        if core:
            self._zone(f"{top}:0", "core", energy_uj // 2, max_range_uj)
        if uncore:
            self._zone(f"{top}:1", "uncore", energy_uj // 10, max_range_uj)
        if dram:
            self._zone(f"{top}:2", "dram", energy_uj // 5, max_range_uj)

    def add_psys(self, index: int = 1, *, energy_uj: int = 5_000_000) -> None:
        """Add ``intel-rapl:<index>`` named ``psys`` (platform, overlaps everything)."""
        self._zone(f"intel-rapl:{index}", "psys", energy_uj, INTEL_RANGE_UJ)

    def energy(self, zone: str) -> int:
        """The zone's counter, µJ."""
        return int((self.path(zone) / "energy_uj").read_text())

    def set(self, zone: str, energy_uj: int) -> None:
        """Set the zone's counter, µJ."""
        self._write(self.path(zone) / "energy_uj", f"{energy_uj}\n")

    def advance(self, zone: str, delta_uj: int) -> None:
        """Add ``delta_uj`` to the counter, wrapping at ``max_energy_range_uj``."""
        value = self.energy(zone) + delta_uj
        range_uj = self._ranges.get(zone)
        if range_uj:
            value %= range_uj
        self.set(zone, value)

    def deny(self, zone: str, file: str = "energy_uj") -> None:
        """``chmod 000`` a file of the zone (see :meth:`read_text` for root)."""
        os.chmod(self.path(zone) / file, 0)

    @staticmethod
    def read_text(path: Path) -> str:
        """Read like a non-root process: EACCES when the file has no read permission bits."""
        if path.exists() and not path.stat().st_mode & 0o444:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return path.read_text(encoding="ascii")
