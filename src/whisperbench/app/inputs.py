"""Where the app's audio comes from: files, LibriSpeech, the original benchmark samples or
synthetic speech, each load timed apart from the measurement (never inside RTF)."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from whisperbench.app.arguments import DEFAULT_SAMPLES
from whisperbench.app.record import failure_entry

__all__ = ["Workload", "gather_audio", "source_conflict"]

log = logging.getLogger("whisperbench")


@dataclass
class Workload:
    """The clips to measure, the inputs that failed to load, and where they came from."""

    clips: list[Any] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    source: str = "synthetic"
    load_s: float = 0.0  #: seconds to read, decode and resample (or synthesize) the audio


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
    return None


def gather_audio(args: argparse.Namespace) -> Workload:
    """The clips the arguments name, loaded and resampled to 16 kHz mono.

    Raises:
        ValueError, LookupError, OSError: the source as a whole cannot be read (a missing
            LibriSpeech folder, the hub unreachable); single bad files are ``failures``.
    """
    from whisperbench.audio import synthetic

    started = time.perf_counter()
    work = Workload()
    if args.audio_file:
        from whisperbench.audio.files import load_audio_files

        loaded, failed = load_audio_files(args.audio_file)
        work.clips = [item.clip for item in loaded]
        work.failures = _failure_records(failed)
        work.source = "files"
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
    work.load_s = time.perf_counter() - started
    return work


def _warn_if_fewer(asked: int, found: int, where: str, *, given: bool) -> None:
    """Say so when a dataset holds fewer utterances than ``--num-samples`` asks for."""
    if found < asked:
        flag = f"--num-samples {asked}" if given else f"--num-samples (default {asked})"
        log.warning("%s: %s holds only %d utterance(s); measuring %d", flag, where, found, found)
