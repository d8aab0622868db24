"""What a randomly initialised Whisper needs besides weights: a processor and generation config.

Random weights are for cost measurements only (results say ``weights: random`` and carry no
WER). The tokenizer and generation settings come from the real packaged checkpoint of the same
vocabulary family (``tiny.en`` for English-only, ``base`` for multilingual), adjusted for
large-v3's vocabulary, which adds ``<|yue|>`` and so moves every task token up by one.
"""

from __future__ import annotations

from typing import Any

from whisperbench.models.registry import ModelSpec

__all__ = ["generation_config_for", "processor_for"]

_V3_VOCAB = 51866
_V2_LAST_LANGUAGE_ID = 50357  # <|su|>; large-v3 inserts <|yue|> after it


def _family_checkpoint(spec: ModelSpec) -> str:
    from whisperbench.models.packaged import packaged_checkpoint

    return str(packaged_checkpoint("tiny.en" if spec.english_only else "base").path)


def processor_for(spec: ModelSpec) -> Any:
    """A ``WhisperProcessor`` with ``spec``'s mel bins and its vocabulary family's tokenizer."""
    from transformers import AutoTokenizer, WhisperFeatureExtractor, WhisperProcessor

    tokenizer = AutoTokenizer.from_pretrained(_family_checkpoint(spec))
    features = WhisperFeatureExtractor(feature_size=spec.num_mel_bins)
    return WhisperProcessor(feature_extractor=features, tokenizer=tokenizer)


def generation_config_for(spec: ModelSpec) -> Any:
    """A ``GenerationConfig`` whose special-token ids are right for ``spec``'s vocabulary."""
    from transformers import GenerationConfig

    config: Any = GenerationConfig.from_pretrained(_family_checkpoint(spec))
    if spec.vocab_size == _V3_VOCAB:
        shift = {key: value + 1 for key, value in (config.task_to_id or {}).items()}
        config.task_to_id = shift
        config.no_timestamps_token_id += 1
        config.lang_to_id = {**config.lang_to_id, "<|yue|>": _V2_LAST_LANGUAGE_ID + 1}
        config.prev_sot_token_id = getattr(config, "prev_sot_token_id", 50361) + 1
    # Alignment heads are a property of trained weights; for random ones use the default
    # transformers applies without them: every head of the decoder's second half.
    half = spec.decoder_layers // 2
    config.alignment_heads = [
        [layer, head]
        for layer in range(half, spec.decoder_layers)
        for head in range(spec.attention_heads)
    ]
    config.decoder_start_token_id = spec.decoder_start_token_id
    config.eos_token_id = spec.end_of_text_token_id
    config.pad_token_id = spec.end_of_text_token_id
    return config
