"""The pytest plugin: ``--whisper-*`` options, the benchmark matrix, machine info.

Loaded by the root ``conftest.py``. Options are validated when pytest configures, so a typo
fails before any model loads. The matrix (model x dtype x audio seconds x batch size) is
parametrized on any test that takes the ``whisper_case`` argument, model-major, so each
model/dtype pair is loaded once and kept only while its cases run.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from whisperbench.argtypes import choice, csv, int_at_least, optional_positive_int, seconds
from whisperbench.models.loading import WEIGHT_SOURCES
from whisperbench.models.precision import DTYPES
from whisperbench.models.registry import MODELS

__all__ = ["CASE_PARAMS", "WhisperCase", "WhisperOptions", "options_key", "whisper_case"]

T = TypeVar("T")


@dataclass(frozen=True)
class WhisperCase:
    """One cell of the benchmark matrix."""

    model: str
    dtype: str
    audio_s: float
    batch_size: int

    @property
    def id(self) -> str:
        return f"{self.model}-{self.dtype}-{self.audio_s:g}s-b{self.batch_size}"


@dataclass(frozen=True)
class WhisperOptions:
    """Every ``--whisper-*`` option, parsed and validated."""

    models: tuple[str, ...]
    dtypes: tuple[str, ...]
    durations_s: tuple[float, ...]
    batch_sizes: tuple[int, ...]
    device: str
    weights: str
    weights_path: str | None
    audio: str
    rounds: int
    warmup_rounds: int
    fixed_tokens: int | None
    attn_implementation: str
    threads: int | None
    min_window_s: float
    idle_s: float
    gpus: str

    def cases(self) -> list[WhisperCase]:
        product = itertools.product(self.models, self.dtypes, self.durations_s, self.batch_sizes)
        return [WhisperCase(*cell) for cell in product]


options_key = pytest.StashKey[WhisperOptions]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("whisperbench", "whisperbench: what to measure")
    add = group.addoption
    add(
        "--whisper-models",
        type=csv(choice(tuple(MODELS), "model"), "models"),
        default=("tiny.en",),
        metavar="IDS",
        help="Comma-separated model ids (see `whisperbench models`). Default: tiny.en",
    )
    add(
        "--whisper-dtypes",
        type=csv(choice(DTYPES, "dtype"), "dtypes"),
        default=("float32",),
        metavar="DTYPES",
        help=f"Comma-separated dtypes from {', '.join(DTYPES)}. Default: float32",
    )
    add(
        "--whisper-durations",
        type=csv(seconds(), "durations"),
        default=(5.0, 10.0, 20.0),
        metavar="SECONDS",
        help="Comma-separated audio seconds per clip. Default: 5,10,20",
    )
    add(
        "--whisper-batch-sizes",
        type=csv(int_at_least(1), "batch sizes"),
        default=(1,),
        metavar="NS",
        help="Comma-separated clips per batch. Default: 1",
    )
    add(
        "--whisper-device",
        default="auto",
        metavar="DEVICE",
        help="auto, cpu, cuda or cuda:N (auto: CUDA when available). Default: auto",
    )
    add(
        "--whisper-weights",
        type=choice(WEIGHT_SOURCES, "weights source"),
        default="auto",
        help=f"Weights source: {', '.join(WEIGHT_SOURCES)}; random only when named. "
        "Default: auto (local, HF cache, packaged, then hub)",
    )
    add(
        "--whisper-weights-path",
        default=None,
        metavar="DIR",
        help="A local transformers checkpoint folder (weights source 'local'). Default: none",
    )
    add(
        "--whisper-audio",
        default="short",
        metavar="CATEGORY",
        help="Synthetic speech category (short, medium, long, technical) or a signal "
        "(tone, chirp, noise, silence). Default: short",
    )
    add(
        "--whisper-rounds",
        type=int_at_least(1),
        default=5,
        metavar="N",
        help="Measured rounds per case (more when energy needs a longer window); 5 is the "
        "fewest a regression gate can call significant. Default: 5",
    )
    add(
        "--whisper-warmup-rounds",
        type=int_at_least(0),
        default=1,
        metavar="N",
        help="Unmeasured warm-up rounds before the window opens. Default: 1",
    )
    add(
        "--whisper-fixed-tokens",
        type=optional_positive_int,
        default=None,
        metavar="N",
        help="Fixed-work mode: decode exactly N tokens per clip (min = max new tokens). "
        "Default: off",
    )
    add(
        "--whisper-attn",
        type=choice(("sdpa", "eager"), "attention implementation"),
        default="sdpa",
        help="Attention implementation: sdpa or eager. Default: sdpa",
    )
    add(
        "--whisper-threads",
        type=optional_positive_int,
        default=None,
        metavar="N",
        help="torch.set_num_threads(N) for CPU runs. Default: torch's choice",
    )
    add(
        "--whisper-min-window",
        type=seconds(allow_zero=True),
        default=5.0,
        metavar="SECONDS",
        help="Shortest energy window; rounds are added to reach it when a sensor is metered. "
        "Default: 5.0",
    )
    add(
        "--whisper-idle",
        type=seconds(allow_zero=True),
        default=1.0,
        metavar="SECONDS",
        help="Idle power sampling before the first window (0 disables). Default: 1.0",
    )
    add(
        "--whisper-gpus",
        default="auto",
        metavar="WHICH",
        help="GPUs whose energy is metered: auto (the model's), all, or NVML indices "
        "'0,1'. Default: auto",
    )


def pytest_configure(config: pytest.Config) -> None:
    import transformers

    # Whisper's generate warns on every call about settings it sets itself; keep the
    # benchmark output readable (errors still show).
    transformers.logging.set_verbosity_error()
    get = config.getoption
    config.stash[options_key] = WhisperOptions(
        models=get("whisper_models"),
        dtypes=get("whisper_dtypes"),
        durations_s=get("whisper_durations"),
        batch_sizes=get("whisper_batch_sizes"),
        device=get("whisper_device"),
        weights=get("whisper_weights"),
        weights_path=get("whisper_weights_path"),
        audio=get("whisper_audio"),
        rounds=get("whisper_rounds"),
        warmup_rounds=get("whisper_warmup_rounds"),
        fixed_tokens=get("whisper_fixed_tokens"),
        attn_implementation=get("whisper_attn"),
        threads=get("whisper_threads"),
        min_window_s=get("whisper_min_window"),
        idle_s=get("whisper_idle"),
        gpus=get("whisper_gpus"),
    )


#: The matrix's parameter names, as they appear in pytest-benchmark's ``params``.
CASE_PARAMS = ("whisper_model_id", "whisper_dtype", "whisper_audio_s", "whisper_batch_size")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the matrix on plain values (so the JSON's ``params`` are readable)."""
    if "whisper_case" in metafunc.fixturenames:
        cases = metafunc.config.stash[options_key].cases()
        metafunc.parametrize(
            CASE_PARAMS,
            [(c.model, c.dtype, c.audio_s, c.batch_size) for c in cases],
            ids=[case.id for case in cases],
        )


