"""Audio for whisperbench: deterministic synthetic clips and resampling to 16 kHz mono.

Everything Whisper receives is a :class:`Clip`: 16 kHz mono float32 samples, a name, what
kind of audio it is, the words spoken (if any) and a SHA-256 of the samples to record with
results (``clip.describe()``).

Synthetic clips are bit-identical for the same arguments, across calls and processes:

>>> from whisperbench.audio import speech, tone, noise
>>> clip = speech("short", 8.0)          # eSpeak NG reading fixed sentences
>>> clip.name, clip.num_samples
('speech-short-8.0s', 128000)
>>> tone(1.0, frequency_hz=1000.0).kind
'tone'

Modules: :mod:`~whisperbench.audio.clip` (the Clip), :mod:`~whisperbench.audio.synthetic`
(speech, tone, chirp, noise, silence, the original app's benchmark samples),
:mod:`~whisperbench.audio.texts` (the sentences), :mod:`~whisperbench.audio.espeak` (the
eSpeak NG binding), :mod:`~whisperbench.audio.resample` (any PCM to 16 kHz mono).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from whisperbench.audio.clip import CLIP_KINDS, SAMPLE_RATE_HZ, Clip
    from whisperbench.audio.espeak import EspeakError, UnknownVoiceError
    from whisperbench.audio.resample import to_16k_mono
    from whisperbench.audio.synthetic import (
        BENCHMARK_CYCLE,
        CATEGORIES,
        MAX_DURATION_S,
        Category,
        benchmark_samples,
        chirp,
        noise,
        silence,
        speech,
        tone,
    )
    from whisperbench.audio.texts import TEXT_CATEGORIES, sentences

#: Where each name below lives. Submodules load on first use, so importing a light one
#: (``whisperbench.audio.batches`` for the parsers' choices) does not load numpy or eSpeak.
_HOMES = {
    "CLIP_KINDS": "clip",
    "SAMPLE_RATE_HZ": "clip",
    "Clip": "clip",
    "EspeakError": "espeak",
    "UnknownVoiceError": "espeak",
    "to_16k_mono": "resample",
    "BENCHMARK_CYCLE": "synthetic",
    "CATEGORIES": "synthetic",
    "MAX_DURATION_S": "synthetic",
    "Category": "synthetic",
    "benchmark_samples": "synthetic",
    "chirp": "synthetic",
    "noise": "synthetic",
    "silence": "synthetic",
    "speech": "synthetic",
    "tone": "synthetic",
    "TEXT_CATEGORIES": "texts",
    "sentences": "texts",
}

__all__ = [
    "BENCHMARK_CYCLE",
    "CATEGORIES",
    "CLIP_KINDS",
    "MAX_DURATION_S",
    "SAMPLE_RATE_HZ",
    "TEXT_CATEGORIES",
    "Category",
    "Clip",
    "EspeakError",
    "UnknownVoiceError",
    "benchmark_samples",
    "chirp",
    "noise",
    "sentences",
    "silence",
    "speech",
    "to_16k_mono",
    "tone",
]


def __getattr__(name: str) -> Any:
    """Load the submodule that defines ``name`` on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
