"""measure(): warm-up outside the window, rounds stretched to fill an energy window, idle power
taken while the device is quiet, meters always ended. The model is real (tiny.en); where a test
is about when or how long, the clock is a fake one the test moves (never the machine's speed),
and the meter set is a recording stand-in or a real one over FAKE NVML."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from whisperbench.audio import synthetic
from whisperbench.engines import EngineSettings
from whisperbench.engines.transformers_engine import TransformersEngine
from whisperbench.measure import MeasureSettings, batched, measure, plan_batches
from whisperbench.meters import EnergyReading, WindowReadings, build_meter_set
from whisperbench.models.loading import LoadedModel
from whisperbench.transcribe import DecodeSettings


class FakeClock:
    """A clock that only moves when told: what a round "takes" is set by the test, not by
    how busy the machine is."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TimedEngine(TransformersEngine):
    """The real engine, each call advancing ``clock`` by the next of ``round_s`` (the last
    repeats): round times are the test's, transcripts are the model's."""

    def __init__(self, loaded: LoadedModel, clock: FakeClock, round_s: list[float]) -> None:
        super().__init__(loaded, DecodeSettings(fixed_tokens=2), EngineSettings())
        self.clock = clock
        self.round_s = list(round_s)
        self.calls = 0

    def __call__(self, batch: Any) -> Any:
        done = super().__call__(batch)
        self.clock.now += self.round_s[min(self.calls, len(self.round_s) - 1)]
        self.calls += 1
        return done

    def __enter__(self) -> TimedEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class RecordingMeters:
    """Stand-in for a MeterSet with an energy sensor: records when it is asked to do what."""

    clock: Any = time.perf_counter
    energy_active: bool = True
    calls: list[tuple[str, float]] = field(default_factory=list)

    def measure_idle(self, phase: str = "warm") -> None:
        self.calls.append((f"idle:{phase}", self.clock()))

    def begin(self) -> None:
        self.calls.append(("begin", self.clock()))

    def end(self) -> Any:
        self.calls.append(("end", self.clock()))
        return _Readings()


#: The stand-in window read 12 J on one CPU domain, whatever it spanned.
_WINDOW_J = 12.0


def _Readings() -> WindowReadings:  # noqa: N802 (stands in for the class's constructor)
    reading = EnergyReading(
        meter="rapl:cpu-package-0", device="cpu-package-0", kind="cpu", energy_source="rapl",
        energy_scope="cpu_package", window_s=2.0, energy_j=_WINDOW_J, valid=True,
    )  # fmt: skip
    return WindowReadings(window_s=2.0, energy_readings=(reading,))


@contextmanager
def _engine(loaded: LoadedModel, decode: DecodeSettings) -> Iterator[TransformersEngine]:
    engine = TransformersEngine(loaded, decode, EngineSettings())
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="module")
def clip() -> Any:
    return synthetic.tone(1.0)


def test_rounds_are_added_until_the_energy_window_is_long_enough(
    tiny_en: LoadedModel, clip: Any
) -> None:
    """The first warm-up round takes 3 s (lazy initialisation), later rounds 0.4 s: the window
    of at least 1.5 s, with the 20% margin, needs ceil(1.2 * 1.5 / 0.4) = 5 rounds, sized on
    the second warm-up round, not the first (which would give 1)."""
    clock = FakeClock()
    meters = RecordingMeters(clock=clock)
    settings = MeasureSettings(rounds=1, warmup_rounds=1, min_window_s=1.5)
    with TimedEngine(tiny_en, clock, [3.0, 0.4]) as transcriber:
        result = measure(transcriber, [clip], settings, meters, clock=clock)
    assert [name for name, _ in meters.calls] == ["idle:cold", "idle:warm", "begin", "end"]
    assert result.warmup_rounds == 2  # sizing the window needs a round after the first
    assert len(result.rounds) == 5
    assert transcriber.calls == 2 + 5
    window_s = meters.calls[3][1] - meters.calls[2][1]
    assert window_s == pytest.approx(5 * 0.4)
    info = result.to_extra_info()
    # The window's joules are divided by the audio and tokens of every measured round.
    assert info["j_per_audio_s"] == pytest.approx(_WINDOW_J / (5 * 1.0))
    assert info["j_per_token"] == pytest.approx(_WINDOW_J / (2 * 5))


