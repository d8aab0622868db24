"""Synthetic clips: exact lengths, bit-identical results, real speech, and the Clip itself."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
import textwrap
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from whisperbench.audio import (
    BENCHMARK_CYCLE,
    CATEGORIES,
    TEXT_CATEGORIES,
    Clip,
    UnknownVoiceError,
    benchmark_samples,
    chirp,
    espeak,
    noise,
    sentences,
    silence,
    speech,
    synthetic,
    to_16k_mono,
    tone,
)
from whisperbench.audio.synthetic import SENTENCE_GAP_S

RATE_HZ = 16000
GAP = round(SENTENCE_GAP_S * RATE_HZ)

# Pinned audio. The speech hash is tied to espeakng-loader==0.2.4 (eSpeak NG 1.52.0), to the
# sentences in src/whisperbench/audio/texts/short.txt and to soxr's HQ resampler (libsoxr
# 0.1.3); a change in any of them changes it, and then every recorded speech hash changes too.
# The noise hash is numpy's PCG64 stream; the tone hash uses no library math at all.
SPEECH_SHORT_8S_SHA256 = "3a85d7645c5cce1d0ea373831dfebcc1c2fb23769a5323698e865535ad36ebc2"
NOISE_1S_SEED0_SHA256 = "4d25f6adc5bf3b3ec4f0fca53a24ab23643187802ced8d742960aeff655e73aa"
TONE_1S_440HZ_SHA256 = "9daf356e529c2d6725bbec2cc4c4fc35421847e1844adc1e0c8c2fc004926d02"


def _sentence_audio(text: str) -> NDArray[np.float32]:
    """One sentence as speech() uses it, built from the public pieces."""
    (synthesis,) = espeak.synthesize([text])
    return np.clip(to_16k_mono(synthesis.samples, synthesis.sample_rate_hz), -1.0, 1.0)


def _zero_runs(samples: NDArray[np.float32], min_length: int) -> list[tuple[int, int]]:
    """(start, length) of each run of exact zeros at least ``min_length`` long."""
    padded = np.concatenate([[0], (samples == 0).astype(np.int8), [0]])
    edges = np.diff(padded)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(s), int(e - s)) for s, e in zip(starts, ends, strict=True) if e - s >= min_length]


# --- pinned and cross-process determinism ---------------------------------------------------


def test_pinned_hashes() -> None:
    assert speech("short", 8.0).sha256 == SPEECH_SHORT_8S_SHA256
    assert noise(1.0, seed=0).sha256 == NOISE_1S_SEED0_SHA256
    assert tone(1.0, frequency_hz=440.0).sha256 == TONE_1S_440HZ_SHA256


def test_bit_identical_in_a_fresh_process() -> None:
    script = textwrap.dedent(
        """
        from whisperbench.audio import chirp, noise, speech, tone
        print(speech("technical", 6.5).sha256)
        print(speech("medium", 4.0, voice="en", words_per_minute=200).sha256)
        print(noise(2.0, seed=7, amplitude=0.3).sha256)
        print(tone(0.5, frequency_hz=1000.0).sha256)
        print(chirp(1.5, start_hz=200.0, end_hz=6000.0).sha256)
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    here = [
        speech("technical", 6.5).sha256,
        speech("medium", 4.0, voice="en", words_per_minute=200).sha256,
        noise(2.0, seed=7, amplitude=0.3).sha256,
        tone(0.5, frequency_hz=1000.0).sha256,
        chirp(1.5, start_hz=200.0, end_hz=6000.0).sha256,
    ]
    assert completed.stdout.split() == here


def test_audio_does_not_depend_on_how_sentences_are_batched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = speech("medium", 25.0, words_per_minute=170).sha256
    monkeypatch.setattr(synthetic, "_sentence_cache", {})
    monkeypatch.setattr(synthetic, "_likely_sentence_count", lambda *_: 1)  # one at a time
    assert speech("medium", 25.0, words_per_minute=170).sha256 == expected


def test_repeated_calls_are_bit_identical() -> None:
    makers: list[Callable[[], Clip]] = [
        lambda: speech("long", 12.0),
        lambda: noise(1.0, seed=3),
        lambda: chirp(1.0),
        lambda: tone(1.0, frequency_hz=997.0),
    ]
    for make in makers:
        first, second = make(), make()
        assert first.sha256 == second.sha256
        assert first.samples.tobytes() == second.samples.tobytes()


# --- speech -----------------------------------------------------------------------------------


