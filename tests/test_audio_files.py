"""Loading audio files: every bad file fails with one clear line; good ones become 16 kHz mono."""

from __future__ import annotations

import io
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.bad_audio import (
    BAD_CASES,
    GOOD_CASES,
    GOOD_SIGNALS,
    MP3_SUPPORTED,
    AudioCase,
    Signal,
    make_corpus,
    tone,
)
from whisperbench.audio.files import (
    AudioFileError,
    AudioFileFailure,
    LoadedAudio,
    load_audio,
    load_audio_bytes,
    load_audio_files,
)

EDGE_SAMPLES = 160  # 10 ms at 16 kHz: resampler and codec edge effects are not compared


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AudioCase]:
    return make_corpus(tmp_path_factory.mktemp("audio"))


def _case(corpus: dict[str, AudioCase], name: str) -> AudioCase:
    case = corpus[name]
    if case.skip_reason is not None:
        pytest.skip(case.skip_reason)
    return case


def _ideal_16k_mono(signal: Signal) -> np.ndarray:
    ideal: np.ndarray = tone(signal, 16_000).mean(axis=1)
    return ideal


@pytest.mark.parametrize("name", BAD_CASES)
def test_bad_file_raises_one_line_naming_path_and_cause(
    corpus: dict[str, AudioCase], name: str
) -> None:
    case = _case(corpus, name)
    assert case.cause is not None

    with pytest.raises(AudioFileError) as caught:
        load_audio(case.path)

    message = str(caught.value)
    assert message.startswith(f"{case.path}: "), message
    assert case.cause in message
    assert "\n" not in message
    assert caught.value.path == case.path
    assert case.cause in caught.value.cause
    assert str(case.path) not in caught.value.cause  # the cause alone, path given once
    assert isinstance(caught.value, ValueError)


def test_str_paths_work_like_path_objects(corpus: dict[str, AudioCase]) -> None:
    good = corpus["wav_44k_stereo"].path
    assert load_audio(str(good)).clip.sha256 == load_audio(good).clip.sha256
    with pytest.raises(AudioFileError, match="file not found") as caught:
        load_audio(str(corpus["missing"].path))
    assert caught.value.path == corpus["missing"].path


@pytest.mark.parametrize("name", GOOD_CASES)
def test_good_file_becomes_16k_mono_float32_of_the_right_length_and_content(
    corpus: dict[str, AudioCase], name: str
) -> None:
    case = _case(corpus, name)
    file_name, signal = GOOD_SIGNALS[name]
    source_frames = round(signal.duration_s * signal.rate_hz)

    loaded = load_audio(case.path)

    clip = loaded.clip
    assert clip.samples.dtype == np.float32
    assert clip.samples.ndim == 1
    assert clip.sample_rate_hz == 16_000
    assert clip.num_samples == round(source_frames * 16_000 / signal.rate_hz)
    assert clip.duration_s == pytest.approx(signal.duration_s)
    assert (clip.name, clip.kind, clip.reference, clip.category) == (file_name, "file", None, None)
    assert loaded.source_rate_hz == signal.rate_hz
    assert loaded.source_channels == len(signal.channels)
    assert loaded.source_frames == source_frames
    assert (loaded.source_format, loaded.source_subtype) == (signal.format, signal.subtype)
    error = np.abs(clip.samples - _ideal_16k_mono(signal))[EDGE_SAMPLES:-EDGE_SAMPLES]
    assert error.max() <= signal.tolerance


def test_load_times_are_returned_beside_the_clip(corpus: dict[str, AudioCase]) -> None:
    loaded = load_audio(corpus["wav_44k_stereo"].path)
    assert loaded.decode_s > 0
    assert loaded.resample_s > 0  # 44.1 kHz stereo is really resampled
    assert loaded.load_s == loaded.decode_s + loaded.resample_s