def test_stretching_is_capped_and_never_shrinks_the_rounds_asked(
    tiny_en: LoadedModel, clip: Any
) -> None:
    clock = FakeClock()
    with TimedEngine(tiny_en, clock, [0.001]) as transcriber:
        # 72 000 rounds of 1 ms would fill 60 s (with the margin); max_rounds says 4.
        capped = measure(
            transcriber, [clip], MeasureSettings(rounds=1, min_window_s=60.0, max_rounds=4),
            RecordingMeters(clock=clock), clock=clock,
        )  # fmt: skip
        transcriber.round_s = [10.0]  # one 10 s round fills 0.5 s: the 3 asked still run
        slow = measure(
            transcriber, [clip], MeasureSettings(rounds=3, min_window_s=0.5),
            RecordingMeters(clock=clock), clock=clock,
        )  # fmt: skip
    assert len(capped.rounds) == 4
    assert len(slow.rounds) == 3


def test_without_an_energy_sensor_the_rounds_are_as_asked(tiny_en: LoadedModel, clip: Any) -> None:
    meters = RecordingMeters(energy_active=False)
    settings = MeasureSettings(rounds=2, warmup_rounds=1, min_window_s=60.0)
    with _engine(tiny_en, DecodeSettings(fixed_tokens=2)) as transcriber:
        result = measure(transcriber, [clip], settings, meters)
    assert (len(result.rounds), result.warmup_rounds) == (2, 1)


def test_a_failing_round_still_ends_the_real_meters(tiny_en: LoadedModel, clip: Any) -> None:
    meters = build_meter_set(device="cpu", idle_s=0)
    calls = 0

    def fail_on_second_measured_round(target: Any, n: int) -> None:
        nonlocal calls
        for _ in range(n):
            calls += 1
            if calls == 2:
                raise RuntimeError("workload failed")
            target()

    before = {t.name for t in threading.enumerate()}
    with (
        _engine(tiny_en, DecodeSettings(fixed_tokens=1)) as transcriber,
        pytest.raises(RuntimeError, match="workload failed"),
    ):
        measure(
            transcriber, [clip], MeasureSettings(rounds=3), meters, fail_on_second_measured_round
        )
    assert not meters.in_window
    assert {t.name for t in threading.enumerate()} <= before  # the RSS sampler is gone
    meters.close()