def test_speech_is_the_sentences_joined_by_fixed_gaps_then_padding() -> None:
    first_text, second_text = sentences("short")[:2]
    first, second = _sentence_audio(first_text), _sentence_audio(second_text)
    two = first.size + GAP + second.size

    exactly_two = speech("short", two / RATE_HZ)
    assert exactly_two.num_samples == two
    assert exactly_two.reference == f"{first_text} {second_text}"
    np.testing.assert_array_equal(exactly_two.samples[: first.size], first)
    assert not exactly_two.samples[first.size : first.size + GAP].any()
    np.testing.assert_array_equal(exactly_two.samples[first.size + GAP :], second)

    one_short = speech("short", (two - 1) / RATE_HZ)  # the second sentence no longer fits
    assert one_short.reference == first_text
    np.testing.assert_array_equal(one_short.samples[: first.size], first)
    assert not one_short.samples[first.size :].any()

    exactly_one = speech("short", first.size / RATE_HZ)
    assert exactly_one.reference == first_text
    with pytest.raises(ValueError, match=r"too short for 'short' speech.*needs duration_s >= "):
        speech("short", (first.size - 1) / RATE_HZ)


@pytest.mark.parametrize("category", TEXT_CATEGORIES)
def test_each_category_fits_a_sentence_in_1_5_s_and_60_s_without_repeating(
    category: str,
) -> None:
    assert speech(category, 1.5).reference == sentences(category)[0]
    minute = speech(category, 60.0)
    spoken = minute.reference
    assert spoken is not None
    assert spoken.count(sentences(category)[0]) == 1  # 60 s did not need to cycle
    assert len(spoken.split()) >= 100  # ~2.7 words a second, less the pauses


def test_sentences_cycle_when_the_category_runs_out() -> None:
    texts = sentences("short")
    clip = speech("short", 100.0)
    assert clip.reference is not None
    expected = " ".join(texts)
    assert clip.reference.startswith(f"{expected} {texts[0]} {texts[1]}")


@pytest.mark.parametrize("category", TEXT_CATEGORIES)
def test_speech_has_speech_band_energy_and_pauses(category: str) -> None:
    clip = speech(category, 20.0)
    samples = clip.samples.astype(np.float64)
    power = np.abs(np.fft.rfft(samples)) ** 2
    frequency_hz = np.fft.rfftfreq(samples.size, 1 / RATE_HZ)
    in_band = power[(frequency_hz >= 100) & (frequency_hz <= 4000)].sum()
    assert in_band / power.sum() > 0.9

    # Loud where it speaks: 20 ms frames, the louder half well above a whisper.
    frames = samples[: samples.size // 320 * 320].reshape(-1, 320)
    rms = np.sqrt((frames**2).mean(axis=1))
    assert np.median(rms[rms > 0]) > 0.02
    assert np.abs(samples).max() > 0.3

    # Silent between sentences: one exact-zero gap of at least 0.3 s after every sentence
    # (the last one is the padding), and nothing else that long inside sentences.
    assert clip.reference is not None
    spoken = sum(clip.reference.count(end) for end in ".?!")
    assert len(_zero_runs(clip.samples, GAP)) == spoken


def test_speech_defaults_and_names() -> None:
    clip = speech()
    assert clip.name == "speech-short-8.0s"
    assert clip.kind == "speech"
    assert clip.category == "short"
    assert clip.num_samples == 8 * RATE_HZ
    assert speech("long", 12.25).name == "speech-long-12.25s"
    assert speech("medium", 5, voice="en", words_per_minute=200).name == (
        "speech-medium-5.0s-en-200wpm"
    )
    for name, category in CATEGORIES.items():
        assert speech(name).duration_s == category.default_duration_s
        assert category.min_s <= category.default_duration_s <= category.max_s


def test_unknown_category_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="short, medium, long, technical"):
        speech("poetry")


def test_bad_voice_and_rate() -> None:
    with pytest.raises(UnknownVoiceError, match="no voice named 'xx-none'"):
        speech("short", 3.0, voice="xx-none")
    for words_per_minute in (500, 0, 79.5, "fast"):
        with pytest.raises(ValueError, match="words_per_minute must be an integer from 80 to 450"):
            speech("short", 3.0, words_per_minute=words_per_minute)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None, database=None)
@given(
    category=st.sampled_from(TEXT_CATEGORIES),
    duration_s=st.floats(min_value=1.5, max_value=90.0),
)
def test_any_valid_speech_duration(category: str, duration_s: float) -> None:
    clip = speech(category, duration_s)
    _check_clip(clip, duration_s)
    assert clip.sha256 == speech(category, duration_s).sha256
    # Whole sentences from the start of the (cycled) list, nothing else.
    assert clip.reference is not None
    cycled = " ".join(sentences(category) * 3) + " "
    assert cycled.startswith(clip.reference + " ")


def test_sentence_files_are_clean() -> None:
    for category in TEXT_CATEGORIES:
        texts = sentences(category)
        assert len(texts) == len(set(texts)) >= 10
        for text in texts:
            assert text.isascii()
            assert text == text.strip()
            assert text[0].isupper()
            assert text[-1] in ".?!"
            assert not any(ch.isdigit() for ch in text)
    with pytest.raises(ValueError, match="short, medium, long, technical"):
        sentences("other")


