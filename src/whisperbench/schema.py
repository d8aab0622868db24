"""The result of one measurement and its two serialized forms (the data contract).

This module owns the names and units of every field whisperbench writes:

- :meth:`Result.to_extra_info` -> ``benchmark.extra_info`` in pytest-benchmark JSON;
- :meth:`Result.to_seed_record` -> one run of the command-line app, under the original
  ``WhisperViaHF.py`` keys with everything else beside them.

``SCHEMA_VERSION`` changes whenever a name or unit changes; readers check it (``runs.py``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from whisperbench import metrics
from whisperbench.transcribe import Round

__all__ = ["SCHEMA_VERSION", "ModelFacts", "Result"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ModelFacts:
    """What ran: model, weights, precision and settings (no measurements)."""

    model: str
    hub_id: str
    weights_source: str
    weights_origin: str
    weights_sha256: str | None
    parameters: int
    weights_bytes: int
    device: str
    dtype: str  #: the dtype that ran
    dtype_requested: str
    torch_dtype: str  #: the original app's label, e.g. "torch.float16"
    attn_implementation: str
    threads: int
    load_s: float
    decoding: Mapping[str, Any]


@dataclass(frozen=True)
class Result:
    """Measured rounds of one model on one batch of audio, with the window's meter readings.

    ``rounds`` excludes warm-up (measurement rule 3). ``energy``, ``memory`` and
    ``device_state`` come from the meters' window spanning exactly these rounds.
    """

    facts: ModelFacts
    audio: Sequence[Mapping[str, Any]]  #: one ``Clip.describe()`` per clip, in order
    references: Sequence[str | None]
    batch_size: int
    rounds: Sequence[Round]
    warmup_rounds: int
    memory: Mapping[str, Any] = field(default_factory=dict)
    energy: Mapping[str, Any] = field(default_factory=dict)
    device_state: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.rounds:
            raise ValueError("a result needs at least one measured round")

    # -- derived figures -------------------------------------------------------------------
    @property
    def audio_s(self) -> float:
        """Audio seconds per round (every clip of the workload)."""
        return self.rounds[0].audio_s

    @property
    def rtf(self) -> float:
        """sum(inference_s) / sum(audio_s) over the measured rounds."""
        return metrics.rtf(
            [r.times.inference_s for r in self.rounds], [r.audio_s for r in self.rounds]
        )

    @property
    def transcripts(self) -> list[str]:
        """The last round's texts (greedy decoding gives the same text every round)."""
        return list(self.rounds[-1].texts)

    @property
    def wer(self) -> float | None:
        """Corpus WER of the last round against the references; None for random weights or
        when no clip has a reference."""
        if self.facts.weights_source == "random":
            return None
        pairs = [(r, h) for r, h in zip(self.references, self.transcripts, strict=False) if r]
        if not pairs:
            return None
        refs, hyps = zip(*pairs, strict=False)
        return metrics.wer(list(refs), list(hyps))

    def _mean(self, attribute: str) -> float:
        return statistics.fmean(getattr(r.times, attribute) for r in self.rounds)

    def to_extra_info(self) -> dict[str, Any]:
        """The flat ``benchmark.extra_info`` dict (per-round values are per-round means)."""
        facts = self.facts
        rtf_value = self.rtf
        tokens = statistics.fmean(r.tokens for r in self.rounds)
        per_token = [r.s_per_token for r in self.rounds if r.s_per_token is not None]
        info: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "model": facts.model,
            "hub_id": facts.hub_id,
            "weights_source": facts.weights_source,
            "weights_origin": facts.weights_origin,
            "weights_sha256": facts.weights_sha256,
            "parameters": facts.parameters,
            "weights_bytes": facts.weights_bytes,
            "device": facts.device,
            "dtype": facts.dtype,
            "dtype_requested": facts.dtype_requested,
            "attn_implementation": facts.attn_implementation,
            "threads": facts.threads,
            "load_s": facts.load_s,
            "decoding": dict(facts.decoding),
            "fixed_tokens": facts.decoding.get("fixed_tokens"),
            "batch_size": self.batch_size,
            "clips": len(self.audio),
            "audio_name": "+".join(str(clip["name"]) for clip in self.audio),
            "audio_category": _common(clip.get("category") for clip in self.audio),
            "audio_sha256": _common(clip.get("sha256") for clip in self.audio),
            "audio": [dict(clip) for clip in self.audio],
            "audio_s": self.audio_s,
            "rounds": len(self.rounds),
            "warmup_rounds": self.warmup_rounds,
            "inference_s": self._mean("inference_s"),
            "features_s": self._mean("features_s"),
            "encoder_s": self._mean("encoder_s"),
            "decoder_s": self._mean("decoder_s"),
            "detokenize_s": self._mean("detokenize_s"),
            "rounds_inference_s": [r.times.inference_s for r in self.rounds],
            "rtf": rtf_value,
            "rtfx": metrics.rtfx(rtf_value),
            "tokens": tokens,
            "decoder_steps": statistics.fmean(r.decoder_steps for r in self.rounds),
            "s_per_token": statistics.fmean(per_token) if per_token else None,
            "rounds_s_per_token": per_token,
            "transcript": " | ".join(self.transcripts),
            "reference": " | ".join(r or "" for r in self.references) or None,
            "transcripts": self.transcripts,
            "wer": self.wer,
        }
        info.update(self.memory)
        info.update(self.energy)
        info["device_state"] = dict(self.device_state)
        finite: dict[str, Any] = _finite(info)
        return finite


