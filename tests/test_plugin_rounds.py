"""pytest-benchmark's round options and whisperbench's rounds: refused, never silently ignored.

``benchmark.pedantic`` (how whisperbench hands its rounds to pytest-benchmark) ignores
``--benchmark-min-rounds``, ``--benchmark-max-time``, ``--benchmark-min-time``, the warm-up
and calibration options; a run that names one of them for whisperbench cases is a usage error
naming the ``--whisper-*`` option to use, found before any model loads. The JSON's
per-benchmark ``options`` of a whisperbench benchmark say what applied (tests/test_plugin.py's
real run checks them); a session without whisperbench cases keeps pytest-benchmark's own
(tests/test_startup.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from whisperbench.pytest_plugin import truthful_round_options

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.syspathinsert(REPO)
    shutil.copy(REPO / "conftest.py", pytester.path / "conftest.py")
    shutil.copy(REPO / "benchmarks" / "test_transcribe.py", pytester.path / "test_rounds_copy.py")
    return pytester


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--benchmark-min-rounds=2", "*--benchmark-min-rounds=2: use --whisper-rounds 2*"),
        ("--benchmark-max-time=0.5", "*--benchmark-max-time=0.5: rounds are counted, not timed*"),
        ("--benchmark-min-time=0.1", "*--benchmark-min-time=0.1: a round is one generate*"),
        ("--benchmark-warmup=on", "*--benchmark-warmup=True: use --whisper-warmup-rounds N*"),
        (
            "--benchmark-warmup-iterations=3",
            "*--benchmark-warmup-iterations=3: use --whisper-warmup-rounds N*",
        ),
        (
            "--benchmark-calibration-precision=3",
            "*--benchmark-calibration-precision=3: rounds are not calibrated*",
        ),
    ],
)
def test_a_round_option_pedantic_ignores_is_refused(
    suite: pytest.Pytester, option: str, message: str
) -> None:
    result = suite.runpytest(option, "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*whisperbench runs the rounds of its benchmarks itself*", message]
    )
    result.stdout.no_fnmatch_line("*passed*")


def test_every_refused_option_is_listed_at_once(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--benchmark-min-rounds=9", "--benchmark-max-time=3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--benchmark-min-rounds=9: use --whisper-rounds 9*", "*--benchmark-max-time=3*"]
    )


def test_default_values_and_deselected_cases_are_not_refused(suite: pytest.Pytester) -> None:
    """The default is what every run has; a run without whisperbench cases is not ours."""
    (suite.path / "test_other.py").write_text("def test_other():\n    pass\n")
    given_default = suite.runpytest("--collect-only", "-q", "--benchmark-min-rounds=5")
    assert given_default.ret == pytest.ExitCode.OK
    others_only = suite.runpytest("-q", "--benchmark-min-rounds=2", "-k", "test_other")
    assert others_only.ret == pytest.ExitCode.OK
    others_only.stdout.fnmatch_lines(["*1 passed*"])


def test_options_say_how_whisperbench_ran_the_rounds() -> None:
    written = {"disable_gc": False, "timer": "perf_counter", "min_rounds": 5,
               "max_time": 1.0, "min_time": 5e-06, "warmup": False}  # fmt: skip
    assert truthful_round_options(written, rounds=2, warmup=1) == {
        "disable_gc": False,  # pedantic honours these two
        "timer": "perf_counter",
        "min_rounds": 2,  # --whisper-rounds (more when --whisper-min-window needs them)
        "max_time": None,  # no time budget: rounds are counted
        "min_time": None,
        "warmup": 1,  # --whisper-warmup-rounds, run before the window
    }
