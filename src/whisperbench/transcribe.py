"""The measured pipeline: 16 kHz waveforms -> log-mel features -> ``generate`` -> text.

One :class:`Transcriber` call is one round: every phase is timed with
``time.perf_counter`` and, on CUDA, ``torch.cuda.synchronize`` at each edge (measurement
rule 3), so a phase's seconds are the device's, not the launch queue's.

Phases:

- ``features_s``: feature extraction plus the copy to the device;
- ``encoder_s``: the encoder forward pass(es), timed by forward hooks inside ``generate``;
- ``decoder_s``: the rest of ``generate`` (decoder steps, logits processing, search);
- ``detokenize_s``: token ids -> text.

``inference_s`` is the wall time of the whole call; it is what RTF divides by audio seconds.
Model loading, file decoding and resampling happen before and are never inside it.

Timing modes (``timing``): ``"phases"`` times the encoder with hooks that synchronize the
device inside ``generate``, which idles a GPU between launches and so adds energy and time;
``"end-to-end"`` (for energy-critical runs) registers no synchronizing hook: only the edges of
the call are synchronized, ``encoder_s`` and ``decoder_s`` are NaN (null in results) and
``inference_s`` is what the device did, undisturbed.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from whisperbench.audio.clip import SAMPLE_RATE_HZ
from whisperbench.devices import synchronizer
from whisperbench.models.loading import LoadedModel
from whisperbench.models.registry import ModelSpec
from whisperbench.rounds import TIMING_MODES, PhaseTimes, Transcription
from whisperbench.schema import DecodingFacts

__all__ = [
    "SHORT_FORM_MAX_S",
    "TIMING_MODES",
    "WORD_TIME_STEP_S",
    "DecodeSettings",
    "Transcriber",
    "check_language",
    "is_long_form",
]


#: The resolution of word times, in seconds: Whisper's encoder frames are 20 ms apart (10 ms
#: mel hop, stride-2 convolution), its timestamp tokens step by 20 ms, and transformers' token
#: timestamps are multiples of it (cross-attention frames x 0.02 s). Word times are rounded to
#: this grid and written with two decimals (0.24, not 0.23999999463558197: float32 noise).
WORD_TIME_STEP_S = 0.02

#: Whisper's decoder has 448 positions; the prompt (<|startoftranscript|> ...) takes up to 4.
_MAX_TARGET_POSITIONS = 448
_PROMPT_TOKENS = 4
#: Whisper's window: longer clips are decoded long-form (30 s windows, timestamps).
SHORT_FORM_MAX_S = 30.0


def is_long_form(num_samples: int) -> bool:
    """Whether a 16 kHz waveform of ``num_samples`` is decoded long-form (over 30 s)."""
    return num_samples / SAMPLE_RATE_HZ > SHORT_FORM_MAX_S


@dataclass(frozen=True)
class DecodeSettings:
    """How ``generate`` decodes; recorded with every result.

    ``fixed_tokens = N`` is fixed-work mode (measurement rule 8): ``min_new_tokens =
    max_new_tokens = N``, so every round decodes exactly N tokens per clip whatever the audio
    says, and energy is comparable across clocks, dtypes and weights.
    """

    num_beams: int = 1
    fixed_tokens: int | None = None
    max_new_tokens: int | None = None
    language: str | None = None
    task: str | None = None
    return_timestamps: bool = False
    word_timestamps: bool = False

    def __post_init__(self) -> None:
        limit = _MAX_TARGET_POSITIONS - _PROMPT_TOKENS
        for flag, value in (
            ("fixed tokens", self.fixed_tokens),
            ("max new tokens", self.max_new_tokens),
        ):
            if value is not None and not 1 <= value <= limit:
                raise ValueError(
                    f"{flag} must be between 1 and {limit} (Whisper's 448 "
                    f"decoder positions less the prompt), got {value}"
                )
        if self.num_beams < 1:
            raise ValueError(f"num_beams must be >= 1, got {self.num_beams}")


def check_language(spec: ModelSpec, settings: DecodeSettings) -> None:
    """Refuse a language or task for an English-only model (there is no token for them).

    Raises:
        ValueError: ``spec`` is English-only and ``settings`` names a language or task.
    """
    if spec.english_only and (settings.language or settings.task):
        raise ValueError(
            f"{spec.model_id} is English-only and takes no language or task "
            f"(got language={settings.language!r}, task={settings.task!r}); "
            "use a multilingual model such as "
            f"{spec.model_id.removesuffix('.en')} for other languages"
        )


def _word_time(seconds: float, low: float, high: float) -> float:
    """A word time on Whisper's 20 ms grid, kept within ``[low, high]``; NaN is ``low``.
    (transformers aligns a clip of under 0.02 s in a long-form batch to NaN and -0.02 s, with
    a ``std()`` warning; such clips are refused and batched apart now, but a time outside the
    clip is never written.)"""
    return low if math.isnan(seconds) else min(max(_on_grid(seconds), low), high)


class _EncoderClock:
    """Forward hooks that time every encoder pass inside ``generate`` and count decoder passes.

    With ``time_encoder=False`` only the decoder passes are counted (a hook that never
    synchronizes) and ``encoder_s`` stays NaN. With ``count_decoder=False`` decoder passes
    are not counted by a hook (a compiled decoder would trace the hook and recompile every
    step; the Transcriber counts steps another way).
    """

    def __init__(
        self,
        model: Any,
        sync: Callable[[], None],
        time_encoder: bool = True,
        count_decoder: bool = True,
    ) -> None:
        self._sync = sync
        self._time_encoder = time_encoder
        self.encoder_s = 0.0 if time_encoder else math.nan
        self.decoder_calls = 0
        self._started = 0.0
        whisper = model.model if hasattr(model, "model") else model
        self._handles = []
        if count_decoder:
            self._handles.append(whisper.decoder.register_forward_pre_hook(self._decoder_call))
        if time_encoder:
            self._handles += [
                whisper.encoder.register_forward_pre_hook(self._encoder_begin),
                whisper.encoder.register_forward_hook(self._encoder_end),
            ]

    def reset(self) -> None:
        self.encoder_s = 0.0 if self._time_encoder else math.nan
        self.decoder_calls = 0

    def _encoder_begin(self, *_: Any) -> None:
        self._sync()
        self._started = time.perf_counter()

    def _encoder_end(self, *_: Any) -> None:
        self._sync()
        self.encoder_s += time.perf_counter() - self._started

    def _decoder_call(self, *_: Any) -> None:
        self.decoder_calls += 1

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def _step_counter(clock: _EncoderClock) -> Any:
    """A logits processor that counts decoding steps (it runs once per step, outside the
    compiled decoder) for a compiled model, where the decoder hook cannot."""
    from transformers import LogitsProcessor, LogitsProcessorList

    class StepCounter(LogitsProcessor):
        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            clock.decoder_calls += 1
            return scores

    return LogitsProcessorList([StepCounter()])


class Transcriber:
    """Runs the measured pipeline for one loaded model and one set of decode settings.

    ``compiled``: the model's decoding step is compiled (static cache + torch.compile), so
    decoding steps are counted by a logits processor instead of a decoder hook.
    Use as a context manager (or call :meth:`close`) to remove the timing hooks.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        settings: DecodeSettings | None = None,
        *,
        timing: str = "phases",
        compiled: bool = False,
    ) -> None:
        if timing not in TIMING_MODES:
            raise ValueError(f"timing must be one of {', '.join(TIMING_MODES)}, got {timing!r}")
        self.loaded = loaded
        self.settings = settings or DecodeSettings()
        self.timing = timing
        self._sync = synchronizer(loaded.precision.device)
        self._clock = _EncoderClock(
            loaded.model, self._sync, time_encoder=timing == "phases", count_decoder=not compiled
        )
        self._compiled = compiled
        self._generation_config = self._build_generation_config()
        self._generate_kwargs = self._build_generate_kwargs()

    def __enter__(self) -> Transcriber:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._clock.close()

    def _build_generation_config(self) -> Any:
        config = copy.deepcopy(self.loaded.model.generation_config)
        config.num_beams = self.settings.num_beams
        config.do_sample = False
        if self.settings.fixed_tokens is not None:
            config.min_new_tokens = self.settings.fixed_tokens
            config.max_new_tokens = self.settings.fixed_tokens
        elif self.settings.max_new_tokens is not None:
            config.max_new_tokens = self.settings.max_new_tokens
        return config

    def _build_generate_kwargs(self) -> dict[str, Any]:
        spec = self.loaded.spec
        settings = self.settings
        check_language(spec, settings)
        kwargs: dict[str, Any] = {"generation_config": self._generation_config}
        if self._compiled:
            kwargs["logits_processor"] = _step_counter(self._clock)
        if not spec.english_only:
            kwargs["language"] = settings.language or "en"
            kwargs["task"] = settings.task or "transcribe"
        if settings.return_timestamps or settings.word_timestamps:
            kwargs["return_timestamps"] = True
        if settings.word_timestamps:
            kwargs["return_token_timestamps"] = True
        return kwargs

    def recorded_settings(self) -> DecodingFacts:
        """The decode settings as they ran (language/task defaults filled in)."""
        settings = self.settings
        return DecodingFacts(
            num_beams=settings.num_beams,
            do_sample=False,
            fixed_tokens=settings.fixed_tokens,
            max_new_tokens=settings.fixed_tokens or settings.max_new_tokens,
            language=self._generate_kwargs.get("language"),
            task=self._generate_kwargs.get("task"),
            return_timestamps=settings.return_timestamps,
            word_timestamps=settings.word_timestamps,
        )

    def __call__(self, batch: Sequence[np.ndarray]) -> Transcription:
        """Transcribe a batch of 16 kHz mono float32 waveforms; one call is one round.

        Raises:
            ValueError: an empty batch, a waveform that is empty, not 1-D, or non-finite, or a
                batch that mixes clips over and under 30 s (``generate`` would decode the short
                ones long-form too, and garble them; batch them apart, as ``measure`` does).
        """
        if not batch:
            raise ValueError("nothing to transcribe: the batch is empty")
        for i, samples in enumerate(batch):
            if samples.ndim != 1 or samples.size == 0:
                raise ValueError(
                    f"clip {i}: expected a non-empty 1-D waveform, got shape {samples.shape}"
                )
        audio_s = sum(len(samples) for samples in batch) / SAMPLE_RATE_HZ
        forms = {is_long_form(len(samples)) for samples in batch}
        if len(forms) > 1:
            raise ValueError(
                f"the batch mixes clips over and under {SHORT_FORM_MAX_S:g} s: Whisper would "
                "decode the short ones long-form too; transcribe them in separate batches"
            )
        long_form = forms.pop()
        processor = self.loaded.processor
        model = self.loaded.model
        device = self.loaded.precision.device
        dtype = self.loaded.precision.torch_dtype
        self._clock.reset()

        self._sync()
        started = time.perf_counter()
        extracted = processor.feature_extractor(
            list(batch),
            sampling_rate=SAMPLE_RATE_HZ,
            return_tensors="pt",
            return_attention_mask=long_form,
            truncation=not long_form,
            padding="longest" if long_form else "max_length",
        )
        inputs: dict[str, Any] = {"input_features": extracted.input_features.to(device, dtype)}
        if long_form:
            inputs["attention_mask"] = extracted.attention_mask.to(device)
        self._sync()
        features_done = time.perf_counter()

        kwargs = dict(self._generate_kwargs)
        if long_form:
            kwargs["return_timestamps"] = True  # transformers requires it for long-form
            if self.settings.word_timestamps:
                kwargs["return_segments"] = True  # segments carry absolute token times
        # The dict output costs about 2% of a tiny.en round (benchmarks/overhead.py --paired):
        # ask for it only where token times or long-form segments need it.
        wants_dict = long_form or self.settings.word_timestamps
        with torch.inference_mode():
            output = model.generate(**inputs, **kwargs, return_dict_in_generate=wants_dict)
        self._sync()
        generated = time.perf_counter()

        sequences = output["sequences"] if wants_dict else output
        texts = processor.tokenizer.batch_decode(sequences, skip_special_tokens=True)
        words = (
            self._words(output, [len(samples) / SAMPLE_RATE_HZ for samples in batch])
            if self.settings.word_timestamps
            else []
        )
        finished = time.perf_counter()

        encoder_s = self._clock.encoder_s
        times = PhaseTimes(
            features_s=features_done - started,
            encoder_s=encoder_s,
            decoder_s=(generated - features_done) - encoder_s,
            detokenize_s=finished - generated,
            inference_s=finished - started,
        )
        return Transcription(
            texts=[text.strip() for text in texts],
            tokens_per_clip=self._count_new_tokens(sequences, self._clock.decoder_calls, long_form),
            decoder_steps=self._clock.decoder_calls,
            audio_s=audio_s,
            times=times,
            words=words,
        )

    def _count_new_tokens(self, sequences: torch.Tensor, steps: int, long_form: bool) -> list[int]:
        """New tokens per clip, end-of-text included, prompt and padding not.

        ``generate`` returns the prompt and end-of-text in some output forms and not in
        others (timestamps drop end-of-text), so both are stripped and end-of-text is put back
        from the decoder step count: a clip whose tokens stop before the last step spent one
        more step emitting it. Long-form output spans several 30 s windows whose end-of-text
        tokens are not returned; there the count is the returned tokens (text and timestamps),
        and ``decoder_steps`` stays the exact number of steps.
        """
        config = self._generation_config
        eos = config.eos_token_id
        prompt_ids = {config.decoder_start_token_id, config.no_timestamps_token_id}
        for table in ("lang_to_id", "task_to_id"):
            prompt_ids |= set((getattr(config, table, None) or {}).values())
        counts = []
        for row in sequences.tolist():
            start = 0
            while start < len(row) and row[start] in prompt_ids:
                start += 1
            row = row[start:]
            n = row.index(eos) if eos in row else len(row)
            counts.append(n + 1 if not long_form and n < steps else n)
        return counts

    def _words(self, output: Any, durations_s: list[float]) -> list[list[dict[str, Any]]]:
        """Group tokens into words with start/end seconds from transformers' token timestamps.

        A token's time is when it starts (cross-attention alignment through the model's
        alignment heads; long-form outputs take them from the segments, which are absolute).
        A word starts at a token whose text begins with a space and ends where the next token
        starts; times are kept within the clip (from 0 to its end, a word's end never before its
        start); punctuation stays with the word before it.
        Special tokens (every id from end-of-text up: prompt, timestamps) are skipped.
        Languages written without spaces get one "word" per run of tokens. Times are seconds
        on Whisper's 20 ms grid (:data:`WORD_TIME_STEP_S`).
        """
        if "segments" in output:
            rows = [
                (
                    [t for seg in segments for t in seg["tokens"].tolist()],
                    [float(x) for seg in segments for x in seg["token_timestamps"].tolist()],
                )
                for segments in output["segments"]
            ]
        else:
            rows = list(
                zip(output["sequences"].tolist(), output["token_timestamps"].tolist(), strict=False)
            )
        tokenizer = self.loaded.processor.tokenizer
        first_special = self._generation_config.eos_token_id
        result = []
        for (ids, times), duration_s in zip(rows, durations_s, strict=False):
            # the last grid point within the clip: word times never pass its end
            end_of_clip = _on_grid(
                math.floor(duration_s / WORD_TIME_STEP_S + 1e-9) * WORD_TIME_STEP_S
            )
            words: list[dict[str, Any]] = []
            for i, token in enumerate(ids):
                if token >= first_special:
                    continue
                piece = tokenizer.decode([token])
                start = _word_time(float(times[i]), 0.0, end_of_clip)
                following = float(times[i + 1]) if i + 1 < len(times) else start
                end = _word_time(following, start, end_of_clip)
                if not words or piece.startswith(" "):
                    words.append({"word": piece.strip(), "start_s": start, "end_s": end})
                else:
                    words[-1]["word"] += piece
                    words[-1]["end_s"] = end
            result.append([w for w in words if w["word"]])
        return result


def _on_grid(seconds: float) -> float:
    """``seconds`` rounded to the nearest multiple of :data:`WORD_TIME_STEP_S`, two decimals."""
    return round(round(seconds / WORD_TIME_STEP_S) * WORD_TIME_STEP_S, 2)
