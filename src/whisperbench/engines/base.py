"""What every engine provides, its settings, and the rules that refuse a setting before
anything loads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from whisperbench.models.loading import LoadedModel
from whisperbench.models.precision import ENGINES, NotApplicable
from whisperbench.rounds import Transcription
from whisperbench.schema import DecodingFacts, EngineFacts

__all__ = [
    "COMPILE_CHOICES",
    "CT2_MAX_NEW_TOKENS",
    "ENGINES",
    "KV_CACHES",
    "SHORT_FORM_MAX_S",
    "Engine",
    "EngineSettings",
    "check_engine",
]

#: KV cache implementations of the transformers engine.
KV_CACHES: tuple[str, ...] = ("dynamic", "static")
#: torch.compile for the transformers engine.
COMPILE_CHOICES: tuple[str, ...] = ("off", "on")
#: CTranslate2's Whisper decodes at most half of the 448 decoder positions (whisper.cc).
CT2_MAX_NEW_TOKENS = 224
#: Whisper's window; longer audio needs a chunking loop (transformers has one, CTranslate2's
#: Whisper API does not: faster-whisper adds it).
SHORT_FORM_MAX_S = 30.0


class Engine(Protocol):
    """A way to run Whisper: one call is one round over a batch."""

    #: the model as loaded: spec, precision, weights facts, processor (features, tokenizer)
    loaded: LoadedModel
    #: the timing mode that runs (whisperbench.transcribe.TIMING_MODES)
    timing: str

    def __call__(self, batch: Sequence[np.ndarray]) -> Transcription: ...

    def recorded_settings(self) -> DecodingFacts: ...

    def engine_facts(self) -> EngineFacts: ...

    def weights_bytes(self) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class EngineSettings:
    """The engine and its settings for one run (run options ``engine``, ``kv_cache``,
    ``torch_compile``, ``attn_implementation``)."""

    engine: str = "transformers"
    kv_cache: str = "dynamic"
    torch_compile: str = "off"
    attn_implementation: str = "sdpa"

    @property
    def compiled(self) -> bool:
        return self.torch_compile == "on"


def check_engine(
    settings: EngineSettings,
    *,
    audio_s: float | None = None,
    word_timestamps: bool = False,
    fixed_tokens: int | None = None,
) -> None:
    """Refuse engine settings that cannot run, before anything loads.

    Raises:
        NotApplicable: a setting the engine does not have (a KV cache or compile for
            CTranslate2, compile without the static cache, long-form audio on CTranslate2):
            a matrix leaves the cell out.
        ValueError: an unknown engine or setting, or word timestamps on CTranslate2 or with
            compile.
    """
    if settings.engine not in ENGINES:
        raise ValueError(f"unknown engine {settings.engine!r}; choose one of: {', '.join(ENGINES)}")
    if settings.kv_cache not in KV_CACHES:
        raise ValueError(f"unknown KV cache {settings.kv_cache!r}; choose dynamic or static")
    if settings.torch_compile not in COMPILE_CHOICES:
        raise ValueError(f"compile must be off or on, got {settings.torch_compile!r}")
    if settings.engine == "ctranslate2":
        if settings.kv_cache != "dynamic" or settings.compiled:
            raise NotApplicable(
                "KV cache and compile are transformers settings; CTranslate2 has its own "
                "cache and no torch.compile"
            )
        if audio_s is not None and audio_s > SHORT_FORM_MAX_S:
            raise NotApplicable(
                f"CTranslate2's Whisper takes one {SHORT_FORM_MAX_S:g} s window per clip; "
                f"{audio_s:g} s needs a chunking loop (faster-whisper's) that is not measured here"
            )
        if fixed_tokens is not None and fixed_tokens > CT2_MAX_NEW_TOKENS:
            raise ValueError(
                f"fixed work of {fixed_tokens} tokens: CTranslate2 decodes at most "
                f"{CT2_MAX_NEW_TOKENS} new tokens (half of Whisper's 448 positions); use "
                f"--fixed-tokens {CT2_MAX_NEW_TOKENS} or fewer to compare engines"
            )
        if word_timestamps:
            raise ValueError(
                "word timestamps are not measured on the ctranslate2 engine (CTranslate2 "
                "aligns words in a separate pass, Whisper.align); drop --timestamps or use "
                "the transformers engine"
            )
    elif settings.compiled and settings.kv_cache != "static":
        raise NotApplicable(
            "compile needs the static KV cache: a dynamic cache changes shape every decoding "
            "step, so the compiled decoder would recompile inside the measured window"
        )
    elif settings.compiled and word_timestamps:
        raise ValueError(
            "word timestamps with compile are not measured: they need every step's cross-"
            "attention weights out of the compiled decoding step; drop --timestamps or compile"
        )
