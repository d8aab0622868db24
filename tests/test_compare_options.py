"""The gate options are defined once: ``whisperbench compare`` and the pytest gate accept the
same ones, spelled the same after the prefix, with the same types and defaults."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from whisperbench import pytest_gate
from whisperbench.compare import DEFAULT_ALPHA, DEFAULT_METRICS, CompareOptions, Threshold
from whisperbench.compare.cli import add_compare_arguments
from whisperbench.compare.options import (
    GATE_OPTIONS,
    PYTEST_PREFIX,
    dest,
    markdown_from,
    options_from,
)

pytest_plugins = ["pytester"]

#: Options that belong to one front end only (where BASE and NEW come from, run storage).
CLI_ONLY = {"--storage", "--base", "--new"}
PYTEST_ONLY = {"--whisper-compare"}


class RecordingParser(argparse.ArgumentParser):
    """An argparse parser that also records what each option was added with."""

    def __init__(self) -> None:
        self.recorded: dict[str, dict[str, Any]] = {}
        super().__init__(prog="whisperbench compare")

    def add_argument(self, *names: Any, **kwargs: Any) -> Any:
        self.recorded[names[0]] = kwargs
        return super().add_argument(*names, **kwargs)


class RecordingPytestParser:
    """Stands in for ``pytest.Parser`` and its option group: records ``addoption`` calls."""

    def __init__(self) -> None:
        self.recorded: dict[str, dict[str, Any]] = {}

    def getgroup(self, name: str, description: str = "") -> RecordingPytestParser:
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        self.recorded[names[0]] = kwargs


def cli_options() -> dict[str, dict[str, Any]]:
    """``--name`` -> keyword arguments, for the gate options of ``whisperbench compare``."""
    parser = RecordingParser()
    add_compare_arguments(parser)
    flags = {name: kwargs for name, kwargs in parser.recorded.items() if name.startswith("--")}
    assert set(flags) >= CLI_ONLY
    return {name: kwargs for name, kwargs in flags.items() if name not in CLI_ONLY}


def pytest_options() -> dict[str, dict[str, Any]]:
    """The same for the pytest gate, with the ``whisper-compare-`` prefix taken off."""
    parser = RecordingPytestParser()
    pytest_gate.pytest_addoption(parser)  # type: ignore[arg-type]
    assert set(parser.recorded) >= PYTEST_ONLY
    prefix = f"--{PYTEST_PREFIX}"
    assert all(name.startswith(prefix) for name in set(parser.recorded) - PYTEST_ONLY)
    return {
        "--" + name.removeprefix(prefix): kwargs
        for name, kwargs in parser.recorded.items()
        if name not in PYTEST_ONLY
    }


def test_cli_and_pytest_add_the_same_gate_options() -> None:
    cli, in_pytest = cli_options(), pytest_options()
    assert set(cli) == set(in_pytest) == {f"--{name}" for name in GATE_OPTIONS}
    for name, kwargs in cli.items():
        assert in_pytest[name] == kwargs, name  # type, action, default, metavar and help


def test_parsed_defaults_are_equal(pytester: pytest.Pytester) -> None:
    """Parsed by argparse and by pytest's own parser: the same values, option by option."""
    parser = argparse.ArgumentParser()
    add_compare_arguments(parser)
    cli = vars(parser.parse_args(["base.json", "new.json"]))
    config = pytester.parseconfig("-p", "whisperbench.pytest_gate")
    in_pytest = {
        name: config.getoption(dest(name, PYTEST_PREFIX)) for name in map(dest, GATE_OPTIONS)
    }
    assert in_pytest == {name: cli[name] for name in map(dest, GATE_OPTIONS)}
    assert {key for key in vars(config.option) if key.startswith("whisper_compare")} == {
        "whisper_compare",
        *(dest(name, PYTEST_PREFIX) for name in GATE_OPTIONS),
    }
    expected = CompareOptions(
        gates={},
        metrics=DEFAULT_METRICS,
        threshold=Threshold(10.0, relative=True),
        alpha=DEFAULT_ALPHA,
    )
    assert options_from(config.getoption, PYTEST_PREFIX) == expected
    assert options_from(lambda name: cli[name]) == expected
    assert markdown_from(config.getoption, PYTEST_PREFIX) is None


def test_given_values_read_back_the_same_from_either_front_end(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    given = {
        "fail": ["rtf:10%", "wer:0.02"],
        "metrics": ["rtf,time"],
        "threshold": ["5%"],
        "alpha": ["0.05"],
        "fail-without-samples": [],
        "fail-on-missing": [],
        "allow-machine-mismatch": [],
        "markdown": [str(tmp_path / "compare.md")],
        "allow-missing": [],
    }
    assert set(given) == set(GATE_OPTIONS)

    def argv(prefix: str) -> list[str]:
        return [
            f"--{prefix}{name}" + (f"={value}" if value is not None else "")
            for name, values in given.items()
            for value in (values or [None])
        ]

    parser = argparse.ArgumentParser()
    add_compare_arguments(parser)
    cli = vars(parser.parse_args(["base.json", "new.json", *argv("")]))
    config = pytester.parseconfig("-p", "whisperbench.pytest_gate", *argv(PYTEST_PREFIX))
    from_cli = options_from(lambda name: cli[name])
    assert options_from(config.getoption, PYTEST_PREFIX) == from_cli
    assert from_cli == CompareOptions(
        gates={"rtf": Threshold(10.0, True), "wer": Threshold(0.02, False)},
        metrics=("rtf", "time"),
        threshold=Threshold(5.0, True),
        alpha=0.05,
        fail_without_samples=True,
        fail_on_missing=True,
        allow_machine_mismatch=True,
        allow_missing=True,
    )
    assert markdown_from(config.getoption, PYTEST_PREFIX) == tmp_path / "compare.md"
    assert markdown_from(lambda name: cli[name]) == tmp_path / "compare.md"
