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
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from whisperbench.engines.base import Engine
from whisperbench.meters.readings import WindowReadings
from whisperbench.meters.sampling_grid import (
    REFERENCE_COUNTER_PERIOD_S,
    grid_lock_reason,
    phase_step_pause_s,
)
from whisperbench.rounds import Round
from whisperbench.schema import CompileFacts, ModelFacts, Result

__all__ = [
    "MeasureSettings",
    "RoundRecorder",
    "RunRounds",
    "batched",
    "measure",
    "model_facts",
    "run_in_loop",
    "through_pedantic",
]

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
    """One call is one round: the transcriber over every batch, in order; keeps each Round.

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
        done = []
        for batch in self.batches:
            done.append(self.transcriber(batch))
            if self.on_batch is not None:
                self.on_batch()
        result = Round(tuple(done))
        self.rounds.append(result)
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


def measure(
    transcriber: Engine,
    clips: Sequence[Any],
    settings: MeasureSettings,
    meters: WindowMeters | None = None,
    run_rounds: RunRounds = run_in_loop,
    batch_size: int | None = None,
    on_batch: Callable[[], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> Result:
    """Warm up, then run measured rounds over ``clips`` inside one meter window.

    ``clips`` are :class:`whisperbench.audio.Clip` objects (``samples``, ``reference``,
    ``describe()``), transcribed in batches of ``batch_size`` (default: all in one batch); a
    round is one pass over every batch. ``on_batch`` is called after each batch (progress
    bars); keep it cheap, it runs inside measured rounds. ``on_phase`` is told each phase as
    it starts (``idle``, ``warmup``, ``idle_warm``, ``measure``), outside every measured
    round (profiles, logs). The meters are always ended, even when a round raises. Warm-up
    goes on (up to 5 more rounds) while its last round compiled something (torch.compile);
    compilations are counted in warm-up and in the window.
    """
    phase = on_phase or (lambda _: None)
    if not clips:
        raise ValueError("nothing to measure: no audio clips")
    size = batch_size or len(clips)
    batches = batched(clips, size)
    recorder = RoundRecorder(transcriber, [[clip.samples for clip in b] for b in batches], on_batch)
    if meters is not None:
        phase("idle")
        meters.measure_idle("cold")  # model loaded, nothing run yet: the device at rest
    stretch = meters is not None and meters.energy_active and settings.min_window_s > 0
    # The first round is the slowest (allocations, lazy init): to size an energy window,
    # time a later one, so stretching needs at least two warm-up rounds.
    warmup_rounds = max(settings.warmup_rounds, 2) if stretch else settings.warmup_rounds
    warmup_round_s = []
    phase("warmup")
    for _ in range(warmup_rounds):
        started = time.perf_counter()
        recorder()
        warmup_round_s.append(time.perf_counter() - started)
    extra = 0
    while recorder.rounds and recorder.rounds[-1].compiles and extra < _MAX_COMPILING_WARMUP:
        recorder()  # compiled in the last round: warm up until a round compiles nothing
        extra += 1
    warmup_rounds += extra
    warmup_compiles = sum(r.compiles for r in recorder.rounds)
    warmup_compile_s = sum(r.compile_s for r in recorder.rounds)
    recorder.clear()
    if meters is not None:
        # The device idle at its working state, right before the window: what energy above
        # idle subtracts (meters.readings.ABOVE_IDLE_REFERENCE).
        phase("idle_warm")
        meters.measure_idle("warm")
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

    readings: WindowReadings | None = None
    phase("measure")
    if meters is None:
        run_rounds(recorder, rounds)
    else:
        meters.begin()
        try:
            run_rounds(recorder, rounds)
        finally:  # a failing round still ends every meter (threads stopped, counters read)
            readings = meters.end()

    audio_s = recorder.rounds[0].audio_s if recorder.rounds else 0.0
    tokens = sum(r.tokens for r in recorder.rounds)
    lock = grid_lock_reason(recorder.starts, period_s)
    return Result(
        facts=model_facts(transcriber),
        audio=[clip.describe() for clip in clips],
        references=[clip.reference for clip in clips],
        batch_size=size,
        rounds=list(recorder.rounds),
        warmup_rounds=warmup_rounds,
        memory=readings.memory if readings is not None else None,
        energy=(
            readings.energy_figures(
                audio_s * len(recorder.rounds),
                tokens,
                [lock] if lock else [],
                idle_pause_s=recorder.paused_s,
            )
            if readings is not None
            else None
        ),
        device_state=readings.state if readings is not None else None,
        phase_step_pause_s=recorder.pause_s,
        compile=CompileFacts(
            compile_s=warmup_compile_s,
            warmup=warmup_compiles,
            in_window=sum(r.compiles for r in recorder.rounds),
        ),
    )
