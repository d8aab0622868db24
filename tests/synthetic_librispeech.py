"""A small LibriSpeech-layout folder made of synthetic speech, for the reader's tests.

``build_librispeech(folder)`` writes ``folder/LibriSpeech/test-clean/<speaker>/<chapter>/``
with one 16 kHz FLAC per utterance (eSpeak NG speech from
:func:`whisperbench.audio.synthetic.speech`) and a ``<speaker>-<chapter>.trans.txt`` per
chapter whose lines are ``"<id> <TEXT>"``, the clip's reference in LibriSpeech's style
(:func:`librispeech_style`). Utterances are numbered ``0000, 0001, ...`` within a chapter,
like LibriSpeech's, and the speakers are chosen so that ids sort as strings, not numbers
(``"1089" < "121"``). Every reference differs from the others, so a mix-up shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from whisperbench.audio.clip import Clip
from whisperbench.audio.synthetic import speech

__all__ = ["LAYOUT", "SPLIT", "SyntheticCorpus", "SyntheticUtterance", "build_librispeech"]

SPLIT = "test-clean"
#: (speaker, chapter, ((speech category, duration_s) per utterance)).
LAYOUT: tuple[tuple[str, str, tuple[tuple[str, float], ...]], ...] = (
    ("121", "121726", (("long", 4.0), ("technical", 3.0))),
    ("1089", "134686", (("short", 2.0), ("medium", 3.0), ("short", 4.0))),
    ("1089", "134691", (("medium", 5.0),)),
)


@dataclass(frozen=True)
class SyntheticUtterance:
    """One utterance written to the corpus, with the clip it was made from."""

    utterance_id: str
    path: Path
    reference: str
    speaker: str
    chapter: str
    clip: Clip


@dataclass(frozen=True)
class SyntheticCorpus:
    """Where the corpus is and what it holds (utterances keyed by id)."""

    root: Path
    split_dir: Path
    utterances: dict[str, SyntheticUtterance]


def librispeech_style(text: str) -> str:
    """``text`` as LibriSpeech writes transcripts: upper case, words and apostrophes only."""
    words = re.sub(r"[^A-Za-z0-9']+", " ", text)
    return " ".join(words.upper().split())


def build_librispeech(folder: Path) -> SyntheticCorpus:
    """Write the corpus described by :data:`LAYOUT` under ``folder``."""
    split_dir = folder / "LibriSpeech" / SPLIT
    utterances: dict[str, SyntheticUtterance] = {}
    for speaker, chapter, items in LAYOUT:
        chapter_dir = split_dir / speaker / chapter
        chapter_dir.mkdir(parents=True)
        lines = []
        for number, (category, duration_s) in enumerate(items):
            clip = speech(category, duration_s)
            assert clip.reference is not None
            utterance_id = f"{speaker}-{chapter}-{number:04d}"
            path = chapter_dir / f"{utterance_id}.flac"
            sf.write(path, clip.samples, clip.sample_rate_hz, format="FLAC", subtype="PCM_16")
            reference = librispeech_style(clip.reference)
            lines.append(f"{utterance_id} {reference}\n")
            utterances[utterance_id] = SyntheticUtterance(
                utterance_id, path, reference, speaker, chapter, clip
            )
        (chapter_dir / f"{speaker}-{chapter}.trans.txt").write_text(
            "".join(lines), encoding="utf-8"
        )
    return SyntheticCorpus(folder, split_dir, utterances)
