"""Operating-point analysis: energy, RTF and energy-delay product against the SM clock.

For every configuration measured at several SM clocks (model, dtype, audio seconds, batch
size, GPU model), the runs at each clock are pooled as ratios of sums (measurement rule 2):
J per audio second = sum(energy) / sum(audio seconds in the windows), RTF = sum(inference
seconds) / sum(audio seconds); EDP = J per audio second x RTF (energy x delay, both per
second of audio). Only windows whose energy is valid count; the spread across runs is kept
(min-max) for the error bars.

The original framework's questions, answered from the data of each configuration:

- **low frequency**: the lowest clock measured, what it costs and how slow it is;
- **high frequency**: the highest clock measured;
- **optimal frequency**: the clock with the least energy per audio second, and, with
  ``--rtf-deadline``, the least-energy clock that still meets the deadline;
- the time-vs-energy Pareto front: the clocks no other clock beats on both.

Figures (matplotlib, imported only when drawing): the three figures against the clock, the
Pareto plot, and power traces from the sweep's ``*_profile.csv`` files.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whisperbench import schema
from whisperbench.runs import Benchmark, Run, finite, gpu_name, gpu_states

__all__ = [
    "ClockFindings",
    "ClockPoint",
    "OperatingPointReport",
    "analyse",
    "clock_findings",
    "operating_point_report",
]


@dataclass(frozen=True)
class ClockPoint:
    """One configuration at one SM clock, pooled over its runs."""

    sm_clock_mhz: int
    runs: int
    j_per_audio_s: float | None  #: None when no run had a valid energy window
    rtf: float
    j_per_audio_s_range: tuple[float, float] | None
    rtf_range: tuple[float, float]

    @property
    def edp(self) -> float | None:
        """Energy-delay product per audio second: J per audio second x RTF."""
        return None if self.j_per_audio_s is None else self.j_per_audio_s * self.rtf


@dataclass(frozen=True)
class ClockFindings:
    """What the data say about one configuration's clocks."""

    group: str
    points: tuple[ClockPoint, ...]  #: ascending clock
    rtf_deadline: float | None
    energy_optimal: ClockPoint | None
    edp_optimal: ClockPoint | None
    deadline_choice: ClockPoint | None  #: least energy with RTF <= deadline
    pareto: tuple[ClockPoint, ...]  #: time-vs-energy front, ascending RTF

    @property
    def low(self) -> ClockPoint:
        return self.points[0]

    @property
    def high(self) -> ClockPoint:
        return self.points[-1]

    def sentences(self) -> list[str]:
        """The low / high / optimal frequency answers, one sentence each."""
        lines = [f"low frequency {_describe(self.low)}", f"high frequency {_describe(self.high)}"]
        best = self.energy_optimal
        if best is None:
            lines.append("optimal frequency: no valid energy window at any clock")
            return lines
        assert best.j_per_audio_s is not None
        saving = ""
        if self.high.j_per_audio_s:
            saving = f", {1 - best.j_per_audio_s / self.high.j_per_audio_s:.0%} less energy than "
            saving += f"at {self.high.sm_clock_mhz} MHz"
        lines.append(f"optimal frequency (least energy) {_describe(best)}{saving}")
        if self.edp_optimal is not None:
            lines.append(f"least energy x delay at {self.edp_optimal.sm_clock_mhz} MHz")
        if self.rtf_deadline is not None:
            choice = self.deadline_choice
            lines.append(
                f"least energy with RTF <= {self.rtf_deadline:g}: "
                + (_describe(choice) if choice else "no clock meets the deadline")
            )
        return lines


def _describe(point: ClockPoint) -> str:
    energy = "-" if point.j_per_audio_s is None else f"{point.j_per_audio_s:.4g} J/audio s"
    return f"{point.sm_clock_mhz} MHz: {energy}, RTF {point.rtf:.4g} ({point.runs} run(s))"