# --- tone, chirp, noise, silence ----------------------------------------------------------


def test_tone_matches_numpy_sine() -> None:
    clip = tone(2.0, frequency_hz=1234.5, amplitude=0.9)
    expected = 0.9 * np.sin(2 * np.pi * 1234.5 * np.arange(2 * RATE_HZ) / RATE_HZ)
    np.testing.assert_allclose(clip.samples, expected, rtol=0, atol=1e-6)
    assert clip.name == "tone-1234.5hz-amp0.9-2.0s"
    assert clip.kind == "tone"
    assert clip.reference is None
    assert clip.category is None


@pytest.mark.parametrize("frequency_hz", [1.0, 50.0, 440.0, 3999.0, 7999.0])
def test_tone_peak_is_at_its_frequency(frequency_hz: float) -> None:
    clip = tone(1.0, frequency_hz=frequency_hz)
    peak_bin = int(np.argmax(np.abs(np.fft.rfft(clip.samples))))
    assert peak_bin == round(frequency_hz)  # 1 s: bins are 1 Hz apart
    assert np.abs(clip.samples).max() == pytest.approx(0.5, abs=1e-3)


def test_chirp_sweeps_linearly() -> None:
    clip = chirp(4.0, start_hz=500.0, end_hz=3500.0)
    samples = clip.samples
    for centre_s in (0.5, 2.0, 3.5):
        window = samples[int((centre_s - 0.25) * RATE_HZ) : int((centre_s + 0.25) * RATE_HZ)]
        crossings = np.count_nonzero(np.diff(np.signbit(window)))
        measured_hz = crossings / 2 / 0.5
        assert measured_hz == pytest.approx(500.0 + 3000.0 * centre_s / 4.0, rel=0.01)
    assert clip.name == "chirp-500-3500hz-4.0s"
    assert chirp(1.0, start_hz=4000.0, end_hz=100.0).num_samples == RATE_HZ  # downward


def test_noise_is_uniform_seeded_and_prefix_stable() -> None:
    clip = noise(10.0, seed=5, amplitude=0.2)
    samples = clip.samples.astype(np.float64)
    assert samples.min() >= -0.2
    assert samples.max() < 0.2
    assert abs(samples.mean()) < 0.002
    assert samples.std() == pytest.approx(0.2 / math.sqrt(3), rel=0.01)
    generator = np.random.Generator(np.random.PCG64(5))
    expected = ((generator.random(10 * RATE_HZ) * 2.0 - 1.0) * 0.2).astype(np.float32)
    np.testing.assert_array_equal(clip.samples, expected)
    np.testing.assert_array_equal(noise(2.5, seed=5, amplitude=0.2).samples, clip.samples[:40000])
    assert noise(1.0, seed=6).sha256 != noise(1.0, seed=5).sha256
    assert clip.name == "noise-seed5-amp0.2-10.0s"


def test_silence_is_zeros() -> None:
    clip = silence(3600.0)
    assert clip.num_samples == 3600 * RATE_HZ
    assert not clip.samples.any()
    assert clip.name == "silence-3600.0s"


@settings(max_examples=50, deadline=None, database=None)
@given(
    kind=st.sampled_from(["tone", "chirp", "noise", "silence"]),
    duration_s=st.floats(min_value=1 / RATE_HZ, max_value=5.0),
)
def test_any_valid_duration_gives_an_exact_clean_clip(kind: str, duration_s: float) -> None:
    makers: dict[str, Callable[[float], Clip]] = {
        "tone": tone,
        "chirp": chirp,
        "noise": noise,
        "silence": silence,
    }
    make = makers[kind]
    clip = make(duration_s)
    _check_clip(clip, duration_s)
    assert clip.sha256 == make(duration_s).sha256


def _check_clip(clip: Clip, duration_s: float) -> None:
    assert clip.num_samples == round(duration_s * RATE_HZ)
    assert clip.samples.dtype == np.float32
    assert clip.samples.ndim == 1
    assert np.isfinite(clip.samples).all()
    assert np.abs(clip.samples).max() <= 1.0
    assert not clip.samples.flags.writeable


INVALID_DURATIONS = [0.0, -1.0, -0.0, math.nan, math.inf, -math.inf, 3600.001, 1e9, 1e-6]


@pytest.mark.parametrize("duration_s", INVALID_DURATIONS)
@pytest.mark.parametrize(
    "make",
    [tone, chirp, noise, silence, lambda duration_s: speech("technical", duration_s)],
    ids=["tone", "chirp", "noise", "silence", "speech"],
)
def test_invalid_durations_are_rejected(make: Callable[[float], Clip], duration_s: float) -> None:
    with pytest.raises(ValueError, match=r"duration_s.*\(0, 3600\]") as raised:
        make(duration_s)
    assert repr(duration_s) in str(raised.value)


