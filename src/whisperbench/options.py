"""Run options, defined once for every front end: the suite, the app and sweep plans.

:class:`RunOptions` holds everything that decides one measurement: which model, how it is
loaded, what audio, how it decodes and how it is metered. Each field carries its command-line
form (:class:`OptionSpec`), and :func:`add_run_options` adds them to a parser with a prefix,
as pytest-benchmark's ``add_global_options(addoption, prefix="benchmark-")`` does for its
plugin and its CLI:

- the suite: ``add_run_options(group.addoption, prefix="whisper-", matrix=True)`` ->
  ``--whisper-device``, ``--whisper-rounds``...; matrix axes in their plural, comma-separated
  form (``--whisper-models tiny.en,base``);
- the app: ``add_run_options(parser.add_argument)`` -> ``--device``, ``--rounds``..., axes in
  the original app's singular form (``--model base``).

Adding an option is one field here and the code that uses it: both front ends, the pytest
JSON's record of the options and the sweep plan's keys follow from the field.
Where a front end's default differs (the suite measures tiny.en over three lengths, the app
keeps the original app's ``base``), the field says so in ``suite_default``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from whisperbench.argtypes import choice, csv, int_at_least, optional_positive_int, seconds
from whisperbench.audio.batches import AUDIO_CHOICES
from whisperbench.audio.clip import MIN_DURATION_S
from whisperbench.devices import device_type, gpus_type
from whisperbench.engines.base import COMPILE_CHOICES, KV_CACHES
from whisperbench.models.loading import WEIGHT_SOURCES
from whisperbench.models.precision import DTYPES, ENGINES
from whisperbench.models.registry import MODELS
from whisperbench.rounds import TIMING_MODES

__all__ = [
    "SUITE_PREFIX",
    "Axis",
    "Matrix",
    "OptionSpec",
    "RunOptions",
    "add_run_options",
    "option_specs",
    "run_options_from",
]

#: The prefix of the suite's options (``--whisper-device``).
SUITE_PREFIX: Final = "whisper-"

_UNSET: Final = object()


@dataclass(frozen=True)
class Axis:
    """A matrix axis: the suite takes several comma-separated values (``--whisper-models``)."""

    flag: str  #: the suite's plural flag, after the prefix: "models" -> --whisper-models
    key: str  #: its name in the pytest JSON's record of the options
    default: tuple[Any, ...]  #: the suite's default values
    #: changes only the audio a session measures (duration, batch size), not the session:
    #: such axes vary fastest, so one loaded model serves all of them
    workload: bool = False


@dataclass(frozen=True)
class OptionSpec:
    """How one :class:`RunOptions` field is spelled on a command line.

    ``parse`` is an argparse ``type=`` (raises ``argparse.ArgumentTypeError`` naming the value
    and what is valid); ``None`` makes a flag that takes no value. ``aliases`` are extra
    spellings the app keeps from earlier versions. ``group`` places the option in the app's
    ``--help``.
    """

    flag: str
    help: str
    parse: Callable[[str], Any] | None
    metavar: str | None = None
    axis: Axis | None = None
    suite_default: Any = _UNSET
    aliases: tuple[str, ...] = ()
    group: str = "measurement"


def _option(default: Any, spec: OptionSpec) -> Any:
    return field(default=default, metadata={"spec": spec})


@dataclass(frozen=True)
class RunOptions:
    """One measurement's settings; the defaults are the app's (the original WhisperViaHF.py)."""

    model: str = _option(
        "base",
        OptionSpec(
            "model",
            "Whisper model id (see `whisperbench models`)",
            choice(tuple(MODELS), "model"),
            metavar="ID",
            axis=Axis("models", "models", ("tiny.en",)),
            group="model",
        ),
    )
    dtype: str = _option(
        "auto",
        OptionSpec(
            "dtype",
            "Precision: auto (float16 on CUDA, float32 on CPU), float32, float16, bfloat16, "
            "int8 (torchao dynamic quantization), int4 (torchao weight-only, CUDA); "
            "CTranslate2 compute types int8_float32, int8_float16, int8_bfloat16",
            choice(DTYPES, "dtype"),
            metavar="DTYPE",
            axis=Axis("dtypes", "dtypes", ("float32",)),
            group="model",
        ),
    )
    device: str = _option(
        "auto",
        OptionSpec(
            "device",
            "auto, cpu, cuda or cuda:N (auto: CUDA when available; cuda without a GPU is an "
            "error, never a quiet CPU run)",
            device_type,
            metavar="DEVICE",
            group="model",
        ),
    )
    weights: str = _option(
        "auto",
        OptionSpec(
            "weights",
            f"Weights source: {', '.join(WEIGHT_SOURCES)}; auto tries a local folder, the HF "
            "cache, packaged weights, then the hub; random (exact architecture, cost only) "
            "only when named",
            choice(WEIGHT_SOURCES, "weights source"),
            metavar="SOURCE",
        ),
    )
    weights_path: str | None = _option(
        None,
        OptionSpec(
            "weights-path",
            "A local transformers checkpoint folder (weights source 'local')",
            str,
            metavar="DIR",
        ),
    )
    audio_duration_s: float = _option(
        10.0,
        OptionSpec(
            "audio-duration",
            "Seconds of synthetic audio per clip (at least 0.1: Whisper pads every clip to 30 s, "
            "so a shorter clip's RTF measures the padding)",
            seconds(maximum_s=3600, minimum_s=MIN_DURATION_S),
            metavar="SECONDS",
            axis=Axis("durations", "durations_s", (5.0, 10.0, 20.0), workload=True),
            group="audio",
        ),
    )
    audio: str = _option(
        "auto",
        OptionSpec(
            "audio",
            "Synthetic audio: a speech category (short, medium, long, technical), a signal "
            "(tone, chirp, noise, silence), or auto (the speech category whose lengths fit "
            "the duration)",
            choice(AUDIO_CHOICES, "audio"),
            metavar="KIND",
            suite_default="short",
            group="audio",
        ),
    )
    batch_size: int = _option(
        1,
        OptionSpec(
            "batch-size",
            "Clips per generate call",
            int_at_least(1),
            metavar="N",
            axis=Axis("batch-sizes", "batch_sizes", (1,), workload=True),
        ),
    )
    language: str | None = _option(
        None,
        OptionSpec(
            "language",
            "Language code for multilingual models (en when not given; .en models take none)",
            str,
            metavar="LANG",
            group="decoding",
        ),
    )
    timestamps: bool = _option(
        False,
        OptionSpec(
            "timestamps",
            "Word-level timestamps (their cost is inside the measured time)",
            None,
            group="decoding",
        ),
    )
    fixed_tokens: int | None = _option(
        None,
        OptionSpec(
            "fixed-tokens",
            "Fixed-work mode: decode exactly N tokens per clip (min = max new tokens); "
            "off: none, off or 0",
            optional_positive_int,
            metavar="N",
        ),
    )
    attn_implementation: str = _option(
        "sdpa",
        OptionSpec(
            "attn",
            "Attention implementation: sdpa or eager",
            choice(("sdpa", "eager"), "attention implementation"),
            metavar="IMPL",
        ),
    )
    threads: int | None = _option(
        None,
        OptionSpec(
            "threads",
            "torch.set_num_threads(N) for CPU work (none: torch's choice)",
            optional_positive_int,
            metavar="N",
        ),
    )
    rounds: int = _option(
        1,
        OptionSpec(
            "rounds",
            "Measured passes over all clips (more when energy needs a longer window); 5 is "
            "the fewest a regression gate can call significant",
            int_at_least(1),
            metavar="N",
            suite_default=5,
            aliases=("repeat",),
        ),
    )
    warmup_rounds: int = _option(
        1,
        OptionSpec(
            "warmup-rounds",
            "Unmeasured warm-up passes before the window opens",
            int_at_least(0),
            metavar="N",
            aliases=("warmup",),
        ),
    )
    min_window_s: float = _option(
        5.0,
        OptionSpec(
            "min-window",
            "Shortest energy window, seconds; rounds are added to reach it when a sensor is "
            "metered",
            seconds(allow_zero=True),
            metavar="SECONDS",
        ),
    )
    idle_s: float = _option(
        1.0,
        OptionSpec(
            "idle",
            "Idle power sampling before measuring, seconds (0 disables)",
            seconds(allow_zero=True),
            metavar="SECONDS",
        ),
    )
    gpus: str = _option(
        "auto",
        OptionSpec(
            "gpus",
            "GPUs whose energy is metered: auto (the model's), all, none, or NVML indices '0,1'",
            gpus_type,
            metavar="WHICH",
        ),
    )
    timing: str = _option(
        "phases",
        OptionSpec(
            "timing",
            "phases: time the encoder inside generate (synchronizes the GPU there, which idles "
            "it between launches); end-to-end: synchronize only at each call's edges, for "
            "energy-critical runs (encoder/decoder seconds are then null)",
            choice(TIMING_MODES, "timing mode"),
            metavar="MODE",
        ),
    )
    engine: str = _option(
        "transformers",
        OptionSpec(
            "engine",
            "Engine: transformers, or ctranslate2 (the engine under faster-whisper) on the same "
            "weights; with ctranslate2 the dtype is its compute type (CPU: float32, int8, "
            "int8_float32; CUDA: float16, bfloat16, int8, int8_float16, int8_bfloat16)",
            choice(ENGINES, "engine"),
            metavar="ENGINE",
            axis=Axis("engines", "engines", ("transformers",)),
            group="model",
        ),
    )
    kv_cache: str = _option(
        "dynamic",
        OptionSpec(
            "kv-cache",
            "transformers KV cache: dynamic (grows per token) or static (preallocated, fixed "
            "shapes, what compile needs)",
            choice(KV_CACHES, "KV cache"),
            metavar="CACHE",
            axis=Axis("kv-caches", "kv_caches", ("dynamic",)),
            group="model",
        ),
    )
    torch_compile: str = _option(
        "off",
        OptionSpec(
            "compile",
            "torch.compile of the transformers decoding step: off or on (needs the static KV "
            "cache; compile time is recorded apart, never inside a measured window)",
            choice(COMPILE_CHOICES, "compile"),
            metavar="OFF|ON",
            axis=Axis("compile", "compile", ("off",)),
            group="model",
        ),
    )

    def with_values(self, **values: Any) -> RunOptions:
        """A copy with some fields replaced (a matrix cell, a sweep cell)."""
        return dataclasses.replace(self, **values)


def option_specs() -> Iterator[tuple[str, OptionSpec]]:
    """``(field name, spec)`` of every run option, in definition order."""
    for item in dataclasses.fields(RunOptions):
        yield item.name, item.metadata["spec"]


def _default(name: str) -> Any:
    return {item.name: item.default for item in dataclasses.fields(RunOptions)}[name]


def add_run_options(
    add: Callable[..., Any],
    prefix: str = "",
    *,
    matrix: bool = False,
    only: Callable[[str, OptionSpec], bool] | None = None,
) -> None:
    """Add every run option through ``add`` (``parser.add_argument`` or pytest's
    ``group.addoption``) as ``--{prefix}{flag}``, its destination ``{prefix}{field}`` with
    dashes as underscores.

    With ``matrix``, axes take their plural, comma-separated form and the suite's defaults
    (``suite_default``) apply; without it, one value each and the app's defaults, plus the
    app's aliases. ``only`` picks a subset (the app places options in help groups).
    """
    dest_prefix = prefix.replace("-", "_")
    for name, spec in option_specs():
        if only is not None and not only(name, spec):
            continue
        default = _default(name)
        if matrix and spec.suite_default is not _UNSET:
            default = spec.suite_default
        flags = [f"--{prefix}{spec.flag}"]
        if not matrix:
            flags += [f"--{prefix}{alias}" for alias in spec.aliases]
        kwargs: dict[str, Any] = {"dest": f"{dest_prefix}{name}", "help": spec.help}
        if matrix and spec.axis is not None:
            flags = [f"--{prefix}{spec.axis.flag}"]
            assert spec.parse is not None
            kwargs.update(
                type=csv(spec.parse, spec.axis.flag.replace("-", " ")),
                default=spec.axis.default,
                metavar=f"{spec.metavar}S" if spec.metavar else None,
                help=f"{spec.help}; comma-separated, one case per value. "
                f"Default: {','.join(_shown(value) for value in spec.axis.default)}",
            )
        elif spec.parse is None:
            kwargs.update(action="store_true", default=bool(default))
            kwargs["help"] = f"{spec.help}. Default: off"
        else:
            kwargs.update(type=spec.parse, default=default, metavar=spec.metavar)
            kwargs["help"] = f"{spec.help}. Default: {_shown(default)}"
        add(*flags, **kwargs)


def _shown(value: Any) -> str:
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def run_options_from(get: Callable[[str], Any], prefix: str = "") -> RunOptions:
    """The :class:`RunOptions` a parser produced (``get(dest)`` reads one destination);
    axes given as several values are not for this function (see :class:`Matrix`)."""
    dest_prefix = prefix.replace("-", "_")
    return RunOptions(**{name: get(f"{dest_prefix}{name}") for name, _ in option_specs()})


@dataclass(frozen=True)
class Matrix:
    """The suite's cases: every combination of the axes' values over one set of options.

    Cases run model-major (model, then dtype, engine, KV cache, compile, and the workload's
    duration and batch size last), so each loaded model (and its compiled graphs) serves all
    of its cases and is kept only while they run.
    """

    base: RunOptions
    axes: Mapping[str, tuple[Any, ...]]  #: field name -> values, in field order

    @classmethod
    def from_parsed(cls, get: Callable[[str], Any], prefix: str = SUITE_PREFIX) -> Matrix:
        """The matrix a parser built with ``add_run_options(..., matrix=True)`` produced."""
        dest_prefix = prefix.replace("-", "_")
        values = {name: get(f"{dest_prefix}{name}") for name, _ in option_specs()}
        axes = {name: tuple(values[name]) for name, spec in option_specs() if spec.axis}
        singles = {name: value for name, value in values.items() if name not in axes}
        firsts = {name: axis[0] for name, axis in axes.items()}
        return cls(base=RunOptions(**singles, **firsts), axes=axes)

    def cases(self) -> list[RunOptions]:
        """Every combination, model-major, the workload's axes varying fastest."""
        specs = dict(option_specs())
        workload = {n for n in self.axes if (axis := specs[n].axis) is not None and axis.workload}
        names = [n for n in self.axes if n not in workload] + [
            n for n in self.axes if n in workload
        ]
        return [
            self.base.with_values(**dict(zip(names, combo, strict=True)))
            for combo in itertools.product(*(self.axes[name] for name in names))
        ]

    def record(self) -> dict[str, Any]:
        """The options as the pytest JSON records them (``output_json["whisperbench"]``):
        axes under their plural keys, every other option under its field name."""
        specs = dict(option_specs())
        record: dict[str, Any] = {}
        for name, value in dataclasses.asdict(self.base).items():
            axis = specs[name].axis
            if axis is None:
                record[name] = value
            else:  # an axis the matrix was not given runs its one base value
                record[axis.key] = list(self.axes.get(name, (value,)))
        return record
