"""A corpus of broken and good audio files, for the file loader's tests.

``make_corpus(folder)`` writes every case into ``folder`` and returns ``{name: AudioCase}``.
A case's ``cause`` is a substring the loader's error message must contain, or None for a
file that must load. Good files use tones whose content the tests can check after
resampling; :data:`GOOD_SIGNALS` says what each holds.

Not every case can be made everywhere: a file with mode 000 is still readable by root (tests
run as root in some containers), and MP3 needs libsndfile 1.1 or newer. Such a case is still
returned, with ``skip_reason`` saying why it proves nothing here, so that tests skip it
visibly instead of passing it vacuously.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf

__all__ = [
    "BAD_CASES",
    "GOOD_CASES",
    "GOOD_SIGNALS",
    "MP3_SUPPORTED",
    "AudioCase",
    "Signal",
    "make_corpus",
    "tone",
]

MP3_SUPPORTED = "MP3" in sf.available_formats()


class AudioCase(NamedTuple):
    """One file of the corpus."""

    path: Path
    #: Substring the error message must contain; None for a file that loads.
    cause: str | None
    #: Why this case cannot be exercised on this machine; None when it can.
    skip_reason: str | None = None


class Signal(NamedTuple):
    """What a good file holds: a tone per channel, at a rate, for a duration."""

    rate_hz: int
    duration_s: float
    #: ``(amplitude, frequency_hz)`` per channel.
    channels: tuple[tuple[float, float], ...]
    format: str
    subtype: str
    #: The largest difference from the ideal 16 kHz mono signal a test may accept, away from
    #: the first and last 10 ms (resampler and codec edge effects). Lossless 16-bit files
    #: differ from the ideal by up to one step of 16-bit quantization (1/32768).
    tolerance: float


#: Good files: name -> (file name, signal). The stereo file's channels differ, so averaging
#: them (0.6 and 0.2 -> 0.4 at 440 Hz) is distinguishable from taking one or summing them.
GOOD_SIGNALS: dict[str, tuple[str, Signal]] = {
    "wav_44k_stereo": (
        "stereo-44k.wav",
        Signal(44_100, 1.5, ((0.6, 440.0), (0.2, 440.0)), "WAV", "PCM_16", 2e-4),
    ),
    "wav_16k_mono": ("mono-16k.wav", Signal(16_000, 1.0, ((0.5, 440.0),), "WAV", "PCM_16", 4e-5)),
    "flac_8k_mono": ("mono-8k.flac", Signal(8_000, 0.75, ((0.5, 440.0),), "FLAC", "PCM_16", 2e-4)),
    "ogg_48k_mono": (
        "mono-48k.ogg",
        Signal(48_000, 1.0, ((0.5, 440.0),), "OGG", "VORBIS", 5e-2),
    ),
    "mp3_32k_mono": (
        "mono-32k.mp3",
        Signal(32_000, 1.0, ((0.5, 440.0),), "MP3", "MPEG_LAYER_III", 8e-2),
    ),
}
GOOD_CASES: tuple[str, ...] = tuple(GOOD_SIGNALS)

BAD_CASES: tuple[str, ...] = (
    "missing",
    "directory",
    "empty",
    "truncated_wav",
    "truncated_header_wav",
    "truncated_flac",
    "truncated_ogg",
    "truncated_mp3",
    "truncated_aiff",
    "corrupt_flac",
    "text_as_wav",
    "text_as_mp3",
    "zero_frames_wav",
    "one_sample_wav",
    "nan_float_wav",
    "inf_float_wav",
    "unreadable",
)


def tone(signal: Signal, rate_hz: int) -> np.ndarray:
    """``signal`` sampled at ``rate_hz``: ``[frames, channels]`` float64, sine phase 0."""
    frames = round(signal.duration_s * rate_hz)
    t_s = np.arange(frames) / rate_hz
    columns = [amp * np.sin(2 * np.pi * freq_hz * t_s) for amp, freq_hz in signal.channels]
    return np.stack(columns, axis=1)


def _write_good(folder: Path, file_name: str, signal: Signal) -> Path:
    path = folder / file_name
    sf.write(
        path,
        tone(signal, signal.rate_hz),
        signal.rate_hz,
        format=signal.format,
        subtype=signal.subtype,
    )
    return path


def _wav_bytes(folder: Path, subtype: str, data: np.ndarray) -> bytes:
    scratch = folder / f".scratch-{subtype}.wav"
    sf.write(scratch, data, 16_000, format="WAV", subtype=subtype)
    raw = scratch.read_bytes()
    scratch.unlink()
    return raw


def _encoded_bytes(folder: Path, name: str, fmt: str, subtype: str) -> bytes:
    scratch = folder / f".scratch.{name}"
    signal = (0.5 * np.sin(2 * np.pi * 440.0 * np.arange(48_000) / 16_000)).astype(np.float32)
    sf.write(scratch, signal, 16_000, format=fmt, subtype=subtype)
    raw = scratch.read_bytes()
    scratch.unlink()
    return raw


def make_corpus(folder: Path) -> dict[str, AudioCase]:
    """Write every case of :data:`BAD_CASES` and :data:`GOOD_CASES` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    cases: dict[str, AudioCase] = {}

    for name, (file_name, signal) in GOOD_SIGNALS.items():
        if signal.format == "MP3" and not MP3_SUPPORTED:
            reason = f"libsndfile {sf.__libsndfile_version__} has no MP3 support"
            cases[name] = AudioCase(folder / file_name, None, reason)
            continue
        cases[name] = AudioCase(_write_good(folder, file_name, signal), None)

    cases["missing"] = AudioCase(folder / "missing.wav", "file not found")

    directory = folder / "x.wav"
    directory.mkdir()
    cases["directory"] = AudioCase(directory, "is a directory")

    empty = folder / "empty.wav"
    empty.write_bytes(b"")
    cases["empty"] = AudioCase(empty, "empty file (0 bytes)")

    one_second = 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(16_000) / 16_000)
    whole = _wav_bytes(folder, "PCM_16", one_second)
    truncated = folder / "truncated.wav"
    truncated.write_bytes(whole[: 44 + 1000])  # the 44-byte header, then 500 of 16000 frames
    cases["truncated_wav"] = AudioCase(
        truncated,
        "truncated: the header declares 32000 bytes of audio data but the file holds only 1000",
    )

    header_cut = folder / "header-cut.wav"
    header_cut.write_bytes(whole[:20])  # inside the fmt chunk
    cases["truncated_header_wav"] = AudioCase(header_cut, "malformed or truncated")

    for name, fmt, subtype, ext, cut, cause in (
        ("truncated_flac", "FLAC", "PCM_16", "flac", 0.5, "truncated or corrupt"),
        ("truncated_ogg", "OGG", "VORBIS", "ogg", 0.9, "truncated: the Ogg page"),
        ("truncated_mp3", "MP3", "MPEG_LAYER_III", "mp3", 0.5, "truncated or corrupt: decoded"),
        ("truncated_aiff", "AIFF", "PCM_16", "aiff", 0.5, "truncated: the header declares"),
    ):
        path = folder / f"truncated.{ext}"
        if fmt == "MP3" and not MP3_SUPPORTED:
            reason = f"libsndfile {sf.__libsndfile_version__} has no MP3 support"
            cases[name] = AudioCase(path, cause, reason)
            continue
        raw = _encoded_bytes(folder, ext, fmt, subtype)
        path.write_bytes(raw[: int(len(raw) * cut)])
        cases[name] = AudioCase(path, cause)

    flac = _encoded_bytes(folder, "flac", "FLAC", "PCM_16")
    corrupt = folder / "corrupt.flac"
    # A valid stream header followed by noise where the audio frames should be.
    noise = np.random.default_rng(0).integers(0, 256, size=len(flac) - 100, dtype=np.uint8)
    corrupt.write_bytes(flac[:100] + noise.tobytes())
    cases["corrupt_flac"] = AudioCase(corrupt, "truncated or corrupt")

    text = folder / "notes.wav"
    text.write_text("These are meeting notes, not audio.\n" * 20, encoding="utf-8")
    cases["text_as_wav"] = AudioCase(text, "not a recognised audio format")

    text_mp3 = folder / "notes.mp3"  # libsndfile tries its MP3 decoder on a .mp3 name
    text_mp3.write_text("These are meeting notes, not audio.\n" * 20, encoding="utf-8")
    cases["text_as_mp3"] = AudioCase(
        text_mp3,
        "not a recognised audio format (it holds text, not audio",
        None if MP3_SUPPORTED else f"libsndfile {sf.__libsndfile_version__} has no MP3 support",
    )

    one = folder / "one-sample.wav"
    one.write_bytes(_wav_bytes(folder, "PCM_16", np.full((1, 1), 0.5)))
    cases["one_sample_wav"] = AudioCase(one, "too short to measure: 6.25e-05 s (1 frames")

    zero = folder / "zero-frames.wav"
    zero.write_bytes(_wav_bytes(folder, "PCM_16", np.zeros((0, 1))))
    cases["zero_frames_wav"] = AudioCase(zero, "0 frames")

    with_nan = one_second.copy()
    with_nan[[10, 20, 30]] = np.nan
    nan_path = folder / "nan.wav"
    nan_path.write_bytes(_wav_bytes(folder, "FLOAT", with_nan))
    cases["nan_float_wav"] = AudioCase(nan_path, "contains 3 NaN and 0 infinite samples")

    with_inf = one_second.copy()
    with_inf[[5, 6]] = [np.inf, -np.inf]
    inf_path = folder / "inf.wav"
    inf_path.write_bytes(_wav_bytes(folder, "FLOAT", with_inf))
    cases["inf_float_wav"] = AudioCase(inf_path, "contains 0 NaN and 2 infinite samples")

    unreadable = folder / "unreadable.wav"
    unreadable.write_bytes(whole)
    unreadable.chmod(0)
    still_readable: str | None = None
    try:
        with unreadable.open("rb"):
            # root (CAP_DAC_OVERRIDE) reads a mode-000 file: the loader cannot be shown to fail.
            still_readable = f"mode 000 does not stop uid {os.getuid()} from reading the file"
    except PermissionError:
        pass
    cases["unreadable"] = AudioCase(unreadable, "permission denied", still_readable)

    assert set(cases) == set(BAD_CASES) | set(GOOD_CASES), "corpus and case lists disagree"
    return cases
