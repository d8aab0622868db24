"""The table at the end of ``pytest benchmarks`` (the plugin's terminal summary), through
pytester with a stand-in benchmark whose ``extra_info`` is set by hand (no model loads; the
real suite's table is checked in tests/test_plugin.py)."""

from __future__ import annotations

import pytest

from whisperbench.report.summary import CaseResult, summary_lines

pytest_plugins = ["pytester"]

STAND_IN = """
import pytest

INFO = {
    "tiny.en-float32-5s-b1": dict(
        schema_version=1, rounds=5, rtf=0.0812, s_per_token=0.01234, wer=0.05,
        j_per_audio_s=None, energy_null_reason="no energy sensor on this machine",
        peak_rss_bytes=700 * 2**20, rounds_inference_s=[0.40, 0.41, 0.40, 0.41, 0.40],
    ),
    "tiny.en-float32-10s-b1": dict(
        schema_version=1, rounds=5, rtf=0.0605, s_per_token=0.0111, wer=None,
        weights_source="random", j_per_audio_s=3.25, energy_valid=True,
        peak_rss_bytes=720 * 2**20, rounds_inference_s=[0.4, 0.6, 0.4, 0.8, 0.4],
    ),
    "tiny.en-float32-20s-b1": dict(
        schema_version=1, rounds=5, rtf=0.07, s_per_token=0.012, wer=0.0,
        j_per_audio_s=None, energy_valid=False,
        energy_invalid_reasons=["window 0.8 s shorter than 5 s"],
        peak_rss_bytes=730 * 2**20, rounds_inference_s=[1.4] * 5,
    ),
}

def test_case(benchmark, whisper_case, request):
    case = request.node.callspec.id
    benchmark.extra_info.update(INFO[case])
    benchmark.pedantic(lambda: None, rounds=1)
    assert "20s" not in case, "this case fails after measuring"
"""


def test_terminal_summary_shows_every_case_with_flags_and_notes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_stand_in=STAND_IN)
    result = pytester.runpytest_subprocess(
        "-p", "whisperbench.pytest_plugin", "-p", "no:cacheprovider", "--whisper-rounds=1"
    )  # fmt: skip
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- whisperbench results -*",
            "case * rounds * RTF * s/token * WER * J/audio s * peak RSS MiB * flags",
            "----*",
            "tiny.en-float32-5s-b1 * 5 * 0.0812 * 0.01234 * 0.05 * - * 700",
            "tiny.en-float32-10s-b1 * 5 * 0.0605 * 0.0111 * - * 3.25 * 720 * random weights, "
            "noisy 34%",
            "tiny.en-float32-20s-b1 * 5 * 0.07 * 0.012 * 0 * - * 730 * FAILED, energy invalid",
            "note: J/audio s not measured: no energy sensor on this machine (1 of 3 cases)",
            "note: random weights: cost only, no WER (1 of 3 cases)",
            "note: noisy: rounds spread over 10% of their mean*(1 of 3 cases)",
            "note: energy invalid: window 0.8 s shorter than 5 s (1 of 3 cases)",
        ]
    )


def test_no_table_without_cases(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "whisperbench.pytest_plugin")
    result.assert_outcomes(passed=1)
    assert "whisperbench results" not in result.stdout.str()


def test_control_characters_in_results_are_shown_not_obeyed() -> None:
    lines = summary_lines([CaseResult("evil\x1b[2Jcase", True, {"rtf": 0.1})])
    assert "\x1b" not in "\n".join(lines)
    assert lines[2].startswith("evil\\x1b[2Jcase")
