"""Sweep plans: a TOML file -> the cells to measure (run options x operating points x runs).

A plan names run options by the app's flags (``whisperbench run --help``); a list makes an
axis, a single value applies to every cell. Operating points are GPU SM clocks, memory clocks
and power limits; ``runs`` repeats every cell in a fresh worker process::

    name = "a100-clocks"          # optional: a label for the sweep
    runs = 3                      # repeats of every cell (default 1)
    gpu-type = "A100"             # optional: the {GPU} of the framework's file names

    [matrix]
    model = ["tiny.en", "base"]
    dtype = "float16"
    audio-duration = [10, 30]
    rounds = 5

    [operating-points]
    sm-clock-mhz = [510, 960, 1410]
    power-limit-w = 300           # optional; mem-clock-mhz too

    [slurm]                       # optional: defaults for --executor slurm
    sbatch = ["--partition=gpu", "--time=00:30:00"]
    max-parallel = 8

Every value goes through the same argparse type as the command line, so a plan is refused
with the same message a flag would get. Cells run in this order: run, then the options that
need another model load (model, dtype, ...), then operating point, then audio and batch —
so one worker loads each model once per run and changes clocks between cells.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whisperbench.options import RunOptions, option_specs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover (3.10)
    import tomli as tomllib

__all__ = ["Cell", "OperatingPoint", "PlanError", "SlurmDefaults", "SweepPlan", "load_plan"]

#: Options (by flag) that only change the workload; the rest need another model load.
_WORKLOAD_FLAGS = ("audio-duration", "audio", "batch-size")
_TOP_KEYS = {"name", "runs", "gpu-type", "matrix", "operating-points", "slurm"}
_POINT_FLAGS = ("sm-clock-mhz", "mem-clock-mhz", "power-limit-w")  #: OperatingPoint's fields
_SLURM_KEYS = {"sbatch", "max-parallel", "cpus-per-task", "gpus-per-task"}


class PlanError(ValueError):
    """A plan that cannot run; the message names the file, the key and what is valid."""


@dataclass(frozen=True)
class OperatingPoint:
    """A GPU operating point as requested; ``None`` leaves that setting as it is."""

    sm_clock_mhz: int | None = None
    mem_clock_mhz: int | None = None
    power_limit_w: float | None = None

    @property
    def is_default(self) -> bool:
        """True when nothing is requested (the device runs as it is)."""
        return self == OperatingPoint()

    @property
    def label(self) -> str:
        """``sm1410``, ``sm960-mem1593-300w``, or ``default``."""
        parts = []
        if self.sm_clock_mhz is not None:
            parts.append(f"sm{self.sm_clock_mhz}")
        if self.mem_clock_mhz is not None:
            parts.append(f"mem{self.mem_clock_mhz}")
        if self.power_limit_w is not None:
            parts.append(f"{self.power_limit_w:g}w")
        return "-".join(parts) or "default"


@dataclass(frozen=True)
class Cell:
    """One measurement of a sweep: options at an operating point, in one run (1-based)."""

    index: int
    options: RunOptions
    point: OperatingPoint
    run: int

    @property
    def id(self) -> str:
        """Unique, sortable and readable: ``0003-tiny.en-float32-5s-b1-sm960-run02``."""
        o = self.options
        return (
            f"{self.index:04d}-{o.model}-{o.dtype}-{o.audio_duration_s:g}s-b{o.batch_size}"
            f"-{self.point.label}-run{self.run:02d}"
        )

    @property
    def config_id(self) -> str:
        """The cell's configuration without operating point and run (one framework layout
        per configuration)."""
        o = self.options
        return f"{o.model}-{o.dtype}-{o.audio_duration_s:g}s-b{o.batch_size}"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "id": self.id,
            "run": self.run,
            "options": dataclasses.asdict(self.options),
            "operating_point": dataclasses.asdict(self.point),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cell:
        return cls(
            index=int(data["index"]),
            options=RunOptions(**data["options"]),
            point=OperatingPoint(**data["operating_point"]),
            run=int(data["run"]),
        )


@dataclass(frozen=True)
class SlurmDefaults:
    """The plan's defaults for the SLURM executor (the command line adds to them)."""

    sbatch: tuple[str, ...] = ()
    max_parallel: int | None = None
    cpus_per_task: int | None = None
    gpus_per_task: int | None = None


@dataclass(frozen=True)
class SweepPlan:
    """A parsed plan: its source text is kept so the sweep folder can hold it as given."""

    path: Path
    text: str
    name: str
    runs: int
    gpu_type: str | None
    base: RunOptions
    axes: Mapping[str, tuple[Any, ...]]  #: RunOptions field -> values, in field order
    points: tuple[OperatingPoint, ...]
    slurm: SlurmDefaults = field(default_factory=SlurmDefaults)

    @property
    def workload_fields(self) -> tuple[str, ...]:
        """RunOptions fields that change only the workload (audio, batch), not the model."""
        return tuple(name for name, spec in option_specs() if spec.flag in _WORKLOAD_FLAGS)

    @property
    def controls_clocks(self) -> bool:
        """True when some cell asks for a clock or a power limit."""
        return any(not point.is_default for point in self.points)

    def cells(self) -> list[Cell]:
        """Every cell, in run order (see the module docstring)."""
        workload = self.workload_fields
        session_axes = [name for name in self.axes if name not in workload]
        workload_axes = [name for name in self.axes if name in workload]
        cells: list[Cell] = []
        for run in range(1, self.runs + 1):
            for session_values in itertools.product(*(self.axes[n] for n in session_axes)):
                for point in self.points:
                    for workload_values in itertools.product(
                        *(self.axes[n] for n in workload_axes)
                    ):
                        values = dict(zip(session_axes, session_values, strict=True))
                        values.update(zip(workload_axes, workload_values, strict=True))
                        options = self.base.with_values(**values)
                        cells.append(Cell(len(cells), options, point, run))
        return cells


