"""The LibriSpeech reader, on a synthesized corpus in LibriSpeech's layout."""

from __future__ import annotations

import logging
import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.synthetic_librispeech import SyntheticCorpus, build_librispeech, librispeech_style
from whisperbench.audio import librispeech
from whisperbench.audio.librispeech import (
    LibriSpeechError,
    LibriSpeechUnavailable,
    Utterance,
    load_utterances,
    read_local,
    scan_local,
    stream_hub,
)

# String order of ids, as LibriSpeech's own listings: "1089-..." sorts before "121-...".
EXPECTED_IDS = [
    "1089-134686-0000",
    "1089-134686-0001",
    "1089-134686-0002",
    "1089-134691-0000",
    "121-121726-0000",
    "121-121726-0001",
]
#: One step of 16-bit quantization, with room for the write-side rounding.
PCM_16_TOLERANCE = 2 / 32768


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> SyntheticCorpus:
    return build_librispeech(tmp_path_factory.mktemp("librispeech"))


@pytest.fixture
def corpus_copy(corpus: SyntheticCorpus, tmp_path: Path) -> Path:
    """A copy of the split folder that a test may damage."""
    return Path(shutil.copytree(corpus.split_dir, tmp_path / "test-clean"))


def test_read_local_lists_every_utterance_sorted_by_id(corpus: SyntheticCorpus) -> None:
    utterances = read_local(corpus.split_dir)

    assert [u.utterance_id for u in utterances] == EXPECTED_IDS
    for utterance in utterances:
        made = corpus.utterances[utterance.utterance_id]
        assert utterance == Utterance(
            made.utterance_id, made.path, made.reference, made.speaker, made.chapter
        )
    assert utterances[0].reference == "GOOD MORNING"
    assert utterances[0].speaker == "1089"
    assert utterances[0].chapter == "134686"


def test_references_are_in_librispeech_style(corpus: SyntheticCorpus) -> None:
    assert librispeech_style("Don't stop, it's e-mail time!") == "DON'T STOP IT'S E MAIL TIME"
    references = [u.reference for u in read_local(corpus.split_dir)]
    assert len(set(references)) == len(references)
    for reference in references:
        assert reference
        assert set(reference) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ' ")


def test_order_is_by_id_whatever_the_order_of_transcript_lines(corpus_copy: Path) -> None:
    transcript = corpus_copy / "1089" / "134686" / "1089-134686.trans.txt"
    lines = transcript.read_text(encoding="utf-8").splitlines(keepends=True)
    transcript.write_text("".join(reversed(lines)), encoding="utf-8")

    assert [u.utterance_id for u in read_local(corpus_copy)] == EXPECTED_IDS


def test_root_may_be_the_split_the_librispeech_folder_or_its_parent(
    corpus: SyntheticCorpus,
) -> None:
    expected = read_local(corpus.split_dir)
    assert read_local(corpus.split_dir.parent) == expected
    assert read_local(corpus.root) == expected
    assert read_local(str(corpus.root)) == expected
    assert scan_local(corpus.root).split_dir == corpus.split_dir


def test_limit_takes_the_first_utterances_by_id(corpus: SyntheticCorpus) -> None:
    assert [u.utterance_id for u in read_local(corpus.split_dir, limit=2)] == EXPECTED_IDS[:2]
    assert read_local(corpus.split_dir, limit=0) == []
    assert len(read_local(corpus.split_dir, limit=100)) == len(EXPECTED_IDS)
    with pytest.raises(ValueError, match="limit must be >= 0"):
        read_local(corpus.split_dir, limit=-1)


def test_a_clean_corpus_has_no_problems(corpus: SyntheticCorpus) -> None:
    assert scan_local(corpus.split_dir).problems == ()


def test_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(LibriSpeechError, match=f"^{missing}: LibriSpeech folder not found$"):
        read_local(missing)


def test_root_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    file = tmp_path / "test-clean.tar.gz"
    file.write_bytes(b"not extracted")
    with pytest.raises(LibriSpeechError, match=f"^{file}: not a folder"):
        read_local(file)


def test_folder_without_transcripts_is_a_clear_error(corpus_copy: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LibriSpeechError, match="no LibriSpeech transcripts") as caught:
        read_local(empty)
    assert str(empty) in str(caught.value)
    assert ".flac files" not in str(caught.value)

    for transcript in corpus_copy.glob("*/*/*.trans.txt"):
        transcript.unlink()
    with pytest.raises(LibriSpeechError, match="no LibriSpeech transcripts") as caught:
        read_local(corpus_copy)
    assert "it holds .flac files" in str(caught.value)