@settings(max_examples=50, deadline=None, database=None)
@given(
    duration_s=st.one_of(
        st.floats(max_value=0.0),
        st.floats(min_value=3600.0, exclude_min=True),
        st.floats(min_value=0.0, max_value=1 / (2 * RATE_HZ)),
        st.sampled_from([math.nan, math.inf, -math.inf]),
    )
)
def test_any_invalid_duration_raises(duration_s: float) -> None:
    for make in (tone, chirp, noise, silence):
        with pytest.raises(ValueError, match="duration_s"):
            make(duration_s)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: tone(1.0, frequency_hz=0.0), "frequency_hz must be a finite frequency"),
        (lambda: tone(1.0, frequency_hz=8000.0), "below 8000"),
        (lambda: tone(1.0, frequency_hz=math.nan), "frequency_hz"),
        (lambda: tone(1.0, amplitude=1.5), "amplitude must be a finite number from 0 to 1"),
        (lambda: tone(1.0, amplitude=-0.1), "amplitude"),
        (lambda: chirp(1.0, start_hz=-5.0), "start_hz"),
        (lambda: chirp(1.0, end_hz=9000.0), "end_hz"),
        (lambda: noise(1.0, seed=-1), "seed must be a non-negative integer"),
        (lambda: noise(1.0, seed=1.5), "seed must be a non-negative integer"),  # type: ignore[arg-type]
        (lambda: noise(1.0, amplitude=math.inf), "amplitude"),
        (lambda: silence("1"), "duration_s must be a finite number"),  # type: ignore[arg-type]
        (lambda: silence(True), "duration_s must be a finite number"),
        (lambda: benchmark_samples(0), "n must be a positive integer"),
        (lambda: benchmark_samples(-2), "n must be a positive integer"),
    ],
)
def test_invalid_arguments_name_themselves(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_benchmark_samples_cycle_the_categories_at_default_durations() -> None:
    clips = benchmark_samples(6)
    expected = [*BENCHMARK_CYCLE, *BENCHMARK_CYCLE[:2]]
    assert [clip.category for clip in clips] == expected
    assert BENCHMARK_CYCLE == ("short", "medium", "long", "technical")
    assert [clip.duration_s for clip in clips] == [
        CATEGORIES[name].default_duration_s for name in expected
    ]
    assert clips[0].sha256 == clips[4].sha256 == SPEECH_SHORT_8S_SHA256
    assert [clip.sha256 for clip in benchmark_samples(2)] == [c.sha256 for c in clips[:2]]


# --- Clip -----------------------------------------------------------------------------------


def test_clip_hash_and_description() -> None:
    samples = np.array([0.0, 0.5, -0.25], dtype=np.float32)
    clip = Clip(name="x", samples=samples, reference="hi", kind="file")
    assert clip.sha256 == hashlib.sha256(samples.astype("<f4").tobytes()).hexdigest()
    assert clip.describe() == {
        "name": "x",
        "kind": "file",
        "category": None,
        "duration_s": 3 / RATE_HZ,
        "sha256": clip.sha256,
        "sample_rate_hz": 16000,
    }
    json.dumps(clip.describe())


def test_clip_samples_cannot_change() -> None:
    samples = np.zeros(100, dtype=np.float32)
    clip = Clip(name="x", samples=samples, reference=None, kind="silence")
    digest = clip.sha256
    samples[0] = 1.0  # the caller's array was copied
    assert clip.samples[0] == 0.0
    assert clip.sha256 == digest
    with pytest.raises(ValueError, match="read-only"):
        clip.samples[0] = 1.0


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"samples": np.zeros(3)}, "float32"),
        ({"samples": [0.0, 1.0]}, "float32"),
        ({"samples": np.zeros((3, 2), np.float32)}, "one-dimensional"),
        ({"samples": np.zeros(0, np.float32)}, "non-empty"),
        ({"samples": np.array([np.nan], np.float32)}, "NaN"),
        ({"sample_rate_hz": 44100}, "sample_rate_hz must be 16000"),
        ({"kind": "music"}, "kind must be one of"),
        ({"kind": "tone", "reference": "words"}, "cannot have a reference"),
        ({"name": ""}, "name must be a non-empty string"),
    ],
)
def test_clip_validation(fields: dict[str, object], match: str) -> None:
    arguments: dict[str, object] = {
        "name": "x",
        "samples": np.zeros(3, np.float32),
        "reference": None,
        "kind": "speech",
        **fields,
    }
    with pytest.raises(ValueError, match=match):
        Clip(**arguments)  # type: ignore[arg-type]
