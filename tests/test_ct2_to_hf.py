"""CTranslate2 Whisper -> transformers: the mapping is exact and the result transcribes exactly
as CTranslate2 does.

Two kinds of proof:

- a round trip through CTranslate2's own converter: a small random transformers Whisper
  (every tensor distinct) -> ``ctranslate2.converters.TransformersConverter`` -> our converter
  gives back the same tensors bit for bit, so no weight lands in the wrong place;
- the packaged tiny.en and base models, converted, load with no missing or unexpected keys and
  produce the same greedy token ids from the same log-mel features as
  ``ctranslate2.models.Whisper(compute_type="float32")`` on synthesized speech.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from whisperbench.models.ct2_format import Ct2DType, Ct2Model, Ct2Variable, load_ct2_model
from whisperbench.models.ct2_to_hf import (
    Ct2ConversionError,
    convert_ct2_whisper_dir,
    read_ct2_whisper_config,
    whisper_dims,
    whisper_state_dict,
)
from whisperbench.models.packaged import (
    PACKAGED_MODELS,
    ConvertedCheckpoint,
    locate_source_files,
    packaged_checkpoint,
)

ctranslate2 = pytest.importorskip("ctranslate2")
transformers = pytest.importorskip("transformers")

pytestmark = pytest.mark.slow

SENTENCES = (
    "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore.",
    "Please call Stella. Ask her to bring these things with her from the store.",
)


@dataclass(frozen=True)
class Facts:
    """What openai/whisper-<id> on the hub says, written out by hand."""

    vocab_size: int
    startoftranscript: int
    notimestamps: int
    endoftext: int
    is_multilingual: bool
    num_parameters: int
    num_mel_bins: int = 80


FACTS = {
    "tiny.en": Facts(51864, 50257, 50362, 50256, False, 37_760_256),
    "base": Facts(51865, 50258, 50363, 50257, True, 72_593_920),
}


# --- session fixtures: one conversion per model, one synthesis -------------------------------


@pytest.fixture(scope="session")
def converted_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("whisperbench-cache")


class _Converted(dict[str, ConvertedCheckpoint]):
    """model id -> packaged checkpoint, converted into ``root`` on first access."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __missing__(self, model_id: str) -> ConvertedCheckpoint:
        self[model_id] = packaged_checkpoint(model_id, cache_dir=self.root)
        return self[model_id]


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> _Converted:
    """Packaged checkpoints converted once per session, shared by every test of this module."""
    return _Converted(tmp_path_factory.mktemp("whisperbench-cache"))


@pytest.fixture(scope="session")
def speech_16k() -> list[np.ndarray]:
    """The sentences as eSpeak NG speech at 16 kHz (whisperbench's own synthesizer)."""
    from whisperbench.audio.espeak import synthesize
    from whisperbench.audio.resample import to_16k_mono

    return [to_16k_mono(s.samples, s.sample_rate_hz) for s in synthesize(list(SENTENCES))]


def _ct2_whisper(model_id: str) -> Any:
    """CTranslate2's own runtime on the packaged files (parts given from memory, not joined)."""
    source = locate_source_files(PACKAGED_MODELS[model_id])
    files = {"model.bin": b"".join(p.read_bytes() for p in source.model_parts)}
    for name in ("config.json", "vocabulary.json", "vocabulary.txt"):
        if (source.support_dir / name).is_file():
            files[name] = (source.support_dir / name).read_bytes()
    return ctranslate2.models.Whisper(
        f"packaged-{model_id}", device="cpu", compute_type="float32", intra_threads=2, files=files
    )


def _strip(ids: list[int], prompt: list[int], eot: int) -> list[int]:
    if ids[: len(prompt)] == prompt:
        ids = ids[len(prompt) :]
    while ids and ids[-1] == eot:
        ids = ids[:-1]
    return ids


# --- round trip through CTranslate2's converter ----------------------------------------------


