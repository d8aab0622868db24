"""Audio files -> 16 kHz mono float32 clips, with decoding and resampling timed apart.

Anything libsndfile reads (WAV, FLAC, OGG Vorbis/Opus, MP3 from libsndfile 1.1, AIFF, ...)
at any sample rate and channel count is decoded to float32, checked, and converted by
:func:`whisperbench.audio.resample.to_16k_mono`. Loading is not inference: the seconds spent
decoding and resampling are returned beside the clip (:class:`LoadedAudio`) so that callers
can record them as load time, never inside RTF.

Every problem with one file is an :class:`AudioFileError` whose message is one line,
``"<path>: <cause>"``. :func:`load_audio_files` collects those per file instead of raising,
so one bad file in a list never stops the others.

libsndfile is lenient with two kinds of damage, which are therefore checked here:

* a WAV or AIFF file cut short decodes without error to fewer frames than its header
  declares, so the declared size of the audio data chunk is compared with the bytes present;
* an Ogg stream cut short may decode to 0 frames, so its pages must run whole to the end
  of the file and the last one must carry the end-of-stream flag.

Decoded frames are also compared with the frame count the header declares (which catches a
truncated MP3), float files are checked for NaN and infinite samples, and a file shorter than
:data:`~whisperbench.audio.clip.MIN_DURATION_S` is refused (its RTF would measure Whisper's
padding to 30 s, not the speech).

libsndfile's MP3 decoder (libmpg123) prints ``Note:`` lines on the process's stderr while it
searches a file for MPEG frames; they are caught here
(:func:`~whisperbench.audio.captured_stderr.captured_stderr`), logged at DEBUG, and quoted in
the cause when the file cannot be decoded.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from whisperbench.audio.captured_stderr import captured_stderr
from whisperbench.audio.clip import MIN_DURATION_S, SAMPLE_RATE_HZ, Clip
from whisperbench.audio.resample import to_16k_mono

__all__ = [
    "AudioFileError",
    "AudioFileFailure",
    "LoadedAudio",
    "load_audio",
    "load_audio_bytes",
    "load_audio_files",
]

#: Ogg page header flag for the last page of a logical stream (RFC 3533, section 6).
_OGG_END_OF_STREAM = 0x04
#: Bytes of an Ogg page header before its segment table.
_OGG_PAGE_HEADER_BYTES = 27
#: Data chunk sizes that streaming writers leave in a header when the length is unknown.
_UNKNOWN_CHUNK_SIZES = (0, 0xFFFFFFFF)
#: What libsndfile says when its MP3 decoder (chosen by a ``.mp3`` name) finds no MPEG frames.
_MPEG_REFUSED = "does not exist or is not a regular file"

log = logging.getLogger("whisperbench.audio")


class AudioFileError(ValueError):
    """One audio file could not be loaded; ``str(error)`` is ``"<path>: <cause>"``.

    Attributes:
        path: the input as given, as a :class:`~pathlib.Path`.
        cause: what is wrong with it (one line, no path), plus what to do when useful.
    """

    def __init__(self, path: str | os.PathLike[str], cause: str) -> None:
        self.path = Path(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")

    def __reduce__(self) -> tuple[type[AudioFileError], tuple[Path, str]]:
        return (type(self), (self.path, self.cause))

    def failure(self) -> AudioFileFailure:
        """This error as a :class:`AudioFileFailure` record."""
        return AudioFileFailure(self.path, self.cause)


@dataclass(frozen=True)
class AudioFileFailure:
    """An input that could not be loaded: which one and why (one line, no path)."""

    path: Path
    cause: str

    def __str__(self) -> str:
        return f"{self.path}: {self.cause}"


@dataclass(frozen=True)
class LoadedAudio:
    """A clip loaded from a file, with what it cost to load and what the file held.

    Attributes:
        clip: 16 kHz mono float32, ``kind="file"``, named after the file, no reference.
        decode_s: seconds spent checking, opening and decoding the file (wall clock).
        resample_s: seconds spent in the conversion to 16 kHz mono (wall clock).
        source_rate_hz: the file's sample rate in Hz.
        source_channels: the file's channel count.
        source_frames: frames decoded from the file, at ``source_rate_hz``.
        source_format: libsndfile's major format, e.g. ``"WAV"``, ``"FLAC"``, ``"MP3"``.
        source_subtype: libsndfile's subtype, e.g. ``"PCM_16"``, ``"FLOAT"``, ``"VORBIS"``.
    """

    clip: Clip
    decode_s: float
    resample_s: float
    source_rate_hz: int
    source_channels: int
    source_frames: int
    source_format: str
    source_subtype: str

    @property
    def load_s(self) -> float:
        """Seconds spent decoding plus resampling: the clip's whole load time."""
        return self.decode_s + self.resample_s


