"""ctypes binding to eSpeak NG, run in a fresh process for every utterance.

Length: over 450 lines because the C API's declarations, the child-process protocol and the
checks on what the library returns belong together; split, each part would be unreadable
without the others.

PyPI ``espeakng-loader`` ships ``libespeak-ng`` and its ``espeak-ng-data`` but no synthesis
API, so this module drives the C API of ``speak_lib.h`` (``ESPEAK_API_REVISION`` 12) through
:mod:`ctypes`: ``espeak_Initialize`` in ``AUDIO_OUTPUT_SYNCHRONOUS`` mode, a synth callback
that collects 16-bit samples, ``espeak_SetVoiceByName``, ``espeak_SetParameter``,
``espeak_Synth`` and ``espeak_Synchronize``.

Why a fresh process per utterance. The library is a process-wide singleton whose wave
generator keeps state between utterances that no API call resets: the pitch-flutter index
(a ``static`` inside ``AdvanceParameters``), the automatic gain control, the glottal cycle
counter and the echo buffer. The same sentence synthesized after a different sentence comes
out a few samples longer or shorter and with different sample values, so "initialize once and
set the parameters every call" is *not* enough for bit-identical audio. Besides,
``espeak_Initialize`` seeds its random generator (used for breathy voices) from ``time(NULL)``
and calls ``setlocale``. So :func:`synthesize` never loads the library into the calling
process: it starts one helper interpreter (``python -I -S`` running this file, standard
library only) which forks a child per utterance; each child loads the library, initializes
it, sets the voice, every parameter and the random seed explicitly, synthesizes once and
exits. Every utterance therefore starts from the same library state, whatever was synthesized
before in this or any other process. On platforms without ``os.fork`` the helper starts a new
interpreter per utterance instead (slower, same result).

Cost: starting the helper takes tens of milliseconds; each utterance adds about 10-20 ms
(loading and initializing the library dominates; synthesis itself runs at hundreds of times
real time). :mod:`whisperbench.audio.synthetic` caches sentences so each is made once per
process.

The binary is pinned (``espeakng-loader==0.2.4``, eSpeak NG 1.52.0): its native rate is
22050 Hz, which :func:`synthesize` checks against both the value ``espeak_Initialize``
returns and the ``espeakEVENT_SAMPLERATE`` events. Pass the data path explicitly: the
library's compiled-in default points at the directory it was built in on the packager's CI.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

# This file also runs as ``python -I -S espeak.py`` with only the standard library available:
# numpy and espeakng_loader are imported inside the functions that run in the caller.

__all__ = [
    "DEFAULT_PITCH",
    "DEFAULT_VOICE",
    "DEFAULT_WORDS_PER_MINUTE",
    "MAX_WORDS_PER_MINUTE",
    "MIN_WORDS_PER_MINUTE",
    "NATIVE_SAMPLE_RATE_HZ",
    "EspeakError",
    "Synthesis",
    "UnknownVoiceError",
    "synthesize",
]

# --- constants from speak_lib.h ----------------------------------------------------------
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: RETRIEVAL that returns when finished
_POS_CHARACTER = 1  # espeak_POSITION_TYPE
_ESPEAK_CHARS_UTF8 = 1  # espeak_Synth flags; no espeakSSML, no espeakPHONEMES, no ENDPAUSE
_ESPEAK_INITIALIZE_DONT_EXIT = 0x8000  # return instead of exit(1) when data is missing
_EE_OK = 0  # espeak_ERROR
_EE_NOT_FOUND = 2
_ENS_OK = 0  # espeak_ng_STATUS
_EVENT_LIST_TERMINATED = 0  # espeak_EVENT_TYPE
_EVENT_SAMPLERATE = 8
_BUFFER_LENGTH_MS = 0  # 0 = the library's default of 60 ms per callback buffer
# espeak_PARAMETER ids with the values set before every utterance (all are library defaults
# except the rate): volume 100 = normal, range 50 = normal pitch range, punctuation 0 = none
# announced, capitals 0 = not announced, word gap 0 = none added.
_ESPEAK_RATE = 1
_ESPEAK_VOLUME = 2
_ESPEAK_PITCH = 3
_ESPEAK_RANGE = 4
_ESPEAK_PUNCTUATION = 5
_ESPEAK_CAPITALS = 6
_ESPEAK_WORDGAP = 7
_FIXED_PARAMETERS = (
    (_ESPEAK_VOLUME, 100),
    (_ESPEAK_RANGE, 50),
    (_ESPEAK_PUNCTUATION, 0),
    (_ESPEAK_CAPITALS, 0),
    (_ESPEAK_WORDGAP, 0),
)
_RANDOM_SEED = 0

#: espeakRATE_MINIMUM and espeakRATE_MAXIMUM: the rates eSpeak accepts, words per minute.
MIN_WORDS_PER_MINUTE = 80
MAX_WORDS_PER_MINUTE = 450
DEFAULT_WORDS_PER_MINUTE = 160
#: Base pitch, 0-100; 50 is the voice's normal pitch.
DEFAULT_PITCH = 50
DEFAULT_VOICE = "en-us"
#: The rate eSpeak NG 1.52.0 synthesizes at (set by its compiled phoneme data), Hz.
NATIVE_SAMPLE_RATE_HZ = 22050

_MAX_VOICE_CHARS = 64
_HELPER_TIMEOUT_BASE_S = 60.0
_HELPER_TIMEOUT_PER_TEXT_S = 10.0


class EspeakError(RuntimeError):
    """eSpeak NG failed: the library did not load or initialize, or synthesis failed."""


class UnknownVoiceError(EspeakError, ValueError):
    """``espeak_SetVoiceByName`` found no voice with the requested name."""


@dataclass(frozen=True, eq=False)
class Synthesis:
    """One utterance as eSpeak NG produced it.

    Attributes:
        samples: Mono 16-bit PCM at ``sample_rate_hz``, read-only.
        sample_rate_hz: The rate of ``samples`` in Hz (22050 for the pinned build).
        espeak_version: ``espeak_Info``'s version string, e.g. ``"1.52.0"``.
    """

    samples: NDArray[np.int16]
    sample_rate_hz: int
    espeak_version: str


def synthesize(
    texts: Sequence[str],
    *,
    voice: str = DEFAULT_VOICE,
    words_per_minute: int = DEFAULT_WORDS_PER_MINUTE,
    pitch: int = DEFAULT_PITCH,
) -> list[Synthesis]:
    """Synthesize each text separately, each from a freshly initialized eSpeak NG.

    The result for a text depends only on the text, voice, rate, pitch and the eSpeak build,
    never on what was synthesized before (see the module docstring for why that needs a
    process per utterance).

    Args:
        texts: Plain UTF-8 text, one utterance each (no SSML, no phoneme codes).
        voice: An eSpeak NG voice name such as ``"en-us"``, ``"en"`` or ``"en-gb-x-rp"``,
            optionally with a variant (``"en-us+f3"``).
        words_per_minute: Speaking rate, 80 to 450.
        pitch: Base pitch, 0 to 100 (50 is the voice's normal pitch).

    Returns:
        One :class:`Synthesis` per text, in order.

    Raises:
        ValueError: A text is empty or not a string or holds a NUL character; the voice name
            is empty, too long or not printable ASCII; the rate or pitch is out of range.
        UnknownVoiceError: eSpeak NG has no voice with that name (also a ValueError); the
            message lists the voices it has.
        EspeakError: The library could not be loaded or initialized, synthesis failed, or it
            reported a sample rate other than 22050 Hz.
    """
    if isinstance(texts, str):
        raise ValueError("texts must be a sequence of strings, not one string")
    texts = list(texts)
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"texts[{index}] must be a non-empty string; got {text!r}")
        if "\0" in text:
            raise ValueError(f"texts[{index}] contains a NUL character; got {text!r}")
    _check_voice(voice)
    _check_int_range(
        "words_per_minute", words_per_minute, MIN_WORDS_PER_MINUTE, MAX_WORDS_PER_MINUTE
    )
    _check_int_range("pitch", pitch, 0, 100)
    if not texts:
        return []

    import espeakng_loader
    import numpy as np

    request = {
        "library": espeakng_loader.get_library_path(),
        # speak_lib.h: "path: The directory which contains the espeak-ng-data directory".
        "data_dir": os.path.dirname(espeakng_loader.get_data_path()),
        "voice": voice,
        "words_per_minute": int(words_per_minute),
        "pitch": int(pitch),
        "texts": texts,
    }
    timeout_s = _HELPER_TIMEOUT_BASE_S + _HELPER_TIMEOUT_PER_TEXT_S * len(texts)
    output = _run_helper(["--batch"], request, timeout_s)

    results: list[Synthesis] = []
    offset = 0
    for _ in texts:
        header, payload, offset = _read_result(output, offset)
        if header["status"] != "ok":
            _raise_for(header, voice)
        rate_hz = int(header["sample_rate_hz"])
        if rate_hz != NATIVE_SAMPLE_RATE_HZ:
            raise EspeakError(
                f"eSpeak NG reported a sample rate of {rate_hz} Hz; this binding expects "
                f"{NATIVE_SAMPLE_RATE_HZ} Hz (the pinned espeakng-loader==0.2.4 build)"
            )
        samples = np.frombuffer(payload, dtype=np.int16).copy()
        samples.flags.writeable = False
        results.append(Synthesis(samples, rate_hz, str(header["version"])))
    return results


def _check_voice(voice: object) -> None:
    if not isinstance(voice, str) or not voice:
        raise ValueError(f"voice must be a non-empty string such as 'en-us'; got {voice!r}")
    if len(voice) > _MAX_VOICE_CHARS or not all(" " < ch < "\x7f" for ch in voice):
        raise ValueError(
            f"voice must be at most {_MAX_VOICE_CHARS} printable ASCII characters without "
            f"spaces, such as 'en-us'; got {voice!r}"
        )


def _check_int_range(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}; got {value!r}")


def _run_helper(args: list[str], request: dict[str, Any], timeout_s: float) -> bytes:
    """Run this file as a standard-library-only helper interpreter and return its stdout."""
    if not sys.executable:
        raise EspeakError("cannot start the eSpeak NG helper: sys.executable is unknown")
    command = [sys.executable, "-I", "-S", os.path.abspath(__file__), *args]
    try:
        completed = subprocess.run(
            command,
            input=json.dumps(request).encode("utf-8"),
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise EspeakError(f"the eSpeak NG helper did not finish within {timeout_s:.0f} s") from exc
    if completed.returncode != 0:
        stderr = completed.stderr.decode("utf-8", "replace").strip()
        raise EspeakError(
            f"the eSpeak NG helper exited with status {completed.returncode}: {stderr}"
        )
    return completed.stdout


def _read_result(output: bytes, offset: int) -> tuple[dict[str, Any], bytes, int]:
    """Split one ``header-json\\n payload`` record off ``output`` at ``offset``."""
    end = output.find(b"\n", offset)
    if end < 0:
        raise EspeakError("the eSpeak NG helper returned fewer results than texts")
    header: dict[str, Any] = json.loads(output[offset:end])
    start = end + 1
    stop = start + int(header.get("num_bytes", 0))
    if stop > len(output):
        raise EspeakError("the eSpeak NG helper returned a truncated result")
    return header, output[start:stop], stop


def _raise_for(header: dict[str, Any], voice: str) -> None:
    message = str(header.get("message", "unknown error"))
    if header.get("kind") == "unknown_voice":
        voices = ", ".join(header.get("voices", []))
        raise UnknownVoiceError(f"eSpeak NG has no voice named {voice!r}; voices it has: {voices}")
    raise EspeakError(f"eSpeak NG failed: {message}")


# --- everything below runs in the helper and its children, standard library only ----------


class _EventId(ctypes.Union):
    _fields_ = (
        ("number", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("string", ctypes.c_char * 8),
    )


class _Event(ctypes.Structure):
    """``espeak_EVENT``."""

    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    )


class _Voice(ctypes.Structure):
    """``espeak_VOICE``."""

    _fields_ = (
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    )


# int SynthCallback(short *wav, int numsamples, espeak_EVENT *events)
_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


def _load(library_path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(library_path)
    c_int, c_uint, c_char_p, c_void_p = (
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_char_p,
        ctypes.c_void_p,
    )
    signatures: dict[str, tuple[list[Any], Any]] = {
        "espeak_Initialize": ([c_int, c_int, c_char_p, c_int], c_int),
        "espeak_SetSynthCallback": ([_SynthCallback], None),
        "espeak_SetVoiceByName": ([c_char_p], c_int),
        "espeak_SetParameter": ([c_int, c_int, c_int], c_int),
        "espeak_GetParameter": ([c_int, c_int], c_int),
        "espeak_ng_SetRandSeed": ([ctypes.c_long], c_int),
        "espeak_Synth": (
            [c_void_p, ctypes.c_size_t, c_uint, c_int, c_uint, c_uint, c_void_p, c_void_p],
            c_int,
        ),
        "espeak_Synchronize": ([], c_int),
        "espeak_Info": ([c_void_p], c_char_p),
        "espeak_ListVoices": ([c_void_p], ctypes.POINTER(ctypes.POINTER(_Voice))),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = restype
    return lib


def _voice_names(lib: ctypes.CDLL) -> list[str]:
    """The names ``espeak_SetVoiceByName`` accepts: voice file names, lower case."""
    table = lib.espeak_ListVoices(None)
    names: set[str] = set()
    index = 0
    while table and table[index]:
        identifier = table[index].contents.identifier
        if identifier:
            names.add(identifier.decode("utf-8", "replace").rsplit("/", 1)[-1].lower())
        index += 1
    return sorted(names)


def _record(header: dict[str, Any], payload: bytes = b"") -> bytes:
    header = {**header, "num_bytes": len(payload)}
    return json.dumps(header).encode("utf-8") + b"\n" + payload


def _error(kind: str, message: str, **extra: Any) -> bytes:
    return _record({"status": "error", "kind": kind, "message": message, **extra})


def _synthesize_here(request: dict[str, Any]) -> bytes:
    """Load, initialize and run eSpeak NG in *this* process for one text; return a record.

    Only ever called in a process that has not loaded the library before.
    """
    lib = _load(request["library"])
    version = lib.espeak_Info(None).decode("ascii", "replace")
    rate_hz = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS,
        _BUFFER_LENGTH_MS,
        request["data_dir"].encode("utf-8"),
        _ESPEAK_INITIALIZE_DONT_EXIT,
    )
    if rate_hz <= 0:
        return _error("init", f"espeak_Initialize returned {rate_hz} for {request['data_dir']}")

    chunks: list[bytes] = []
    event_rates_hz: list[int] = []
    failures: list[str] = []

    def collect(wav: Any, num_samples: int, events: Any) -> int:
        try:
            if wav and num_samples > 0:
                chunks.append(ctypes.string_at(wav, num_samples * ctypes.sizeof(ctypes.c_short)))
            index = 0
            while events and events[index].type != _EVENT_LIST_TERMINATED:
                if events[index].type == _EVENT_SAMPLERATE:
                    event_rates_hz.append(events[index].id.number)
                index += 1
        except Exception as exc:  # an exception must not cross back into C
            failures.append(repr(exc))
            return 1  # abort synthesis
        return 0

    callback = _SynthCallback(collect)  # kept referenced until synthesis has finished
    lib.espeak_SetSynthCallback(callback)

    status = lib.espeak_SetVoiceByName(request["voice"].encode("ascii"))
    if status == _EE_NOT_FOUND:
        voices = _voice_names(lib)
        if not voices:
            return _error("init", f"eSpeak NG found no voices in {request['data_dir']}")
        return _error("unknown_voice", f"no voice {request['voice']!r}", voices=voices)
    if status != _EE_OK:
        return _error("voice", f"espeak_SetVoiceByName returned {status}")
    parameters = (
        (_ESPEAK_RATE, request["words_per_minute"]),
        (_ESPEAK_PITCH, request["pitch"]),
        *_FIXED_PARAMETERS,
    )
    for parameter, value in parameters:
        # Read the value back instead of trusting the status: eSpeak NG 1.52.0 returns
        # EE_INTERNAL_ERROR for espeakPUNCTUATION and espeakCAPITALS although it applies them.
        status = lib.espeak_SetParameter(parameter, value, 0)
        current = lib.espeak_GetParameter(parameter, 1)
        if current != value:
            return _error(
                "parameter",
                f"espeak_SetParameter({parameter}, {value}) returned {status} and left {current}",
            )
    status = lib.espeak_ng_SetRandSeed(_RANDOM_SEED)
    if status != _ENS_OK:
        return _error("seed", f"espeak_ng_SetRandSeed returned {status}")

    text = ctypes.create_string_buffer(request["text"].encode("utf-8"))
    status = lib.espeak_Synth(
        text, ctypes.sizeof(text), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None
    )
    if status != _EE_OK:
        return _error("synth", f"espeak_Synth returned {status}")
    status = lib.espeak_Synchronize()
    if status != _EE_OK:
        return _error("synth", f"espeak_Synchronize returned {status}")
    if failures:
        return _error("callback", f"the synth callback failed: {failures[0]}")
    if any(rate != rate_hz for rate in event_rates_hz):
        return _error(
            "sample_rate",
            f"espeak_Initialize returned {rate_hz} Hz but the voice reported {event_rates_hz}",
        )
    header = {"status": "ok", "sample_rate_hz": rate_hz, "version": version}
    return _record(header, b"".join(chunks))


def _in_fresh_process(request: dict[str, Any]) -> bytes:
    """Run :func:`_synthesize_here` in a new process and return its record."""
    if not hasattr(os, "fork"):  # pragma: no cover - Windows
        completed = subprocess.run(
            [sys.executable, "-I", "-S", os.path.abspath(__file__), "--one"],
            input=json.dumps(request).encode("utf-8"),
            capture_output=True,
            check=False,
        )
        if completed.returncode != 0 or not completed.stdout:
            stderr = completed.stderr.decode("utf-8", "replace").strip()
            return _error("crash", f"exit status {completed.returncode}: {stderr}")
        return completed.stdout

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the helper's loop
        exit_code = 70
        try:
            os.close(read_fd)
            view = memoryview(_synthesize_or_report(request))
            while view:
                view = view[os.write(write_fd, view) :]
            exit_code = 0
        finally:
            os._exit(exit_code)  # no cleanup, no flushing of the helper's inherited buffers
    os.close(write_fd)
    parts: list[bytes] = []
    with os.fdopen(read_fd, "rb") as reader:
        while part := reader.read(1 << 16):
            parts.append(part)
    _, wait_status = os.waitpid(pid, 0)
    record = b"".join(parts)
    if wait_status != 0 or not record:
        code = os.waitstatus_to_exitcode(wait_status)  # negative: killed by that signal
        return _error("crash", f"the eSpeak NG process ended with exit code {code}")
    return record


def _synthesize_or_report(request: dict[str, Any]) -> bytes:
    """:func:`_synthesize_here`, with any exception turned into an error record."""
    try:
        return _synthesize_here(request)
    except Exception as exc:
        return _error("exception", f"{type(exc).__name__}: {exc}")


def _helper_main(argv: list[str]) -> int:
    """Entry point of ``python -I -S espeak.py --batch|--one``: JSON in, records out."""
    request: dict[str, Any] = json.loads(sys.stdin.buffer.read())
    out = sys.stdout.buffer
    if argv == ["--one"]:
        out.write(_synthesize_or_report(request))
        out.flush()
        return 0
    if argv != ["--batch"]:
        print(f"usage: {os.path.basename(__file__)} --batch|--one", file=sys.stderr)
        return 2
    texts = request.pop("texts")
    for text in texts:
        record = _in_fresh_process({**request, "text": text})
        out.write(record)
        if json.loads(record[: record.index(b"\n")])["status"] != "ok":
            break  # the caller raises on the first failure
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_helper_main(sys.argv[1:]))
