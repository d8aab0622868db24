"""One measurement: warm up, then measured rounds inside one meter window, then a Result.

Both front ends call :func:`measure`: the pytest fixtures hand it a ``run_rounds`` that goes
through ``benchmark.pedantic`` (so pytest-benchmark times the same rounds), the CLI lets it
loop. Warm-up runs before the meter window opens, so it is in no figure (measurement rule 3);
idle power is sampled before the warm-up, while the device is quiet (rule 6).

When an energy sensor is metered, the window must last at least ``min_window_s``
(measurement rule 5): the number of rounds is raised to fill it (with a 20% margin),
estimated from the fastest warm-up round after the first, and capped by ``max_rounds``. The
meters flag a window that still falls short.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from whisperbench.meters.memory import weights_size_bytes
from whisperbench.meters.readings import WindowReadings
from whisperbench.models.loading import LoadedModel
from whisperbench.rounds import Round
from whisperbench.schema import ModelFacts, Result
from whisperbench.transcribe import Transcriber

__all__ = [
    "MeasureSettings",
    "RoundRecorder",
    "RunRounds",
    "batched",
    "measure",
    "model_facts",
    "run_in_loop",
]

#: Runs ``target`` (one round per call) ``n`` times; the default is a plain loop.
RunRounds = Callable[[Callable[[], Round], int], None]


class WindowMeters(Protocol):
    """What :func:`measure` needs from a meter set (``whisperbench.meters.MeterSet``)."""

    @property
    def energy_active(self) -> bool: ...

    def measure_idle(self) -> None: ...

    def begin(self) -> None: ...

    def end(self) -> WindowReadings: ...


#: Rounds are sized to fill this much more than the minimum window, for round-time jitter.
_WINDOW_MARGIN = 1.2


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
    """One call is one round: the transcriber over every batch, in order; keeps each Round."""

    def __init__(
        self,
        transcriber: Transcriber,
        batches: Sequence[Sequence[np.ndarray]],
        on_batch: Callable[[], None] | None = None,
    ) -> None:
        self.transcriber = transcriber
        self.batches = [list(batch) for batch in batches]
        self.on_batch = on_batch
        self.rounds: list[Round] = []

    def __call__(self) -> Round:
        done = []
        for batch in self.batches:
            done.append(self.transcriber(batch))
            if self.on_batch is not None:
                self.on_batch()
        result = Round(tuple(done))
        self.rounds.append(result)
        return result


def run_in_loop(target: Callable[[], Round], n: int) -> None:
    """Run ``target`` ``n`` times (the app's and the scripts' way of running rounds)."""
    for _ in range(n):
        target()


def model_facts(loaded: LoadedModel, transcriber: Transcriber) -> ModelFacts:
    """The facts of what runs, for the result."""
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
        weights_bytes=weights_size_bytes(loaded.model),
        device=precision.device,
        dtype=precision.dtype,
        dtype_requested=precision.dtype_requested,
        torch_dtype=precision.torch_dtype_label,
        attn_implementation=loaded.attn_implementation,
        threads=torch.get_num_threads(),  # intra-op threads for CPU work (features, CPU ops)
        load_s=loaded.load_s,
        decoding=transcriber.recorded_settings(),
    )


def batched(clips: Sequence[Any], batch_size: int) -> list[list[Any]]:
    """``clips`` in consecutive batches of ``batch_size`` (the last may be shorter)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return [list(clips[i : i + batch_size]) for i in range(0, len(clips), batch_size)]


def measure(
    transcriber: Transcriber,
    clips: Sequence[Any],
    settings: MeasureSettings,
    meters: WindowMeters | None = None,
    run_rounds: RunRounds = run_in_loop,
    batch_size: int | None = None,
    on_batch: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Result:
    """Warm up, then run measured rounds over ``clips`` inside one meter window.

    ``clips`` are :class:`whisperbench.audio.Clip` objects (``samples``, ``reference``,
    ``describe()``), transcribed in batches of ``batch_size`` (default: all in one batch); a
    round is one pass over every batch. ``on_batch`` is called after each batch (progress
    bars); keep it cheap, it runs inside measured rounds. The meters are always ended, even
    when a round raises. ``clock`` times the warm-up rounds that size an energy window
    (seconds; tests pass one they move themselves).
    """
    if not clips:
        raise ValueError("nothing to measure: no audio clips")
    size = batch_size or len(clips)
    batches = batched(clips, size)
    recorder = RoundRecorder(transcriber, [[clip.samples for clip in b] for b in batches], on_batch)
    if meters is not None:
        meters.measure_idle()  # model loaded, nothing running yet: the quietest moment
    stretch = meters is not None and meters.energy_active and settings.min_window_s > 0
    # The first round is the slowest (allocations, lazy init): to size an energy window,
    # time a later one, so stretching needs at least two warm-up rounds.
    warmup_rounds = max(settings.warmup_rounds, 2) if stretch else settings.warmup_rounds
    warmup_round_s = []
    for _ in range(warmup_rounds):
        started = clock()
        recorder()
        warmup_round_s.append(clock() - started)
    recorder.rounds.clear()

    rounds = settings.rounds
    if stretch and warmup_round_s:
        per_round_s = min(warmup_round_s[1:] or warmup_round_s)
        needed = math.ceil(_WINDOW_MARGIN * settings.min_window_s / per_round_s)
        rounds = min(max(rounds, needed), settings.max_rounds)

    readings: WindowReadings | None = None
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
    return Result(
        facts=model_facts(transcriber.loaded, transcriber),
        audio=[clip.describe() for clip in clips],
        references=[clip.reference for clip in clips],
        batch_size=size,
        rounds=list(recorder.rounds),
        warmup_rounds=warmup_rounds,
        memory=readings.memory if readings is not None else None,
        energy=(
            readings.energy_figures(audio_s * len(recorder.rounds), tokens)
            if readings is not None
            else None
        ),
        device_state=readings.state if readings is not None else None,
    )