@dataclass(frozen=True)
class OperatingPointReport:
    """The findings, and the figures drawn: ``(title, file, description)``."""

    findings: tuple[ClockFindings, ...]
    figures: tuple[tuple[str, Path, str], ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def _clock(bench: Benchmark) -> int | None:
    info = bench.extra_info
    for name in (schema.SM_CLOCK_MHZ_REQUESTED, schema.SM_CLOCK_MHZ_SET):
        value = finite(info.get(name))
        if value is not None:
            return int(value)
    state = info.get(schema.DEVICE_STATE, {}).get(schema.BEFORE) or {}
    gpus = state.get(schema.GPUS) if isinstance(state, dict) else None
    if isinstance(gpus, list) and gpus and isinstance(gpus[0], dict):
        value = finite(gpus[0].get(schema.SM_CLOCK_MHZ))
        return None if value is None else int(value)
    return None


def _group(run: Run, bench: Benchmark) -> str:
    info = bench.extra_info
    batch = info.get(schema.BATCH_SIZE) or 1
    clips = f"{batch} x {finite(info.get(schema.AUDIO_S)) or 0:g} s" if batch > 1 else ""
    audio = clips or f"{finite(info.get(schema.AUDIO_S)) or 0:g} s"
    states = gpu_states(info)
    recorded = gpu_name(run, states[0]) if states else None
    gpu = info.get(schema.GPU_NAME) or recorded or info.get(schema.DEVICE) or "?"
    return f"{info.get(schema.MODEL)} {info.get(schema.DTYPE)}, {audio} audio, {gpu}"


def analyse(runs: Sequence[Run]) -> dict[str, list[ClockPoint]]:
    """Configurations measured at two or more SM clocks -> their pooled points."""
    samples: dict[str, dict[int, list[tuple[float | None, float, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for run in runs:
        for bench in run.benchmarks:
            info = bench.extra_info
            clock = _clock(bench)
            audio = finite(info.get(schema.AUDIO_S))
            rounds = info.get(schema.ROUNDS)
            inference = finite(info.get(schema.INFERENCE_S))
            if clock is None or not audio or not isinstance(rounds, int) or inference is None:
                continue
            window_audio = audio * rounds
            energy = finite(info.get(schema.ENERGY_J))
            valid = info.get(schema.ENERGY_VALID) is True and energy is not None
            samples[_group(run, bench)][clock].append(
                (energy if valid else None, inference * rounds, window_audio)
            )
    result: dict[str, list[ClockPoint]] = {}
    for group, by_clock in samples.items():
        if len(by_clock) < 2:
            continue
        points = []
        for clock in sorted(by_clock):
            values = by_clock[clock]
            audio_total = sum(a for _, _, a in values)
            energies = [(e, a) for e, _, a in values if e is not None]
            per_run_rtf = [t / a for _, t, a in values]
            per_run_j = [e / a for e, a in energies]
            points.append(
                ClockPoint(
                    sm_clock_mhz=clock,
                    runs=len(values),
                    j_per_audio_s=(
                        sum(e for e, _ in energies) / sum(a for _, a in energies)
                        if energies
                        else None
                    ),
                    rtf=sum(t for _, t, _ in values) / audio_total,
                    j_per_audio_s_range=(min(per_run_j), max(per_run_j)) if per_run_j else None,
                    rtf_range=(min(per_run_rtf), max(per_run_rtf)),
                )
            )
        result[group] = points
    return result


def clock_findings(
    group: str, points: Sequence[ClockPoint], rtf_deadline: float | None = None
) -> ClockFindings:
    """The optimal, deadline and Pareto answers for one configuration's points."""
    ordered = tuple(sorted(points, key=lambda p: p.sm_clock_mhz))
    with_energy = [p for p in ordered if p.j_per_audio_s is not None]
    optimal = min(with_energy, key=lambda p: (p.j_per_audio_s, p.rtf)) if with_energy else None
    edp = min(with_energy, key=lambda p: (p.edp, p.rtf)) if with_energy else None
    meeting = [p for p in with_energy if rtf_deadline is not None and p.rtf <= rtf_deadline]
    choice = min(meeting, key=lambda p: (p.j_per_audio_s, p.rtf)) if meeting else None
    front: list[ClockPoint] = []
    for point in sorted(with_energy, key=lambda p: (p.rtf, p.j_per_audio_s)):
        assert point.j_per_audio_s is not None
        if not front or point.j_per_audio_s < (front[-1].j_per_audio_s or float("inf")):
            front.append(point)
    return ClockFindings(group, ordered, rtf_deadline, optimal, edp, choice, tuple(front))


def operating_point_report(
    runs: Sequence[Run],
    out: Path,
    rtf_deadline: float | None = None,
    profile_folders: Sequence[Path] = (),
) -> OperatingPointReport:
    """Findings for every configuration measured at several clocks, with figures in ``out``
    (none when no configuration was)."""
    findings = tuple(
        clock_findings(group, points, rtf_deadline)
        for group, points in sorted(analyse(runs).items())
    )
    notes: list[str] = []
    figures: list[tuple[str, Path, str]] = []
    if findings:
        figures += _draw_clocks(findings, out)
        if any(f.pareto for f in findings):
            figures.append(_draw_pareto(findings, out))
        else:
            notes.append("no Pareto plot: no configuration has a valid energy window")
    profiles = sorted(p for folder in profile_folders for p in folder.rglob("*_profile.csv"))
    if profiles:
        figures.append(_draw_traces(profiles, out))
    elif profile_folders:
        notes.append(
            "no power traces: no *_profile.csv under " + ", ".join(map(str, profile_folders))
        )
    return OperatingPointReport(findings, tuple(figures), tuple(notes))


# -- figures -------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, ax: Any, path: Path) -> Path:
    """Grid, legend, layout, write, close: the common end of every figure here."""
    for axes in ax if isinstance(ax, (list, tuple)) else [ax]:
        axes.grid(True, alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    _pyplot().close(figure)
    return path


def _errors(values: Sequence[float], ranges: Sequence[tuple[float, float]]) -> list[list[float]]:
    return [
        [v - low for v, (low, _) in zip(values, ranges, strict=True)],
        [high - v for v, (_, high) in zip(values, ranges, strict=True)],
    ]


def _draw_clocks(findings: Sequence[ClockFindings], out: Path) -> list[tuple[str, Path, str]]:
    plt = _pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.8), dpi=110)
    for finding in findings:
        clocks = [p.sm_clock_mhz for p in finding.points]
        rtf = [p.rtf for p in finding.points]
        axes[1].errorbar(clocks, rtf, yerr=_errors(rtf, [p.rtf_range for p in finding.points]),
                         marker="o", capsize=3, label=finding.group)  # fmt: skip
        energy = [p for p in finding.points if p.j_per_audio_s is not None]
        if energy:
            values = [p.j_per_audio_s for p in energy if p.j_per_audio_s is not None]
            ranges = [p.j_per_audio_s_range for p in energy if p.j_per_audio_s_range is not None]
            axes[0].errorbar([p.sm_clock_mhz for p in energy], values, yerr=_errors(values, ranges),
                             marker="o", capsize=3, label=finding.group)  # fmt: skip
            axes[2].plot([p.sm_clock_mhz for p in energy], [p.edp for p in energy], marker="o",
                         label=finding.group)  # fmt: skip
    deadline = next((f.rtf_deadline for f in findings if f.rtf_deadline is not None), None)
    if deadline is not None:
        axes[1].axhline(deadline, color="grey", linestyle="--", label=f"deadline {deadline:g}")
    for ax, title in zip(axes, ("J per audio second", "RTF", "EDP (J/audio s x RTF)"), strict=True):
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_xlabel("SM clock (MHz)")
    axes[1].legend(fontsize=7)
    path = _save(figure, list(axes), out / "operating_points.png")
    return [("Energy, RTF and EDP against the SM clock", path,
             "Pooled over runs (ratios of sums); error bars span the runs; only valid energy "
             "windows count.")]  # fmt: skip


def _draw_pareto(findings: Sequence[ClockFindings], out: Path) -> tuple[str, Path, str]:
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(6.5, 4.4), dpi=110)
    for finding in findings:
        points = [p for p in finding.points if p.j_per_audio_s is not None]
        line = ax.scatter([p.rtf for p in points], [p.j_per_audio_s for p in points],
                          label=finding.group)  # fmt: skip
        front = finding.pareto
        ax.plot(
            [p.rtf for p in front], [p.j_per_audio_s for p in front], color=line.get_facecolor()[0]
        )
        for p in points:
            ax.annotate(f"{p.sm_clock_mhz}", (p.rtf, p.j_per_audio_s), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))  # fmt: skip
    ax.set_xlabel("RTF (time per audio second)")
    ax.set_ylabel("J per audio second")
    ax.legend(fontsize=7)
    path = _save(figure, ax, out / "pareto.png")
    return ("Time against energy: the Pareto front", path,
            "Each point is a clock (MHz); the line joins the clocks no other clock beats on "
            "both time and energy.")  # fmt: skip


def _read_trace(path: Path) -> tuple[list[float], list[float | None], list[str]]:
    times: list[float] = []
    powers: list[float | None] = []
    phases: list[str] = []
    with path.open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            times.append(float(row["elapsed_s"]))
            powers.append(float(row["power_w"]) if row.get("power_w") else None)
            phases.append(row.get("phase", ""))
    return times, powers, phases


def _draw_traces(profiles: Sequence[Path], out: Path) -> tuple[str, Path, str]:
    plt = _pyplot()
    shown = [p for p in profiles if "_run_01_" in p.name][:8] or list(profiles[:8])
    figure, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    for path in shown:
        times, powers, phases = _read_trace(path)
        known = [(t, w) for t, w in zip(times, powers, strict=True) if w is not None]
        if not known:
            continue
        ax.plot(
            *zip(*known, strict=True), linewidth=1, label=path.name.removesuffix("_profile.csv")
        )
        measuring = [t for t, phase in zip(times, phases, strict=True) if phase == "measure"]
        if measuring:
            ax.axvspan(min(measuring), max(measuring), alpha=0.06)
    ax.set_xlabel("seconds since the cell started")
    ax.set_ylabel("GPU power (W)")
    ax.legend(fontsize=7)
    path = _save(figure, ax, out / "power_traces.png")
    return ("Power traces (NVML, every 100 ms)", path,
            "First run of each cell; shaded: the measured window. From the sweep's "
            "*_profile.csv files.")  # fmt: skip