def load_audio(path: str | os.PathLike[str]) -> LoadedAudio:
    """Load one audio file as a 16 kHz mono float32 clip.

    Args:
        path: any file libsndfile reads, at any sample rate, with any number of channels
            (channels are averaged).

    Returns:
        The clip (``kind="file"``, ``name`` = the file's name, ``reference`` and
        ``category`` None) with its decode and resample seconds and source facts.

    Raises:
        AudioFileError: the file is missing, a directory or not a regular file, empty
            (0 bytes), unreadable (permissions), not a recognised audio format, malformed,
            truncated or corrupt, holds 0 frames or less than ``MIN_DURATION_S`` of audio, or
            holds NaN or infinite samples.
    """
    file = Path(path)
    started_s = time.perf_counter()
    _check_readable_file(file)
    return _decode(file, str(file), file.name, started_s)


def load_audio_bytes(data: bytes, label: str) -> LoadedAudio:
    """Like :func:`load_audio`, for an encoded file held in memory (e.g. streamed).

    Args:
        data: the bytes of a whole audio file, in any format libsndfile reads.
        label: the clip's name, and what error messages call the input.

    Raises:
        AudioFileError: ``data`` is empty, not a recognised audio format, malformed,
            truncated or corrupt, holds 0 frames, or holds NaN or infinite samples.
    """
    started_s = time.perf_counter()
    if not data:
        raise AudioFileError(label, "empty (0 bytes)")
    cause = _container_damage(io.BytesIO(data), len(data))
    if cause is not None:
        raise AudioFileError(label, cause)
    return _decode(Path(label), io.BytesIO(data), label, started_s)


def _decode(label: Path, source: str | BinaryIO, name: str, started_s: float) -> LoadedAudio:
    """Decode ``source``, check it, convert it; ``started_s`` is when loading began."""
    failure: AudioFileError | None = None
    with captured_stderr() as notes:
        try:
            with sf.SoundFile(source) as sound:
                declared_frames = sound.frames
                rate_hz = int(sound.samplerate)
                channels = int(sound.channels)
                major = str(sound.format)
                subtype = str(sound.subtype)
                try:
                    data = sound.read(dtype="float32", always_2d=True)
                except sf.LibsndfileError as error:
                    cause = f"truncated or corrupt audio data ({_libsndfile_says(error)})"
                    failure = AudioFileError(label, cause)
        except sf.LibsndfileError as error:
            failure = AudioFileError(label, _open_failure_cause(error, source))
        except sf.SoundFileError as error:
            failure = AudioFileError(label, f"cannot decode ({error})")
    for note in notes:
        log.debug("%s: decoder: %s", label, note)
    if failure is not None:  # raised once the decoder's lines are caught, and quoting them
        if notes:
            said = notes[0].removeprefix("Note:").strip()
            failure = AudioFileError(label, f"{failure.cause}; the decoder said: {said}")
        raise failure
    decode_s = time.perf_counter() - started_s

    frames = int(data.shape[0])
    if frames == 0:
        raise AudioFileError(label, f"no audio: 0 frames ({major} {subtype}, {rate_hz} Hz)")
    if frames < MIN_DURATION_S * rate_hz:
        raise AudioFileError(
            label,
            f"too short to measure: {frames / rate_hz:.4g} s ({frames} frames at {rate_hz} Hz); "
            f"clips of at least {MIN_DURATION_S:g} s are measured, because Whisper pads every "
            "clip to 30 s and a shorter one's RTF would measure the padding, not the speech",
        )
    if frames < declared_frames:
        raise AudioFileError(
            label,
            f"truncated or corrupt: decoded {frames} of the {declared_frames} frames "
            "its header declares",
        )
    _check_finite(label, data)

    resample_started_s = time.perf_counter()
    try:
        samples = to_16k_mono(data, rate_hz)
    except ValueError as error:
        raise AudioFileError(label, f"cannot convert to 16 kHz mono ({error})") from error
    resample_s = time.perf_counter() - resample_started_s

    clip = Clip(
        name=name,
        samples=samples,
        sample_rate_hz=SAMPLE_RATE_HZ,
        reference=None,
        kind="file",
        category=None,
    )
    return LoadedAudio(
        clip=clip,
        decode_s=decode_s,
        resample_s=resample_s,
        source_rate_hz=rate_hz,
        source_channels=channels,
        source_frames=frames,
        source_format=major,
        source_subtype=subtype,
    )


