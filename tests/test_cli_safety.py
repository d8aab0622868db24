"""The app as a new user meets it, with damaged weights, odd output paths, a full disk, files
too short to measure and references of their own: real subprocesses, one defect each."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from whisperbench.audio import synthetic
from whisperbench.models.loading import LoadedModel

pytestmark = pytest.mark.slow


def run_cli(
    *args: str, env: dict[str, str] | None = None, limit_file_bytes: int | None = None
) -> subprocess.CompletedProcess[str]:
    """``whisperbench`` in a child process; ``limit_file_bytes`` makes every write past that
    size fail (RLIMIT_FSIZE, with SIGXFSZ ignored: EFBIG), as a full disk would."""

    def limit() -> None:
        if limit_file_bytes is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_bytes, limit_file_bytes))

    return subprocess.run(
        [sys.executable, "-m", "whisperbench.cli", *args],
        capture_output=True, text=True, timeout=900, preexec_fn=limit,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
    )  # fmt: skip


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _speech(path: Path, seconds: float = 5.0) -> Path:
    sf.write(path, synthetic.speech("short", seconds).samples, 16_000)
    return path


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("ERROR")]


# -- 1. weights: what was loaded is what the JSON says, and damage is never used quietly --------


def test_a_damaged_cached_conversion_is_converted_again_and_the_json_names_what_was_loaded(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    env = {"WHISPERBENCH_CACHE_DIR": str(cache)}
    args = ["run", "--model", "tiny.en", "--audio-duration", "4", "--fixed-tokens", "3",
            "--quiet"]  # fmt: skip
    first = run_cli(*args, "--output-file", str(tmp_path / "first.json"), env=env)
    assert first.returncode == 0, first.stderr
    (weights,) = cache.glob("packaged/*/model.safetensors")
    clean = _sha256(weights)
    assert json.loads((tmp_path / "first.json").read_text())["weights_sha256"] == clean

    # Flip the sign bit of 100 000 float16 weights: same size, same header, other weights.
    with weights.open("r+b") as handle:
        (header,) = struct.unpack("<Q", handle.read(8))
        handle.seek(8 + header + 4096)
        data = bytearray(handle.read(200_000))
        data[1::2] = bytes(b ^ 0x80 for b in data[1::2])
        handle.seek(8 + header + 4096)
        handle.write(data)
    assert _sha256(weights) != clean

    second = run_cli(*args, "--output-file", str(tmp_path / "second.json"), env=env)
    assert second.returncode == 0, second.stderr
    (warning,) = [line for line in second.stderr.splitlines() if line.startswith("WARNING")]
    assert "converting again" in warning
    assert "model.safetensors" in warning
    record = json.loads((tmp_path / "second.json").read_text())
    assert record["weights_sha256"] == clean == _sha256(weights)


def test_a_local_checkpoint_with_a_damaged_header_is_one_line_of_advice(
    tiny_en: LoadedModel, tmp_path: Path
) -> None:
    folder = tmp_path / "my-tiny"
    shutil.copytree(Path(tiny_en.model.name_or_path), folder)
    with (folder / "model.safetensors").open("r+b") as handle:
        handle.seek(9)
        handle.write(b"X" * 20)  # inside the JSON header: same size, unreadable
    done = run_cli("run", "--model", "tiny.en", "--weights", "local", "--weights-path",
                   str(folder), "--audio-duration", "2", "--quiet")  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = _error_lines(done.stderr)
    assert str(folder / "model.safetensors") in line
    assert "header" in line


# -- 3. the output file: never an input, never a folder, never lost ----------------------------


def test_an_output_file_that_is_an_input_is_refused_and_the_input_kept(tmp_path: Path) -> None:
    audio = _speech(tmp_path / "talk.wav")
    before = audio.read_bytes()
    done = run_cli("run", "--model", "tiny.en", "--audio-file", str(audio),
                   "--output-file", str(audio), "--quiet")  # fmt: skip
    assert done.returncode == 2
    (line,) = _error_lines(done.stderr)
    assert "is also an input (--audio-file" in line
    assert audio.read_bytes() == before

    link = tmp_path / "same-file.wav"
    os.link(audio, link)  # another name for the same file counts too
    done = run_cli("run", "--model", "tiny.en", "--audio-file", str(audio),
                   "--output-file", str(link), "--quiet")  # fmt: skip
    assert done.returncode == 2
    assert audio.read_bytes() == before


def test_an_output_file_that_is_a_folder_is_refused_before_measuring(tmp_path: Path) -> None:
    done = run_cli("run", "--model", "tiny.en", "--audio-duration", "2",
                   "--output-file", str(tmp_path))  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = _error_lines(done.stderr)
    assert f"--output-file {tmp_path} is a folder" in line
    assert "loading" not in done.stderr  # refused before the model was even loaded
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_at_the_end_keeps_the_json_on_stdout_and_exits_3(
    tiny_en: LoadedModel, tmp_path: Path
) -> None:
    """The disk fills while the JSON is written: every write past 2 kB fails."""
    out = tmp_path / "out.json"
    done = run_cli("run", "--model", "tiny.en", "--audio-duration", "2", "--fixed-tokens", "2",
                   "--quiet", "--output-file", str(out), limit_file_bytes=2048)  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = _error_lines(done.stderr)
    assert f"could not write {out}" in line
    record = json.loads(done.stdout)  # the measurements, whole, on stdout
    assert record["total_samples"] == 1
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temp file left either


# -- 5. a floor and a ceiling on work -----------------------------------------------------------


def test_more_samples_than_memory_holds_are_refused_at_once() -> None:
    done = run_cli("run", "--model", "tiny.en", "--benchmark", "--num-samples", "1000000000")
    assert done.returncode == 2
    (line,) = _error_lines(done.stderr)
    assert "--num-samples 1000000000 would hold" in line
    assert "samples fit" in line


def test_a_synthetic_clip_too_short_to_measure_is_a_usage_error() -> None:
    done = run_cli("run", "--model", "tiny.en", "--audio-duration", "0.01")
    assert done.returncode == 2
    assert "must be >= 0.1" in done.stderr


# -- 7. messages: inputs named as given -------------------------------------------------------


def test_the_summary_names_every_input_as_given(tmp_path: Path) -> None:
    good = _speech(tmp_path / "good.wav")
    text = tmp_path / "notes.mp3"
    text.write_text("These are meeting notes, not audio.\n", encoding="utf-8")
    done = run_cli("run", "--model", "tiny.en", "--fixed-tokens", "3", "--audio-file",
                   str(good), str(text))  # fmt: skip
    assert done.returncode == 1
    assert f"  {good}: 5.0 s -> " in done.stdout
    assert f"FAILED {text}: not a recognised audio format (it holds text, not audio" in done.stdout
    # The MP3 decoder's own lines are caught (and quoted in the cause), not printed.
    assert not [line for line in done.stderr.splitlines() if line.startswith("Note:")]
    assert "the decoder said: Illegal Audio-MPEG-Header" in done.stdout
    assert "Loading weights" not in done.stderr  # not a terminal: no bar


# -- 9. WER for your own files -----------------------------------------------------------------


def test_references_beside_the_files_or_in_a_table_give_wer(tmp_path: Path) -> None:
    first = _speech(tmp_path / "first.wav", 5.0)
    second = _speech(tmp_path / "second.wav", 6.0)
    said = synthetic.speech("short", 5.0).reference
    assert said is not None
    (tmp_path / "first.txt").write_text(said + "\n", encoding="utf-8")
    out = tmp_path / "out.json"

    beside = run_cli("run", "--model", "tiny.en", "--quiet", "--audio-file", str(first),
                     str(second), "--output-file", str(out))  # fmt: skip
    assert beside.returncode == 0, beside.stderr
    record = json.loads(out.read_text())
    one, two = record["transcriptions"]
    assert one["reference"] == said
    assert one["wer"] is not None
    assert one["wer"] < 0.5
    assert two["reference"] is None
    assert two["wer"] is None
    assert record["wer"] == one["wer"]  # the corpus is the clips with a reference

    table = tmp_path / "refs" / "refs.tsv"
    table.parent.mkdir()
    wrong = "completely different words were spoken here"
    other = synthetic.speech("short", 6.0).reference
    table.write_text(f"# path<TAB>text\n../first.wav\t{wrong}\n../second.wav\t{other}\n")
    tsv = run_cli("run", "--model", "tiny.en", "--quiet", "--audio-file", str(first),
                  str(second), "--references", str(table), "--output-file", str(out))  # fmt: skip
    assert tsv.returncode == 0, tsv.stderr
    record = json.loads(out.read_text())
    one, two = record["transcriptions"]
    assert one["reference"] == wrong  # the table wins over the .txt beside the file
    assert one["wer"] > 0.5
    assert two["reference"] == other
    assert record["wer"] is not None

    as_json = tmp_path / "refs.json"
    as_json.write_text(json.dumps({"first.wav": said}))
    done = run_cli("run", "--model", "tiny.en", "--quiet", "--audio-file", str(first),
                   "--references", str(as_json), "--output-file", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["transcriptions"][0]["reference"] == said


def test_a_malformed_references_table_is_a_usage_error_naming_the_line(tmp_path: Path) -> None:
    audio = _speech(tmp_path / "a.wav")
    table = tmp_path / "refs.tsv"
    table.write_text("a.wav\thello\nb.wav hello without a tab\n")
    done = run_cli("run", "--model", "tiny.en", "--audio-file", str(audio), "--references",
                   str(table))  # fmt: skip
    assert done.returncode == 2
    (line,) = _error_lines(done.stderr)
    assert f"--references {table}: line 2: expected <audio path><TAB><text>" in line

    done = run_cli("run", "--model", "tiny.en", "--references", str(table))
    assert done.returncode == 2
    assert "give --audio-file too" in done.stderr