def _common(values: Any) -> Any:
    """The value shared by every clip, or None when they differ."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def _finite(value: Any) -> Any:
    """JSON has no inf/NaN: replace them by None (e.g. RTFx when nothing took any time)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


#: The original WhisperViaHF.py's JSON keys, kept with their meanings (README "JSON output").
SEED_KEYS: tuple[str, ...] = (
    "model",
    "device",
    "torch_dtype",
    "total_samples",
    "total_audio_duration",
    "total_inference_time",
    "average_rtf",
    "model_parameters",
    "gpu_memory_used",
    "transcriptions",
)

_BYTES_PER_GB = 1e9


def seed_record(
    result: Result,
    *,
    per_clip_times: Sequence[Mapping[str, Any]],
    failures: Sequence[Mapping[str, str]] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The command-line app's JSON: the original keys first, then everything else.

    - ``total_audio_duration``: seconds of audio in the workload (counted once);
    - ``total_inference_time``: mean seconds per round to transcribe all of it;
    - ``average_rtf``: their ratio, i.e. a ratio of sums (measurement rule 2), not a mean
      of per-sample ratios;
    - ``gpu_memory_used``: CUDA peak allocated, in GB (1e9 bytes); null on CPU, where there
      is no GPU memory to report;
    - ``transcriptions``: one entry per sample (``per_clip_times`` gives its timing).
    """
    info = result.to_extra_info()
    cuda_peak = info.get("cuda_peak_allocated_bytes")
    transcriptions = []
    words = result.rounds[-1].words
    for i, (clip, text, timing) in enumerate(
        zip(result.audio, result.transcripts, per_clip_times, strict=False)
    ):
        entry = {
            "sample": i,
            "name": clip.get("name"),
            "category": clip.get("category"),
            "text": text,
            "reference": result.references[i],
            "audio_duration": clip.get("duration_s"),
            **dict(timing),
        }
        if words[i]:
            entry["words"] = words[i]
        transcriptions.append(entry)
    record: dict[str, Any] = {
        "model": result.facts.model,
        "device": result.facts.device.split(":")[0],
        "torch_dtype": result.facts.torch_dtype,
        "total_samples": len(result.audio),
        "total_audio_duration": result.audio_s,
        "total_inference_time": info["inference_s"],
        "average_rtf": info["rtf"],
        "model_parameters": result.facts.parameters,
        "gpu_memory_used": None if cuda_peak is None else cuda_peak / _BYTES_PER_GB,
        "transcriptions": transcriptions,
    }
    record["failures"] = [dict(f) for f in failures]
    record.update({k: v for k, v in info.items() if k not in record and k != "transcripts"})
    if extra:
        record.update(extra)
    finite: dict[str, Any] = _finite(record)
    return finite