def load_audio_files(
    paths: Sequence[str | os.PathLike[str]],
) -> tuple[list[LoadedAudio], list[AudioFileFailure]]:
    """Load every file that can be loaded; collect the others with their causes.

    Args:
        paths: audio files, in the order wanted.

    Returns:
        ``(loaded, failures)``, each in input order. Never raises for a bad file: every
        :class:`AudioFileError` becomes an :class:`AudioFileFailure`.
    """
    loaded: list[LoadedAudio] = []
    failures: list[AudioFileFailure] = []
    for path in paths:
        try:
            loaded.append(load_audio(path))
        except AudioFileError as error:
            failures.append(error.failure())
    return loaded, failures


def _check_readable_file(file: Path) -> None:
    """Raise :class:`AudioFileError` unless ``file`` is a non-empty, readable regular file.

    Also checks containers that libsndfile decodes leniently when cut short (WAV, AIFF,
    Ogg), since the whole point of opening the file here is to read its bytes.
    """
    try:
        info = file.stat()
    except FileNotFoundError:
        raise AudioFileError(file, "file not found") from None
    except NotADirectoryError:
        raise AudioFileError(file, "file not found (a parent in the path is a file)") from None
    except PermissionError:
        raise AudioFileError(
            file, "permission denied (cannot look up the file; check its folders' modes)"
        ) from None
    except OSError as error:
        raise AudioFileError(file, f"cannot look up the file ({error.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise AudioFileError(file, "is a directory, not an audio file")
    if not stat.S_ISREG(info.st_mode):
        raise AudioFileError(file, "not a regular file (a device, pipe or socket?)")
    if info.st_size == 0:
        raise AudioFileError(file, "empty file (0 bytes)")
    try:
        with file.open("rb") as handle:
            cause = _container_damage(handle, info.st_size)
    except PermissionError:
        raise AudioFileError(
            file, "permission denied (cannot read the file; check its mode and owner)"
        ) from None
    except OSError as error:
        raise AudioFileError(file, f"cannot read the file ({error.strerror})") from None
    if cause is not None:
        raise AudioFileError(file, cause)


def _container_damage(handle: BinaryIO, size_bytes: int) -> str | None:
    """A cause if the container is visibly cut short, else None (also for other formats)."""
    head = handle.read(12)
    if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        return _iff_data_damage(handle, size_bytes, big_endian=head[:4] == b"RIFX", data=b"data")
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return _iff_data_damage(handle, size_bytes, big_endian=True, data=b"SSND")
    if head[:4] == b"OggS":
        return _ogg_damage(handle, size_bytes)
    return None


def _iff_data_damage(
    handle: BinaryIO, size_bytes: int, *, big_endian: bool, data: bytes
) -> str | None:
    """Compare the declared size of the audio data chunk with the bytes present.

    Walks the chunks after the 12-byte RIFF/FORM header. Returns None when the data chunk
    is whole, when its size is a streaming placeholder (0 or 0xFFFFFFFF), or when no data
    chunk is found (libsndfile then reports the file as malformed itself).
    """
    size_format = ">I" if big_endian else "<I"
    offset = 12
    while offset + 8 <= size_bytes:
        handle.seek(offset)
        header = handle.read(8)
        if len(header) < 8:
            return None
        chunk_id = header[:4]
        (chunk_bytes,) = struct.unpack(size_format, header[4:])
        body_offset = offset + 8
        if chunk_id == data:
            present_bytes = size_bytes - body_offset
            if chunk_bytes in _UNKNOWN_CHUNK_SIZES or chunk_bytes <= present_bytes:
                return None
            return (
                f"truncated: the header declares {chunk_bytes} bytes of audio data but the "
                f"file holds only {present_bytes}; re-copy or re-export it"
            )
        offset = body_offset + chunk_bytes + (chunk_bytes & 1)
    return None


def _ogg_damage(handle: BinaryIO, size_bytes: int) -> str | None:
    """A cause unless the Ogg pages run whole to the end and the last one ends the stream.

    Walks the page headers (RFC 3533, section 6: 27 bytes, then one lacing byte per segment,
    then the segments) from the start of the file, reading headers and skipping bodies.
    """
    offset = 0
    flags = 0
    while offset < size_bytes:
        handle.seek(offset)
        header = handle.read(_OGG_PAGE_HEADER_BYTES)
        if len(header) < _OGG_PAGE_HEADER_BYTES or header[:4] != b"OggS":
            break
        flags = header[5]
        lacing = handle.read(header[26])
        end = offset + _OGG_PAGE_HEADER_BYTES + header[26] + sum(lacing)
        if len(lacing) < header[26] or end > size_bytes:
            return (
                f"truncated: the Ogg page at byte {offset} runs past the end of the file "
                f"({size_bytes} bytes); re-copy or re-export it"
            )
        offset = end
    if offset < size_bytes:
        return f"corrupt: no Ogg page where one should start, at byte {offset}"
    if not flags & _OGG_END_OF_STREAM:
        return (
            "truncated: the Ogg stream ends without an end-of-stream page; re-copy or re-export it"
        )
    return None


def _looks_like_text(head: bytes) -> bool:
    """Whether the first bytes of a file read as text (UTF-8, printable)."""
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # not merely a character cut at the end
            return False
        text = head[: error.start].decode("utf-8")
    return all(c.isprintable() or c in "\t\r\n" for c in text)


def _head(source: str | BinaryIO) -> bytes:
    try:
        if isinstance(source, str):
            with open(source, "rb") as handle:
                return handle.read(512)
        source.seek(0)
        return source.read(512)
    except OSError:
        return b""


def _open_failure_cause(error: sf.LibsndfileError, source: str | BinaryIO) -> str:
    """The cause for a file libsndfile refused to open.

    libsndfile picks its MP3 decoder by a ``.mp3`` name; when that decoder finds no MPEG
    frames, libsndfile reports "File does not exist or is not a regular file" about a file
    that exists: that is a file whose contents are not audio, and is said so.
    """
    said = _libsndfile_says(error)
    lowered = said.lower()
    if "format not recognised" in lowered or _MPEG_REFUSED in lowered:
        what = "it holds text, not audio;" if _looks_like_text(_head(source)) else "is it audio?"
        if _MPEG_REFUSED in lowered:
            said = "libsndfile: its MP3 decoder found no MPEG audio frames"
        return (
            f"not a recognised audio format ({what} {said}; libsndfile "
            f"{sf.__libsndfile_version__} reads {', '.join(sorted(sf.available_formats()))})"
        )
    return f"malformed or truncated audio file ({said})"


def _libsndfile_says(error: sf.LibsndfileError) -> str:
    """libsndfile's own words for ``error``, on one line."""
    text = str(error.error_string).strip().removeprefix("Error :").strip().rstrip(".")
    text = text or f"error code {error.code}"
    return "libsndfile: " + " ".join(text.split())


def _check_finite(file: Path, data: np.ndarray) -> None:
    """Raise :class:`AudioFileError` if ``data`` holds NaN or infinite samples."""
    finite = np.isfinite(data)
    if bool(finite.all()):
        return
    nan_count = int(np.isnan(data).sum())
    inf_count = int(data.size - int(finite.sum()) - nan_count)
    raise AudioFileError(
        file,
        f"contains {nan_count} NaN and {inf_count} infinite samples (of {data.size}); "
        "only finite samples can be transcribed",
    )
