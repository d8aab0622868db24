"""Any PCM waveform to what Whisper takes: 16 kHz, mono, float32."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import soxr
from numpy.typing import ArrayLike, NDArray

from whisperbench.audio.clip import SAMPLE_RATE_HZ

__all__ = ["MAX_RATE_HZ", "MIN_RATE_HZ", "TARGET_RATE_HZ", "to_16k_mono"]

#: Whisper's input rate, Hz.
TARGET_RATE_HZ = SAMPLE_RATE_HZ  # Whisper's input rate, defined once in clip.py
#: Input rates accepted, Hz: from narrow-band telephone audio up to the fastest studio rate.
MIN_RATE_HZ = 1000
MAX_RATE_HZ = 768000
#: More channels than this is taken for a transposed ``[channels, frames]`` array.
_MAX_CHANNELS = 64
#: soxr's "high quality": 20-bit precision, passband to 91% of the Nyquist frequency.
_SOXR_QUALITY = "HQ"


def to_16k_mono(samples: ArrayLike, rate_hz: int) -> NDArray[np.float32]:
    """Convert a waveform to 16 kHz mono float32.

    Channels are averaged; then soxr resamples with its "HQ" quality (deterministic: the same
    input gives the same bits on the same machine). Integer PCM is scaled to full scale +-1
    first (int16 by 1/32768, int32 by 1/2**31, uint8 centred on 128). Input that is already
    16 kHz mono comes back with the same values (rounded to float32 if it was float64). The
    output has ``frames * 16000 / rate_hz`` samples, rounded (within one sample), and is
    always a new writeable array.

    Args:
        samples: ``[frames]`` (mono) or ``[frames, channels]``; float or integer PCM.
        rate_hz: The input's sample rate in Hz, an integer from 1000 to 768000.

    Returns:
        A one-dimensional float32 array at 16 kHz.

    Raises:
        ValueError: ``rate_hz`` is not an integer in range; ``samples`` has no frames or no
            channels, more than two dimensions, more than 64 channels (likely transposed), or
            NaN or infinite values; or it is too short to give even one output sample.
        TypeError: ``samples`` is not real-valued PCM (e.g. complex, bool or object).
    """
    rate_hz = _checked_rate_hz(rate_hz)
    array = np.asarray(samples)
    if array.ndim not in (1, 2):
        raise ValueError(f"samples must be [frames] or [frames, channels]; got shape {array.shape}")
    if array.shape[0] == 0 or (array.ndim == 2 and array.shape[1] == 0):
        raise ValueError(f"samples is empty: shape {array.shape}")
    if array.ndim == 2 and array.shape[1] > _MAX_CHANNELS:
        raise ValueError(
            f"samples has shape {array.shape}: {array.shape[1]} channels is more than "
            f"{_MAX_CHANNELS}; pass [frames, channels] (transpose a [channels, frames] array)"
        )

    pcm = _as_float(array)
    if not np.isfinite(pcm).all():
        raise ValueError("samples contain NaN or infinity")
    # Average channels with a float64 accumulator, without a float64 copy of the input.
    mono = pcm if pcm.ndim == 1 else pcm.mean(axis=1, dtype=np.float64)
    if rate_hz == TARGET_RATE_HZ:
        return np.array(mono, dtype=np.float32, order="C")  # always a copy
    mono32 = np.ascontiguousarray(mono, dtype=np.float32)
    resampled = soxr.resample(mono32, rate_hz, TARGET_RATE_HZ, quality=_SOXR_QUALITY)
    if resampled.size == 0:
        raise ValueError(
            f"samples is too short: {mono32.size} frames at {rate_hz} Hz is less than one "
            f"sample at {TARGET_RATE_HZ} Hz"
        )
    return np.ascontiguousarray(resampled, dtype=np.float32)


def _checked_rate_hz(rate_hz: object) -> int:
    """``rate_hz`` as an int, if it is an integer (not a bool) in range."""
    if isinstance(rate_hz, bool) or not isinstance(rate_hz, numbers.Integral):
        raise ValueError(f"rate_hz must be an integer number of Hz; got {rate_hz!r}")
    if not MIN_RATE_HZ <= int(rate_hz) <= MAX_RATE_HZ:
        raise ValueError(f"rate_hz must be from {MIN_RATE_HZ} to {MAX_RATE_HZ} Hz; got {rate_hz!r}")
    return int(rate_hz)


def _as_float(array: NDArray[Any]) -> NDArray[np.floating[Any]]:
    """PCM as floats at full scale +-1: float input as is, integer PCM scaled into float32.

    Scaling by a power of two is exact in float32 for int16 and uint8 samples.
    """
    dtype = array.dtype
    if np.issubdtype(dtype, np.floating):
        return array.astype(np.float32 if dtype.itemsize < 4 else dtype, copy=False)
    if dtype == np.uint8:  # 8-bit WAV is unsigned, centred on 128
        return (array.astype(np.float32) - np.float32(128.0)) * np.float32(1 / 128)
    if np.issubdtype(dtype, np.signedinteger):
        full_scale = 2.0 ** (dtype.itemsize * 8 - 1)
        return array.astype(np.float32) * np.float32(1.0 / full_scale)
    raise TypeError(f"samples must be float or integer PCM; got dtype {dtype}")