@pytest.fixture(scope="module")
def random_hf_whisper(tmp_path_factory: pytest.TempPathFactory, converted: _Converted) -> Path:
    """A small transformers Whisper with every parameter random (biases and norms included)
    except two biases made equal on purpose, so CTranslate2 stores one as an alias."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    tiny = converted["tiny.en"].path
    config = WhisperConfig.from_pretrained(tiny)
    config.update(
        {
            "d_model": 16,
            "encoder_layers": 2,
            "decoder_layers": 3,
            "encoder_attention_heads": 2,
            "decoder_attention_heads": 4,
            "encoder_ffn_dim": 24,
            "decoder_ffn_dim": 40,
            "num_mel_bins": 20,
            "max_source_positions": 30,
            "max_target_positions": 20,
            "dtype": "float32",
        }
    )
    torch.manual_seed(1234)
    model = WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_()
        layers = model.model.decoder.layers
        layers[2].fc2.bias.copy_(layers[1].fc2.bias)
    model.generation_config = transformers.GenerationConfig.from_pretrained(tiny)
    folder = tmp_path_factory.mktemp("random-hf")
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny / name, folder / name)
    return folder


@pytest.mark.parametrize(
    ("quantization", "dtype"),
    [("float32", torch.float32), ("float16", torch.float16), ("bfloat16", torch.bfloat16)],
)
def test_round_trip_through_ctranslate2_is_exact(
    random_hf_whisper: Path, tmp_path: Path, quantization: str, dtype: torch.dtype
) -> None:
    ct2_dir = tmp_path / "ct2"
    ctranslate2.converters.TransformersConverter(str(random_hf_whisper)).convert(
        str(ct2_dir), quantization=quantization
    )
    shutil.copy(random_hf_whisper / "tokenizer.json", ct2_dir / "tokenizer.json")
    assert len(load_ct2_model(ct2_dir / "model.bin").aliases) == 2  # proj_out + the twin bias

    out = convert_ct2_whisper_dir(ct2_dir, tmp_path / "hf")

    expected = load_file(random_hf_whisper / "model.safetensors")
    got = load_file(out / "model.safetensors")
    assert sorted(got) == sorted(expected)
    for name, tensor in expected.items():
        assert got[name].dtype == dtype, name
        assert torch.equal(got[name], tensor.to(dtype)), name
    for key in ("d_model", "encoder_layers", "decoder_layers", "encoder_ffn_dim"):
        assert json.loads((out / "config.json").read_text())[key] == getattr(
            transformers.WhisperConfig.from_pretrained(random_hf_whisper), key
        )


def test_quantized_model_is_refused(random_hf_whisper: Path, tmp_path: Path) -> None:
    ct2_dir = tmp_path / "ct2"
    ctranslate2.converters.TransformersConverter(str(random_hf_whisper)).convert(
        str(ct2_dir), quantization="int8"
    )
    shutil.copy(random_hf_whisper / "tokenizer.json", ct2_dir / "tokenizer.json")
    with pytest.raises(Ct2ConversionError, match="quantized CTranslate2 models are not supported"):
        convert_ct2_whisper_dir(ct2_dir, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


# --- the packaged models ---------------------------------------------------------------------


@pytest.mark.parametrize("model_id", list(FACTS))
def test_checkpoint_loads_with_no_missing_or_unexpected_keys(
    converted: _Converted, model_id: str
) -> None:
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    facts = FACTS[model_id]
    folder = converted[model_id].path
    assert {p.name for p in folder.iterdir()} >= {
        "model.safetensors",
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "preprocessor_config.json",
    }
    model, info = WhisperForConditionalGeneration.from_pretrained(
        folder, dtype=torch.float32, output_loading_info=True
    )
    assert info["missing_keys"] == set()
    assert info["unexpected_keys"] == set()
    assert info["mismatched_keys"] == set()
    assert sum(p.numel() for p in model.parameters()) == facts.num_parameters
    assert model.proj_out.weight.data_ptr() == model.model.decoder.embed_tokens.weight.data_ptr()
    assert model.config.vocab_size == facts.vocab_size
    assert model.config.num_mel_bins == facts.num_mel_bins

    stored = load_file(folder / "model.safetensors")
    assert {t.dtype for t in stored.values()} == {torch.float16}  # as shipped, not upcast

    processor = WhisperProcessor.from_pretrained(folder)
    assert processor.feature_extractor.feature_size == facts.num_mel_bins
    assert len(processor.tokenizer) == facts.vocab_size
    ids = processor.tokenizer.convert_tokens_to_ids(
        ["<|startoftranscript|>", "<|notimestamps|>", "<|endoftext|>"]
    )
    assert ids == [facts.startoftranscript, facts.notimestamps, facts.endoftext]
    hello = processor.tokenizer(" Hello world.", add_special_tokens=False).input_ids
    framed = [facts.startoftranscript, facts.notimestamps, *hello, facts.endoftext]
    assert processor.tokenizer.decode(framed, skip_special_tokens=True) == " Hello world."
    # Timestamp tokens follow <|notimestamps|>: <|1.00|> is 50 steps of 20 ms after <|0.00|>.
    assert processor.tokenizer.convert_ids_to_tokens(facts.notimestamps + 1 + 50) == "<|1.00|>"


@pytest.mark.parametrize("model_id", list(FACTS))
def test_generation_config_matches_whisper(converted: _Converted, model_id: str) -> None:
    facts = FACTS[model_id]
    folder = converted[model_id].path
    generation = transformers.GenerationConfig.from_pretrained(folder)
    source = locate_source_files(PACKAGED_MODELS[model_id])
    ct2_config = read_ct2_whisper_config(source.support_dir / "config.json")

    assert generation.decoder_start_token_id == facts.startoftranscript
    assert generation.no_timestamps_token_id == facts.notimestamps
    assert generation.eos_token_id == generation.pad_token_id == facts.endoftext
    assert generation.max_length == 448
    assert generation.forced_decoder_ids is None
    assert generation.is_multilingual is facts.is_multilingual
    assert generation.suppress_tokens == ct2_config["suppress_ids"]
    assert (
        generation.begin_suppress_tokens
        == ct2_config["suppress_ids_begin"]
        == [
            220,
            facts.endoftext,
        ]
    )
    assert generation.alignment_heads == ct2_config["alignment_heads"]
    if facts.is_multilingual:
        assert len(generation.lang_to_id) == 99
        assert generation.lang_to_id["<|en|>"] == facts.startoftranscript + 1
        assert sorted(generation.lang_to_id.values()) == ct2_config["lang_ids"]
        assert generation.task_to_id == {
            "translate": facts.notimestamps - 5,
            "transcribe": facts.notimestamps - 4,
        }
    else:
        assert getattr(generation, "lang_to_id", None) is None


@pytest.mark.parametrize("model_id", list(FACTS))
def test_weights_are_the_shipped_bits(converted: _Converted, model_id: str) -> None:
    """Spot checks against the source file itself (the round trip covers every name)."""
    ct2 = load_ct2_model(locate_source_files(PACKAGED_MODELS[model_id]).model_parts)
    dims = whisper_dims(ct2)
    stored = load_file(converted[model_id].path / "model.safetensors")
    d = dims.d_model

    def source(name: str) -> torch.Tensor:
        return torch.from_numpy(ct2.resolve(name).array.copy())

    assert torch.equal(
        stored["model.decoder.embed_tokens.weight"], source("decoder/embeddings/weight")
    )
    last = dims.decoder_layers - 1
    fused = source(f"decoder/layer_{last}/self_attention/linear_0/weight")
    fused_bias = source(f"decoder/layer_{last}/self_attention/linear_0/bias")
    prefix = f"model.decoder.layers.{last}.self_attn"
    assert torch.equal(stored[f"{prefix}.q_proj.weight"], fused[:d])
    assert torch.equal(stored[f"{prefix}.k_proj.weight"], fused[d : 2 * d])
    assert torch.equal(stored[f"{prefix}.v_proj.weight"], fused[2 * d :])
    assert torch.equal(stored[f"{prefix}.v_proj.bias"], fused_bias[2 * d :])
    assert f"{prefix}.k_proj.bias" not in stored
    kv = source(f"decoder/layer_{last}/attention/linear_1/weight")
    assert torch.equal(stored[f"model.decoder.layers.{last}.encoder_attn.v_proj.weight"], kv[d:])
    assert "proj_out.weight" not in stored  # tied to embed_tokens on load


@pytest.mark.parametrize("model_id", list(FACTS))
def test_greedy_tokens_equal_ctranslate2(
    converted: _Converted, speech_16k: list[np.ndarray], model_id: str
) -> None:
    """Same log-mel features in, same greedy token ids out, as CTranslate2 float32."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    facts = FACTS[model_id]
    folder = converted[model_id].path
    processor = WhisperProcessor.from_pretrained(folder)
    features = processor.feature_extractor(
        speech_16k, sampling_rate=16000, return_tensors="np"
    ).input_features.astype(np.float32)
    tokenizer = processor.tokenizer
    if facts.is_multilingual:
        prompt_tokens = ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]
        options: dict[str, Any] = {"language": "en", "task": "transcribe"}
    else:
        prompt_tokens = ["<|startoftranscript|>", "<|notimestamps|>"]
        options = {}
    prompt = tokenizer.convert_tokens_to_ids(prompt_tokens)

    model = WhisperForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.inference_mode():
        hf_out = model.generate(torch.from_numpy(features), num_beams=1, do_sample=False, **options)
    hf_ids = [_strip(row.tolist(), prompt, facts.endoftext) for row in hf_out]

    ct2_model = _ct2_whisper(model_id)
    results = ct2_model.generate(
        ctranslate2.StorageView.from_array(features),
        [prompt] * len(speech_16k),
        beam_size=1,
        max_length=448,
    )
    ct2_ids = [_strip(r.sequences_ids[0], prompt, facts.endoftext) for r in results]

    assert hf_ids == ct2_ids
    assert all(len(ids) >= 10 for ids in hf_ids), hf_ids
    # Real recognition, not just agreement: words both sizes get right on this synthetic voice.
    first, second = tokenizer.batch_decode(hf_ids, skip_special_tokens=True)
    assert "quick" in first.lower(), first
    assert "sea shore" in first.lower(), first
    assert "bring these things" in second.lower(), second

    if facts.is_multilingual:
        with torch.inference_mode():
            detected = model.detect_language(torch.from_numpy(features[:1]))
        ct2_lang = ct2_model.detect_language(ctranslate2.StorageView.from_array(features[:1]))
        assert tokenizer.convert_ids_to_tokens(int(detected[0])) == "<|en|>"
        assert ct2_lang[0][0][0] == "<|en|>"


