"""Convert a CTranslate2 Whisper model (as faster-whisper ships it) to a transformers checkpoint.

Length: over 450 lines because the tensor-name mapping, the vocabulary repair and the atomic
cache write are one conversion, read top to bottom against CTranslate2's own loader.

The inverse of CTranslate2's ``WhisperLoader`` (``ctranslate2/converters/transformers.py``):

- ``encoder/conv{1,2}/*`` -> ``model.encoder.conv{1,2}.*`` (same ``(out, in, kernel)`` layout);
- ``{encoder,decoder}/position_encodings/encodings`` -> ``….embed_positions.weight``;
- ``…/layer_i/self_attention/linear_0`` is q, k, v fused along the output rows (split in
  thirds; CTranslate2 filled the k bias with zeros because ``k_proj`` has none), ``linear_1`` is
  ``self_attn.out_proj``;
- decoder ``…/attention/linear_0`` is ``encoder_attn.q_proj``, ``linear_1`` is k, v fused
  (halves), ``linear_2`` is ``encoder_attn.out_proj``;
- ``ffn/linear_{0,1}`` -> ``fc1``/``fc2``; layer norms ``gamma``/``beta`` -> ``weight``/``bias``
  (``self_attention/layer_norm`` -> ``self_attn_layer_norm``, ``attention/layer_norm`` ->
  ``encoder_attn_layer_norm``, ``ffn/layer_norm`` -> ``final_layer_norm``);
- ``decoder/embeddings/weight`` -> ``model.decoder.embed_tokens.weight``; the output projection
  is an alias of it, so the checkpoint ties ``proj_out`` (``tie_word_embeddings``).

Tensors keep the dtype they were stored in (float16 stays float16), so the conversion is exact;
callers pick the compute dtype with ``from_pretrained(..., dtype=...)``. Every dimension comes
from tensor shapes and the ``num_heads`` scalars; every special token id from ``tokenizer.json``.
Quantized (int8/int16) models are refused: their de-quantized weights would not be the model.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from whisperbench.models.ct2_format import Ct2DType, Ct2Model, Ct2Variable, load_ct2_model

if TYPE_CHECKING:
    import torch

# torch is imported by the functions that make tensors: whisperbench.models.packaged imports
# this module for CONVERTER_VERSION, and `whisperbench models` starts without torch.

__all__ = [
    "CONVERTER_VERSION",
    "Ct2ConversionError",
    "WhisperDims",
    "WhisperSpecialTokens",
    "convert_ct2_whisper",
    "convert_ct2_whisper_dir",
    "read_ct2_vocabulary",
    "read_ct2_whisper_config",
    "whisper_dims",
    "whisper_state_dict",
]

#: Bump whenever the files written for the same input change; part of the cache key.
#: 2: the safetensors header's metadata is written in sorted key order, so every conversion of
#: the same weights is byte-identical (1 wrote it in a hash map's random order).
CONVERTER_VERSION = 2

#: CTranslate2 ``common_spec.Activation.GELU``, the only activation HF Whisper uses.
_CT2_GELU = 3

#: Scalars whose value must be this for the model to be a plain Whisper decoder.
_REQUIRED_SCALARS: dict[str, int] = {
    "decoder/activation": _CT2_GELU,
    "decoder/pre_norm": 1,
    "decoder/scale_embeddings": 0,
    "decoder/alibi": 0,
    "decoder/start_from_zero_embedding": 0,
}
#: Scalars with no effect on a Whisper model (ALiBi options while ALiBi is off; the generic
#: decoder's alignment defaults, which Whisper replaces with ``alignment_heads`` in config.json).
_IGNORED_SCALARS = frozenset(
    {
        "decoder/alibi_use_positive_positions",
        "decoder/scale_alibi",
        "decoder/alignment_heads",
        "decoder/alignment_layer",
    }
)
_HEAD_SCALARS = frozenset({"encoder/num_heads", "decoder/num_heads"})

#: CTranslate2 dtypes converted as they are (torch dtype names); quantized ones are refused.
_TORCH_DTYPES: dict[Ct2DType, str] = {
    Ct2DType.FLOAT32: "float32",
    Ct2DType.FLOAT16: "float16",
    Ct2DType.BFLOAT16: "bfloat16",
}

#: openai/whisper's rule: multilingual vocabularies have 51865 tokens or more.
_MULTILINGUAL_MIN_VOCAB = 51865


class Ct2ConversionError(ValueError):
    """The CTranslate2 model (or its files) cannot be expressed as a transformers Whisper."""


@dataclass(frozen=True)
class WhisperDims:
    """Architecture read from the tensors (no per-size table)."""

    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_attention_heads: int
    decoder_attention_heads: int
    encoder_ffn_dim: int
    decoder_ffn_dim: int
    num_mel_bins: int
    vocab_size: int
    max_source_positions: int  #: encoder frames after the stride-2 conv (1500 for 30 s)
    max_target_positions: int  #: decoder positions (448)


@dataclass(frozen=True)
class WhisperSpecialTokens:
    """Special token ids, read from the added tokens of a ``tokenizer.json``."""

    endoftext: int
    startoftranscript: int
    translate: int
    transcribe: int
    startoflm: int | None
    startofprev: int | None
    notimestamps: int
    languages: Mapping[str, int]  #: "<|en|>" -> id, every language token, in id order

    @classmethod
    def from_tokenizer_json(cls, path: Path) -> WhisperSpecialTokens:
        """Read the ids of ``<|endoftext|>``, ``<|startoftranscript|>`` and the rest.

        Language tokens are the added tokens between ``<|startoftranscript|>`` and
        ``<|translate|>``, as in every Whisper vocabulary.

        Raises:
            Ct2ConversionError: a required special token is missing.
        """
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        by_content = {str(t["content"]): int(t["id"]) for t in data.get("added_tokens", [])}

        def required(content: str) -> int:
            if content not in by_content:
                raise Ct2ConversionError(f"{path} has no added token {content!r}")
            return by_content[content]

        sot = required("<|startoftranscript|>")
        translate = required("<|translate|>")
        languages = {
            content: token_id
            for content, token_id in sorted(by_content.items(), key=lambda item: item[1])
            if sot < token_id < translate
        }
        return cls(
            endoftext=required("<|endoftext|>"),
            startoftranscript=sot,
            translate=translate,
            transcribe=required("<|transcribe|>"),
            startoflm=by_content.get("<|startoflm|>"),
            startofprev=by_content.get("<|startofprev|>"),
            notimestamps=required("<|notimestamps|>"),
            languages=languages,
        )


def _int_list(value: Any, key: str) -> list[int]:
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
        raise Ct2ConversionError(f"config.json {key} is not a list of integers: {value!r}")
    return list(value)


def read_ct2_whisper_config(path: Path) -> dict[str, Any]:
    """Read a CTranslate2 Whisper ``config.json``, normalising list fields.

    Some writers store ``alignment_heads``, ``lang_ids``, ``suppress_ids`` and
    ``suppress_ids_begin`` as JSON strings of lists; both forms are accepted.

    Returns:
        ``suppress_ids`` and ``suppress_ids_begin`` (lists of ints), ``alignment_heads``
        (list of ``[layer, head]``) and ``lang_ids`` (list of ints) — the last two ``None``
        when absent.

    Raises:
        Ct2ConversionError: a suppress list is missing, or a field has the wrong shape.
    """
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    result: dict[str, Any] = {}
    for key in ("suppress_ids", "suppress_ids_begin"):
        if raw.get(key) is None:
            raise Ct2ConversionError(f"{path} has no {key}")
        result[key] = _int_list(raw[key], key)
    lang_ids = raw.get("lang_ids")
    result["lang_ids"] = None if lang_ids is None else _int_list(lang_ids, "lang_ids")
    heads = raw.get("alignment_heads")
    if isinstance(heads, str):
        heads = json.loads(heads)
    if heads is not None:
        if not isinstance(heads, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, int) for v in pair)
            for pair in heads
        ):
            raise Ct2ConversionError(f"{path} alignment_heads is not a list of [layer, head]")
        heads = [list(pair) for pair in heads]
    result["alignment_heads"] = heads
    return result


def _count_layers(model: Ct2Model, stack: str) -> int:
    pattern = re.compile(rf"^{stack}/layer_(\d+)/")
    indices = {int(m.group(1)) for name in model.variables if (m := pattern.match(name))}
    if not indices:
        raise Ct2ConversionError(f"{model.spec_name} model has no {stack} layers")
    if indices != set(range(len(indices))):
        raise Ct2ConversionError(f"{stack} layer indices are not 0..n-1: {sorted(indices)}")
    return len(indices)


def _shape(model: Ct2Model, name: str) -> tuple[int, ...]:
    try:
        return model.resolve(name).shape
    except KeyError:
        raise Ct2ConversionError(f"{model.spec_name} model has no variable {name!r}") from None


def _int_scalar(model: Ct2Model, name: str) -> int:
    try:
        variable = model.resolve(name)
    except KeyError:
        raise Ct2ConversionError(f"{model.spec_name} model has no scalar {name!r}") from None
    if not variable.is_scalar or variable.dtype.is_float:
        raise Ct2ConversionError(f"{name} is not an integer scalar: {variable.shape}")
    return int(variable.item())


def whisper_dims(model: Ct2Model) -> WhisperDims:
    """Read the architecture of a CTranslate2 Whisper model from its tensors.

    Raises:
        Ct2ConversionError: the spec is not ``WhisperSpec``, a variable is missing, or the
            shapes are inconsistent.
    """
    if model.spec_name != "WhisperSpec":
        raise Ct2ConversionError(f"expected a WhisperSpec model, got {model.spec_name!r}")
    d_model, num_mel_bins, _kernel = _shape(model, "encoder/conv1/weight")
    dims = WhisperDims(
        d_model=d_model,
        encoder_layers=_count_layers(model, "encoder"),
        decoder_layers=_count_layers(model, "decoder"),
        encoder_attention_heads=_int_scalar(model, "encoder/num_heads"),
        decoder_attention_heads=_int_scalar(model, "decoder/num_heads"),
        encoder_ffn_dim=_shape(model, "encoder/layer_0/ffn/linear_0/weight")[0],
        decoder_ffn_dim=_shape(model, "decoder/layer_0/ffn/linear_0/weight")[0],
        num_mel_bins=num_mel_bins,
        vocab_size=_shape(model, "decoder/embeddings/weight")[0],
        max_source_positions=_shape(model, "encoder/position_encodings/encodings")[0],
        max_target_positions=_shape(model, "decoder/position_encodings/encodings")[0],
    )
    for heads in (dims.encoder_attention_heads, dims.decoder_attention_heads):
        if heads <= 0 or d_model % heads:
            raise Ct2ConversionError(f"d_model {d_model} is not divisible by {heads} heads")
    return dims


def _to_torch(variable: Ct2Variable) -> torch.Tensor:
    import torch

    if variable.dtype not in _TORCH_DTYPES:
        raise Ct2ConversionError(
            f"{variable.name} is {variable.dtype.name.lower()}: quantized CTranslate2 models "
            "are not supported; use a float16, bfloat16 or float32 model"
        )
    if variable.dtype is Ct2DType.BFLOAT16:
        return torch.from_numpy(variable.array.view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(variable.array.copy())


class _Taker:
    """Hands out variables by name, following aliases, and remembers which were used.

    CTranslate2 replaces every variable equal to one earlier in alphabetical order by an alias
    (``ModelSpec._alias_variables``), not only the tied output projection: e.g. two all-zero
    biases of the same shape. Each use gets its own copy, so no two tensors share memory.
    """

    def __init__(self, model: Ct2Model) -> None:
        self.model = model
        self.used: set[str] = set()

    def take(self, name: str) -> torch.Tensor:
        try:
            variable = self.model.resolve(name)
        except KeyError:
            raise Ct2ConversionError(
                f"{self.model.spec_name} model has no variable {name!r}"
            ) from None
        self.used.add(variable.name)
        return _to_torch(variable)

    def split(
        self, name: str, parts: int, zero_bias_part: int
    ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """Split a fused linear into ``parts`` (weight, bias) pairs; one part has no bias."""
        import torch

        weight = self.take(f"{name}/weight")
        bias = self.take(f"{name}/bias")
        if weight.shape[0] % parts or bias.shape[0] != weight.shape[0]:
            raise Ct2ConversionError(f"{name} of shape {tuple(weight.shape)} is not {parts} fused")
        pieces: list[tuple[torch.Tensor, torch.Tensor | None]] = []
        for index, (w, b) in enumerate(
            zip(weight.chunk(parts, dim=0), bias.chunk(parts, dim=0), strict=True)
        ):
            if index == zero_bias_part:
                if torch.count_nonzero(b):
                    raise Ct2ConversionError(
                        f"{name}/bias part {index} (a key projection) is not zero, but "
                        "transformers' Whisper k_proj has no bias"
                    )
                pieces.append((w.clone(), None))
                continue
            pieces.append((w.clone(), b.clone()))
        return pieces


def _check_scalars(model: Ct2Model) -> None:
    for name, variable in model.variables.items():
        if not variable.is_scalar or name in _HEAD_SCALARS or name in _IGNORED_SCALARS:
            continue
        if name not in _REQUIRED_SCALARS:
            raise Ct2ConversionError(
                f"unknown scalar {name} = {variable.item()}: this converter does not know what "
                "it changes, so it will not guess"
            )
        if variable.item() != _REQUIRED_SCALARS[name]:
            raise Ct2ConversionError(
                f"{name} = {variable.item()}, but transformers' Whisper needs "
                f"{_REQUIRED_SCALARS[name]}"
            )
    for name in _REQUIRED_SCALARS:
        if name not in model.variables:
            raise Ct2ConversionError(f"{model.spec_name} model has no scalar {name}")


def whisper_state_dict(model: Ct2Model) -> tuple[dict[str, torch.Tensor], bool]:
    """Map a CTranslate2 Whisper model's variables to transformers state-dict names.

    Returns:
        ``(state_dict, tied)``: tensors in their stored dtype, and whether the output projection
        is the token embedding (then ``proj_out.weight`` is left out, to be tied on load).

    Raises:
        Ct2ConversionError: a variable is quantized, missing or unexpected; a fused key bias
            is not zero; a scalar has a value transformers cannot express.
    """
    if any(name.endswith("weight_scale") for name in model.variables):
        raise Ct2ConversionError(
            "the model is quantized (it has weight_scale variables): quantized CTranslate2 "
            "models are not supported; use a float16, bfloat16 or float32 model"
        )
    dims = whisper_dims(model)
    _check_scalars(model)
    taker = _Taker(model)
    sd: dict[str, torch.Tensor] = {}

    def linear(ct2: str, hf: str) -> None:
        sd[f"{hf}.weight"] = taker.take(f"{ct2}/weight")
        sd[f"{hf}.bias"] = taker.take(f"{ct2}/bias")

    def norm(ct2: str, hf: str) -> None:
        sd[f"{hf}.weight"] = taker.take(f"{ct2}/gamma")
        sd[f"{hf}.bias"] = taker.take(f"{ct2}/beta")

    def put(hf: str, piece: tuple[torch.Tensor, torch.Tensor | None]) -> None:
        sd[f"{hf}.weight"] = piece[0]
        if piece[1] is not None:
            sd[f"{hf}.bias"] = piece[1]

    def self_attention(ct2: str, hf: str) -> None:
        norm(f"{ct2}/self_attention/layer_norm", f"{hf}.self_attn_layer_norm")
        q, k, v = taker.split(f"{ct2}/self_attention/linear_0", 3, zero_bias_part=1)
        put(f"{hf}.self_attn.q_proj", q)
        put(f"{hf}.self_attn.k_proj", k)
        put(f"{hf}.self_attn.v_proj", v)
        linear(f"{ct2}/self_attention/linear_1", f"{hf}.self_attn.out_proj")

    def ffn(ct2: str, hf: str) -> None:
        norm(f"{ct2}/ffn/layer_norm", f"{hf}.final_layer_norm")
        linear(f"{ct2}/ffn/linear_0", f"{hf}.fc1")
        linear(f"{ct2}/ffn/linear_1", f"{hf}.fc2")

    for conv in ("conv1", "conv2"):
        linear(f"encoder/{conv}", f"model.encoder.{conv}")
    for stack in ("encoder", "decoder"):
        sd[f"model.{stack}.embed_positions.weight"] = taker.take(
            f"{stack}/position_encodings/encodings"
        )
        norm(f"{stack}/layer_norm", f"model.{stack}.layer_norm")
    for i in range(dims.encoder_layers):
        self_attention(f"encoder/layer_{i}", f"model.encoder.layers.{i}")
        ffn(f"encoder/layer_{i}", f"model.encoder.layers.{i}")
    for i in range(dims.decoder_layers):
        ct2, hf = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        self_attention(ct2, hf)
        norm(f"{ct2}/attention/layer_norm", f"{hf}.encoder_attn_layer_norm")
        linear(f"{ct2}/attention/linear_0", f"{hf}.encoder_attn.q_proj")
        k, v = taker.split(f"{ct2}/attention/linear_1", 2, zero_bias_part=0)
        put(f"{hf}.encoder_attn.k_proj", k)
        put(f"{hf}.encoder_attn.v_proj", v)
        linear(f"{ct2}/attention/linear_2", f"{hf}.encoder_attn.out_proj")
        ffn(ct2, hf)

    sd["model.decoder.embed_tokens.weight"] = taker.take("decoder/embeddings/weight")
    # CTranslate2 stores a projection equal to the embedding as an alias of it.
    tied = model.resolve("decoder/projection/weight") is model.resolve("decoder/embeddings/weight")
    if not tied:
        sd["proj_out.weight"] = taker.take("decoder/projection/weight")
    if "decoder/projection/bias" in model:
        raise Ct2ConversionError("decoder/projection/bias exists, but proj_out has no bias")

    leftover = sorted(
        name
        for name, variable in model.variables.items()
        if name not in taker.used and not variable.is_scalar
    )
    if leftover:
        raise Ct2ConversionError(f"variables this converter does not map: {', '.join(leftover)}")
    return sd, tied


def _checkpoint_dtype(state_dict: Mapping[str, torch.Tensor]) -> torch.dtype:
    counts = Counter(t.dtype for t in state_dict.values())
    return counts.most_common(1)[0][0]


def read_ct2_vocabulary(path: Path) -> list[str]:
    """Read a CTranslate2 vocabulary: ``vocabulary.json`` (a list) or ``vocabulary.txt`` (one
    token per line).

    Raises:
        Ct2ConversionError: a ``.json`` vocabulary is not a list of strings.
    """
    if path.suffix == ".json":
        tokens = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise Ct2ConversionError(f"{path} is not a JSON list of token strings")
        return list(tokens)
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")  # not splitlines(): byte-level tokens may hold other breaks
    return lines[:-1] if text.endswith("\n") else lines


def _build_tokenizer(
    tokenizer_json: Path, vocab_size: int, vocabulary: Sequence[str] | None
) -> Any:
    import transformers
    from tokenizers import AddedToken

    # transformers 4.x: the tokenizers-backed class; 5.x: an alias of WhisperTokenizer.
    tokenizer_class = transformers.WhisperTokenizerFast  # type: ignore[attr-defined]

    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    extra = [
        str(t["content"])
        for t in sorted(data.get("added_tokens", []), key=lambda t: int(t["id"]))
        if t.get("special") and t["content"] != "<|endoftext|>"
    ]
    tokenizer = tokenizer_class(
        tokenizer_file=str(tokenizer_json),
        unk_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=extra,  # 5.x stores them as extra_special_tokens
    )
    known = len(tokenizer)
    if vocabulary is not None:
        if len(vocabulary) != vocab_size:
            raise Ct2ConversionError(
                f"the CTranslate2 vocabulary has {len(vocabulary)} tokens, the model {vocab_size}"
            )
        if known > vocab_size:
            raise Ct2ConversionError(f"tokenizer.json has {known} tokens, the model {vocab_size}")
        ours = tokenizer.convert_ids_to_tokens(list(range(known)))
        mismatch = next((i for i in range(known) if ours[i] != vocabulary[i]), None)
        if mismatch is not None:
            raise Ct2ConversionError(
                f"tokenizer.json and the CTranslate2 vocabulary disagree at id {mismatch}: "
                f"{ours[mismatch]!r} vs {vocabulary[mismatch]!r}"
            )
        missing = list(vocabulary[known:])
    else:
        # CTranslate2's WhisperLoader fills the vocabulary up with timestamp tokens the same way.
        missing = [f"<|{i * 0.02:.2f}|>" for i in range(vocab_size - known)]
    if missing:
        tokenizer.add_tokens([AddedToken(t, special=False, normalized=True) for t in missing])
    if len(tokenizer) != vocab_size:
        raise Ct2ConversionError(
            f"the tokenizer has {len(tokenizer)} tokens after adding timestamps, "
            f"the model {vocab_size}"
        )
    return tokenizer


def convert_ct2_whisper(
    model: Ct2Model,
    *,
    tokenizer_json: Path,
    ct2_config: Mapping[str, Any],
    output_dir: Path,
    vocabulary: Sequence[str] | None = None,
) -> Path:
    """Write a transformers Whisper checkpoint folder for a CTranslate2 Whisper model.

    Writes ``model.safetensors`` (tensors in their stored dtype), ``config.json``,
    ``generation_config.json``, the tokenizer files and ``preprocessor_config.json``, so that
    ``WhisperForConditionalGeneration.from_pretrained(output_dir)`` and
    ``WhisperProcessor.from_pretrained(output_dir)`` load with no missing or unexpected keys.

    Args:
        model: the parsed ``model.bin``.
        tokenizer_json: the ``tokenizer.json`` shipped with the model; all special token ids
            are read from it.
        ct2_config: the CTranslate2 ``config.json`` as returned by
            :func:`read_ct2_whisper_config`.
        output_dir: created if missing; must be empty if it exists.
        vocabulary: the CTranslate2 vocabulary (``vocabulary.txt``/``.json``), one token per id;
            checked against the tokenizer, and its tokens past the tokenizer's end (timestamps)
            are added to the tokenizer. Without it, timestamp tokens are generated.

    Returns:
        ``output_dir``.

    Raises:
        Ct2ConversionError: the model or its files cannot be converted faithfully (see
            :func:`whisper_state_dict`; also a tokenizer that disagrees with the vocabulary, or
            language ids in config.json that disagree with the tokenizer).
        FileExistsError: ``output_dir`` exists and is not empty.
    """
    from safetensors.torch import save_file
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor

    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()):
        raise FileExistsError(f"output folder {output_dir} is not empty")
    dims = whisper_dims(model)
    state_dict, tied = whisper_state_dict(model)
    tokens = WhisperSpecialTokens.from_tokenizer_json(Path(tokenizer_json))
    tokenizer = _build_tokenizer(Path(tokenizer_json), dims.vocab_size, vocabulary)
    is_multilingual = dims.vocab_size >= _MULTILINGUAL_MIN_VOCAB

    alignment_heads = ct2_config.get("alignment_heads")
    if alignment_heads is None:  # CTranslate2's default: every head of the last half
        half = dims.decoder_layers // 2
        alignment_heads = [
            [layer, head]
            for layer in range(half, dims.decoder_layers)
            for head in range(dims.decoder_attention_heads)
        ]
    multilingual: dict[str, Any] = {}
    if is_multilingual:
        lang_ids = ct2_config.get("lang_ids")
        if lang_ids is not None and sorted(lang_ids) != sorted(tokens.languages.values()):
            raise Ct2ConversionError(
                "config.json lang_ids disagree with the language tokens of tokenizer.json"
            )
        multilingual = {
            "lang_to_id": dict(tokens.languages),
            "task_to_id": {"transcribe": tokens.transcribe, "translate": tokens.translate},
        }
    suppress = list(ct2_config["suppress_ids"])
    begin_suppress = list(ct2_config["suppress_ids_begin"])

    dtype = _checkpoint_dtype(state_dict)
    config = WhisperConfig(
        vocab_size=dims.vocab_size,
        num_mel_bins=dims.num_mel_bins,
        encoder_layers=dims.encoder_layers,
        encoder_attention_heads=dims.encoder_attention_heads,
        decoder_layers=dims.decoder_layers,
        decoder_attention_heads=dims.decoder_attention_heads,
        encoder_ffn_dim=dims.encoder_ffn_dim,
        decoder_ffn_dim=dims.decoder_ffn_dim,
        d_model=dims.d_model,
        max_source_positions=dims.max_source_positions,
        max_target_positions=dims.max_target_positions,
        activation_function="gelu",
        scale_embedding=False,
        pad_token_id=tokens.endoftext,
        bos_token_id=tokens.endoftext,
        eos_token_id=tokens.endoftext,
        decoder_start_token_id=tokens.startoftranscript,
        suppress_tokens=suppress,
        begin_suppress_tokens=begin_suppress,
        tie_word_embeddings=tied,
        architectures=["WhisperForConditionalGeneration"],
    )
    config.dtype = str(dtype).removeprefix("torch.")
    generation_config = GenerationConfig(
        decoder_start_token_id=tokens.startoftranscript,
        bos_token_id=tokens.endoftext,
        eos_token_id=tokens.endoftext,
        pad_token_id=tokens.endoftext,
        no_timestamps_token_id=tokens.notimestamps,
        prev_sot_token_id=tokens.startofprev,
        suppress_tokens=suppress,
        begin_suppress_tokens=begin_suppress,
        alignment_heads=alignment_heads,
        max_length=dims.max_target_positions,
        max_initial_timestamp_index=50,
        forced_decoder_ids=None,
        is_multilingual=is_multilingual,
        return_timestamps=False,
        **multilingual,
    )

    output_dir.mkdir(parents=True, exist_ok=True)
    save_file(
        state_dict,
        str(output_dir / "model.safetensors"),
        metadata={
            "format": "pt",
            "converted_from": f"ctranslate2 {model.spec_name} revision {model.revision}",
            "whisperbench_converter_version": str(CONVERTER_VERSION),
        },
    )
    _sort_safetensors_metadata(output_dir / "model.safetensors")
    config.save_pretrained(output_dir)
    generation_config.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    features = WhisperFeatureExtractor(feature_size=dims.num_mel_bins)
    features.save_pretrained(output_dir)
    return output_dir


def _sort_safetensors_metadata(path: Path) -> None:
    """Rewrite the ``__metadata__`` of a safetensors header in sorted key order, in place.

    safetensors serializes the metadata from a hash map, in an order that changes from run to
    run, so two conversions of the same weights would differ in a few header bytes and their
    sha256. The header keeps its length (the same JSON, reordered; padded with spaces as
    safetensors pads it), so no tensor offset moves.
    """
    with path.open("r+b") as handle:
        (length,) = np.frombuffer(handle.read(8), dtype="<u8")
        header = json.loads(handle.read(int(length)))
        header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if len(text) > length:  # cannot happen for the same JSON; never corrupt the file
            raise Ct2ConversionError(f"{path}: the reordered header is longer than the original")
        handle.seek(8)
        handle.write(text.ljust(int(length), b" "))


def convert_ct2_whisper_dir(
    source_dir: Path, output_dir: Path, *, model_files: Sequence[Path] | None = None
) -> Path:
    """Convert a CTranslate2 Whisper folder (``model.bin``, ``config.json``, ``tokenizer.json``,
    ``vocabulary.txt`` or ``vocabulary.json``) into a transformers checkpoint in ``output_dir``.

    Args:
        source_dir: the CTranslate2 model folder.
        output_dir: created if missing; must be empty if it exists.
        model_files: the model data when it is not ``source_dir/model.bin`` (e.g. parts to be
            read in order as one file).

    Raises:
        FileNotFoundError: a required file is missing.
        whisperbench.models.ct2_format.Ct2FormatError: ``model.bin`` is unreadable.
        Ct2ConversionError: see :func:`convert_ct2_whisper`.
        FileExistsError: ``output_dir`` exists and is not empty.
    """
    source_dir = Path(source_dir)
    files = list(model_files) if model_files is not None else [source_dir / "model.bin"]
    for name in ("config.json", "tokenizer.json"):
        if not (source_dir / name).is_file():
            raise FileNotFoundError(f"{source_dir} has no {name}")
    vocabulary: list[str] | None = None
    for name in ("vocabulary.json", "vocabulary.txt"):
        if (source_dir / name).is_file():
            vocabulary = read_ct2_vocabulary(source_dir / name)
            break
    return convert_ct2_whisper(
        load_ct2_model(files),
        tokenizer_json=source_dir / "tokenizer.json",
        ct2_config=read_ct2_whisper_config(source_dir / "config.json"),
        output_dir=output_dir,
        vocabulary=vocabulary,
    )
