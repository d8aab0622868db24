"""Where the app's audio comes from: a dataset smaller than --num-samples is said so."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from whisperbench.app.inputs import gather_audio

pytestmark = pytest.mark.slow  # synthesizes a small LibriSpeech folder (eSpeak NG)


def _dataset_args(root: Path, num_samples: int | None) -> argparse.Namespace:
    return argparse.Namespace(
        audio_file=None, use_dataset=True, dataset_path=str(root), num_samples=num_samples,
        benchmark=False, audio="auto", audio_duration_s=10.0,
    )  # fmt: skip


def test_more_samples_than_the_dataset_holds_warns_naming_both_numbers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.synthetic_librispeech import build_librispeech

    corpus = build_librispeech(tmp_path)
    held = len(corpus.utterances)
    assert held == 6
    with caplog.at_level(logging.WARNING, logger="whisperbench"):
        work = gather_audio(_dataset_args(corpus.root, 20))
    assert len(work.clips) == held
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == (
        f"--num-samples 20: {corpus.root} holds only 6 utterance(s); measuring 6"
    )

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="whisperbench"):
        work = gather_audio(_dataset_args(corpus.root, 6))
    assert len(work.clips) == 6
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