def test_batches_split_in_order() -> None:
    assert batched(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        batched([1], 0)


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        MeasureSettings(rounds=0)
    with pytest.raises(ValueError, match="min_window_s must be finite"):
        MeasureSettings(min_window_s=float("nan"))


def test_result_rtf_is_a_ratio_of_sums(tiny_en: LoadedModel) -> None:
    clips = [synthetic.tone(1.0), synthetic.tone(3.0)]
    with _engine(tiny_en, DecodeSettings(fixed_tokens=2)) as transcriber:
        result = measure(transcriber, clips, MeasureSettings(rounds=2), batch_size=1)
    rounds = result.rounds
    inference = sum(b.times.inference_s for r in rounds for b in r.batches)
    assert result.rtf == pytest.approx(inference / (2 * 4.0))
    per_clip = [b.times.inference_s / b.audio_s for r in rounds for b in r.batches]
    assert result.rtf != pytest.approx(float(np.mean(per_clip)), rel=1e-3)


def test_idle_is_measured_cold_and_warm_and_above_idle_subtracts_the_warm_one(
    tiny_en: LoadedModel, clip: Any, tmp_path: Any
) -> None:
    """A (fake) GPU idling at 55 W at rest, 90 W once it has worked, 250 W while working.
    measure() samples idle before the warm-up (cold) and after it (warm); energy above idle
    is against the warm figure — the one place it is defined (readings.ABOVE_IDLE_REFERENCE)."""
    from tests.fakes_nvml import FakeGpu, FakeNvml, make_uuid

    power = {"w": 55.0}
    gpu = FakeGpu(make_uuid(0), power_w=lambda t: power["w"], counter_period_s=0.02)
    meters = build_meter_set(device="cpu", gpus="all", nvml_module=FakeNvml([gpu]), idle_s=1.0,
                             min_window_s=0.3, rapl_root=tmp_path / "none")  # fmt: skip

    class Working(TransformersEngine):
        def __call__(self, batch: Any) -> Any:
            power["w"] = 250.0
            try:
                return super().__call__(batch)
            finally:
                power["w"] = 90.0

    engine = Working(tiny_en, DecodeSettings(fixed_tokens=1), EngineSettings())
    try:
        result = measure(engine, [clip], MeasureSettings(rounds=1), meters)
    finally:
        engine.close()
        meters.close()
    info = result.to_extra_info()
    assert info["idle_reference"] == "warm"
    # Idle power comes from counter updates timed by a sampling thread: on a loaded machine
    # its reads can be tens of ms apart, a few percent of a 1 s idle.
    assert info["idle_power_cold_w"] == pytest.approx(55.0, rel=0.1)
    assert info["idle_power_warm_w"] == pytest.approx(90.0, rel=0.1)
    assert info["idle_power_w"] == info["idle_power_warm_w"]
    (device,) = info["energy_devices"]
    expected = device["energy_j"] - device["idle_power_warm_w"] * device["energy_window_s"]
    assert info["energy_above_idle_j"] == pytest.approx(expected, rel=1e-9)


def test_a_pause_before_each_round_but_the_first_stays_outside_the_rounds() -> None:
    from whisperbench.measure import RoundRecorder, run_in_loop
    from whisperbench.rounds import PhaseTimes, Transcription

    def transcribe(batch: Any) -> Transcription:
        times = PhaseTimes(0.0, 0.0, 0.0, 0.0, 0.001)
        return Transcription(["x"], [1], 1, 1.0, times)

    recorder = RoundRecorder(transcribe, [[np.zeros(16_000, dtype=np.float32)]])  # type: ignore[arg-type]
    recorder.pause_s = 0.02
    run_in_loop(recorder, 3)
    gaps = [b - a for a, b in zip(recorder.starts, recorder.starts[1:], strict=False)]
    assert len(recorder.rounds) == 3
    assert all(gap >= 0.02 for gap in gaps)
    assert all(r.times.inference_s == 0.001 for r in recorder.rounds)  # the pause is in none


def test_batch_plan_keeps_short_and_long_form_apart_in_clip_order() -> None:
    second = 16_000
    lengths = [35 * second, 5 * second, 6 * second, 40 * second, 7 * second]
    assert plan_batches(lengths, 2) == [[0, 3], [1, 2], [4]]
    assert plan_batches([second] * 5, 2) == [[0, 1], [2, 3], [4]]  # one kind: consecutive
    assert plan_batches([31 * second, 30 * second], 2) == [[0], [1]]  # 30 s is short-form


def test_a_mixed_batch_is_refused_by_the_transcriber(tiny_en: LoadedModel) -> None:
    with (
        _engine(tiny_en, DecodeSettings()) as transcriber,
        pytest.raises(ValueError, match="mixes clips over and under 30 s"),
    ):
        transcriber([np.zeros(16_000, np.float32), np.zeros(31 * 16_000, np.float32)])


def test_a_clip_too_short_to_measure_is_refused(tiny_en: LoadedModel) -> None:
    short = synthetic.tone(0.05)
    with (
        _engine(tiny_en, DecodeSettings()) as transcriber,
        pytest.raises(ValueError, match=r"lasts 0.05 s, under the 0.1 s a measurement needs"),
    ):
        measure(transcriber, [synthetic.tone(1.0), short], MeasureSettings())