def test_several_splits_under_root_is_a_clear_error(
    corpus: SyntheticCorpus, tmp_path: Path
) -> None:
    shutil.copytree(corpus.split_dir, tmp_path / "LibriSpeech" / "test-clean")
    shutil.copytree(corpus.split_dir, tmp_path / "LibriSpeech" / "test-other")
    with pytest.raises(LibriSpeechError, match="several LibriSpeech splits") as caught:
        read_local(tmp_path / "LibriSpeech")
    assert "test-clean" in str(caught.value)
    assert "test-other" in str(caught.value)


def test_audio_without_a_transcript_line_is_reported_and_skipped(
    corpus_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    extra = corpus_copy / "121" / "121726" / "121-121726-0007.flac"
    shutil.copy(corpus_copy / "121" / "121726" / "121-121726-0000.flac", extra)

    index = scan_local(corpus_copy)
    with caplog.at_level(logging.WARNING, logger=librispeech.__name__):
        utterances = read_local(corpus_copy)

    assert [u.utterance_id for u in utterances] == EXPECTED_IDS
    assert len(index.problems) == 1
    assert index.problems[0].path == extra
    assert "no transcript line for 121-121726-0007" in index.problems[0].cause
    assert "121-121726.trans.txt" in index.problems[0].cause
    assert [record.getMessage() for record in caplog.records] == [
        f"LibriSpeech: {index.problems[0]}"
    ]


def test_transcript_line_without_audio_is_reported_and_skipped(corpus_copy: Path) -> None:
    gone = corpus_copy / "1089" / "134686" / "1089-134686-0001.flac"
    gone.unlink()

    index = scan_local(corpus_copy)

    assert [u.utterance_id for u in index.utterances] == [
        uid for uid in EXPECTED_IDS if uid != "1089-134686-0001"
    ]
    assert len(index.problems) == 1
    assert index.problems[0].path == gone
    assert index.problems[0].cause == (
        "listed in 1089-134686.trans.txt line 2 but the audio file is missing; skipped"
    )


def test_chapter_without_transcript_reports_each_of_its_files(corpus_copy: Path) -> None:
    (corpus_copy / "121" / "121726" / "121-121726.trans.txt").unlink()

    index = scan_local(corpus_copy)

    assert [u.utterance_id for u in index.utterances] == EXPECTED_IDS[:4]
    assert [p.path.name for p in index.problems] == ["121-121726-0000.flac", "121-121726-0001.flac"]


def test_malformed_and_duplicate_lines_are_reported_and_skipped(corpus_copy: Path) -> None:
    transcript = corpus_copy / "1089" / "134691" / "1089-134691.trans.txt"
    original = transcript.read_text(encoding="utf-8")
    transcript.write_text(
        original + "\n" + original + "9999-1-0000 WRONG CHAPTER\n1089-134691-0003\n",
        encoding="utf-8",
    )

    index = scan_local(corpus_copy)

    assert [u.utterance_id for u in index.utterances] == EXPECTED_IDS
    causes = [p.cause for p in index.problems]
    assert all(p.path == transcript for p in index.problems)
    assert causes == [
        "line 3: 1089-134691-0000 is listed twice; skipped",
        "line 4: expected '1089-134691-<n> TEXT', got '9999-1-0000 WRONG CHAPTER'; skipped",
        "line 5: expected '1089-134691-<n> TEXT', got '1089-134691-0003'; skipped",
    ]


def test_no_usable_line_at_all_is_a_clear_error(corpus_copy: Path) -> None:
    for audio in corpus_copy.glob("*/*/*.flac"):
        audio.unlink()
    with pytest.raises(LibriSpeechError, match="none of the 6 transcript lines"):
        read_local(corpus_copy)


def test_load_utterances_gives_the_right_audio_and_reference_per_id(
    corpus: SyntheticCorpus,
) -> None:
    utterances = read_local(corpus.split_dir)

    clips, failures = load_utterances(utterances)

    assert failures == []
    assert [clip.name for clip in clips] == EXPECTED_IDS
    for clip in clips:
        made = corpus.utterances[clip.name]
        assert clip.reference == made.reference
        assert (clip.kind, clip.category, clip.sample_rate_hz) == ("file", None, 16_000)
        assert clip.num_samples == made.clip.num_samples
        assert np.abs(clip.samples - made.clip.samples).max() <= PCM_16_TOLERANCE


def test_load_utterances_collects_unloadable_audio(corpus_copy: Path) -> None:
    utterances = read_local(corpus_copy)
    broken = utterances[1].path
    broken.write_bytes(broken.read_bytes()[:200])

    clips, failures = load_utterances(utterances)

    assert [clip.name for clip in clips] == [EXPECTED_IDS[0], *EXPECTED_IDS[2:]]
    assert len(failures) == 1
    assert failures[0].path == broken
    assert "truncated or corrupt" in failures[0].cause


# --- stream_hub: the hub is unreachable here, so beyond the missing-package path the
# `datasets` module is replaced by a fake with the same calls and data shapes
# (load_dataset(..., streaming=True) -> IterableDataset; cast_column; Audio(decode=False)
# examples {"audio": {"path", "bytes"}, "text", "speaker_id", "chapter_id", "id"}).


def test_stream_hub_without_datasets_says_how_to_run_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(LibriSpeechUnavailable) as caught:
        stream_hub(limit=2)
    message = str(caught.value)
    assert "`datasets`" in message
    assert "--dataset-path" in message
    assert "\n" not in message


def test_stream_hub_rejects_unknown_splits_and_negative_limits() -> None:
    with pytest.raises(
        ValueError, match=r"unknown LibriSpeech split 'test-clean'; choose one of: test\.clean, "
    ):
        stream_hub("test-clean")
    with pytest.raises(ValueError, match="limit must be >= 0"):
        stream_hub(limit=-1)


class FakeAudio:
    """Stands in for ``datasets.Audio``."""

    def __init__(self, decode: bool = True) -> None:
        self.decode = decode


class FakeIterableDataset:
    """Stands in for ``datasets.IterableDataset``: yields examples, counts what was pulled."""

    def __init__(self, examples: list[dict[str, Any]]) -> None:
        self.examples = examples
        self.pulled = 0
        self.cast: dict[str, Any] = {}

    def cast_column(self, column: str, feature: Any) -> FakeIterableDataset:
        self.cast[column] = feature
        return self

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for example in self.examples:
            self.pulled += 1
            yield example


def _fake_datasets(monkeypatch: pytest.MonkeyPatch, load_dataset: Any) -> types.SimpleNamespace:
    fake = types.SimpleNamespace(load_dataset=load_dataset, Audio=FakeAudio)
    monkeypatch.setitem(sys.modules, "datasets", fake)
    return fake


def test_stream_hub_unreachable_hub_says_how_to_run_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreachable(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Couldn't reach 'openslr/librispeech_asr' on the Hub\n(offline)")

    _fake_datasets(monkeypatch, unreachable)
    with pytest.raises(LibriSpeechUnavailable) as caught:
        stream_hub(limit=2)
    message = str(caught.value)
    assert "ConnectionError: Couldn't reach 'openslr/librispeech_asr' on the Hub (offline)" in (
        message
    )
    assert "--dataset-path" in message
    assert "\n" not in message


def test_stream_hub_decodes_streamed_examples_into_clips(
    corpus: SyntheticCorpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    examples = []
    for utterance_id in EXPECTED_IDS:
        made = corpus.utterances[utterance_id]
        examples.append(
            {
                "file": made.path.name,
                "audio": {"path": made.path.name, "bytes": made.path.read_bytes()},
                "text": made.reference,
                "speaker_id": int(made.speaker),
                "chapter_id": int(made.chapter),
                "id": utterance_id,
            }
        )
    stream = FakeIterableDataset(examples)
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def load_dataset(*args: Any, **kwargs: Any) -> FakeIterableDataset:
        calls.append((args, kwargs))
        return stream

    _fake_datasets(monkeypatch, load_dataset)

    clips = stream_hub("test.clean", limit=3)

    assert calls == [(("openslr/librispeech_asr", "clean"), {"split": "test", "streaming": True})]
    assert stream.cast["audio"].decode is False
    assert stream.pulled == 3
    assert [clip.name for clip in clips] == EXPECTED_IDS[:3]
    for clip in clips:
        made = corpus.utterances[clip.name]
        assert clip.reference == made.reference
        assert clip.kind == "file"
        assert np.abs(clip.samples - made.clip.samples).max() <= PCM_16_TOLERANCE
