"""``Clip``: a named 16 kHz mono float32 waveform, what it says, and a hash to record."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

__all__ = ["CLIP_KINDS", "MIN_DURATION_S", "SAMPLE_RATE_HZ", "Clip"]

#: The rate Whisper's feature extractor expects, and the only rate a Clip holds.
SAMPLE_RATE_HZ = 16000
#: The shortest clip worth measuring, in seconds. Whisper pads every clip to 30 s, so what a
#: clip costs hardly depends on its length: a one-sample file "measured" at RTF 52 000 says
#: nothing about transcription speed. 0.1 s is shorter than any word; shorter clips are refused
#: (files: as a failed input, synthetic lengths: as a usage error).
MIN_DURATION_S = 0.1
#: What made a clip. Only ``speech`` and ``file`` clips may carry a reference transcript.
CLIP_KINDS: tuple[str, ...] = ("speech", "tone", "chirp", "noise", "silence", "file")
_KINDS_WITH_REFERENCE = frozenset({"speech", "file"})


@dataclass(frozen=True, eq=False, kw_only=True)
class Clip:
    """A mono waveform at 16 kHz, ready for Whisper. Construct with keywords.

    Equality is identity; compare :attr:`sha256` to compare audio.

    Attributes:
        name: A short label for results, e.g. ``"speech-short-8.0s"``.
        samples: float32 samples (full scale is +-1), one dimension, at least one. Stored
            read-only; a writeable array is copied first so the clip cannot change later.
        sample_rate_hz: Always 16000; recorded so results say so.
        reference: Exactly the words spoken, or None when nothing is said (tones, noise) or
            the words are unknown.
        kind: One of :data:`CLIP_KINDS`.
        category: The text category of synthetic speech (``"short"`` ...), else None.

    Raises:
        ValueError: ``name`` is empty; ``samples`` is not a non-empty one-dimensional
            float32 array of finite values; ``sample_rate_hz`` is not 16000; ``kind`` is
            unknown; or a kind that says nothing (tone, chirp, noise, silence) has a reference.
    """

    name: str
    samples: NDArray[np.float32]
    sample_rate_hz: int = SAMPLE_RATE_HZ
    reference: str | None
    kind: str
    category: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Clip name must be a non-empty string; got {self.name!r}")
        samples = self.samples
        if not isinstance(samples, np.ndarray) or samples.dtype != np.float32:
            raise ValueError(
                f"Clip {self.name!r}: samples must be a float32 numpy array; got "
                f"{getattr(samples, 'dtype', type(samples).__name__)}"
            )
        if samples.ndim != 1 or samples.size == 0:
            raise ValueError(
                f"Clip {self.name!r}: samples must be one-dimensional (mono) and non-empty; "
                f"got shape {samples.shape}"
            )
        if not np.isfinite(samples).all():
            raise ValueError(f"Clip {self.name!r}: samples contain NaN or infinity")
        if self.sample_rate_hz != SAMPLE_RATE_HZ:
            raise ValueError(
                f"Clip {self.name!r}: sample_rate_hz must be {SAMPLE_RATE_HZ}; got "
                f"{self.sample_rate_hz!r} (resample with whisperbench.audio.to_16k_mono)"
            )
        if self.kind not in CLIP_KINDS:
            raise ValueError(
                f"Clip {self.name!r}: kind must be one of {', '.join(CLIP_KINDS)}; "
                f"got {self.kind!r}"
            )
        if self.reference is not None and self.kind not in _KINDS_WITH_REFERENCE:
            raise ValueError(f"Clip {self.name!r}: a {self.kind} clip cannot have a reference")
        if samples.flags.writeable or not samples.flags.c_contiguous:
            samples = np.array(samples, dtype=np.float32, order="C")
            samples.flags.writeable = False
            object.__setattr__(self, "samples", samples)

    @property
    def num_samples(self) -> int:
        """Number of samples."""
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        """Length in seconds: samples / 16000."""
        return self.num_samples / self.sample_rate_hz

    @cached_property
    def sha256(self) -> str:
        """SHA-256 hex digest of the samples as little-endian float32 bytes."""
        little_endian = np.ascontiguousarray(self.samples, dtype="<f4")
        return hashlib.sha256(little_endian.data).hexdigest()

    def describe(self) -> dict[str, object]:
        """What to record about this clip in results: name, kind, category, duration_s,
        sha256 and sample_rate_hz (JSON-ready)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "category": self.category,
            "duration_s": self.duration_s,
            "sha256": self.sha256,
            "sample_rate_hz": self.sample_rate_hz,
        }