def load_plan(path: str | Path) -> SweepPlan:
    """Read and check a plan file.

    Raises:
        PlanError: unreadable file, TOML syntax, an unknown key, or a value its option refuses.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PlanError(f"cannot read plan {path}: {error.strerror or error}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PlanError(f"{path}: not valid TOML: {error}") from None
    return parse_plan(data, path, text)


def parse_plan(data: Mapping[str, Any], path: Path, text: str = "") -> SweepPlan:
    """A :class:`SweepPlan` from a parsed TOML document (``path`` names it in messages)."""
    _only(data, _TOP_KEYS, f"{path}")
    runs = data.get("runs", 1)
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise PlanError(f"{path}: runs must be a whole number >= 1, got {runs!r}")
    name = str(data.get("name") or path.stem)
    gpu_type = data.get("gpu-type")
    if gpu_type is not None and (not isinstance(gpu_type, str) or not gpu_type.isalnum()):
        raise PlanError(f"{path}: gpu-type must be letters and digits like A100, got {gpu_type!r}")
    base, axes = _matrix(_table(data, "matrix", path), path)
    points = _points(_table(data, "operating-points", path), path)
    slurm = _slurm(_table(data, "slurm", path), path)
    return SweepPlan(path, text, name, runs, gpu_type, base, axes, points, slurm)


def _table(data: Mapping[str, Any], key: str, path: Path) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise PlanError(f"{path}: [{key}] must be a table")
    return value


def _only(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise PlanError(
            f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(known))}"
        )


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _matrix(table: Mapping[str, Any], path: Path) -> tuple[RunOptions, dict[str, tuple[Any, ...]]]:
    specs = {spec.flag: (name, spec) for name, spec in option_specs()}
    _only(table, set(specs), f"{path}: [matrix]")
    singles: dict[str, Any] = {}
    axes: dict[str, tuple[Any, ...]] = {}
    for flag, raw in table.items():
        name, spec = specs[flag]
        values = _values(raw)
        if not values:
            raise PlanError(f"{path}: [matrix] {flag} is an empty list")
        parsed = tuple(_parse(spec.parse, value, f"{path}: [matrix] {flag}") for value in values)
        if len(parsed) != len(set(parsed)):
            raise PlanError(f"{path}: [matrix] {flag} lists a value twice: {values}")
        if isinstance(raw, list) and len(parsed) > 1:
            axes[name] = parsed
        else:
            singles[name] = parsed[0]
    base = RunOptions(**singles)
    ordered = {name: axes[name] for name, _ in option_specs() if name in axes}
    return base, ordered


def _parse(parse: Any, value: Any, where: str) -> Any:
    if parse is None:  # a flag: true or false
        if not isinstance(value, bool):
            raise PlanError(f"{where}: must be true or false, got {value!r}")
        return value
    if isinstance(value, (bool, list, dict)):
        raise PlanError(f"{where}: {value!r} is not a single value")
    text = repr(value) if isinstance(value, float) else str(value)
    try:
        return parse(text)
    except argparse.ArgumentTypeError as error:
        raise PlanError(f"{where}: {error}") from None


def _points(table: Mapping[str, Any], path: Path) -> tuple[OperatingPoint, ...]:
    _only(table, set(_POINT_FLAGS), f"{path}: [operating-points]")
    field_of = dict(
        zip(_POINT_FLAGS, (f.name for f in dataclasses.fields(OperatingPoint)), strict=True)
    )
    lists: dict[str, list[Any]] = {}
    for key, raw in table.items():
        values = _values(raw)
        where = f"{path}: [operating-points] {key}"
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise PlanError(f"{where}: values must be positive numbers, got {value!r}")
            if key != "power-limit-w" and not float(value).is_integer():
                raise PlanError(f"{where}: clocks are whole MHz, got {value!r}")
        if len(values) != len(set(values)):
            raise PlanError(f"{where}: lists a value twice: {values}")
        converted = [int(v) if key != "power-limit-w" else float(v) for v in values]
        lists[field_of[key]] = converted
    names = list(lists)
    points = [
        OperatingPoint(**dict(zip(names, combo, strict=True)))
        for combo in itertools.product(*(lists[n] for n in names))
    ]
    return tuple(points) or (OperatingPoint(),)


def _slurm(table: Mapping[str, Any], path: Path) -> SlurmDefaults:
    _only(table, _SLURM_KEYS, f"{path}: [slurm]")
    sbatch = table.get("sbatch", [])
    if not isinstance(sbatch, list) or not all(isinstance(a, str) for a in sbatch):
        raise PlanError(f"{path}: [slurm] sbatch must be a list of strings like '--time=1:00:00'")
    numbers: dict[str, int | None] = {}
    for key in ("max-parallel", "cpus-per-task", "gpus-per-task"):
        value = table.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise PlanError(f"{path}: [slurm] {key} must be a whole number >= 0, got {value!r}")
        numbers[key] = value
    return SlurmDefaults(
        sbatch=tuple(sbatch),
        max_parallel=numbers["max-parallel"],
        cpus_per_task=numbers["cpus-per-task"],
        gpus_per_task=numbers["gpus-per-task"],
    )


def describe(cells: Sequence[Cell]) -> str:
    """One line per cell and the count, for ``whisperbench sweep plan``."""
    lines = [f"{cell.id}" for cell in cells]
    lines.append(f"{len(cells)} cell(s)")
    return "\n".join(lines)
