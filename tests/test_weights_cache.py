"""Nothing silently wrong in the weights: a damaged converted checkpoint is found by its sha256
and converted again (with a warning), a damaged local or Hugging Face cache copy fails with
advice, the result records the checksum of what was loaded, and a conversion killed half way
leaves nothing behind for long."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import struct
import time
from pathlib import Path

import pytest

from whisperbench.models import integrity
from whisperbench.models.integrity import WeightsIntegrityError, file_sha256
from whisperbench.models.loading import LoadedModel, load_model
from whisperbench.models.packaged import MARKER_NAME, PACKAGED_MODELS, packaged_checkpoint
from whisperbench.models.precision import resolve
from whisperbench.models.registry import get_spec

CPU32 = resolve("cpu", "float32", cuda_available=False, cuda_count=0)
TINY_EN = get_spec("tiny.en")
SOURCE_SHA256 = PACKAGED_MODELS["tiny.en"].ct2_sha256


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def flip_sign_bits(path: Path, count: int = 200_000) -> None:
    """Flip the sign bit of ``count`` float16 values after the safetensors header: same size,
    same header, different weights (what the issue did to the cache)."""
    with path.open("r+b") as handle:
        (header_bytes,) = struct.unpack("<Q", handle.read(8))
        start = 8 + header_bytes + 4096
        handle.seek(start)
        data = bytearray(handle.read(2 * count))
        for i in range(1, len(data), 2):
            data[i] ^= 0x80
        handle.seek(start)
        handle.write(data)


def damage_header(path: Path) -> None:
    """Overwrite 20 bytes of the safetensors JSON header: same size, unreadable header."""
    with path.open("r+b") as handle:
        handle.seek(9)
        handle.write(b"X" * 20)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clean conversion of tiny.en, made here; tests copy it into their own cache."""
    cache = tmp_path_factory.mktemp("converted-cache")
    return packaged_checkpoint("tiny.en", cache_dir=cache).path


@pytest.fixture
def cache(converted: Path, tmp_path: Path) -> Path:
    """A cache folder of this test's own holding a copy of the clean conversion."""
    root = tmp_path / "cache"
    shutil.copytree(converted, root / "packaged" / converted.name)
    return root


# -- the converted cache: verified by sha256 before use ------------------------------------------


def test_a_cache_hit_is_verified_and_reports_the_checksum_of_the_converted_file(
    cache: Path,
) -> None:
    hit = packaged_checkpoint("tiny.en", cache_dir=cache)
    weights = hit.path / "model.safetensors"
    marker = json.loads((hit.path / MARKER_NAME).read_text())
    assert hit.from_cache
    assert hit.weights_sha256 == _sha256(weights) == marker["files_sha256"]["model.safetensors"]
    assert hit.weights_sha256 != SOURCE_SHA256  # the converted file, not the CTranslate2 one
    assert hit.source_sha256 == SOURCE_SHA256
    for name, digest in marker["files_sha256"].items():
        assert _sha256(hit.path / name) == digest, name


def test_a_conversion_is_byte_identical_every_time(converted: Path, tmp_path: Path) -> None:
    """So the weights_sha256 of packaged weights is the same on every machine, and a damaged
    file can be told from a different conversion."""
    again = packaged_checkpoint("tiny.en", cache_dir=tmp_path)
    first = json.loads((converted / MARKER_NAME).read_text())["files_sha256"]
    assert dict(again.files_sha256) == first


@pytest.mark.parametrize("damage", [flip_sign_bits, damage_header], ids=["sign-bits", "header"])
def test_a_damaged_cached_checkpoint_is_converted_again_with_a_warning(
    cache: Path, converted: Path, damage: object, caplog: pytest.LogCaptureFixture
) -> None:
    entry = cache / "packaged" / converted.name
    weights = entry / "model.safetensors"
    clean = _sha256(weights)
    size = weights.stat().st_size
    damage(weights)  # type: ignore[operator]
    assert weights.stat().st_size == size
    assert _sha256(weights) != clean

    with caplog.at_level(logging.WARNING, logger="whisperbench"):
        again = packaged_checkpoint("tiny.en", cache_dir=cache)
    assert not again.from_cache
    assert _sha256(weights) == clean == again.weights_sha256
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "model.safetensors" in warning
    assert "converting again" in warning
    assert str(entry) in warning
    assert again.check.startswith("converted again")
    assert sorted(p.name for p in (cache / "packaged").iterdir()) == [converted.name]


