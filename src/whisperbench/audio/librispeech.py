"""LibriSpeech utterances with their reference transcripts: from a local copy or the hub.

Local (:func:`read_local`, :func:`scan_local`): the layout of the openslr.org archives,

    <split>/<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac
    <split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt    lines "<utterance id> TEXT"

where ``root`` is the split folder (``LibriSpeech/test-clean``), the ``LibriSpeech`` folder
holding one split, or the folder the archive was extracted into. Utterances come sorted by
id. An audio file with no transcript line, or a transcript line with no audio file, is
skipped and reported (logged; :func:`scan_local` returns them).

Hub (:func:`stream_hub`): streams ``openslr/librispeech_asr`` with the optional ``datasets``
package. When that package is missing or the hub cannot be reached, it raises
:class:`LibriSpeechUnavailable` pointing at ``--dataset-path``, the offline way.

References are kept exactly as LibriSpeech writes them (upper case, no punctuation except
apostrophes); normalising them for WER is the metric's job.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from whisperbench.audio.clip import Clip
from whisperbench.audio.files import (
    AudioFileError,
    AudioFileFailure,
    load_audio,
    load_audio_bytes,
)

__all__ = [
    "HUB_DATASET",
    "HUB_SPLITS",
    "LibriSpeechError",
    "LibriSpeechUnavailable",
    "LocalIndex",
    "Utterance",
    "load_utterances",
    "read_local",
    "scan_local",
    "stream_hub",
]

log = logging.getLogger(__name__)

#: The hub dataset :func:`stream_hub` reads.
HUB_DATASET = "openslr/librispeech_asr"
#: Split names :func:`stream_hub` accepts -> (``datasets`` config, ``datasets`` split).
HUB_SPLITS: dict[str, tuple[str, str]] = {
    "test.clean": ("clean", "test"),
    "test.other": ("other", "test"),
    "validation.clean": ("clean", "validation"),
    "validation.other": ("other", "validation"),
    "train.clean.100": ("clean", "train.100"),
    "train.clean.360": ("clean", "train.360"),
    "train.other.500": ("other", "train.500"),
}
#: How deep below ``root`` a split folder may be: the split itself, ``LibriSpeech/``, or
#: the folder ``LibriSpeech/`` was extracted into.
_MAX_SPLIT_DEPTH = 2
_TRANSCRIPT_SUFFIX = ".trans.txt"
_OFFLINE_HINT = (
    "to run offline, download a split from https://www.openslr.org/12 (e.g. "
    "test-clean.tar.gz), extract it and pass --dataset-path LibriSpeech/test-clean"
)


class LibriSpeechError(ValueError):
    """A local LibriSpeech folder cannot be used: the message names the folder and why."""


class LibriSpeechUnavailable(LookupError):  # noqa: N818 (pairs with models' WeightsUnavailable)
    """LibriSpeech cannot be streamed from the hub; the message names the offline way.

    A :class:`LookupError`, like :class:`whisperbench.models.loading.WeightsUnavailable`:
    what was asked for cannot be reached from here.
    """


@dataclass(frozen=True)
class Utterance:
    """One LibriSpeech utterance on disk.

    Attributes:
        utterance_id: ``"<speaker>-<chapter>-<n>"``, e.g. ``"1089-134686-0000"``.
        path: its ``.flac`` file.
        reference: the transcript line's text, as written (upper case).
        speaker: speaker id, e.g. ``"1089"``.
        chapter: chapter id, e.g. ``"134686"``.
    """

    utterance_id: str
    path: Path
    reference: str
    speaker: str
    chapter: str


@dataclass(frozen=True)
class LocalIndex:
    """Everything :func:`scan_local` found.

    Attributes:
        split_dir: the folder holding ``<speaker>/<chapter>/``.
        utterances: the usable utterances, sorted by id.
        problems: what was skipped and why, sorted by path: audio with no transcript line,
            transcript lines with no audio, malformed or duplicate lines, unreadable
            transcripts.
    """

    split_dir: Path
    utterances: tuple[Utterance, ...]
    problems: tuple[AudioFileFailure, ...]


def scan_local(root: str | os.PathLike[str]) -> LocalIndex:
    """Index a local LibriSpeech split: its utterances and what had to be skipped.

    Args:
        root: the split folder (``.../LibriSpeech/test-clean``), or a folder holding exactly
            one split up to two levels above it (``.../LibriSpeech`` or the folder the
            archive was extracted into).

    Raises:
        LibriSpeechError: ``root`` does not exist or is not a folder; no transcript
            (``<speaker>/<chapter>/*.trans.txt``) is found; ``root`` holds several splits;
            or no transcript line has its audio file.
    """
    folder = Path(root)
    split_dir, transcripts = _find_split(folder)
    utterances: dict[str, Utterance] = {}
    problems: list[AudioFileFailure] = []
    listed: set[str] = set()
    for transcript in transcripts:
        _read_transcript(transcript, utterances, listed, problems)
    for audio in sorted(split_dir.glob("*/*/*.flac")):
        if audio.stem not in listed:
            speaker, chapter = audio.parent.parent.name, audio.parent.name
            problems.append(
                AudioFileFailure(
                    audio,
                    f"no transcript line for {audio.stem} in "
                    f"{speaker}-{chapter}{_TRANSCRIPT_SUFFIX}; skipped",
                )
            )
    if not utterances:
        raise LibriSpeechError(
            f"{folder}: none of the {len(listed)} transcript lines found has its .flac file "
            f"({len(problems)} problems, first: {problems[0] if problems else 'none'})"
        )
    return LocalIndex(
        split_dir=split_dir,
        utterances=tuple(utterances[key] for key in sorted(utterances)),
        problems=tuple(sorted(problems, key=lambda problem: str(problem.path))),
    )


def read_local(root: str | os.PathLike[str], limit: int | None = None) -> list[Utterance]:
    """The utterances of a local LibriSpeech split, sorted by id, the first ``limit`` only.

    Skipped files and lines (see :class:`LocalIndex`) are logged as warnings, one each; use
    :func:`scan_local` to get them as records.

    Args:
        root: see :func:`scan_local`.
        limit: how many utterances to return (the first by id); None for all.

    Raises:
        ValueError: ``limit`` is negative.
        LibriSpeechError: see :func:`scan_local`.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None; got {limit}")
    index = scan_local(root)
    for problem in index.problems:
        log.warning("LibriSpeech: %s", problem)
    return list(index.utterances[:limit])


def load_utterances(
    utterances: Iterable[Utterance],
) -> tuple[list[Clip], list[AudioFileFailure]]:
    """Load utterances as clips named by utterance id, with their references.

    Audio goes through :func:`whisperbench.audio.files.load_audio` (any rate -> 16 kHz
    mono). A file that cannot be loaded is collected as a failure, never raised.

    Returns:
        ``(clips, failures)`` in the order given; clips are ``kind="file"``.
    """
    clips: list[Clip] = []
    failures: list[AudioFileFailure] = []
    for utterance in utterances:
        try:
            loaded = load_audio(utterance.path)
        except AudioFileError as error:
            failures.append(error.failure())
            continue
        clips.append(
            replace(loaded.clip, name=utterance.utterance_id, reference=utterance.reference)
        )
    return clips, failures


def stream_hub(split: str = "test.clean", limit: int | None = None) -> list[Clip]:
    """Stream LibriSpeech utterances from the Hugging Face hub (``openslr/librispeech_asr``).

    Needs the optional ``datasets`` package (``pip install 'whisperbench[datasets]'``) and
    hub access. Audio is fetched undecoded and decoded here, like a local file.

    Args:
        split: one of :data:`HUB_SPLITS`, e.g. ``"test.clean"``.
        limit: how many utterances, in the dataset's order; None for the whole split.

    Returns:
        Clips named by utterance id, with LibriSpeech references, ``kind="file"``.

    Raises:
        ValueError: unknown ``split``, or negative ``limit``.
        LibriSpeechUnavailable: ``datasets`` is not installed, or the hub cannot be reached
            or refuses the request (the message says to use ``--dataset-path``).
        whisperbench.audio.files.AudioFileError: a streamed utterance's audio is corrupt.
    """
    if split not in HUB_SPLITS:
        raise ValueError(
            f"unknown LibriSpeech split {split!r}; choose one of: {', '.join(HUB_SPLITS)}"
        )
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None; got {limit}")
    config, hub_split = HUB_SPLITS[split]
    try:
        import datasets
    except ImportError as error:
        raise LibriSpeechUnavailable(
            "LibriSpeech from the hub needs the optional `datasets` package "
            f"(pip install 'whisperbench[datasets]'); {_OFFLINE_HINT}"
        ) from error
    try:
        stream = datasets.load_dataset(HUB_DATASET, config, split=hub_split, streaming=True)
        stream = stream.cast_column("audio", datasets.Audio(decode=False))
        examples: list[dict[str, Any]] = list(itertools.islice(stream, limit))
    except Exception as error:  # the hub client raises many types; all mean "unavailable"
        cause = " ".join(f"{type(error).__name__}: {error}".split())
        raise LibriSpeechUnavailable(
            f"cannot stream {HUB_DATASET} ({config}, {hub_split}) from the Hugging Face "
            f"hub ({cause}); {_OFFLINE_HINT}"
        ) from error
    return [_hub_clip(example) for example in examples]


def _hub_clip(example: dict[str, Any]) -> Clip:
    """A clip from one undecoded ``openslr/librispeech_asr`` example."""
    utterance_id = str(example["id"])
    audio = example["audio"]
    data = audio.get("bytes")
    if data is None:  # a local cache may hold the path instead of the bytes
        data = Path(audio["path"]).read_bytes()
    loaded = load_audio_bytes(data, utterance_id)
    return replace(loaded.clip, reference=str(example["text"]))


def _find_split(root: Path) -> tuple[Path, list[Path]]:
    """The split folder under ``root`` and its transcripts, sorted."""
    if not root.exists():
        raise LibriSpeechError(f"{root}: LibriSpeech folder not found")
    if not root.is_dir():
        raise LibriSpeechError(f"{root}: not a folder; pass the LibriSpeech split folder")
    for depth in range(_MAX_SPLIT_DEPTH + 1):
        pattern = "*/" * depth + f"*/*/*{_TRANSCRIPT_SUFFIX}"
        transcripts = sorted(root.glob(pattern))
        if not transcripts:
            continue
        splits = sorted({transcript.parent.parent.parent for transcript in transcripts})
        if len(splits) > 1:
            names = ", ".join(str(split.relative_to(root)) for split in splits)
            raise LibriSpeechError(
                f"{root}: holds several LibriSpeech splits ({names}); pass one of them"
            )
        return splits[0], transcripts
    has_audio = next(root.rglob("*.flac"), None) is not None
    raise LibriSpeechError(
        f"{root}: no LibriSpeech transcripts (<speaker>/<chapter>/<speaker>-<chapter>"
        f"{_TRANSCRIPT_SUFFIX}) here or up to {_MAX_SPLIT_DEPTH} folders down"
        + (
            "; it holds .flac files, but without transcripts there are no references"
            if has_audio
            else ""
        )
    )


def _read_transcript(
    transcript: Path,
    utterances: dict[str, Utterance],
    listed: set[str],
    problems: list[AudioFileFailure],
) -> None:
    """Add the utterances of one transcript file; note every line that cannot be used."""
    chapter_dir = transcript.parent
    speaker, chapter = chapter_dir.parent.name, chapter_dir.name
    prefix = f"{speaker}-{chapter}-"
    try:
        text = transcript.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems.append(AudioFileFailure(transcript, f"cannot read transcript ({error}); skipped"))
        return
    for line_number, line in enumerate(text.splitlines(), start=1):
        utterance_id, _, words = line.strip().partition(" ")
        words = " ".join(words.split())
        if not utterance_id:
            continue
        where = f"{transcript.name} line {line_number}"
        if not utterance_id.startswith(prefix) or not words:
            problems.append(
                AudioFileFailure(
                    transcript,
                    f"line {line_number}: expected '{prefix}<n> TEXT', got "
                    f"{line.strip()[:60]!r}; skipped",
                )
            )
            continue
        if utterance_id in listed:
            problems.append(
                AudioFileFailure(
                    transcript, f"line {line_number}: {utterance_id} is listed twice; skipped"
                )
            )
            continue
        listed.add(utterance_id)
        audio = chapter_dir / f"{utterance_id}.flac"
        if not audio.is_file():
            problems.append(
                AudioFileFailure(audio, f"listed in {where} but the audio file is missing; skipped")
            )
            continue
        utterances[utterance_id] = Utterance(
            utterance_id=utterance_id,
            path=audio,
            reference=words,
            speaker=speaker,
            chapter=chapter,
        )
