"""to_16k_mono: frequencies and levels survive, channels average, bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from whisperbench.audio import to_16k_mono


def _sine(frequency_hz: float, rate_hz: int, duration_s: float) -> NDArray[np.float64]:
    t_s = np.arange(round(rate_hz * duration_s)) / rate_hz
    return np.sin(2 * np.pi * frequency_hz * t_s)


def _peak_frequency_hz(samples: NDArray[np.float32], rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate_hz)[np.argmax(spectrum)])


def test_stereo_44k1_tone_keeps_its_frequency_and_length() -> None:
    left = 0.5 * _sine(1000.0, 44100, 2.0)
    stereo = np.stack([left, 0.25 * _sine(1000.0, 44100, 2.0)], axis=1).astype(np.float32)
    out = to_16k_mono(stereo, 44100)
    assert out.dtype == np.float32
    assert out.ndim == 1
    assert abs(out.size - stereo.shape[0] * 16000 / 44100) <= 1
    assert abs(_peak_frequency_hz(out, 16000) - 1000.0) <= 0.5  # bin width is 0.5 Hz
    # Mean of 0.5 and 0.25 amplitude in phase: 0.375, kept to within 1% away from the edges.
    middle = out[1600:-1600]
    assert np.max(np.abs(middle)) == pytest.approx(0.375, rel=0.01)


@pytest.mark.parametrize("rate_hz", [8000, 11025, 22050, 24000, 48000, 96000])
def test_tone_frequency_survives_common_rates(rate_hz: int) -> None:
    out = to_16k_mono(_sine(440.0, rate_hz, 1.0).astype(np.float32), rate_hz)
    assert abs(out.size - 16000) <= 1
    assert abs(_peak_frequency_hz(out, 16000) - 440.0) <= 1.0


def test_content_above_8khz_is_removed() -> None:
    out = to_16k_mono((0.5 * _sine(12000.0, 48000, 1.0)).astype(np.float32), 48000)
    assert np.max(np.abs(out[800:-800])) < 1e-3  # no alias of 12 kHz at 4 kHz


def test_channels_are_averaged() -> None:
    left = np.linspace(-1, 1, 1000, dtype=np.float32)
    out = to_16k_mono(np.stack([left, -left, left, left], axis=1), 16000)
    np.testing.assert_array_equal(out, left / 2)


def test_16k_mono_is_returned_unchanged_as_a_new_array() -> None:
    samples = np.random.default_rng(1).uniform(-1, 1, 4000).astype(np.float32)
    out = to_16k_mono(samples, 16000)
    np.testing.assert_array_equal(out, samples)
    assert out is not samples
    assert out.flags.writeable
    out[0] = 5.0
    assert samples[0] != 5.0


def test_integer_pcm_is_scaled_to_full_scale_one() -> None:
    pcm16 = np.array([-32768, 0, 16384, 32767], dtype=np.int16)
    np.testing.assert_array_equal(to_16k_mono(pcm16, 16000), [-1.0, 0.0, 0.5, 32767 / 32768])
    pcm8 = np.array([0, 128, 192], dtype=np.uint8)
    np.testing.assert_array_equal(to_16k_mono(pcm8, 16000), [-1.0, 0.0, 0.5])
    pcm32 = np.array([-(2**31), 2**30], dtype=np.int32)
    np.testing.assert_array_equal(to_16k_mono(pcm32, 16000), [-1.0, 0.5])


def test_same_input_gives_the_same_bits() -> None:
    samples = np.random.default_rng(2).uniform(-0.5, 0.5, (22050, 2))
    first, second = to_16k_mono(samples, 22050), to_16k_mono(samples.copy(), 22050)
    assert first.tobytes() == second.tobytes()


@settings(max_examples=60, deadline=None, database=None)
@given(
    frames=st.integers(min_value=1, max_value=20000),
    channels=st.integers(min_value=1, max_value=4),
    rate_hz=st.integers(min_value=1000, max_value=768000),
)
def test_any_valid_input_gives_finite_float32_of_the_right_length(
    frames: int, channels: int, rate_hz: int
) -> None:
    samples = np.random.default_rng(frames).uniform(-1, 1, (frames, channels))
    if frames * 16000 / rate_hz < 0.5:  # not even one output sample
        with pytest.raises(ValueError, match="too short"):
            to_16k_mono(samples, rate_hz)
        return
    out = to_16k_mono(samples, rate_hz)
    assert out.dtype == np.float32
    assert out.ndim == 1
    assert abs(out.size - frames * 16000 / rate_hz) <= 1
    assert out.size >= 1
    assert np.isfinite(out).all()


@pytest.mark.parametrize(
    ("samples", "rate_hz", "match"),
    [
        (np.zeros(0, np.float32), 16000, "empty"),
        (np.zeros((0, 2), np.float32), 16000, "empty"),
        (np.zeros((10, 0), np.float32), 16000, "empty"),
        (np.array([0.0, np.nan], np.float32), 16000, "NaN or infinity"),
        (np.array([[0.0, np.inf]]), 44100, "NaN or infinity"),
        (np.array([0.0, -np.inf]), 16000, "NaN or infinity"),
        (np.zeros((2, 3, 4)), 16000, r"\[frames\] or \[frames, channels\]"),
        (np.zeros((2, 44100)), 44100, "transpose"),
        (np.zeros(10), 0, "from 1000 to 768000 Hz; got 0"),
        (np.zeros(10), -16000, "got -16000"),
        (np.zeros(10), 999, "got 999"),
        (np.zeros(10), 768001, "got 768001"),
        (np.zeros(10), 44100.0, "rate_hz must be an integer"),
        (np.zeros(10), True, "rate_hz must be an integer"),
        (np.zeros(1), 48000, "too short"),
    ],
)
def test_bad_input_raises_value_error(
    samples: NDArray[np.generic], rate_hz: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        to_16k_mono(samples, rate_hz)


@pytest.mark.parametrize("dtype", [np.complex64, np.bool_, np.object_])
def test_non_pcm_dtypes_raise_type_error(dtype: type) -> None:
    with pytest.raises(TypeError, match="float or integer PCM"):
        to_16k_mono(np.zeros(10, dtype=dtype), 16000)