def test_a_conversion_from_an_older_version_without_checksums_is_converted_again(
    cache: Path, converted: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker_path = cache / "packaged" / converted.name / MARKER_NAME
    marker = json.loads(marker_path.read_text())
    del marker["files_sha256"]
    marker_path.write_text(json.dumps(marker))
    with caplog.at_level(logging.WARNING, logger="whisperbench"):
        again = packaged_checkpoint("tiny.en", cache_dir=cache)
    assert not again.from_cache
    assert "records no checksums" in caplog.text
    assert "files_sha256" in json.loads(marker_path.read_text())


# -- what a load records ---------------------------------------------------------------------


def test_a_packaged_load_records_the_checksum_of_what_was_loaded(tiny_en: LoadedModel) -> None:
    folder = Path(tiny_en.model.name_or_path)
    assert tiny_en.weights.sha256 == _sha256(folder / "model.safetensors")
    assert tiny_en.weights.converted_from_sha256 == SOURCE_SHA256
    assert tiny_en.weights.check is not None


def test_a_local_folder_with_a_damaged_header_fails_with_advice(
    converted: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "my-tiny"
    shutil.copytree(converted, folder)
    damage_header(folder / "model.safetensors")
    with pytest.raises(WeightsIntegrityError) as caught:
        load_model(TINY_EN, CPU32, source="local", weights_path=str(folder))
    message = str(caught.value)
    assert str(folder / "model.safetensors") in message
    assert "header" in message
    assert "copy the checkpoint again" in message
    assert "\n" not in message


def _hf_cache_layout(checkpoint: Path, cache: Path) -> Path:
    """Lay ``checkpoint`` out exactly as huggingface_hub caches a download: blobs named by
    sha256, a snapshot of symlinks, refs/main naming the snapshot. Returns the weights blob."""
    repo = cache / "models--openai--whisper-tiny.en"
    snapshot = repo / "snapshots" / ("0" * 40)
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    for file in checkpoint.iterdir():
        if file.name == MARKER_NAME:
            continue
        digest = _sha256(file)
        shutil.copy(file, repo / "blobs" / digest)
        os.symlink(repo / "blobs" / digest, snapshot / file.name)
    return (snapshot / "model.safetensors").resolve()


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_a_hugging_face_cache_copy_that_does_not_match_its_name_fails_with_advice(
    converted: Path, hf_cache: Path
) -> None:
    blob = _hf_cache_layout(converted, hf_cache)
    intact = load_model(TINY_EN, CPU32, source="hf-cache")
    assert intact.weights.sha256 == blob.name == _sha256(blob)

    flip_sign_bits(blob)
    with pytest.raises(WeightsIntegrityError) as caught:
        load_model(TINY_EN, CPU32)  # auto: never a quiet fall-back to the packaged weights
    message = str(caught.value)
    assert f"sha256 {_sha256(blob)}" in message
    assert blob.name in message
    assert "delete" in message
    assert "openai/whisper-tiny.en" in message


# -- large files: hashed once per file version, never skipped silently ----------------------


def test_large_files_are_hashed_once_per_size_and_mtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(integrity, "HASH_EVERY_LOAD_BYTES", 1000)
    records = tmp_path / "records"
    big = tmp_path / "big.safetensors"
    big.write_bytes(b"a" * 5000)
    small = tmp_path / "small.json"
    small.write_bytes(b"b" * 10)

    first = file_sha256(big, records=records)
    assert (first.sha256, first.hashed) == (_sha256(big), True)
    second = file_sha256(big, records=records)
    assert (second.sha256, second.hashed) == (first.sha256, False)
    assert "unchanged size and mtime" in second.describe()

    big.write_bytes(b"c" * 5000)  # same size, new contents: the mtime moves
    os.utime(big, ns=(time.time_ns(), time.time_ns() + 10**9))
    third = file_sha256(big, records=records)
    assert (third.sha256, third.hashed) == (_sha256(big), True)

    assert file_sha256(small, records=records).hashed  # small files: hashed every time
    assert file_sha256(small, records=records).hashed