# --- what the converter refuses -------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_ct2() -> Ct2Model:
    return load_ct2_model(locate_source_files(PACKAGED_MODELS["tiny.en"]).model_parts)


def _with(model: Ct2Model, **changes: np.ndarray | None) -> Ct2Model:
    """``model`` with variables replaced (array), added (array) or removed (None)."""
    variables = dict(model.variables)
    for key, array in changes.items():
        name = key.replace("__", "/")
        if array is None:
            del variables[name]
        else:
            dtype = Ct2DType.INT8 if array.dtype == np.int8 else Ct2DType.FLOAT16
            variables[name] = Ct2Variable(name, dtype, array)
    return replace(model, variables=variables)


def test_tiny_en_dims_come_from_the_tensors(tiny_ct2: Ct2Model) -> None:
    dims = whisper_dims(tiny_ct2)
    assert (dims.d_model, dims.encoder_layers, dims.decoder_layers) == (384, 4, 4)
    assert (dims.encoder_attention_heads, dims.decoder_attention_heads) == (6, 6)
    assert (dims.encoder_ffn_dim, dims.num_mel_bins, dims.vocab_size) == (1536, 80, 51864)
    assert (dims.max_source_positions, dims.max_target_positions) == (1500, 448)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"decoder__activation": np.array(1, dtype=np.int8)}, "decoder/activation = 1"),
        ({"decoder__rotary_dim": np.array(4, dtype=np.int8)}, "unknown scalar decoder/rotary_dim"),
        ({"encoder__num_heads": None}, "no scalar 'encoder/num_heads'"),
        ({"encoder__extra__weight": np.zeros(3, np.float16)}, "does not map: encoder/extra"),
        ({"decoder__layer_2__ffn__linear_1__bias": None}, "no variable"),
    ],
)
def test_unrepresentable_models_are_refused(
    tiny_ct2: Ct2Model, changes: dict[str, np.ndarray | None], message: str
) -> None:
    with pytest.raises(Ct2ConversionError, match=message):
        whisper_state_dict(_with(tiny_ct2, **changes))


def test_nonzero_key_bias_is_refused(tiny_ct2: Ct2Model) -> None:
    name = "encoder/layer_1/self_attention/linear_0/bias"
    bias = tiny_ct2.variables[name].array.copy()
    bias[384 + 7] = 0.5  # inside the k third
    with pytest.raises(Ct2ConversionError, match="k_proj has no bias"):
        whisper_state_dict(_with(tiny_ct2, **{name.replace("/", "__"): bias}))
