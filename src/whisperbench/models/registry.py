"""The Whisper sizes whisperbench knows: hub id, exact architecture and parameter count.

Facts come from the transformers configs on the hub; parameter counts are
``sum(p.numel() for p in WhisperForConditionalGeneration(config).parameters())`` (the output
projection is tied to the token embedding and counted once). ``tests/test_registry.py`` builds
every architecture on the meta device and checks the counts, so a wrong row cannot pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import WhisperConfig

__all__ = ["MODELS", "ModelSpec", "UnknownModelError", "get_spec"]

#: Token ids that differ between English-only and multilingual vocabularies.
_EN_START_OF_TRANSCRIPT = 50257
_MULTI_START_OF_TRANSCRIPT = 50258
#: ``bos_token_id`` in every hub config (unused by generation, kept for fidelity).
_BOS = 50257


class UnknownModelError(ValueError):
    """Raised for a model id that is not in :data:`MODELS`."""


@dataclass(frozen=True)
class ModelSpec:
    """One Whisper model: its id, hub id and exact architecture."""

    model_id: str
    d_model: int
    encoder_layers: int
    decoder_layers: int
    attention_heads: int
    ffn_dim: int
    num_mel_bins: int
    vocab_size: int
    parameters: int

    @property
    def hub_id(self) -> str:
        """The Hugging Face hub repository, e.g. ``openai/whisper-tiny.en``."""
        return f"openai/whisper-{self.model_id}"

    @property
    def english_only(self) -> bool:
        """True for the ``.en`` models, which take no ``language`` or ``task``."""
        return self.model_id.endswith(".en")

    @property
    def decoder_start_token_id(self) -> int:
        """``<|startoftranscript|>``: 50257 in English-only vocabularies, 50258 otherwise."""
        return _EN_START_OF_TRANSCRIPT if self.english_only else _MULTI_START_OF_TRANSCRIPT

    @property
    def end_of_text_token_id(self) -> int:
        """``<|endoftext|>`` (eos and pad): the id just before start-of-transcript."""
        return self.decoder_start_token_id - 1

    def config(self) -> WhisperConfig:
        """A transformers ``WhisperConfig`` with exactly this architecture."""
        from transformers import WhisperConfig

        start = self.decoder_start_token_id
        return WhisperConfig(
            vocab_size=self.vocab_size,
            num_mel_bins=self.num_mel_bins,
            d_model=self.d_model,
            encoder_layers=self.encoder_layers,
            decoder_layers=self.decoder_layers,
            encoder_attention_heads=self.attention_heads,
            decoder_attention_heads=self.attention_heads,
            encoder_ffn_dim=self.ffn_dim,
            decoder_ffn_dim=self.ffn_dim,
            max_source_positions=1500,
            max_target_positions=448,
            decoder_start_token_id=start,
            bos_token_id=_BOS,
            eos_token_id=self.end_of_text_token_id,
            pad_token_id=self.end_of_text_token_id,
            tie_word_embeddings=True,
        )


def _spec(
    model_id: str,
    width: tuple[int, int, int, int, int],
    mels: int,
    vocab: int,
    parameters: int,
) -> ModelSpec:
    d_model, enc, dec, heads, ffn = width
    return ModelSpec(model_id, d_model, enc, dec, heads, ffn, mels, vocab, parameters)


_TINY = (384, 4, 4, 6, 1536)
_BASE = (512, 6, 6, 8, 2048)
_SMALL = (768, 12, 12, 12, 3072)
_MEDIUM = (1024, 24, 24, 16, 4096)
_LARGE = (1280, 32, 32, 20, 5120)
_TURBO = (1280, 32, 4, 20, 5120)

#: Every model id whisperbench can run, in size order.
MODELS: Mapping[str, ModelSpec] = MappingProxyType(
    {
        spec.model_id: spec
        for spec in (
            _spec("tiny", _TINY, 80, 51865, 37_760_640),
            _spec("tiny.en", _TINY, 80, 51864, 37_760_256),
            _spec("base", _BASE, 80, 51865, 72_593_920),
            _spec("base.en", _BASE, 80, 51864, 72_593_408),
            _spec("small", _SMALL, 80, 51865, 241_734_912),
            _spec("small.en", _SMALL, 80, 51864, 241_734_144),
            _spec("medium", _MEDIUM, 80, 51865, 763_857_920),
            _spec("medium.en", _MEDIUM, 80, 51864, 763_856_896),
            _spec("large", _LARGE, 80, 51865, 1_543_304_960),
            _spec("large-v2", _LARGE, 80, 51865, 1_543_304_960),
            _spec("large-v3", _LARGE, 128, 51866, 1_543_490_560),
            _spec("large-v3-turbo", _TURBO, 128, 51866, 808_878_080),
        )
    }
)


def get_spec(model_id: str) -> ModelSpec:
    """The spec for ``model_id``.

    Raises:
        UnknownModelError: ``model_id`` is not a known Whisper model; the message lists them.
    """
    try:
        return MODELS[model_id]
    except KeyError:
        known = ", ".join(MODELS)
        raise UnknownModelError(
            f"unknown Whisper model {model_id!r}; choose one of: {known}"
        ) from None
