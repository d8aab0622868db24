"""One measurement: warm up, then measured rounds inside one meter window, then a Result.

Both front ends call :func:`measure`: the pytest fixtures hand it a ``run_rounds`` that goes
through ``benchmark.pedantic`` (so pytest-benchmark times the same rounds), the CLI lets it
loop. Warm-up runs before the meter window opens, so it is in no figure (measurement rule 3).
Idle power is sampled twice (rule 6): cold, before the warm-up, with the device at rest; and
warm, after it, right before the window, with the device idle at its working performance
state. Energy above idle subtracts the warm figure; both are recorded.

When an energy sensor is metered, the window must last at least ``min_window_s``
(measurement rule 5) — scaled up for GPU counters refreshing slower than every 100 ms — and
the number of rounds is raised to fill it (with a 20% margin), estimated from the fastest
warm-up round after the first, and capped by ``max_rounds``. The meters flag a window that
still falls short. With a GPU counter metered, rounds whose length would keep starting at
the same phase of the counter period get a short idle pause before each (``phase_step_pause_s``,
recorded; the pauses' idle energy is taken out of the GPU figures), and a window whose rounds
still did is flagged ``sampling_grid_lock`` (:mod:`whisperbench.meters.sampling_grid`).

Clips Whisper decodes short-form (up to 30 s) and long-form (longer) are never in one batch
(:func:`plan_batches`): ``generate`` would decode a whole mixed batch long-form and garble the
short clips. An interrupt (Ctrl-C, or SIGTERM raised as one: :mod:`whisperbench.interrupts`)
ends the meters and raises :class:`MeasurementInterrupted` carrying what finished.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from whisperbench.audio.clip import MIN_DURATION_S, SAMPLE_RATE_HZ
from whisperbench.engines.base import Engine
from whisperbench.interrupts import Interrupted, signal_of
from whisperbench.meters.readings import EnergyFigures, WindowEnergy, WindowReadings
from whisperbench.meters.sampling_grid import (
    REFERENCE_COUNTER_PERIOD_S,
    grid_lock_reason,
    phase_step_pause_s,
)
from whisperbench.rounds import Round, Transcription
from whisperbench.schema import CompileFacts, ModelFacts, Result
from whisperbench.transcribe import is_long_form

__all__ = [
    "INTERRUPTED_WINDOW",
    "MeasureSettings",
    "MeasurementInterrupted",
    "RoundRecorder",
    "RunRounds",
    "batched",
    "measure",
    "model_facts",
    "plan_batches",
    "run_in_loop",
    "through_pedantic",
]

#: Why an interrupted window's energy is not a valid figure.
INTERRUPTED_WINDOW = "interrupted: the window holds work that did not finish"


class MeasurementInterrupted(Interrupted):
    """:func:`measure` was interrupted (a ``KeyboardInterrupt``, so it stops what called it).

    Attributes:
        partial: what finished: every completed measured round over all clips, or, when the
            first measured round did not complete, its completed batches over their clips
            (``None`` when no measured batch completed). Its energy, if any, is marked invalid
            (:data:`INTERRUPTED_WINDOW`): the window also holds the batch that did not finish.
    """

    def __init__(
        self, signal_number: int, partial: Result | None, finished: Sequence[int] = ()
    ) -> None:
        super().__init__(signal_number)
        self.partial = partial
        #: indices into the clips given to :func:`measure` of those in ``partial``, in order
        self.finished = tuple(finished)


#: Runs ``target`` (one round per call) ``n`` times; the default is a plain loop.
RunRounds = Callable[[Callable[[], Round], int], None]


class WindowMeters(Protocol):
    """What :func:`measure` needs from a meter set (``whisperbench.meters.MeterSet``); a
    ``counter_period_s`` attribute (the GPU counters' update period) is used when present."""

    @property
    def energy_active(self) -> bool: ...

    def measure_idle(self, phase: str = "warm") -> None: ...

    def begin(self) -> None: ...

    def end(self) -> WindowReadings: ...


#: Rounds are sized to fill this much more than the minimum window, for round-time jitter.
_WINDOW_MARGIN = 1.2
#: Extra warm-up rounds allowed while rounds still compile (torch.compile, new shapes).
_MAX_COMPILING_WARMUP = 5


@dataclass(frozen=True)
class MeasureSettings:
    """How many rounds; ``min_window_s`` applies only when energy is metered."""

    rounds: int = 3
    warmup_rounds: int = 1
    min_window_s: float = 5.0
    max_rounds: int = 1000

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")
        if self.warmup_rounds < 0:
            raise ValueError(f"warmup_rounds must be >= 0, got {self.warmup_rounds}")
        if self.max_rounds < self.rounds:
            raise ValueError(f"max_rounds ({self.max_rounds}) is below rounds ({self.rounds})")
        if not math.isfinite(self.min_window_s) or self.min_window_s < 0:
            raise ValueError(f"min_window_s must be finite and >= 0, got {self.min_window_s}")


class RoundRecorder:
    """One call is one round: the transcriber over every batch, in order; keeps each Round, and
    the batches the round in progress has finished (``current``).

    :meth:`pause` is called before each round, outside its timing (``run_in_loop`` calls it;
    pytest-benchmark's ``pedantic`` takes it as ``setup``): it idles ``pause_s`` seconds before
    every round but the first, to step the rounds across the GPU power sensor's sampling grid
    (:func:`whisperbench.meters.sampling_grid.plan_phase_steps`). ``starts`` keeps each
    round's start (``perf_counter`` seconds).
    """

    def __init__(
        self,
        transcriber: Engine,
        batches: Sequence[Sequence[np.ndarray]],
        on_batch: Callable[[], None] | None = None,
    ) -> None:
        self.transcriber = transcriber
        self.batches = [list(batch) for batch in batches]
        self.on_batch = on_batch
        self.rounds: list[Round] = []
        self.current: list[Transcription] = []
        self.starts: list[float] = []
        self.pause_s = 0.0
        self.paused_s = 0.0  #: seconds actually paused since the rounds were last cleared

    def clear(self) -> None:
        """Forget the rounds (after warm-up): their results, starts and pauses."""
        self.rounds.clear()
        self.starts.clear()
        self.paused_s = 0.0

    def pause(self) -> None:
        """Idle ``pause_s`` before a round that follows another (not timed as a round)."""
        if self.pause_s > 0 and self.rounds:
            started = time.perf_counter()
            time.sleep(self.pause_s)
            self.paused_s += time.perf_counter() - started

    def __call__(self) -> Round:
        self.starts.append(time.perf_counter())
        self.current = []
        for batch in self.batches:
            self.current.append(self.transcriber(batch))
            if self.on_batch is not None:
                self.on_batch()
        result = Round(tuple(self.current))
        self.rounds.append(result)
        self.current = []
        return result


def through_pedantic(benchmark: Any) -> RunRounds:
    """Rounds run by pytest-benchmark's ``benchmark.pedantic`` (so it times the same rounds),
    the recorder's untimed pause as its ``setup`` (energy sampling grid)."""

    def run(target: Callable[[], Round], rounds: int) -> None:
        setup = getattr(target, "pause", None)
        benchmark.pedantic(target, setup=setup, rounds=rounds, iterations=1, warmup_rounds=0)

    return run


def run_in_loop(target: Callable[[], Round], n: int) -> None:
    """Run ``target`` ``n`` times (the app's and the scripts' way of running rounds), calling
    its ``pause`` (if it has one) before each."""
    pause = getattr(target, "pause", None)
    for _ in range(n):
        if pause is not None:
            pause()
        target()


def model_facts(transcriber: Engine) -> ModelFacts:
    """The facts of what runs, for the result."""
    loaded = transcriber.loaded
    spec, precision, weights = loaded.spec, loaded.precision, loaded.weights
    return ModelFacts(
        model=spec.model_id,
        hub_id=spec.hub_id,
        weights_source=weights.source,
        weights_origin=weights.origin,
        weights_sha256=weights.sha256,
        weights_converted_from_sha256=weights.converted_from_sha256,
        weights_check=weights.check,
        parameters=loaded.parameters,
        weights_bytes=transcriber.weights_bytes(),
        device=precision.device,
        dtype=precision.dtype,
        dtype_requested=precision.dtype_requested,
        torch_dtype=precision.torch_dtype_label,
        attn_implementation=loaded.attn_implementation,
        threads=torch.get_num_threads(),  # intra-op threads for CPU work (features, CPU ops)
        load_s=loaded.load_s,
        decoding=transcriber.recorded_settings(),
        timing_mode=transcriber.timing,
        engine=transcriber.engine_facts(),
    )


def batched(clips: Sequence[Any], batch_size: int) -> list[list[Any]]:
    """``clips`` in consecutive batches of ``batch_size`` (the last may be shorter)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return [list(clips[i : i + batch_size]) for i in range(0, len(clips), batch_size)]


def plan_batches(num_samples: Sequence[int], batch_size: int) -> list[list[int]]:
    """Which clips go in which batch: indices into the clips, batch by batch in run order.

    Clips decoded short-form (up to 30 s) and long-form (longer) are batched apart, each kind
    in consecutive batches of ``batch_size`` in clip order; batches run in the order of their
    first clip. With one kind only, this is :func:`batched` over the indices.

    Args:
        num_samples: each clip's length in 16 kHz samples.
    """
    long_form = [is_long_form(n) for n in num_samples]
    short = [i for i, is_long in enumerate(long_form) if not is_long]
    long = [i for i, is_long in enumerate(long_form) if is_long]
    batches = [*batched(short, batch_size), *batched(long, batch_size)]
    return sorted(batches, key=lambda batch: batch[0])


def measure(
    transcriber: Engine,
    clips: Sequence[Any],
    settings: MeasureSettings,
    meters: WindowMeters | None = None,
    run_rounds: RunRounds = run_in_loop,
    batch_size: int | None = None,
    on_batch: Callable[[], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Result:
    """Warm up, then run measured rounds over ``clips`` inside one meter window.

    ``clips`` are :class:`whisperbench.audio.Clip` objects (``samples``, ``reference``,
    ``describe()``), transcribed in batches of ``batch_size`` (default: all in one batch),
    short-form and long-form clips apart (:func:`plan_batches`); a round is one pass over every
    batch. ``on_batch`` is called after each batch (progress bars); keep it cheap, it runs
    inside measured rounds. ``on_phase`` is told each phase as it starts (``idle``,
    ``warmup``, ``idle_warm``, ``measure``), outside every measured round (profiles, logs).
    The meters are always ended, even when a round raises. Warm-up goes on (up to 5 more
    rounds) while its last round compiled something (torch.compile); compilations are counted
    in warm-up and in the window. ``clock`` times the warm-up rounds that size an energy
    window (seconds; tests pass one they move themselves).

    Raises:
        ValueError: no clips, or a clip shorter than
            :data:`~whisperbench.audio.clip.MIN_DURATION_S`.
        MeasurementInterrupted: Ctrl-C or SIGTERM (as :class:`~whisperbench.interrupts.
            Interrupted`) arrived; it carries what finished.
    """
    phase = on_phase or (lambda _: None)
    if not clips:
        raise ValueError("nothing to measure: no audio clips")
    for clip in clips:
        if len(clip.samples) < MIN_DURATION_S * SAMPLE_RATE_HZ:
            raise ValueError(
                f"clip {clip.name!r} lasts {len(clip.samples) / SAMPLE_RATE_HZ:g} s, under the "
                f"{MIN_DURATION_S:g} s a measurement needs (Whisper pads every clip to 30 s, so "
                "a shorter clip's RTF measures the padding, not the speech)"
            )
    size = batch_size or len(clips)
    plan = plan_batches([len(clip.samples) for clip in clips], size)
    recorder = RoundRecorder(
        transcriber, [[clips[i].samples for i in batch] for batch in plan], on_batch
    )
    stretch = meters is not None and meters.energy_active and settings.min_window_s > 0
    # The first round is the slowest (allocations, lazy init): to size an energy window,
    # time a later one, so stretching needs at least two warm-up rounds.
    warmup_rounds = max(settings.warmup_rounds, 2) if stretch else settings.warmup_rounds
    warmup_round_s = []
    try:
        if meters is not None:
            phase("idle")
            meters.measure_idle("cold")  # model loaded, nothing run yet: the device at rest
        phase("warmup")
        for _ in range(warmup_rounds):
            started = clock()
            recorder()
            warmup_round_s.append(clock() - started)
        extra = 0
        while recorder.rounds and recorder.rounds[-1].compiles and extra < _MAX_COMPILING_WARMUP:
            recorder()  # compiled in the last round: warm up until a round compiles nothing
            extra += 1
        warmup_rounds += extra
        warmup = CompileFacts(
            compile_s=sum(r.compile_s for r in recorder.rounds),
            warmup=sum(r.compiles for r in recorder.rounds),
            in_window=0,
        )
        recorder.clear()
        if meters is not None:
            # The device idle at its working state, right before the window: what energy
            # above idle subtracts (meters.readings.ABOVE_IDLE_REFERENCE).
            phase("idle_warm")
            meters.measure_idle("warm")
    except KeyboardInterrupt as stop:
        raise MeasurementInterrupted(signal_of(stop), None) from stop
    period_s = getattr(meters, "counter_period_s", None) if stretch else None

    rounds = settings.rounds
    if stretch and warmup_round_s:
        per_round_s = min(warmup_round_s[1:] or warmup_round_s)
        min_window_s = settings.min_window_s
        if period_s is not None:  # a slow counter needs a longer window (edge idle <= period)
            min_window_s *= max(1.0, period_s / REFERENCE_COUNTER_PERIOD_S)
        needed = math.ceil(_WINDOW_MARGIN * min_window_s / per_round_s)
        rounds = min(max(rounds, needed), settings.max_rounds)
        if period_s is not None:
            recorder.pause_s = phase_step_pause_s(per_round_s, period_s, rounds)

    def finished(readings: WindowReadings | None) -> _Finished:
        return _Finished(
            transcriber, clips, size, plan, recorder, warmup_rounds, readings, period_s, warmup
        )

    readings: WindowReadings | None = None
    phase("measure")
    try:
        if meters is None:
            run_rounds(recorder, rounds)
        else:
            meters.begin()
            try:
                run_rounds(recorder, rounds)
            finally:  # a failing round still ends every meter (threads stopped, counters read)
                readings = meters.end()
    except KeyboardInterrupt as stop:
        partial, kept = finished(readings).result(interrupted=True)
        raise MeasurementInterrupted(signal_of(stop), partial, kept) from stop

    done, _ = finished(readings).result()
    assert done is not None  # every round ran
    return done


@dataclass
class _Finished:
    """What :func:`measure` has measured, as a Result (all of it, or what an interrupt left)."""

    transcriber: Engine
    clips: Sequence[Any]
    batch_size: int
    plan: list[list[int]]
    recorder: RoundRecorder
    warmup_rounds: int
    readings: WindowReadings | None
    counter_period_s: float | None  #: the GPU counters' period when rounds were stepped on it
    warmup_compile: CompileFacts  #: compilations in warm-up (``in_window`` filled here)

    def result(self, *, interrupted: bool = False) -> tuple[Result | None, tuple[int, ...]]:
        """Complete rounds over every clip; else the finished batches of the first measured
        round over their clips; else None; with the indices of the clips it holds. Energy
        covers the work done in the window and is marked invalid when it was ``interrupted``
        (the window then holds unfinished work)."""
        recorder = self.recorder
        rounds, done = list(recorder.rounds), list(recorder.current)
        audio_s = sum(r.audio_s for r in rounds) + sum(t.audio_s for t in done)
        tokens = sum(r.tokens for r in rounds) + sum(t.tokens for t in done)
        if rounds:
            kept = list(range(len(self.clips)))
            clips, plan = list(self.clips), self.plan
        elif done:  # the first measured round was cut: keep the batches it finished
            kept = sorted(i for batch in self.plan[: len(done)] for i in batch)
            position = {clip: n for n, clip in enumerate(kept)}
            clips = [self.clips[i] for i in kept]
            plan = [[position[i] for i in batch] for batch in self.plan[: len(done)]]
            rounds = [Round(tuple(done))]
        else:
            return None, ()
        energy = None
        if self.readings is not None:
            lock = grid_lock_reason(recorder.starts, self.counter_period_s)
            energy = self.readings.energy_figures(
                audio_s, tokens, [lock] if lock else [], idle_pause_s=recorder.paused_s
            )
            if interrupted:
                energy = _marked_interrupted(energy)
        return Result(
            facts=model_facts(self.transcriber),
            audio=[clip.describe() for clip in clips],
            references=[clip.reference for clip in clips],
            batch_size=self.batch_size,
            rounds=rounds,
            warmup_rounds=self.warmup_rounds,
            memory=self.readings.memory if self.readings is not None else None,
            energy=energy,
            device_state=self.readings.state if self.readings is not None else None,
            phase_step_pause_s=recorder.pause_s,
            compile=dataclasses.replace(
                self.warmup_compile, in_window=sum(r.compiles for r in rounds)
            ),
            batches=tuple(tuple(batch) for batch in plan),
        ), tuple(kept)


def _marked_interrupted(energy: WindowEnergy) -> WindowEnergy:
    """``energy`` with every read figure marked invalid for :data:`INTERRUPTED_WINDOW`."""

    def mark(figures: EnergyFigures) -> EnergyFigures:
        if figures.valid is None:  # nothing was read: nothing to invalidate
            return figures
        reasons = (*figures.invalid_reasons, INTERRUPTED_WINDOW)
        return dataclasses.replace(figures, valid=False, invalid_reasons=reasons)

    return WindowEnergy(
        mark(energy.total),
        tuple(dataclasses.replace(d, figures=mark(d.figures)) for d in energy.devices),
    )
