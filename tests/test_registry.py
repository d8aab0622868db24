"""The registry's architecture and parameter-count facts, checked against transformers itself."""

import pytest
import torch
from transformers import WhisperForConditionalGeneration

from whisperbench.models.registry import MODELS, UnknownModelError, get_spec


def test_registry_has_the_twelve_ids() -> None:
    assert list(MODELS) == [
        "tiny", "tiny.en", "base", "base.en", "small", "small.en", "medium", "medium.en",
        "large", "large-v2", "large-v3", "large-v3-turbo",
    ]  # fmt: skip


@pytest.mark.parametrize("model_id", list(MODELS))
def test_parameter_count_matches_architecture_built_on_meta(model_id: str) -> None:
    spec = MODELS[model_id]
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(spec.config())
    assert sum(p.numel() for p in model.parameters()) == spec.parameters
    assert model.config.decoder_start_token_id == spec.decoder_start_token_id


def test_english_only_counts_differ_from_multilingual_by_one_embedding_row() -> None:
    for size in ("tiny", "base", "small", "medium"):
        multi, english = MODELS[size], MODELS[f"{size}.en"]
        assert multi.parameters - english.parameters == multi.d_model


@pytest.mark.parametrize(
    ("model_id", "start", "eos"), [("tiny.en", 50257, 50256), ("large-v3", 50258, 50257)]
)
def test_special_token_ids(model_id: str, start: int, eos: int) -> None:
    spec = get_spec(model_id)
    assert (spec.decoder_start_token_id, spec.end_of_text_token_id) == (start, eos)
    assert spec.hub_id == f"openai/whisper-{model_id}"


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(UnknownModelError, match=r"unknown Whisper model 'huge'.*tiny\.en"):
        get_spec("huge")