def test_stereo_channels_that_differ_are_averaged(corpus: dict[str, AudioCase]) -> None:
    # Left 0.6, right 0.2 at 440 Hz: the mean is 0.4; one channel would be 0.6 or 0.2 and
    # their sum 0.8.
    samples = load_audio(corpus["wav_44k_stereo"].path).clip.samples
    middle = samples[EDGE_SAMPLES:-EDGE_SAMPLES].astype(np.float64)
    amplitude = np.sqrt(2) * np.sqrt(np.mean(middle**2))
    assert amplitude == pytest.approx(0.4, abs=2e-3)


def test_many_channels_are_averaged(tmp_path: Path) -> None:
    # Six channels of one 300 Hz tone with amplitudes summing to 0.6: the mean is 0.1.
    amplitudes = np.array([0.5, -0.2, 0.1, 0.3, -0.3, 0.2])
    t_s = np.arange(22_050) / 22_050
    data = np.sin(2 * np.pi * 300.0 * t_s)[:, None] * amplitudes[None, :]
    path = tmp_path / "six.wav"
    sf.write(path, data, 22_050, format="WAV", subtype="FLOAT")

    loaded = load_audio(path)

    assert loaded.source_channels == 6
    expected = 0.1 * np.sin(2 * np.pi * 300.0 * np.arange(16_000) / 16_000)
    error = np.abs(loaded.clip.samples - expected)[EDGE_SAMPLES:-EDGE_SAMPLES]
    assert error.max() < 1e-4


def test_16k_mono_file_is_passed_through_unchanged(corpus: dict[str, AudioCase]) -> None:
    path = corpus["wav_16k_mono"].path
    decoded, rate_hz = sf.read(path, dtype="float32")
    assert rate_hz == 16_000
    np.testing.assert_array_equal(load_audio(path).clip.samples, decoded)


ROUND_TRIPS = [
    # (format, subtype, extension, largest error allowed away from the edges)
    ("WAV", "PCM_16", "wav", 1.01 / 32768),
    ("WAV", "PCM_24", "wav", 1.01 / 2**23),
    ("WAV", "FLOAT", "wav", 0.0),
    ("WAV", "PCM_U8", "wav", 1.01 / 128),
    ("FLAC", "PCM_16", "flac", 1.01 / 32768),
    ("FLAC", "PCM_24", "flac", 1.01 / 2**23),
    ("AIFF", "PCM_16", "aiff", 1.01 / 32768),
    ("OGG", "VORBIS", "ogg", 5e-2),
    ("OGG", "OPUS", "opus", 5e-2),
    pytest.param(
        "MP3",
        "MPEG_LAYER_III",
        "mp3",
        8e-2,
        marks=pytest.mark.skipif(
            not MP3_SUPPORTED, reason=f"libsndfile {sf.__libsndfile_version__}: no MP3"
        ),
    ),
]


@pytest.mark.parametrize(("fmt", "subtype", "ext", "tolerance"), ROUND_TRIPS)
def test_formats_round_trip(
    tmp_path: Path, fmt: str, subtype: str, ext: str, tolerance: float
) -> None:
    original = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(24_000) / 16_000)).astype(np.float32)
    path = tmp_path / f"round-trip.{ext}"
    sf.write(path, original, 16_000, format=fmt, subtype=subtype)

    loaded = load_audio(path)

    assert (loaded.source_format, loaded.source_subtype) == (fmt, subtype)
    assert loaded.clip.num_samples == original.size
    error = np.abs(loaded.clip.samples - original)[EDGE_SAMPLES:-EDGE_SAMPLES]
    assert error.max() <= tolerance


def test_mixed_list_loads_the_good_and_lists_the_bad_in_order(
    corpus: dict[str, AudioCase],
) -> None:
    names = ["wav_44k_stereo", "missing", "flac_8k_mono", "text_as_wav", "ogg_48k_mono", "empty"]
    paths = [corpus[name].path for name in names]

    loaded, failures = load_audio_files(paths)

    assert [item.clip.name for item in loaded] == [paths[0].name, paths[2].name, paths[4].name]
    assert all(isinstance(item, LoadedAudio) for item in loaded)
    assert [failure.path for failure in failures] == [paths[1], paths[3], paths[5]]
    for failure, name in zip(failures, ["missing", "text_as_wav", "empty"], strict=True):
        cause = corpus[name].cause
        assert cause is not None
        assert cause in failure.cause
        assert str(failure) == f"{failure.path}: {failure.cause}"


