"""Batches of synthetic clips for the benchmark matrix, by name and duration.

The names (:data:`AUDIO_KINDS`, :data:`AUDIO_CHOICES`) load nothing heavy: the command-line
parsers are built from them; numpy and eSpeak NG are imported when a batch is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from whisperbench.audio.texts import TEXT_CATEGORIES

if TYPE_CHECKING:
    from whisperbench.audio.clip import Clip

__all__ = ["AUDIO_CHOICES", "AUDIO_KINDS", "category_for", "synthetic_batch"]

_SIGNALS = ("tone", "chirp", "noise", "silence")
#: Names ``--whisper-audio`` accepts: speech categories (``synthetic.CATEGORIES``, in the
#: order of their texts), then plain signals.
AUDIO_KINDS: tuple[str, ...] = (*TEXT_CATEGORIES, *_SIGNALS)
#: What a user may ask for: a kind, or ``auto`` (the speech category that fits the duration).
AUDIO_CHOICES: tuple[str, ...] = ("auto", *AUDIO_KINDS)


def category_for(duration_s: float) -> str:
    """The speech category whose lengths include ``duration_s`` (the original app's ranges:
    short 5-10 s, medium 15-30 s, long 45-60 s); between ranges, short under 15 s, else long.
    """
    from whisperbench.audio import synthetic

    for name, category in synthetic.CATEGORIES.items():
        if category.min_s <= duration_s <= category.max_s:
            return name
    return "short" if duration_s < 15 else "long"


def synthetic_batch(kind: str, duration_s: float, batch_size: int) -> list[Clip]:
    """``batch_size`` deterministic clips of ``duration_s`` seconds each.

    ``auto`` is the speech category for the duration (:func:`category_for`).
    Speech: clip ``i`` takes the ``i``-th category counting from ``kind`` (short, medium,
    long, technical, cycling), so a batch holds different sentences; a category whose
    sentences cannot fit the duration is replaced by ``kind`` itself. Signals: noise clip
    ``i`` uses seed ``i``; tones, chirps and silence repeat.

    Raises:
        ValueError: unknown kind, batch_size < 1, or a duration the generator refuses.
    """
    from whisperbench.audio import synthetic

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if kind == "auto":
        kind = category_for(duration_s)
    if kind not in AUDIO_KINDS:
        raise ValueError(f"unknown audio {kind!r}; choose one of: {', '.join(AUDIO_KINDS)}")
    if kind in _SIGNALS:
        if kind == "noise":
            return [synthetic.noise(duration_s, seed=i) for i in range(batch_size)]
        make: dict[str, Callable[[float], Clip]] = {
            "tone": synthetic.tone,
            "chirp": synthetic.chirp,
            "silence": synthetic.silence,
        }
        return [make[kind](duration_s)] * batch_size
    categories = list(synthetic.CATEGORIES)
    start = categories.index(kind)
    clips = []
    for i in range(batch_size):
        category = categories[(start + i) % len(categories)]
        try:
            clips.append(synthetic.speech(category, duration_s))
        except ValueError:
            clips.append(synthetic.speech(kind, duration_s))
    return clips
