"""The fixed English sentences that synthetic speech is made of, by category.

Each category is a package data file ``texts/<category>.txt`` holding one sentence per line,
written for this project. The categories follow the original app's benchmark samples:

- ``short``: simple everyday sentences (for 5-10 s clips);
- ``medium``: a conversation (15-30 s);
- ``long``: a narrative with complex vocabulary (45-60 s);
- ``technical``: computing, medicine and physics terms.

Every file holds more than 60 s of speech at 160 words per minute and starts with a sentence
shorter than 1.5 s, so any clip from about 1.5 s up contains at least one whole sentence.
Sentences are plain ASCII with words only (no digits or abbreviations), so the reference text
is exactly what is spoken. The order of the lines is part of the audio's definition: changing,
adding or reordering a sentence changes the synthetic clips and their pinned hashes.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["TEXT_CATEGORIES", "sentences"]

#: The categories, in the order the original app's benchmark mode cycles through them.
TEXT_CATEGORIES: tuple[str, ...] = ("short", "medium", "long", "technical")


@cache
def sentences(category: str) -> tuple[str, ...]:
    """The sentences of ``category``, in their fixed order.

    Raises:
        ValueError: ``category`` is not one of :data:`TEXT_CATEGORIES`.
    """
    if category not in TEXT_CATEGORIES:
        raise ValueError(
            f"unknown text category {category!r}; valid categories: {', '.join(TEXT_CATEGORIES)}"
        )
    path = resources.files(__package__ or "whisperbench.audio") / "texts" / f"{category}.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip())
