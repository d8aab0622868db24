"""What one transcription call produced and what it cost: plain data, no pipeline.

A :class:`Transcription` is one ``Transcriber`` call (one batch); a :class:`Round` is one pass
over the whole workload (every batch once). Seconds are wall seconds with the device
synchronized at each phase edge (see :mod:`whisperbench.transcribe`). The result schema
(:mod:`whisperbench.schema`) builds on these, so they live below the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: ``phases``: encoder timed inside ``generate`` (synchronizing hooks); ``end-to-end``: only
#: the call's edges synchronized (see :mod:`whisperbench.transcribe`).
TIMING_MODES = ("phases", "end-to-end")

__all__ = ["TIMING_MODES", "PhaseTimes", "Round", "Transcription"]


@dataclass(frozen=True)
class PhaseTimes:
    """Seconds spent in each phase of one call (one round)."""

    features_s: float
    encoder_s: float
    decoder_s: float
    detokenize_s: float
    inference_s: float  #: wall time of the whole call, edges synchronized


@dataclass(frozen=True)
class Transcription:
    """What one call produced and what it cost."""

    texts: list[str]
    #: new tokens per clip, end-of-text included, padding not (long-form: returned tokens)
    tokens_per_clip: list[int]
    decoder_steps: int  #: decoder forward passes (one token per clip in the batch each)
    audio_s: float  #: total audio seconds in the call
    times: PhaseTimes
    #: word-level timestamps per clip, when asked: ``{"word", "start_s", "end_s"}``
    words: list[list[dict[str, Any]]] = field(default_factory=list)
    compiles: int = 0  #: torch.compile compilations (recompilations too) during the call
    compile_s: float = 0.0  #: wall seconds of those compilations (inside ``inference_s``)

    @property
    def tokens(self) -> int:
        return sum(self.tokens_per_clip)

    @property
    def s_per_token(self) -> float | None:
        """Decoder seconds per decoding step (per token of each clip); None without steps."""
        return float(self.times.decoder_s / self.decoder_steps) if self.decoder_steps else None


@dataclass(frozen=True)
class Round:
    """One measured round: a pass over the whole workload, one Transcription per batch."""

    batches: tuple[Transcription, ...]

    def _sum(self, phase: str) -> float:
        return float(sum(getattr(b.times, phase) for b in self.batches))

    @property
    def times(self) -> PhaseTimes:
        """Phase seconds summed over the round's batches."""
        return PhaseTimes(*(self._sum(name) for name in PhaseTimes.__dataclass_fields__))

    @property
    def audio_s(self) -> float:
        return sum(b.audio_s for b in self.batches)

    @property
    def tokens(self) -> int:
        return sum(b.tokens for b in self.batches)

    @property
    def tokens_per_clip(self) -> list[int]:
        return [n for b in self.batches for n in b.tokens_per_clip]

    @property
    def decoder_steps(self) -> int:
        return sum(b.decoder_steps for b in self.batches)

    @property
    def texts(self) -> list[str]:
        return [text for b in self.batches for text in b.texts]

    @property
    def words(self) -> list[list[dict[str, Any]]]:
        """Word timestamps per clip (empty lists when not asked for)."""
        return [clip for b in self.batches for clip in (b.words or [[] for _ in b.texts])]

    @property
    def compiles(self) -> int:
        """torch.compile compilations during the round (0 for an engine that compiles none)."""
        return sum(b.compiles for b in self.batches)

    @property
    def compile_s(self) -> float:
        return float(sum(b.compile_s for b in self.batches))

    @property
    def s_per_token(self) -> float | None:
        """Decoder seconds per decoding step over the round; None without steps."""
        steps = self.decoder_steps
        return self.times.decoder_s / steps if steps else None