def test_a_list_of_only_bad_files_never_raises(corpus: dict[str, AudioCase]) -> None:
    usable = [name for name in BAD_CASES if corpus[name].skip_reason is None]
    loaded, failures = load_audio_files([corpus[name].path for name in usable])
    assert loaded == []
    assert [failure.path for failure in failures] == [corpus[name].path for name in usable]
    assert load_audio_files([]) == ([], [])


def test_error_pickles_and_converts_to_a_failure_record() -> None:
    error = AudioFileError("some/clip.wav", "empty file (0 bytes)")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.cause, str(copy)) == (error.path, error.cause, str(error))
    assert error.failure() == AudioFileFailure(Path("some/clip.wav"), "empty file (0 bytes)")


def test_bytes_in_memory_load_like_files(corpus: dict[str, AudioCase]) -> None:
    path = corpus["flac_8k_mono"].path
    from_bytes = load_audio_bytes(path.read_bytes(), "utt-1")
    assert from_bytes.clip.name == "utt-1"
    assert from_bytes.clip.sha256 == load_audio(path).clip.sha256
    for name in ("truncated_wav", "truncated_ogg", "text_as_wav", "nan_float_wav"):
        cause = corpus[name].cause
        assert cause is not None
        with pytest.raises(AudioFileError, match=r"^utt-2: ") as caught:
            load_audio_bytes(corpus[name].path.read_bytes(), "utt-2")
        assert cause in caught.value.cause
    with pytest.raises(AudioFileError, match="empty"):
        load_audio_bytes(b"", "utt-3")


def test_wav_with_unknown_length_placeholder_is_not_called_truncated(tmp_path: Path) -> None:
    # Streaming writers leave 0xFFFFFFFF as the data size when they cannot seek back.
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(1600, dtype=np.float32), 16_000, format="WAV", subtype="PCM_16")
    raw = bytearray(buffer.getvalue())
    data_at = raw.index(b"data")
    raw[data_at + 4 : data_at + 8] = b"\xff\xff\xff\xff"
    path = tmp_path / "streamed.wav"
    path.write_bytes(bytes(raw))

    assert load_audio(path).clip.num_samples == 1600


_AS_NOBODY = """
import os, sys
from whisperbench.audio.files import load_audio_files  # imported while still root
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
for failure in load_audio_files(sys.argv[1:])[1]:
    print(failure)
"""


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="needs root to drop to uid 65534; unprivileged, the corpus's mode-000 case runs",
)
def test_permission_errors_as_an_unprivileged_user() -> None:
    # Root reads mode-000 files, so the loader runs in a child that drops to nobody.
    # The folder is outside pytest's tmp tree, whose mode-700 parents nobody cannot enter.
    base = Path(tempfile.mkdtemp(prefix="whisperbench-permissions-"))
    try:
        base.chmod(0o755)
        locked = base / "locked.wav"
        sf.write(locked, np.zeros(160, dtype=np.float32), 16_000, format="WAV")
        locked.chmod(0)
        private = base / "private"
        private.mkdir(mode=0o700)
        hidden = private / "hidden.wav"
        sf.write(hidden, np.zeros(160, dtype=np.float32), 16_000, format="WAV")

        child = subprocess.run(
            [sys.executable, "-c", _AS_NOBODY, str(locked), str(hidden)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        shutil.rmtree(base)

    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == [
        f"{locked}: permission denied (cannot read the file; check its mode and owner)",
        f"{hidden}: permission denied (cannot look up the file; check its folders' modes)",
    ]
