"""The transformers engine: the :class:`~whisperbench.transcribe.Transcriber` with its
settings as axes.

- KV cache ``dynamic`` (transformers' default: grows by one position per step) or ``static``
  (``generation_config.cache_implementation = "static"``: preallocated to Whisper's 448
  decoder positions, fixed shapes);
- compile ``on`` (static cache only): transformers compiles the decoding step itself
  (``generation_config.compile_config``, fullgraph, static shapes; mode ``default`` on CPU,
  ``reduce-overhead`` — CUDA graphs — on CUDA); ``off`` sets ``disable_compile`` so a static
  cache on CUDA is not compiled behind the user's back;
- int8/int4 weights through torchao (:mod:`whisperbench.models.precision`).

Compilation happens in the first calls; a :class:`CompileWatch` counts compilations per call,
so warm-up runs until a round compiles nothing and the window's count is recorded (it must
be 0). Decoding steps are counted by a logits processor when compiled (a module hook would be
traced into the compiled graph and recompile it every step).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from whisperbench import schema
from whisperbench.engines.base import EngineSettings
from whisperbench.engines.compile_watch import CompileWatch
from whisperbench.meters.memory import weights_size_bytes
from whisperbench.models.loading import LoadedModel
from whisperbench.rounds import Transcription
from whisperbench.schema import DecodingFacts, EngineFacts
from whisperbench.transcribe import DecodeSettings, Transcriber

__all__ = ["TransformersEngine", "compile_mode"]


def compile_mode(device: str) -> str:
    """torch.compile's mode for the decoding step: CUDA graphs on CUDA, plain inductor on CPU
    (``reduce-overhead`` means CUDA graphs, which a CPU does not have)."""
    return "reduce-overhead" if device.startswith("cuda") else "default"


def _configure(model: Any, settings: EngineSettings, device: str) -> None:
    """Set the KV cache and compile settings on the model's generation config (the
    Transcriber copies it)."""
    from transformers import CompileConfig

    config = model.generation_config
    config.cache_implementation = "static" if settings.kv_cache == "static" else None
    if settings.compiled:
        compile_config = CompileConfig(fullgraph=True, dynamic=False, mode=compile_mode(device))
        # transformers compiles on CUDA only otherwise
        compile_config._compile_all_devices = True  # type: ignore[assignment]
        config.compile_config = compile_config
        config.disable_compile = False
    else:
        config.disable_compile = True


class TransformersEngine:
    """Whisper through transformers ``generate``, with KV cache and compile settings."""

    def __init__(
        self,
        loaded: LoadedModel,
        decode: DecodeSettings,
        settings: EngineSettings,
        *,
        timing: str = "phases",
    ) -> None:
        self.loaded = loaded
        self.settings = settings
        _configure(loaded.model, settings, loaded.precision.device)
        self.transcriber = Transcriber(loaded, decode, timing=timing, compiled=settings.compiled)
        self.timing = timing  #: which timing mode ran (see whisperbench.transcribe)
        self._watch = CompileWatch()

    def __call__(self, batch: Sequence[np.ndarray]) -> Transcription:
        """One round over ``batch``, with the compilations it held (see the Transcriber).

        Raises:
            ValueError: an empty batch, or a waveform that is empty, not 1-D, or non-finite.
        """
        compiles, seconds = self._watch.reading()
        done = self.transcriber(batch)
        after_compiles, after_s = self._watch.reading()
        return dataclasses.replace(
            done, compiles=after_compiles - compiles, compile_s=after_s - seconds
        )

    def recorded_settings(self) -> DecodingFacts:
        return self.transcriber.recorded_settings()

    def engine_facts(self) -> EngineFacts:
        import torch
        import transformers

        precision = self.loaded.precision
        quantization = {
            "int8": "torchao Int8DynamicActivationInt8WeightConfig",
            "int4": "torchao Int4WeightOnlyConfig(group_size=128)",
        }.get(precision.dtype)
        settings: dict[str, Any] = {
            schema.ATTN_IMPLEMENTATION: self.loaded.attn_implementation,
            schema.KV_CACHE: self.settings.kv_cache,
            schema.TORCH_COMPILE: self.settings.torch_compile,
            schema.COMPILE_MODE: (
                compile_mode(precision.device) if self.settings.compiled else None
            ),
            schema.QUANTIZATION: quantization,
            schema.TORCH_VERSION: torch.__version__,
        }
        if quantization is not None:
            from importlib.metadata import version

            settings[schema.TORCHAO_VERSION] = version("torchao")
        return EngineFacts("transformers", transformers.__version__, settings)

    def weights_bytes(self) -> int:
        return weights_size_bytes(self.loaded.model)

    def close(self) -> None:
        """Remove the Transcriber's hooks and the compile callbacks. Idempotent."""
        self.transcriber.close()
        self._watch.close()
