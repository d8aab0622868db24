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
