"""Figures derived from measurements: real-time factor and word error rate.

RTF is a ratio of sums, ``sum(inference seconds) / sum(audio seconds)`` (measurement rule 2),
never a mean of per-clip ratios, which would weight short clips as much as long ones. RTFx is
its inverse, the Open ASR Leaderboard's figure (audio seconds processed per second).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

__all__ = ["english_spelling", "normalize_text", "rtf", "rtfx", "wer"]


def rtf(inference_s: Sequence[float], audio_s: Sequence[float]) -> float:
    """Real-time factor: total inference seconds over total audio seconds.

    Raises:
        ValueError: no audio (sum is not positive), a negative or non-finite value, or
            sequences of different lengths.
    """
    if len(inference_s) != len(audio_s):
        raise ValueError(f"rtf: {len(inference_s)} timings for {len(audio_s)} audio durations")
    for value in (*inference_s, *audio_s):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"rtf: seconds must be finite and >= 0, got {value!r}")
    total_audio = math.fsum(audio_s)
    if total_audio <= 0:
        raise ValueError("rtf: total audio duration is 0 s; nothing was transcribed")
    return math.fsum(inference_s) / total_audio


def rtfx(rtf_value: float) -> float:
    """Inverse real-time factor (audio seconds per inference second); inf when RTF is 0."""
    return math.inf if rtf_value == 0 else 1.0 / rtf_value


@lru_cache(maxsize=1)
def english_spelling() -> dict[str, str]:
    """Whisper's British -> American spelling table (``english.json``, 1,700+ words), as the
    ``whisper-normalizer`` package ships it; the Open ASR Leaderboard normalizes with it.

    Raises:
        ModuleNotFoundError: whisper-normalizer is not installed (a whisperbench dependency).
    """
    import json
    from importlib.resources import files

    table = files("whisper_normalizer").joinpath("normalizers/english.json").read_text("utf-8")
    mapping: dict[str, str] = json.loads(table)
    return mapping


@lru_cache(maxsize=1)
def _english_normalizer() -> Any:
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer(english_spelling())


def normalize_text(text: str) -> str:
    """Whisper's English normalizer with its spelling table, as the Open ASR Leaderboard
    applies it: case, punctuation, numbers, contractions, and British -> American spelling."""
    return str(_english_normalizer()(text))


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus-level word error rate after Whisper English normalization (jiwer).

    Raises:
        ValueError: lengths differ, or every normalized reference is empty.
    """
    import jiwer

    if len(references) != len(hypotheses):
        raise ValueError(f"wer: {len(references)} references for {len(hypotheses)} hypotheses")
    pairs = [
        (normalize_text(r), normalize_text(h)) for r, h in zip(references, hypotheses, strict=False)
    ]
    kept = [(r, h) for r, h in pairs if r.strip()]
    if not kept:
        raise ValueError("wer: every reference is empty after normalization")
    refs, hyps = zip(*kept, strict=False)
    return float(jiwer.wer(list(refs), list(hyps)))
