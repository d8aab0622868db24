"""Interrupts keep results: Ctrl-C or SIGTERM (SLURM's time limit) writes what finished, marked
interrupted, lists what did not, says so in one line and exits 130 / 143; under pytest,
pytest-benchmark's JSON still holds the cases that finished."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from whisperbench.audio import synthetic
from whisperbench.engines import EngineSettings
from whisperbench.engines.transformers_engine import TransformersEngine
from whisperbench.interrupts import Interrupted, interrupts_raised, signals_deferred
from whisperbench.measure import (
    INTERRUPTED_WINDOW,
    MeasurementInterrupted,
    MeasureSettings,
    measure,
)
from whisperbench.meters import EnergyReading, WindowReadings
from whisperbench.models.loading import LoadedModel
from whisperbench.transcribe import DecodeSettings

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
    # what was there before (SIG_IGN when a shell started these tests in the background)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with signals_deferred() as received:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
    assert received == [signal.SIGINT, signal.SIGTERM]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


# -- measure(): what finished travels with the interrupt ----------------------------------------


class InterruptingTranscriber(TransformersEngine):
    """The real engine; its ``stop_at``-th call (counting from 1) is cut by SIGTERM."""

    def __init__(self, loaded: LoadedModel, stop_at: int) -> None:
        super().__init__(loaded, DecodeSettings(fixed_tokens=2), EngineSettings())
        self.stop_at = stop_at
        self.calls = 0

    def __call__(self, batch: Any) -> Any:
        self.calls += 1
        if self.calls == self.stop_at:
            raise Interrupted(signal.SIGTERM)
        return super().__call__(batch)

    def __enter__(self) -> InterruptingTranscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OneWindowMeters:
    """Stand-in meter set whose window read 12 J on one CPU domain."""

    energy_active = False

    def measure_idle(self, phase: str = "warm") -> None:
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
