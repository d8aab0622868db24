"""Interrupts keep results: Ctrl-C or SIGTERM (SLURM's time limit) writes what finished, marked
interrupted, lists what did not, says so in one line and exits 130 / 143; under pytest,
pytest-benchmark's JSON still holds the cases that finished."""

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
from typing import Any

import pytest
import soundfile as sf

from whisperbench.audio import synthetic
from whisperbench.interrupts import Interrupted, interrupts_raised, signals_deferred
from whisperbench.measure import (
    INTERRUPTED_WINDOW,
    MeasurementInterrupted,
    MeasureSettings,
    measure,
)
from whisperbench.meters import EnergyReading, WindowReadings
from whisperbench.models.loading import LoadedModel
from whisperbench.transcribe import DecodeSettings, Transcriber

REPO = Path(__file__).resolve().parents[1]

# -- the signal plumbing -----------------------------------------------------------------------


def _terminate_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)  # the handler runs at the next bytecode; never reached


def test_sigterm_is_raised_as_an_interrupt_inside_and_restored_after() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with interrupts_raised() as received, pytest.raises(Interrupted) as caught:
        _terminate_self()
    assert isinstance(caught.value, KeyboardInterrupt)
    assert caught.value.signal_number == signal.SIGTERM
    assert received == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) is before


def test_signals_are_held_off_while_results_are_written() -> None:
    with signals_deferred() as received:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
    assert received == [signal.SIGINT, signal.SIGTERM]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- measure(): what finished travels with the interrupt ----------------------------------------


class InterruptingTranscriber(Transcriber):
    """The real Transcriber; its ``stop_at``-th call (counting from 1) is cut by SIGTERM."""

    def __init__(self, loaded: LoadedModel, stop_at: int) -> None:
        super().__init__(loaded, DecodeSettings(fixed_tokens=2))
        self.stop_at = stop_at
        self.calls = 0

    def __call__(self, batch: Any) -> Any:
        self.calls += 1
        if self.calls == self.stop_at:
            raise Interrupted(signal.SIGTERM)
        return super().__call__(batch)


class OneWindowMeters:
    """Stand-in meter set whose window read 12 J on one CPU domain."""

    energy_active = False

    def measure_idle(self) -> None:
        pass

    def begin(self) -> None:
        pass

    def end(self) -> WindowReadings:
        reading = EnergyReading(
            meter="rapl:cpu-package-0", device="cpu-package-0", kind="cpu",
            energy_source="rapl", energy_scope="cpu_package", window_s=2.0, energy_j=12.0,
            valid=True,
        )  # fmt: skip
        return WindowReadings(window_s=2.0, energy_readings=(reading,))


def test_an_interrupt_in_the_first_round_keeps_the_batches_that_finished(
    tiny_en: LoadedModel,
) -> None:
    clips = [synthetic.tone(1.0), synthetic.tone(2.0), synthetic.tone(3.0), synthetic.tone(4.0)]
    # No warm-up; batches of one; the third call is interrupted: clips 0 and 1 finished.
    settings = MeasureSettings(rounds=2, warmup_rounds=0)
    with (
        InterruptingTranscriber(tiny_en, stop_at=3) as transcriber,
        pytest.raises(MeasurementInterrupted) as caught,
    ):
        measure(transcriber, clips, settings, OneWindowMeters(), batch_size=1)
    stop = caught.value
    assert isinstance(stop, KeyboardInterrupt)
    assert stop.signal_number == signal.SIGTERM
    assert stop.finished == (0, 1)
    partial = stop.partial
    assert partial is not None
    assert [clip["duration_s"] for clip in partial.audio] == [1.0, 2.0]
    assert len(partial.rounds) == 1
    info = partial.to_extra_info()
    assert info["audio_s"] == 3.0
    # The window also held the batch that was cut: its energy is no valid figure.
    assert info["energy_valid"] is False
    assert INTERRUPTED_WINDOW in info["energy_invalid_reasons"]


def test_an_interrupt_after_a_whole_round_keeps_every_clip(tiny_en: LoadedModel) -> None:
    clips = [synthetic.tone(1.0), synthetic.tone(2.0)]
    settings = MeasureSettings(rounds=3, warmup_rounds=1)
    # One warm-up round (2 calls), one measured round (2 calls), then cut in the second.
    with (
        InterruptingTranscriber(tiny_en, stop_at=6) as transcriber,
        pytest.raises(MeasurementInterrupted) as caught,
    ):
        measure(transcriber, clips, settings, batch_size=1)
    assert caught.value.finished == (0, 1)
    assert caught.value.partial is not None
    assert len(caught.value.partial.rounds) == 1


def test_an_interrupt_in_the_warm_up_has_nothing_measured(tiny_en: LoadedModel) -> None:
    with (
        InterruptingTranscriber(tiny_en, stop_at=1) as transcriber,
        pytest.raises(MeasurementInterrupted) as caught,
    ):
        measure(transcriber, [synthetic.tone(1.0)], MeasureSettings())
    assert caught.value.partial is None
    assert caught.value.finished == ()


# -- the app: a real process, a real signal ---------------------------------------------------


def _speech_files(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(count):
        path = folder / f"clip{i}.wav"
        sf.write(path, synthetic.speech("short", 5.0 + i % 2).samples, 16_000)
        paths.append(path)
    return paths


def _run_until_progress(args: list[str], sig: signal.Signals) -> tuple[int, str, str]:
    """Run the app with stderr on a terminal (so it draws its progress bar); send ``sig`` as
    soon as the bar shows a finished batch, before the last. Returns (code, stdout, stderr)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "whisperbench.cli", *args],
        stdout=subprocess.PIPE, stderr=slave, env=env, text=True,
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
