"""write_json_atomic: a write that is interrupted or fails half-way leaves the old file whole and
no temporary file behind; a finished write respects the umask and an existing file's mode."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from whisperbench import jsonio
from whisperbench.jsonio import write_json_atomic

OLD = {"old": True, "rounds": [1.0, 2.0]}


def _old_file(tmp_path: Path) -> Path:
    target = tmp_path / "out.json"
    target.write_text(json.dumps(OLD), encoding="utf-8")
    return target


def test_writes_json_that_reads_back(tmp_path: Path) -> None:
    target = write_json_atomic(tmp_path / "out.json", {"rtf": 0.25, "text": "héllo"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"rtf": 0.25, "text": "héllo"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_interrupted_before_the_rename_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C arrives after the new text is written but before it replaces the old file."""
    target = _old_file(tmp_path)

    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(jsonio.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(target, {"new": True, "padding": "x" * 100_000})
    assert json.loads(target.read_text(encoding="utf-8")) == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]  # no temp file left


def test_a_write_cut_off_half_way_keeps_the_old_file(tmp_path: Path) -> None:
    """The file-size limit (RLIMIT_FSIZE) makes the kernel refuse the write past 64 KiB, half
    way through the new JSON, as a full disk would: whatever writes the file, the old one must
    survive whole. Run in a child process so the limit binds nothing else."""
    target = _old_file(tmp_path)
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a core dump
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
        from whisperbench.jsonio import write_json_atomic
        try:
            write_json_atomic({str(target)!r}, {{"new": True, "padding": "x" * 200_000}})
        except OSError as error:
            print(error.errno)
            sys.exit(0)
        sys.exit("the write did not fail")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 27  # EFBIG: the write really failed half way
    assert json.loads(target.read_text(encoding="utf-8")) == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_unserializable_data_writes_nothing(tmp_path: Path) -> None:
    target = _old_file(tmp_path)
    with pytest.raises(ValueError, match="Out of range float"):
        write_json_atomic(target, {"rtf": float("nan")})
    assert json.loads(target.read_text(encoding="utf-8")) == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_a_new_file_gets_the_umask_mode(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        target = write_json_atomic(tmp_path / "new.json", {"a": 1})
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    target = _old_file(tmp_path)
    target.chmod(0o644)
    previous = os.umask(0o077)  # a stricter umask must not narrow an existing file
    try:
        write_json_atomic(target, {"a": 1})
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    target.chmod(0o600)
    write_json_atomic(target, {"a": 2})
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_missing_folder_is_an_os_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_json_atomic(tmp_path / "absent" / "out.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []
