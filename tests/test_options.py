"""Run options are defined once: the suite's ``--whisper-*`` form and the app's form accept the
same set, parse the same values to the same RunOptions, and record every option."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from whisperbench.cli import build_parser
from whisperbench.options import Matrix, RunOptions, add_run_options, run_options_from

pytest_plugins = ["pytester"]

#: The app's own options: where its audio comes from and where its results go.
APP_ONLY = {
    "help",
    "references",
    "benchmark",
    "num_samples",
    "use_dataset",
    "audio_file",
    "generate_audio",
    "dataset_path",
    "output_file",
    "quiet",
    "log_level",
}
RUN_OPTIONS = {f.name for f in dataclasses.fields(RunOptions)}


def _run_parser() -> argparse.ArgumentParser:
    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    parser: argparse.ArgumentParser = commands.choices["run"]
    return parser


def test_the_suite_and_the_app_accept_the_same_run_options(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig("-p", "whisperbench.pytest_plugin")
    suite = {
        name.removeprefix("whisper_")
        for name in vars(config.option)
        if name.startswith("whisper_") and not name.startswith("whisper_compare")
    }
    app = {action.dest for action in _run_parser()._actions} - APP_ONLY
    assert suite == RUN_OPTIONS
    assert app == RUN_OPTIONS


def test_both_forms_parse_the_same_values_to_the_same_options(
    pytester: pytest.Pytester,
) -> None:
    given = {
        "model": "base",
        "dtype": "int8",
        "device": "cpu",
        "weights": "packaged",
        "weights-path": "/tmp/ckpt",
        "audio-duration": "7.5",
        "audio": "tone",
        "batch-size": "2",
        "language": "de",
        "fixed-tokens": "12",
        "attn": "eager",
        "threads": "3",
        "rounds": "4",
        "warmup-rounds": "0",
        "min-window": "2.5",
        "idle": "0",
        "gpus": "0,1",
    }
    plural = {"model": "models", "dtype": "dtypes", "audio-duration": "durations",
              "batch-size": "batch-sizes"}  # fmt: skip
    suite_args = [f"--whisper-{plural.get(k, k)}={v}" for k, v in given.items()]
    config = pytester.parseconfig(
        "-p", "whisperbench.pytest_plugin", *suite_args, "--whisper-timestamps"
    )
    (case,) = Matrix.from_parsed(config.getoption).cases()
    app_args = [f"--{k}={v}" for k, v in given.items()]
    args = _run_parser().parse_args([*app_args, "--timestamps"])
    assert run_options_from(lambda dest: getattr(args, dest)) == case
    assert (case.timestamps, case.threads, case.audio_duration_s) == (True, 3, 7.5)


def test_defaults_differ_only_where_the_suite_says_so() -> None:
    app = run_options_from(lambda dest: getattr(_run_parser().parse_args([]), dest))
    assert app == RunOptions()  # the app's defaults are the dataclass's

    suite = argparse.ArgumentParser()
    add_run_options(suite.add_argument, prefix="whisper-", matrix=True)
    matrix = Matrix.from_parsed(lambda dest: getattr(suite.parse_args([]), dest))
    differ = {
        name for name in RUN_OPTIONS if getattr(matrix.base, name) != getattr(RunOptions(), name)
    }
    # the axes (tiny.en, float32, 5/10/20 s) and two suite defaults: 5 rounds, short speech
    assert differ == {"model", "dtype", "audio_duration_s", "rounds", "audio"}
    assert matrix.axes == {
        "model": ("tiny.en",),
        "dtype": ("float32",),
        "audio_duration_s": (5.0, 10.0, 20.0),
        "batch_size": (1,),
        "engine": ("transformers",),
        "kv_cache": ("dynamic",),
        "torch_compile": ("off",),
    }


def test_the_app_keeps_its_earlier_spellings() -> None:
    args = _run_parser().parse_args(["--repeat", "3", "--warmup", "2"])
    assert (args.rounds, args.warmup_rounds) == (3, 2)


def test_matrix_is_model_major_and_records_every_option() -> None:
    base = RunOptions(model="tiny.en", dtype="float32")
    matrix = Matrix(base, {"model": ("tiny.en", "base"), "dtype": ("float32",),
                           "audio_duration_s": (5.0, 10.0), "batch_size": (1,)})  # fmt: skip
    cases = [(c.model, c.audio_duration_s) for c in matrix.cases()]
    assert cases == [("tiny.en", 5.0), ("tiny.en", 10.0), ("base", 5.0), ("base", 10.0)]
    record = matrix.record()
    # The pytest JSON's record: the axes' plural keys, then every other option by name.
    assert record["models"] == ["tiny.en", "base"]
    assert record["durations_s"] == [5.0, 10.0]
    assert record["batch_sizes"] == [1]
    assert set(record) == (RUN_OPTIONS - {"engine", "kv_cache", "torch_compile"}) - set(
        matrix.axes
    ) | {"models", "dtypes", "durations_s", "batch_sizes", "engines", "kv_caches", "compile"}
    assert (record["engines"], record["kv_caches"], record["compile"]) == (
        ["transformers"],
        ["dynamic"],
        ["off"],
    )
    assert record["weights_path"] is None  # once missing from the record; now there


def test_the_workload_varies_fastest_so_one_session_serves_it() -> None:
    base = RunOptions(model="tiny.en", dtype="float32")
    matrix = Matrix(base, {"model": ("tiny.en",), "audio_duration_s": (5.0, 10.0),
                           "engine": ("transformers", "ctranslate2")})  # fmt: skip
    cases = [(c.engine, c.audio_duration_s) for c in matrix.cases()]
    assert cases == [
        ("transformers", 5.0),
        ("transformers", 10.0),
        ("ctranslate2", 5.0),
        ("ctranslate2", 10.0),
    ]
