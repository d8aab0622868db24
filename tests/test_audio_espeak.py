"""The eSpeak NG binding: what it returns, that it is history-free, and how it fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import espeakng_loader
import numpy as np
import pytest

from whisperbench.audio import espeak

HELLO = "Hello world."
FOX = "The quick brown fox jumps over the lazy dog."


def test_synthesizes_int16_at_the_native_rate() -> None:
    (result,) = espeak.synthesize([HELLO])
    assert result.sample_rate_hz == espeak.NATIVE_SAMPLE_RATE_HZ == 22050
    assert result.espeak_version == "1.52.0"  # espeakng-loader==0.2.4
    assert result.samples.dtype == np.int16
    assert result.samples.ndim == 1
    assert not result.samples.flags.writeable
    # Two words at 160 wpm: well under two seconds, well over a third of one.
    assert 0.33 < result.samples.size / result.sample_rate_hz < 2.0
    peak = int(np.abs(result.samples.astype(np.int32)).max())
    assert 3000 < peak < 32768  # real sound, not silence, not clipped


def test_an_utterance_does_not_depend_on_what_came_before() -> None:
    first, _, again = espeak.synthesize([HELLO, FOX, HELLO])
    (alone,) = espeak.synthesize([HELLO], words_per_minute=160)
    _, after_other_voice = espeak.synthesize([FOX, HELLO], voice="en", words_per_minute=300)
    assert first.samples.tobytes() == again.samples.tobytes() == alone.samples.tobytes()
    assert after_other_voice.samples.tobytes() != first.samples.tobytes()  # other voice/rate


def test_library_state_leaks_between_utterances_in_one_process() -> None:
    """Why synthesize() uses a fresh process per utterance.

    In one process, eSpeak NG 1.52.0 synthesizes the same text differently after another text
    (its wave generator keeps pitch-flutter and gain state). If this ever fails, a newer build
    no longer leaks state, and the per-utterance processes could be reconsidered.
    """
    request = {
        "library": espeakng_loader.get_library_path(),
        "data_dir": os.path.dirname(espeakng_loader.get_data_path()),
        "voice": "en-us",
        "words_per_minute": 160,
        "pitch": 50,
    }
    script = textwrap.dedent(
        f"""
        import json
        from whisperbench.audio import espeak
        request = json.loads({json.dumps(json.dumps(request))})
        first = espeak._synthesize_here({{**request, "text": {HELLO!r}}})
        espeak._synthesize_here({{**request, "text": {FOX!r}}})
        again = espeak._synthesize_here({{**request, "text": {HELLO!r}}})
        print(first == again)
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert completed.stdout.strip() == "False"


def test_the_no_fork_path_gives_the_same_audio() -> None:
    """``--one`` (used where os.fork is missing) runs the engine in a plain new interpreter."""
    request = {
        "library": espeakng_loader.get_library_path(),
        "data_dir": os.path.dirname(espeakng_loader.get_data_path()),
        "voice": "en-us",
        "words_per_minute": 160,
        "pitch": 50,
        "text": FOX,
    }
    completed = subprocess.run(
        [sys.executable, "-I", "-S", espeak.__file__, "--one"],
        input=json.dumps(request).encode(),
        capture_output=True,
        check=True,
        timeout=120,
    )
    header, payload, _ = espeak._read_result(completed.stdout, 0)
    assert header["status"] == "ok"
    (forked,) = espeak.synthesize([FOX])
    assert payload == forked.samples.tobytes()


def test_rate_and_pitch_are_applied() -> None:
    slow, fast = (
        espeak.synthesize([FOX], words_per_minute=wpm)[0].samples.size for wpm in (100, 300)
    )
    assert slow > 2 * fast
    low, high = (espeak.synthesize([FOX], pitch=pitch)[0].samples for pitch in (10, 90))
    assert low.tobytes() != high.tobytes()


def test_empty_list_needs_no_engine() -> None:
    assert espeak.synthesize([]) == []


def test_unknown_voice_lists_the_voices() -> None:
    with pytest.raises(espeak.UnknownVoiceError, match=r"no voice named 'en-gb'.*\ben-us\b"):
        espeak.synthesize([HELLO], voice="en-gb")
    assert issubclass(espeak.UnknownVoiceError, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"texts": [""]}, r"texts\[0\] must be a non-empty string"),
        ({"texts": ["ok.", "  "]}, r"texts\[1\] must be a non-empty string"),
        ({"texts": ["a\0b"]}, "NUL"),
        ({"texts": "Hello."}, "not one string"),
        ({"voice": ""}, "voice must be a non-empty string"),
        ({"voice": "en us"}, "printable ASCII"),
        ({"words_per_minute": 79}, "words_per_minute must be an integer from 80 to 450; got 79"),
        ({"words_per_minute": 451}, "from 80 to 450; got 451"),
        ({"words_per_minute": 160.0}, "words_per_minute must be an integer"),
        ({"words_per_minute": True}, "words_per_minute must be an integer"),
        ({"pitch": 101}, "pitch must be an integer from 0 to 100; got 101"),
        ({"pitch": -1}, "pitch must be an integer from 0 to 100"),
    ],
)
def test_invalid_arguments_are_rejected(kwargs: dict[str, object], match: str) -> None:
    arguments: dict[str, object] = {"texts": [HELLO], **kwargs}
    with pytest.raises(ValueError, match=match):
        espeak.synthesize(**arguments)  # type: ignore[arg-type]
