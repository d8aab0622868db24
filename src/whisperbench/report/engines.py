"""The engines figure: RTF and energy per audio second for each engine and setting, per
model size (``whisperbench report``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from whisperbench import schema
from whisperbench.report.data import ReportRow, groups, pooled_ratio
from whisperbench.report.outcome import Figure, Skipped

__all__ = ["engines_figure"]

_DPI = 110


def _pooled(rows: Sequence[ReportRow], field: str) -> float | None:
    """A figure pooled over ``rows`` as a ratio of sums: RTF over inference and audio
    seconds, energy per audio second over joules and window audio seconds."""
    if field == schema.RTF:
        return pooled_ratio(rows, lambda r: r.get(schema.INFERENCE_S), lambda r: r.audio_s)

    def window_audio_s(row: ReportRow) -> float | None:
        energy, per_audio = row.get(schema.ENERGY_J), row.get(schema.J_PER_AUDIO_S)
        return energy / per_audio if energy is not None and per_audio else None

    return pooled_ratio(rows, lambda r: r.get(schema.ENERGY_J), window_audio_s)


def engines_figure(rows: Sequence[ReportRow], out: Path) -> Figure | Skipped:
    """Grouped bars: one group per model (by size), one bar per engine, dtype and setting;
    RTF on the left, joules per audio second on the right (where energy was measured)."""
    title = "Engines and settings: RTF and energy per audio second"
    if len({row.engine for row in rows}) < 2:
        return Skipped("engines", title, "the runs hold one engine and setting only")
    settings = sorted({_label(row) for row in rows})
    models = sorted({row.model for row in rows}, key=lambda m: _size(rows, m))
    by_cell = groups(rows, lambda r: (r.model, _label(r)))
    panels = [(schema.RTF, "RTF (lower is faster)"), (schema.J_PER_AUDIO_S, "J per audio s")]
    figure, axes_pair = plt.subplots(1, 2, figsize=(11, 4.6), dpi=_DPI)
    figure.suptitle(title, fontsize=12, x=0.01, ha="left")
    width = 0.8 / len(settings)
    for axes, (field, label) in zip(axes_pair, panels, strict=True):
        drawn = False
        for i, setting in enumerate(settings):
            xs, ys = [], []
            for j, model in enumerate(models):
                value = _pooled(by_cell.get((model, setting), []), field)
                if value is not None:
                    xs.append(j - 0.4 + width * (i + 0.5))
                    ys.append(value)
            if ys:
                drawn = True
                axes.bar(xs, ys, width=width * 0.95, label=setting)
        axes.set_xticks(range(len(models)), models)
        axes.set_xlim(-0.5, len(models) - 0.5)
        axes.set_ylabel(label)
        axes.grid(True, axis="y", alpha=0.3)
        axes.spines[["top", "right"]].set_visible(False)
        if not drawn:
            notes = sorted({row.energy_note for row in rows if row.energy_note})
            reason = notes[0] if notes else "no valid energy window"
            axes.set_yticks([])
            axes.text(0.5, 0.5, f"no energy measured:\n{reason}", ha="center", va="center",
                      transform=axes.transAxes, fontsize=8, wrap=True)  # fmt: skip
    handles, labels = axes_pair[0].get_legend_handles_labels()
    legend = figure.legend(handles, labels, fontsize=8, frameon=False, loc="lower center",
                           ncol=min(len(labels), 3), bbox_to_anchor=(0.5, -0.12))  # fmt: skip
    path = out / "engines.png"
    figure.savefig(path, dpi=_DPI, bbox_inches="tight", pad_inches=0.15,
                   bbox_extra_artists=[legend])  # fmt: skip
    plt.close(figure)
    return Figure(
        "engines",
        title,
        path,
        "Each engine, dtype and setting (KV cache, compile) on the same models, audio and "
        "decoding: RTF pooled as sum(inference s) / sum(audio s), and joules per audio second "
        "pooled over the energy windows. Compile time and model loading are outside both. "
        "The report's engines table gives each cell's time ratio and transcript agreement.",
    )


def _label(row: ReportRow) -> str:
    engine, _, settings = row.engine.partition(" ")
    return " ".join(part for part in (engine, row.dtype, settings) if part)


def _size(rows: Sequence[ReportRow], model: str) -> int:
    return max((r.parameters or 0 for r in rows if r.model == model), default=0)
