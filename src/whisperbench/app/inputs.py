"""Where the app's audio comes from: files, LibriSpeech, the original benchmark samples or
synthetic speech, each load timed apart from the measurement (never inside RTF); with the
references of ``--audio-file`` inputs, and a ceiling on how many samples memory can hold."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whisperbench.app.arguments import DEFAULT_SAMPLES
from whisperbench.app.record import failure_entry

__all__ = ["Workload", "check_sample_count", "gather_audio", "input_names", "source_conflict"]

log = logging.getLogger("whisperbench")

#: The longest LibriSpeech utterance lasts about 35 s (the memory bound assumes no longer).
_LIBRISPEECH_MAX_S = 35.0
#: The share of available memory the audio may take; the rest is for the model and the work.
_AUDIO_MEMORY_SHARE = 0.5
_BYTES_PER_SAMPLE = 4  #: float32


@dataclass
class Workload:
    """The clips to measure, the inputs that failed to load, and where they came from."""

    clips: list[Any] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    source: str = "synthetic"
    load_s: float = 0.0  #: seconds to read, decode and resample (or synthesize) the audio
    #: each clip's input as the user named it (a path as given, an utterance id, a clip name)
    inputs: list[str] = field(default_factory=list)


def input_names(args: argparse.Namespace) -> list[str]:
    """The inputs known from the arguments alone (the ``--audio-file`` paths as given)."""
    return [str(path) for path in args.audio_file or ()]


def _gigabytes(count: float) -> str:
    return f"{count / 1e9:,.1f} GB"


def check_sample_count(args: argparse.Namespace, available_bytes: int | None = None) -> None:
    """Refuse ``--num-samples`` that memory cannot hold, before any audio is made.

    Every sample is held in memory as 16 kHz float32 for all rounds, so ``n`` samples of up to
    ``s`` seconds take ``n * s * 64 kB``; at most half the available memory (psutil's
    ``available``) may go to audio.

    Raises:
        ValueError: the samples asked for would not fit; the message says how many would.
    """
    count = args.num_samples
    if count is None or args.audio_file:
        return
    from whisperbench.audio.clip import SAMPLE_RATE_HZ

    if args.benchmark:
        from whisperbench.audio.synthetic import CATEGORIES

        per_sample_s = max(c.default_duration_s for c in CATEGORIES.values())
    elif args.use_dataset:
        per_sample_s = _LIBRISPEECH_MAX_S
    else:
        per_sample_s = float(args.audio_duration_s)
    if available_bytes is None:
        import psutil

        available_bytes = int(psutil.virtual_memory().available)
    per_sample_bytes = per_sample_s * SAMPLE_RATE_HZ * _BYTES_PER_SAMPLE
    allowed = _AUDIO_MEMORY_SHARE * available_bytes
    if count * per_sample_bytes <= allowed:
        return
    fit = int(allowed // per_sample_bytes)
    raise ValueError(
        f"--num-samples {count} would hold {_gigabytes(count * per_sample_bytes)} of audio in "
        f"memory (samples of up to {per_sample_s:g} s, float32 at 16 kHz, kept for every "
        f"round); {_gigabytes(available_bytes)} is available, and audio may take half of it: "
        f"at most {fit} samples fit. Ask for fewer, or measure in several runs"
    )


def _failure_records(failed: Sequence[Any]) -> list[dict[str, str]]:
    """``AudioFileFailure``s as the JSON's ``failures`` entries."""
    return [failure_entry(str(f.path), f.cause) for f in failed]


def source_conflict(args: argparse.Namespace) -> str | None:
    """Why the audio options contradict each other, or None."""
    chosen = [
        flag
        for flag, given in (
            ("--audio-file", bool(args.audio_file)),
            ("--use-dataset", args.use_dataset),
            ("--benchmark", args.benchmark),
        )
        if given
    ]
    if args.audio != "auto" and chosen:
        return (
            f"--audio {args.audio} picks synthetic audio, but {chosen[0]} picks other audio; "
            "give one of them"
        )
    if args.references and not args.audio_file:
        return "--references gives the references of --audio-file inputs; give --audio-file too"
    return None


def gather_audio(args: argparse.Namespace) -> Workload:
    """The clips the arguments name, loaded and resampled to 16 kHz mono.

    Raises:
        ValueError, LookupError, OSError: the source as a whole cannot be read (a missing
            LibriSpeech folder, the hub unreachable, a references table that cannot be read);
            single bad files are ``failures``.
    """
    from whisperbench.audio import synthetic

    started = time.perf_counter()
    work = Workload()
    if args.audio_file:
        from whisperbench.app.references import find_reference, read_references
        from whisperbench.audio.files import AudioFileError, load_audio

        table_name = args.references
        table = read_references(table_name) if table_name else None
        work.source = "files"
        for name in args.audio_file:
            try:
                clip = load_audio(name).clip
            except AudioFileError as error:
                work.failures.append(failure_entry(str(error.path), error.cause))
                continue
            reference = find_reference(name, table)
            if reference is None and table is not None:
                log.warning("%s: no reference (not in %s, no .txt beside it)", name, table_name)
            work.clips.append(dataclasses.replace(clip, reference=reference or None))
            work.inputs.append(str(name))
        if table is not None:
            unused = set(table) - {Path(name).resolve() for name in args.audio_file}
            if unused:
                log.warning(
                    "%s lists %d file(s) not given with --audio-file, e.g. %s",
                    args.references, len(unused), sorted(unused)[0],
                )  # fmt: skip
    elif args.use_dataset:
        from whisperbench.audio import librispeech

        limit = args.num_samples or DEFAULT_SAMPLES
        if args.dataset_path:
            utterances = librispeech.read_local(args.dataset_path, limit=limit)
            _warn_if_fewer(limit, len(utterances), args.dataset_path, given=bool(args.num_samples))
            clips, failed = librispeech.load_utterances(utterances)
            work.failures = _failure_records(failed)
            work.clips = list(clips)
            work.source = f"librispeech:{args.dataset_path}"
        else:
            work.clips = librispeech.stream_hub(limit=limit)
            _warn_if_fewer(limit, len(work.clips), "the hub's split", given=bool(args.num_samples))
            work.source = "librispeech:hub"
    elif args.benchmark:
        work.clips = synthetic.benchmark_samples(args.num_samples or DEFAULT_SAMPLES)
        work.source = "benchmark-samples"
    else:
        from whisperbench.audio.batches import category_for, synthetic_batch

        kind = category_for(args.audio_duration_s) if args.audio == "auto" else args.audio
        work.clips = synthetic_batch(kind, args.audio_duration_s, args.num_samples or 1)
        work.source = f"synthetic:{kind}"
    if not work.inputs:
        work.inputs = [clip.name for clip in work.clips]
    work.load_s = time.perf_counter() - started
    return work


def _warn_if_fewer(asked: int, found: int, where: str, *, given: bool) -> None:
    """Say so when a dataset holds fewer utterances than ``--num-samples`` asks for."""
    if found < asked:
        flag = f"--num-samples {asked}" if given else f"--num-samples (default {asked})"
        log.warning("%s: %s holds only %d utterance(s); measuring %d", flag, where, found, found)
