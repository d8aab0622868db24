"""The data contract: every name whisperbench writes, its unit, and the result behind them.

Length: over 450 lines because it is the one owner of every output name (the architecture
test forbids spelling them elsewhere), with the result that writes them.

This module is the one owner of output names. Writers (the result below, the app's seed
record) and readers (``compare``, ``report``, the sweep merge) take names from here; no other
module spells a result field as a string (``tests/test_architecture.py`` checks it).

Two serialized forms:

- :meth:`Result.to_extra_info` -> ``benchmark.extra_info`` in pytest-benchmark JSON, flat;
- :func:`whisperbench.app.record.seed_record` -> one run of the command-line app, under the
  original ``WhisperViaHF.py`` keys (:data:`SEED_KEYS`) with everything else beside them.

Units are in the names: ``_s`` seconds, ``_j`` joules, ``_w`` watts, ``_bytes`` bytes,
``_mhz`` megahertz, ``_c`` degrees Celsius. A figure that could not be measured is null and a
``*_reason`` field says why. ``SCHEMA_VERSION`` changes whenever a name or unit changes;
readers check it (``runs.py``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from whisperbench import metrics
from whisperbench.meters.readings import (
    ABOVE_IDLE_REFERENCE,
    DeviceStateReading,
    EnergyFigures,
    MemoryReading,
    WindowEnergy,
)
from whisperbench.rounds import Round

__all__ = [
    "SCHEMA_VERSION",
    "SEED_KEYS",
    "CompileFacts",
    "DecodingFacts",
    "EngineFacts",
    "ModelFacts",
    "Result",
    "energy_fields",
    "engine_fields",
    "finite_json",
    "memory_fields",
]

SCHEMA_VERSION = 1

# -- benchmark.extra_info: what ran -----------------------------------------------------------
SCHEMA_VERSION_FIELD: Final = "schema_version"
MODEL: Final = "model"  #: registry id, e.g. "tiny.en"
HUB_ID: Final = "hub_id"
WEIGHTS_SOURCE: Final = "weights_source"  #: local | hf-cache | packaged | hub | random
WEIGHTS_ORIGIN: Final = "weights_origin"
WEIGHTS_SHA256: Final = "weights_sha256"  #: of the weight file(s) loaded
#: packaged weights: sha256 of the CTranslate2 file they were converted from (else null)
WEIGHTS_CONVERTED_FROM_SHA256: Final = "weights_converted_from_sha256"
WEIGHTS_CHECK: Final = "weights_check"  #: how weights_sha256 was established and checked
PARAMETERS: Final = "parameters"
WEIGHTS_BYTES: Final = "weights_bytes"
DEVICE: Final = "device"  #: "cpu" or "cuda:N"
DTYPE: Final = "dtype"  #: the dtype that ran
DTYPE_REQUESTED: Final = "dtype_requested"
ATTN_IMPLEMENTATION: Final = "attn_implementation"
THREADS: Final = "threads"
LOAD_S: Final = "load_s"
DECODING: Final = "decoding"  #: the decode settings as they ran (DecodingFacts)
NUM_BEAMS: Final = "num_beams"
DO_SAMPLE: Final = "do_sample"
FIXED_TOKENS: Final = "fixed_tokens"  #: also at the top level
MAX_NEW_TOKENS: Final = "max_new_tokens"
LANGUAGE: Final = "language"
TASK: Final = "task"
RETURN_TIMESTAMPS: Final = "return_timestamps"
WORD_TIMESTAMPS: Final = "word_timestamps"
BATCH_SIZE: Final = "batch_size"
CLIPS: Final = "clips"
AUDIO_NAME: Final = "audio_name"
AUDIO_CATEGORY: Final = "audio_category"
AUDIO_SHA256: Final = "audio_sha256"
AUDIO: Final = "audio"  #: one ``Clip.describe()`` per clip
AUDIO_S: Final = "audio_s"  #: audio seconds per round
# -- the engine that ran and its settings (EngineFacts) -----------------------------------------
ENGINE: Final = "engine"  #: transformers | ctranslate2
ENGINE_VERSION: Final = "engine_version"  #: the engine package's version
ENGINE_SETTINGS: Final = "engine_settings"  #: the engine's settings as they ran, keys below
KV_CACHE: Final = "kv_cache"  #: transformers: dynamic | static
TORCH_COMPILE: Final = "compile"  #: transformers: off | on
COMPILE_MODE: Final = "compile_mode"  #: torch.compile's mode when compile is on
QUANTIZATION: Final = "quantization"  #: how weights were quantized (torchao config), or None
TORCHAO_VERSION: Final = "torchao_version"
#: CTranslate2's compute type as it ran, in its words (int8 on a CPU is int8_float32)
COMPUTE_TYPE: Final = "compute_type"
INTRA_THREADS: Final = "intra_threads"
INTER_THREADS: Final = "inter_threads"
WEIGHTS_FORMAT: Final = "weights_format"  #: ctranslate2: packaged files, or converted
# -- torch.compile's bookkeeping: compilation never inside a measured window ------------------
COMPILE_S: Final = "compile_s"  #: seconds compiling during this cell's warm-up
COMPILES_WARMUP: Final = "compiles_warmup"  #: compilations (recompiles too) during warm-up
COMPILES_IN_WINDOW: Final = "compiles_in_window"  #: compilations inside the window: must be 0

# -- benchmark.extra_info: what it cost -------------------------------------------------------
ROUNDS: Final = "rounds"
WARMUP_ROUNDS: Final = "warmup_rounds"
#: "phases" (encoder timed by synchronizing hooks inside generate) or "end-to-end" (no
#: synchronization inside generate; encoder_s, decoder_s and s_per_token are null).
TIMING_MODE: Final = "timing_mode"
#: Seconds of device-idle pause before each measured round but the first, stepping rounds
#: across the GPU power sensor's sampling grid (0: none needed; meters.sampling_grid).
PHASE_STEP_PAUSE_S: Final = "phase_step_pause_s"
INFERENCE_S: Final = "inference_s"
FEATURES_S: Final = "features_s"
ENCODER_S: Final = "encoder_s"
DECODER_S: Final = "decoder_s"
DETOKENIZE_S: Final = "detokenize_s"
ROUNDS_INFERENCE_S: Final = "rounds_inference_s"
RTF: Final = "rtf"
RTFX: Final = "rtfx"
TOKENS: Final = "tokens"
DECODER_STEPS: Final = "decoder_steps"
S_PER_TOKEN: Final = "s_per_token"
ROUNDS_S_PER_TOKEN: Final = "rounds_s_per_token"
TRANSCRIPT: Final = "transcript"
REFERENCE: Final = "reference"
TRANSCRIPTS: Final = "transcripts"
WER: Final = "wer"
# -- agreement between cells of the same work (whisperbench.report.engines) -------------------
AGREEMENT_WITH: Final = "agreement_with"  #: the cell compared against (engine, dtype, settings)
AGREEMENT_WER: Final = "agreement_wer"  #: WER of this cell's transcripts against that cell's
TIME_RATIO: Final = "time_ratio"  #: this cell's RTF over that cell's (above 1: slower)

# -- memory over the window -------------------------------------------------------------------
PEAK_RSS_BYTES: Final = "peak_rss_bytes"
CUDA_PEAK_ALLOCATED_BYTES: Final = "cuda_peak_allocated_bytes"
CUDA_PEAK_RESERVED_BYTES: Final = "cuda_peak_reserved_bytes"
NVML_PROCESS_GPU_MEMORY_BYTES: Final = "nvml_process_gpu_memory_bytes"

# -- energy over the window (also the keys of each ENERGY_DEVICES entry) ----------------------
ENERGY_J: Final = "energy_j"
ENERGY_ABOVE_IDLE_J: Final = "energy_above_idle_j"
IDLE_POWER_W: Final = "idle_power_w"
AVG_POWER_W: Final = "avg_power_w"
J_PER_AUDIO_S: Final = "j_per_audio_s"
J_PER_TOKEN: Final = "j_per_token"
ENERGY_SOURCE: Final = "energy_source"
ENERGY_WINDOW_S: Final = "energy_window_s"
ENERGY_VALID: Final = "energy_valid"
ENERGY_INVALID_REASONS: Final = "energy_invalid_reasons"
ENERGY_NULL_REASON: Final = "energy_null_reason"
ENERGY_DEVICES: Final = "energy_devices"
#: What the figure covers: gpu, gpu_whole_mig_parent, superchip_module (GH200: GPU, CPU and
#: memory), cpu_package ... (joined by "+" at the top level; also in each device's entry).
ENERGY_SCOPE: Final = "energy_scope"
IDLE_POWER_COLD_W: Final = "idle_power_cold_w"  #: idle before warm-up, the device at rest
IDLE_POWER_WARM_W: Final = "idle_power_warm_w"  #: idle right before the window, after warm-up
#: Which idle figure energy_above_idle_j subtracts ("warm"; meters.readings).
IDLE_REFERENCE: Final = "idle_reference"
#: The power reading a polling meter integrated: nvml_field_power_instant | nvml_power_usage.
POWER_SOURCE: Final = "power_source"
#: Besides the energy keys, each ENERGY_DEVICES entry names its device:
NVML_INDEX: Final = "nvml_index"
UUID: Final = "uuid"
#: ... and says how its figure was read (counter edges; notes on checks that could not run):
EDGE_UNCERTAINTY_S: Final = "edge_uncertainty_s"  #: sum of both edges' bracket half-widths
EDGE_IDLE_S: Final = "edge_idle_s"  #: window seconds outside the work (device idle)
COUNTER_UPDATE_PERIOD_S: Final = "counter_update_period_s"
ENERGY_NOTES: Final = "energy_notes"

#: Energy figures that are null when the window is invalid (not shown as measurements).
ENERGY_FIGURES: tuple[str, ...] = (
    ENERGY_J,
    ENERGY_ABOVE_IDLE_J,
    J_PER_AUDIO_S,
    J_PER_TOKEN,
    AVG_POWER_W,
)

# -- device state before/after the window (built by whisperbench.meters.device_state) ---------
DEVICE_STATE: Final = "device_state"
BEFORE: Final = "before"
AFTER: Final = "after"
GPUS: Final = "gpus"
HOST: Final = "host"
NAME: Final = "name"
SM_CLOCK_MHZ: Final = "sm_clock_mhz"
MEM_CLOCK_MHZ: Final = "mem_clock_mhz"
APP_SM_CLOCK_MHZ: Final = "app_sm_clock_mhz"
APP_MEM_CLOCK_MHZ: Final = "app_mem_clock_mhz"
POWER_LIMIT_W: Final = "power_limit_w"
MIG_MODE: Final = "mig_mode"

# -- machine_info["whisperbench"] (session facts) and the run's own record --------------------
WHISPERBENCH: Final = "whisperbench"  #: key of machine_info and of the run-level JSON block
NVML: Final = "nvml"
CPU_MODEL: Final = "cpu_model"
DRIVER_VERSION: Final = "driver_version"
OPTIONS: Final = "options"
#: Software versions among the HOST facts.
PYTHON_VERSION: Final = "python_version"
TORCH_VERSION: Final = "torch_version"
TORCH_CUDA_VERSION: Final = "torch_cuda_version"  #: the CUDA torch was built with
TRANSFORMERS_VERSION: Final = "transformers_version"

# -- a sweep cell (whisperbench.sweep): where it ran, its operating point, where time went --
SWEEP: Final = "sweep"  #: the sweep's name (in a shard's run-level block)
SWEEP_CELL: Final = "sweep_cell"  #: the cell's id in its sweep folder
SWEEP_RUN: Final = "sweep_run"  #: which repeat (1-based)
WORKER: Final = "worker"  #: host:pid of the worker process
GPU_NAME: Final = "gpu_name"  #: the GPU the worker controlled and profiled (None on CPU)
GPU_UUID: Final = "gpu_uuid"
FRAMEWORK_STEM: Final = "framework_stem"  #: e.g. A100_freq_510_run_01 (its profile and log)
CLOCK_CONTROL: Final = "clock_control"  #: locked_clocks | application_clocks | external | ...
SM_CLOCK_MHZ_REQUESTED: Final = "sm_clock_mhz_requested"
SM_CLOCK_MHZ_SET: Final = "sm_clock_mhz_set"  #: snapped to a clock the GPU supports
SM_CLOCK_MHZ_ACTUAL: Final = "sm_clock_mhz_actual"  #: read back after setting
MEM_CLOCK_MHZ_REQUESTED: Final = "mem_clock_mhz_requested"
MEM_CLOCK_MHZ_SET: Final = "mem_clock_mhz_set"
MEM_CLOCK_MHZ_ACTUAL: Final = "mem_clock_mhz_actual"
POWER_LIMIT_W_REQUESTED: Final = "power_limit_w_requested"
POWER_LIMIT_W_SET: Final = "power_limit_w_set"
POWER_LIMIT_W_ACTUAL: Final = "power_limit_w_actual"
CLOCK_NOTES: Final = "clock_notes"
WORKER_START_S: Final = "worker_start_s"  #: process start-up before its first cell
SESSION_LOAD_S: Final = "session_load_s"  #: model load for this cell (0: session reused)
PHASE_IDLE_S: Final = "phase_idle_s"
PHASE_WARMUP_S: Final = "phase_warmup_s"
PHASE_MEASURE_S: Final = "phase_measure_s"  #: the measured window
CELL_WALL_S: Final = "cell_wall_s"  #: the whole cell, load to done

# -- the app's JSON (the original WhisperViaHF.py keys first) ---------------------------------
TORCH_DTYPE: Final = "torch_dtype"
TOTAL_SAMPLES: Final = "total_samples"
TOTAL_AUDIO_DURATION: Final = "total_audio_duration"
TOTAL_INFERENCE_TIME: Final = "total_inference_time"
AVERAGE_RTF: Final = "average_rtf"
MODEL_PARAMETERS: Final = "model_parameters"
GPU_MEMORY_USED: Final = "gpu_memory_used"
TRANSCRIPTIONS: Final = "transcriptions"
FAILURES: Final = "failures"
#: Keys of each TRANSCRIPTIONS entry (one per sample) and of each FAILURES entry.
SAMPLE: Final = "sample"
CATEGORY: Final = "category"
TEXT: Final = "text"
AUDIO_DURATION: Final = "audio_duration"
BATCH: Final = "batch"
INFERENCE_TIME: Final = "inference_time"  #: seconds, the sample's batch, mean per round
WORDS: Final = "words"
INPUT: Final = "input"
ERROR: Final = "error"
#: Beside them: whether an interrupt (Ctrl-C, SIGTERM) cut the run, by which signal, and the
#: inputs it left unmeasured (the entries under TRANSCRIPTIONS are those that finished).
INTERRUPTED: Final = "interrupted"
INTERRUPTED_BY: Final = "interrupted_by"  #: "SIGINT" | "SIGTERM" | null
UNFINISHED: Final = "unfinished"
#: Beside them: where the app's audio came from and what it was asked.
AUDIO_SOURCE: Final = "audio_source"
AUDIO_LOAD_S: Final = "audio_load_s"  #: seconds to load and resample the audio (not in RTF)
ARGV: Final = "argv"

#: The original WhisperViaHF.py's JSON keys, kept with their meanings (README "JSON output").
SEED_KEYS: tuple[str, ...] = (
    MODEL,
    DEVICE,
    TORCH_DTYPE,
    TOTAL_SAMPLES,
    TOTAL_AUDIO_DURATION,
    TOTAL_INFERENCE_TIME,
    AVERAGE_RTF,
    MODEL_PARAMETERS,
    GPU_MEMORY_USED,
    TRANSCRIPTIONS,
)


@dataclass(frozen=True)
class DecodingFacts:
    """How ``generate`` decoded, as it ran (language and task defaults filled in)."""

    num_beams: int
    do_sample: bool
    fixed_tokens: int | None  #: fixed-work mode: exactly this many new tokens per clip
    max_new_tokens: int | None
    language: str | None
    task: str | None
    return_timestamps: bool
    word_timestamps: bool

    def fields(self) -> dict[str, Any]:
        """Under their output names."""
        return {
            NUM_BEAMS: self.num_beams,
            DO_SAMPLE: self.do_sample,
            FIXED_TOKENS: self.fixed_tokens,
            MAX_NEW_TOKENS: self.max_new_tokens,
            LANGUAGE: self.language,
            TASK: self.task,
            RETURN_TIMESTAMPS: self.return_timestamps,
            WORD_TIMESTAMPS: self.word_timestamps,
        }


@dataclass(frozen=True)
class EngineFacts:
    """Which engine ran, its version, and its settings as they ran (keys: names above)."""

    engine: str
    version: str
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class CompileFacts:
    """torch.compile's cost, kept out of every figure: compilations counted by dynamo's
    compile callbacks, in the warm-up (where they belong) and in the window (must be 0)."""

    compile_s: float  #: wall seconds inside compilations during warm-up
    warmup: int  #: compilations during warm-up
    in_window: int  #: compilations during measured rounds


@dataclass(frozen=True)
class ModelFacts:
    """What ran: model, weights, precision and settings (no measurements)."""

    model: str
    hub_id: str
    weights_source: str
    weights_origin: str
    weights_sha256: str | None
    parameters: int
    weights_bytes: int
    device: str
    dtype: str  #: the dtype that ran
    dtype_requested: str
    torch_dtype: str  #: the original app's label, e.g. "torch.float16"
    attn_implementation: str
    threads: int
    load_s: float
    decoding: DecodingFacts
    timing_mode: str = "phases"  #: see TIMING_MODE
    engine: EngineFacts | None = None  #: None: written before engines were recorded
    #: packaged weights: sha256 of the CTranslate2 file they were converted from
    weights_converted_from_sha256: str | None = None
    weights_check: str | None = None  #: how weights_sha256 was established and checked


@dataclass(frozen=True)
class Result:
    """Measured rounds of one model on one batch of audio, with the window's meter readings.

    ``rounds`` excludes warm-up (measurement rule 3). ``energy``, ``memory`` and
    ``device_state`` come from the meters' window spanning exactly these rounds (``None``
    when the rounds ran without meters). ``batches`` says which clips (indices into ``audio``)
    each batch of a round held, in run order; empty means consecutive batches of
    ``batch_size``. A round's texts run in batch order; :attr:`transcripts` and :attr:`words`
    are in clip order.
    """

    facts: ModelFacts
    audio: Sequence[Mapping[str, Any]]  #: one ``Clip.describe()`` per clip, in order
    references: Sequence[str | None]
    batch_size: int
    rounds: Sequence[Round]
    warmup_rounds: int
    memory: MemoryReading | None = None
    energy: WindowEnergy | None = None
    device_state: DeviceStateReading | None = None
    phase_step_pause_s: float = 0.0  #: see PHASE_STEP_PAUSE_S
    compile: CompileFacts | None = None
    batches: Sequence[Sequence[int]] = ()

    def __post_init__(self) -> None:
        if not self.rounds:
            raise ValueError("a result needs at least one measured round")
        if not self.batches:
            count, size = len(self.audio), max(self.batch_size, 1)
            consecutive = [tuple(range(i, min(i + size, count))) for i in range(0, count, size)]
            object.__setattr__(self, "batches", tuple(consecutive))
        order = [i for batch in self.batches for i in batch]
        if sorted(order) != list(range(len(self.audio))):
            raise ValueError(
                f"batches {self.batches} do not hold each of {len(self.audio)} clips once"
            )

    def in_clip_order(self, values: Sequence[Any]) -> list[Any]:
        """Per-clip ``values`` listed in batch order (a round's texts) -> in clip order."""
        ordered: list[Any] = [None] * len(self.audio)
        for position, index in enumerate(i for batch in self.batches for i in batch):
            ordered[index] = values[position]
        return ordered

    # -- derived figures -------------------------------------------------------------------
    @property
    def audio_s(self) -> float:
        """Audio seconds per round (every clip of the workload)."""
        return self.rounds[0].audio_s

    @property
    def rtf(self) -> float:
        """sum(inference_s) / sum(audio_s) over the measured rounds."""
        return metrics.rtf(
            [r.times.inference_s for r in self.rounds], [r.audio_s for r in self.rounds]
        )

    @property
    def transcripts(self) -> list[str]:
        """The last round's texts, in clip order (greedy decoding gives the same text every
        round)."""
        return self.in_clip_order(self.rounds[-1].texts)

    @property
    def words(self) -> list[list[dict[str, Any]]]:
        """The last round's word timestamps, in clip order (empty lists when not asked for)."""
        return self.in_clip_order(self.rounds[-1].words)

    @property
    def wer(self) -> float | None:
        """Corpus WER of the last round against the references; None for random weights or
        when no clip has a reference."""
        if self.facts.weights_source == "random":
            return None
        pairs = [(r, h) for r, h in zip(self.references, self.transcripts, strict=False) if r]
        if not pairs:
            return None
        refs, hyps = zip(*pairs, strict=False)
        return metrics.wer(list(refs), list(hyps))

    def _mean(self, attribute: str) -> float:
        return statistics.fmean(getattr(r.times, attribute) for r in self.rounds)

    def to_extra_info(self) -> dict[str, Any]:
        """The flat ``benchmark.extra_info`` dict (per-round values are per-round means)."""
        facts = self.facts
        rtf_value = self.rtf
        per_token = [  # none in end-to-end timing (decoder_s not measured: NaN)
            r.s_per_token
            for r in self.rounds
            if r.s_per_token is not None and math.isfinite(r.s_per_token)
        ]
        info: dict[str, Any] = {
            SCHEMA_VERSION_FIELD: SCHEMA_VERSION,
            MODEL: facts.model,
            HUB_ID: facts.hub_id,
            WEIGHTS_SOURCE: facts.weights_source,
            WEIGHTS_ORIGIN: facts.weights_origin,
            WEIGHTS_SHA256: facts.weights_sha256,
            WEIGHTS_CONVERTED_FROM_SHA256: facts.weights_converted_from_sha256,
            WEIGHTS_CHECK: facts.weights_check,
            PARAMETERS: facts.parameters,
            WEIGHTS_BYTES: facts.weights_bytes,
            DEVICE: facts.device,
            DTYPE: facts.dtype,
            DTYPE_REQUESTED: facts.dtype_requested,
            ATTN_IMPLEMENTATION: facts.attn_implementation,
            THREADS: facts.threads,
            LOAD_S: facts.load_s,
            DECODING: facts.decoding.fields(),
            FIXED_TOKENS: facts.decoding.fixed_tokens,
            BATCH_SIZE: self.batch_size,
            CLIPS: len(self.audio),
            AUDIO_NAME: "+".join(str(clip["name"]) for clip in self.audio),
            AUDIO_CATEGORY: _common(clip.get("category") for clip in self.audio),
            AUDIO_SHA256: _common(clip.get("sha256") for clip in self.audio),
            AUDIO: [dict(clip) for clip in self.audio],
            AUDIO_S: self.audio_s,
            ROUNDS: len(self.rounds),
            WARMUP_ROUNDS: self.warmup_rounds,
            TIMING_MODE: facts.timing_mode,
            PHASE_STEP_PAUSE_S: self.phase_step_pause_s,
            INFERENCE_S: self._mean("inference_s"),
            FEATURES_S: self._mean("features_s"),
            ENCODER_S: self._mean("encoder_s"),
            DECODER_S: self._mean("decoder_s"),
            DETOKENIZE_S: self._mean("detokenize_s"),
            ROUNDS_INFERENCE_S: [r.times.inference_s for r in self.rounds],
            RTF: rtf_value,
            RTFX: metrics.rtfx(rtf_value),
            TOKENS: statistics.fmean(r.tokens for r in self.rounds),
            DECODER_STEPS: statistics.fmean(r.decoder_steps for r in self.rounds),
            S_PER_TOKEN: statistics.fmean(per_token) if per_token else None,
            ROUNDS_S_PER_TOKEN: per_token,
            TRANSCRIPT: " | ".join(self.transcripts),
            REFERENCE: " | ".join(r or "" for r in self.references) or None,
            TRANSCRIPTS: self.transcripts,
            WER: self.wer,
        }
        info.update(engine_fields(facts.engine, self.compile))
        if self.memory is not None:
            info.update(memory_fields(self.memory))
        if self.energy is not None:
            info.update(energy_fields(self.energy))
        if self.device_state is not None:
            info[DEVICE_STATE] = {
                BEFORE: dict(self.device_state.before),
                AFTER: dict(self.device_state.after),
            }
        else:
            info[DEVICE_STATE] = {}
        finite: dict[str, Any] = finite_json(info)
        return finite


def engine_fields(engine: EngineFacts | None, compiled: CompileFacts | None) -> dict[str, Any]:
    """The engine, its version and settings, and compile bookkeeping, under output names."""
    fields: dict[str, Any] = {}
    if engine is not None:
        fields.update(
            {
                ENGINE: engine.engine,
                ENGINE_VERSION: engine.version,
                ENGINE_SETTINGS: dict(engine.settings),
            }
        )
    if compiled is not None:
        fields.update(
            {
                COMPILE_S: compiled.compile_s,
                COMPILES_WARMUP: compiled.warmup,
                COMPILES_IN_WINDOW: compiled.in_window,
            }
        )
    return fields


def memory_fields(memory: MemoryReading) -> dict[str, Any]:
    """The window's memory under its output names."""
    return {
        PEAK_RSS_BYTES: memory.peak_rss_bytes,
        CUDA_PEAK_ALLOCATED_BYTES: memory.cuda_peak_allocated_bytes,
        CUDA_PEAK_RESERVED_BYTES: memory.cuda_peak_reserved_bytes,
        NVML_PROCESS_GPU_MEMORY_BYTES: memory.nvml_process_gpu_memory_bytes,
    }


def energy_fields(energy: WindowEnergy) -> dict[str, Any]:
    """The window's energy under its output names, with every device's entry."""
    devices = []
    for device in energy.devices:
        entry = {
            DEVICE: device.device,
            NVML_INDEX: device.nvml_index,
            UUID: device.uuid,
            ENERGY_SCOPE: device.energy_scope,
            **_figure_fields(device.figures),
        }
        reading = device.reading
        if reading is not None:
            entry[EDGE_UNCERTAINTY_S] = reading.edge_uncertainty_s
            entry[EDGE_IDLE_S] = reading.edge_idle_s
            entry[COUNTER_UPDATE_PERIOD_S] = reading.counter_update_period_s
            entry[ENERGY_NOTES] = list(reading.notes)
        devices.append(entry)
    return {**_figure_fields(energy.total), ENERGY_DEVICES: devices}


def _figure_fields(figures: EnergyFigures) -> dict[str, Any]:
    return {
        ENERGY_J: figures.energy_j,
        ENERGY_ABOVE_IDLE_J: figures.energy_above_idle_j,
        IDLE_POWER_W: figures.idle_power_w,
        AVG_POWER_W: figures.avg_power_w,
        J_PER_AUDIO_S: figures.j_per_audio_s,
        J_PER_TOKEN: figures.j_per_token,
        ENERGY_SOURCE: figures.source,
        ENERGY_WINDOW_S: figures.window_s,
        ENERGY_VALID: figures.valid,
        ENERGY_INVALID_REASONS: list(figures.invalid_reasons),
        ENERGY_NULL_REASON: figures.null_reason,
        ENERGY_SCOPE: figures.scope,
        IDLE_POWER_COLD_W: figures.idle_power_cold_w,
        IDLE_POWER_WARM_W: figures.idle_power_warm_w,
        IDLE_REFERENCE: ABOVE_IDLE_REFERENCE,
        POWER_SOURCE: figures.power_source,
    }


def _common(values: Any) -> Any:
    """The value shared by every clip, or None when they differ."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def finite_json(value: Any) -> Any:
    """JSON has no inf/NaN: replace them by None (e.g. RTFx when nothing took any time)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_json(v) for v in value]
    return value
