"""Interrupted runs keep what finished, as users meet them: a real process and a real signal.
Ctrl-C or SIGTERM (SLURM's time limit) writes what finished, marked interrupted, lists what did
not, says so in one line and exits 130 / 143; under pytest, pytest-benchmark's JSON still holds
the cases that finished."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import soundfile as sf

from whisperbench.audio import synthetic

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


# -- the app: a real process, a real signal ---------------------------------------------------


def _speech_files(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(count):
        path = folder / f"clip{i}.wav"
        sf.write(path, synthetic.speech("short", 5.0 + i % 2).samples, 16_000)
        paths.append(path)
    return paths


def _sigint_as_at_a_terminal() -> None:
    """In the child, before it runs: SIGINT delivered as from a terminal's Ctrl-C. A shell
    starts background jobs (``pytest &``, a CI script) with SIGINT ignored, which children
    inherit; Python then installs no KeyboardInterrupt handler and the signal does nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_until_progress(args: list[str], sig: signal.Signals) -> tuple[int, str, str]:
    """Run the app with stderr on a terminal (so it draws its progress bar); send ``sig`` as
    soon as the bar shows a finished batch, before the last. Returns (code, stdout, stderr)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "whisperbench.cli", *args],
        stdout=subprocess.PIPE, stderr=slave, env=env, text=True,
        preexec_fn=_sigint_as_at_a_terminal,
    )  # fmt: skip
    os.close(slave)
    seen, signalled = b"", False
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            if process.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if not signalled:
            counts = [int(n) for n in re.findall(rb"\| *(\d+)/6 ", seen)]
            assert 6 not in counts, "every batch finished before the signal could be sent"
            if any(counts):
                process.send_signal(sig)
                signalled = True
    assert signalled, seen.decode(errors="replace")[-2000:]
    stdout, _ = process.communicate(timeout=600)
    os.close(master)
    return process.returncode, stdout, seen.decode(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_run_writes_what_finished_and_lists_the_rest(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    paths = _speech_files(tmp_path / "audio", 6)
    out = tmp_path / "out.json"
    returned, stdout, stderr = _run_until_progress(
        ["run", "--model", "tiny.en", "--rounds", "1", "--warmup-rounds", "0",
         "--fixed-tokens", "20", "--audio-file", *map(str, paths), "--output-file", str(out)],
        sig,
    )  # fmt: skip
    assert returned == code, stderr[-2000:]
    assert "Traceback" not in stderr
    lines = [line for line in re.split(r"[\r\n]+", stderr) if "interrupted by" in line]
    assert len(lines) == 1, stderr[-2000:]
    assert f"interrupted by {sig.name}" in lines[0]

    record = json.loads(out.read_text())
    assert record["interrupted"] is True
    assert record["interrupted_by"] == sig.name
    finished = [entry["input"] for entry in record["transcriptions"]]
    assert len(finished) >= 1
    assert finished + record["unfinished"] == [str(p) for p in paths]  # in order, none lost
    assert record["unfinished"]
    assert record["total_samples"] == len(finished)
    assert all(entry["text"] for entry in record["transcriptions"])
    assert "INTERRUPTED" in stdout  # the summary says so too


# -- the suite: pytest-benchmark's JSON keeps the cases that finished --------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 2)])
def test_an_interrupted_suite_still_writes_the_cases_that_finished(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    out = tmp_path / "run.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", str(REPO / "benchmarks" / "test_transcribe.py"), "-v",
         "-p", "no:cacheprovider", "--whisper-durations=2", "--whisper-batch-sizes=1,8",
         "--whisper-rounds=3",
         "--whisper-fixed-tokens=2", f"--benchmark-json={out}", f"--rootdir={REPO}"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
        preexec_fn=_sigint_as_at_a_terminal,
    )  # fmt: skip
    assert process.stdout is not None
    output = []
    for line in process.stdout:
        output.append(line)
        if "PASSED" in line:  # the first case finished; the second, 8 times its work, runs
            process.send_signal(sig)
            break
    rest, _ = process.communicate(timeout=600)
    output.append(rest)
    text = "".join(output)
    assert process.returncode == code, text[-3000:]
    data = json.loads(out.read_text())
    (bench,) = data["benchmarks"]  # the finished case only, not the one cut short
    assert bench["params"]["whisper_batch_size"] == 1
    assert bench["stats"]["rounds"] == 3 == bench["extra_info"]["rounds"]
    assert data["whisperbench"]["interrupted"] is True
    assert data["whisperbench"]["interrupted_by"] == sig.name