@pytest.fixture
def whisper_case(
    whisper_model_id: str, whisper_dtype: str, whisper_audio_s: float, whisper_batch_size: int
) -> WhisperCase:
    """The matrix cell this test runs."""
    return WhisperCase(whisper_model_id, whisper_dtype, whisper_audio_s, whisper_batch_size)


def pytest_benchmark_update_machine_info(
    config: pytest.Config, machine_info: dict[str, Any]
) -> None:
    """Add host, software and GPU facts (``machine_info["whisperbench"]``)."""
    from whisperbench.meters.device_state import machine_info as whisper_machine_info

    machine_info["whisperbench"] = whisper_machine_info()


def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: list[Any], output_json: dict[str, Any]
) -> None:
    """Record the schema version and options of the run beside pytest-benchmark's own."""
    from whisperbench.schema import SCHEMA_VERSION

    options = config.stash[options_key]
    output_json["whisperbench"] = {
        "schema_version": SCHEMA_VERSION,
        "options": {
            "models": list(options.models),
            "dtypes": list(options.dtypes),
            "durations_s": list(options.durations_s),
            "batch_sizes": list(options.batch_sizes),
            "device": options.device,
            "weights": options.weights,
            "audio": options.audio,
            "rounds": options.rounds,
            "warmup_rounds": options.warmup_rounds,
            "fixed_tokens": options.fixed_tokens,
            "attn_implementation": options.attn_implementation,
            "threads": options.threads,
            "min_window_s": options.min_window_s,
            "idle_s": options.idle_s,
            "gpus": options.gpus,
        },
    }
