"""``whisperbench models``: every registry id, its architecture, and where its weights would
come from on this machine now (nothing is loaded or downloaded)."""

from __future__ import annotations

import argparse

from whisperbench.models.registry import MODELS

__all__ = ["list_models", "model_table"]


def model_table() -> str:
    """One line per id: dimensions, parameter count, and the weight sources available here."""
    from whisperbench.models.loading import describe_sources

    lines = [
        f"{'id':<15}{'d_model':>8}{'enc/dec':>8}{'heads':>6}{'mels':>5}{'vocab':>7}"
        f"{'parameters':>15}  weights here"
    ]
    for spec in MODELS.values():
        layers = f"{spec.encoder_layers}/{spec.decoder_layers}"
        lines.append(
            f"{spec.model_id:<15}{spec.d_model:>8}{layers:>8}{spec.attention_heads:>6}"
            f"{spec.num_mel_bins:>5}{spec.vocab_size:>7}{spec.parameters:>15,}  "
            f"{describe_sources(spec)}"
        )
    return "\n".join(lines)


def list_models(args: argparse.Namespace) -> int:
    """The ``models`` command: print :func:`model_table`; returns the exit code."""
    print(model_table())
    return 0
