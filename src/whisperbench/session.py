"""One way to assemble a run: options -> model + meters + Transcriber -> Result.

Every front end goes through here: the suite's fixture, the app, the scripts under
``benchmarks/`` and each cell of a sweep::

    from whisperbench.options import RunOptions
    from whisperbench.session import open_session, synthetic_clips

    options = RunOptions(model="tiny.en", dtype="float32", audio_duration_s=5.0)
    with open_session(options) as session:
        result = session.measure(synthetic_clips(options))
    result.to_extra_info()["rtf"]

:func:`check_options` refuses what cannot run before anything loads (a dtype the device
cannot run, a language for an English-only model); :func:`open_session` loads the model
(``load_s``, never inside a figure), builds the meter set for the device it landed on and the
Transcriber; :meth:`Session.measure` warms up and measures rounds inside one meter window
(:func:`whisperbench.measure.measure`). The session's meters and the Transcriber wait for the
device with the same synchronizer (:func:`whisperbench.devices.synchronizer`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from whisperbench.audio.clip import Clip
from whisperbench.devices import synchronizer
from whisperbench.engines import Engine, EngineSettings, check_engine, open_engine
from whisperbench.measure import MeasureSettings, RunRounds, measure, run_in_loop
from whisperbench.meters import MeterSet, build_meter_set
from whisperbench.models.loading import LoadedModel
from whisperbench.models.precision import Precision, resolve
from whisperbench.models.registry import ModelSpec, get_spec
from whisperbench.options import RunOptions
from whisperbench.schema import Result
from whisperbench.transcribe import DecodeSettings, check_language

__all__ = [
    "CheckedOptions",
    "Session",
    "check_options",
    "open_session",
    "session_key",
    "synthetic_clips",
]

#: Builds the meter set for a resolved device (tests pass one over fake NVML).
MeterFactory = Callable[..., MeterSet]


@dataclass(frozen=True)
class CheckedOptions:
    """Options resolved against this machine, before any model loads."""

    options: RunOptions
    spec: ModelSpec
    precision: Precision
    decode: DecodeSettings
    settings: MeasureSettings
    engine: EngineSettings = dataclasses.field(default_factory=EngineSettings)


def check_options(options: RunOptions) -> CheckedOptions:
    """Resolve and check ``options`` without loading anything.

    Raises:
        whisperbench.models.precision.PrecisionError: a device or dtype that cannot run here.
        whisperbench.models.precision.NotApplicable: (a PrecisionError) a setting the engine
            does not have (a matrix leaves such cells out).
        ValueError: settings that cannot go together (a language for an English-only model,
            more fixed tokens than Whisper's decoder holds, rounds below 1...).
        KeyError: an unknown model id.
    """
    spec = get_spec(options.model)
    decode = DecodeSettings(
        fixed_tokens=options.fixed_tokens,
        language=options.language,
        word_timestamps=options.timestamps,
    )
    check_language(spec, decode)
    engine = EngineSettings(
        engine=options.engine,
        kv_cache=options.kv_cache,
        torch_compile=options.torch_compile,
        attn_implementation=options.attn_implementation,
    )
    check_engine(
        engine,
        audio_s=options.audio_duration_s,
        word_timestamps=options.timestamps,
        fixed_tokens=options.fixed_tokens,
    )
    precision = resolve(options.device, options.dtype, engine=options.engine)
    settings = MeasureSettings(
        rounds=options.rounds,
        warmup_rounds=options.warmup_rounds,
        min_window_s=options.min_window_s,
    )
    return CheckedOptions(options, spec, precision, decode, settings, engine)


class Session:
    """A loaded model with its meters and engine, ready to measure clips.

    Close it (or use it as a context manager) to remove the engine's hooks and release
    NVML. One session serves any number of :meth:`measure` calls: the suite measures every
    duration and batch size of a model/dtype pair on one session.
    """

    def __init__(self, checked: CheckedOptions, engine: Engine, meters: MeterSet) -> None:
        self.checked = checked
        self.transcriber = engine  #: the engine: one call is one round over a batch
        self.loaded: LoadedModel = engine.loaded
        self.meters = meters

    @property
    def options(self) -> RunOptions:
        return self.checked.options

    def measure(
        self,
        clips: Sequence[Clip],
        *,
        batch_size: int | None = None,
        run_rounds: RunRounds = run_in_loop,
        on_batch: Callable[[], None] | None = None,
        on_phase: Callable[[str], None] | None = None,
    ) -> Result:
        """Warm up, then measure rounds over ``clips`` in batches of ``batch_size`` (default:
        the options' ``batch_size``) inside one meter window.

        ``run_rounds(target, n)`` runs the measured rounds (the suite hands pytest-benchmark's
        ``pedantic`` in); ``on_batch`` is called after every batch (a progress bar);
        ``on_phase`` is told when idle sampling, warm-up and the measured window begin.
        """
        return measure(
            self.transcriber,
            clips,
            self.checked.settings,
            self.meters,
            run_rounds,
            batch_size=batch_size or self.options.batch_size,
            on_batch=on_batch,
            on_phase=on_phase,
        )

    def close(self) -> None:
        """Remove the timing hooks and release the meters (NVML). Idempotent."""
        self.transcriber.close()
        self.meters.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_session(
    options: RunOptions | CheckedOptions, *, meter_factory: MeterFactory = build_meter_set
) -> Session:
    """Check ``options``, load the model and build the meters for the device it runs on.

    Raises what :func:`check_options` raises, and
    :class:`whisperbench.models.loading.WeightsUnavailable` (no source could provide the
    weights; the message lists every attempt) or
    :class:`whisperbench.models.integrity.WeightsIntegrityError` (a weight file is damaged).
    """
    checked = options if isinstance(options, CheckedOptions) else check_options(options)
    run = checked.options
    if run.threads is not None:
        import torch

        torch.set_num_threads(run.threads)
    engine = open_engine(
        checked.spec,
        checked.precision,
        checked.decode,
        checked.engine,
        source=run.weights,
        weights_path=run.weights_path,
        threads=run.threads,
        timing=run.timing,
    )
    device = checked.precision.device
    try:
        meters = meter_factory(
            device=device,
            gpus=run.gpus,
            idle_s=run.idle_s,
            min_window_s=run.min_window_s,
            synchronize=synchronizer(device),
        )
    except BaseException:
        engine.close()
        raise
    try:
        return Session(checked, engine, meters)
    except BaseException:
        meters.close()
        engine.close()
        raise


def synthetic_clips(options: RunOptions) -> list[Clip]:
    """``batch_size`` deterministic clips of ``audio_duration_s`` seconds of ``audio``."""
    from whisperbench.audio.batches import synthetic_batch

    return synthetic_batch(options.audio, options.audio_duration_s, options.batch_size)


def session_key(options: RunOptions) -> RunOptions:
    """What decides whether a session can be reused: the options less the workload's
    duration, audio and batch size (a session measures any clips)."""
    return dataclasses.replace(options, audio_duration_s=0.0, audio="auto", batch_size=1)
