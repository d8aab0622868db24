"""The in-pytest gate (``--whisper-compare``) through pytester.

The benchmark module below stands in for the suite: it records per-round inference seconds
in ``extra_info`` the way whisperbench does, scaled by ``SLOW`` and shifted by ``OFFSET``
(a run's own offset, as processes have) from the environment, so one run can be made
slower than another without a model. The gate tests a run against a baseline of several
runs (``--whisper-compare`` repeated): one baseline run leaves every check untested.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

# Imported here so numpy/scipy load once: in-process pytester runs restore sys.modules (the
# gate imports scipy only when it tests, so it is imported here explicitly).
import scipy.stats  # noqa: F401

import whisperbench.pytest_gate  # noqa: F401

pytest_plugins = ["pytester"]

BENCHMARKS = """
import os
import pytest

@pytest.mark.parametrize("model", ["tiny.en", "base.en"])
def test_transcribe(benchmark, model):
    slow = float(os.environ.get("SLOW", "1.0")) * (1 + float(os.environ.get("OFFSET", "0")))
    rounds = [0.40 * slow * (1 + 0.002 * i) for i in range(15)]
    benchmark.extra_info.update(
        schema_version=1, model=model, device="cpu", audio_s=5.0,
        rounds_inference_s=rounds, inference_s=sum(rounds) / 15,
        rtf=sum(rounds) / (5.0 * 15), j_per_audio_s=None,
        energy_null_reason="no energy sensor on this machine",
        device_state={"before": {"gpus": [{"device": "cuda:0", "nvml_index": 0,
                                           "sm_clock_mhz": 1410, "power_limit_w": 400.0}]}},
    )
    benchmark.pedantic(lambda: None, rounds=3)
"""

MACHINE = """
def pytest_benchmark_generate_machine_info(config):
    return {"node": "test-node", "machine": "x86_64"}  # py-cpuinfo takes seconds

def pytest_benchmark_generate_commit_info(config):
    return {"id": "test", "dirty": False}  # no git/hg subprocesses

def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["whisperbench"] = {"host": {"cpu_model": "Test CPU"}, "gpus": [
        {"nvml_index": 0, "name": "NVIDIA A100-SXM4-40GB", "power_limit_w": 400.0}]}
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_bench=BENCHMARKS)
    pytester.makeconftest(MACHINE)
    return pytester


def run(
    pytester: pytest.Pytester, *args: str, slow: float = 1.0, offset: float = 0.0
) -> pytest.RunResult:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLOW", str(slow))
        patch.setenv("OFFSET", str(offset))
        return pytester.runpytest_inprocess(
            "-p",
            "whisperbench.pytest_gate",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:hypothesispytest",  # re-imports hypothesis on every in-process run
            *args,
        )


def baseline(pytester: pytest.Pytester) -> Path:
    path = pytester.path / "base.json"
    run(pytester, f"--benchmark-json={path}").assert_outcomes(passed=2)
    return path


def baselines(pytester: pytest.Pytester) -> list[str]:
    """Three baseline runs, each with its own offset (+0 %, +1 %, -1 %), as options."""
    options = []
    for index, offset in enumerate((0.0, 0.01, -0.01)):
        path = pytester.path / f"base{index}.json"
        run(pytester, f"--benchmark-json={path}", offset=offset).assert_outcomes(passed=2)
        options.append(f"--whisper-compare={path}")
    return options


def test_same_code_passes_the_gate(suite: pytest.Pytester) -> None:
    bases = baselines(suite)
    result = run(
        suite,
        f"--benchmark-json={suite.path / 'new.json'}",
        *bases,
        "--whisper-compare-fail=rtf:10%",
        offset=0.005,
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*- whisperbench gate -*",
            "BASE 3 runs:",
            "  base0: *base0.json*",
            "NEW  this run: <this run>*",
            "test_transcribe[[]tiny.en[]]*rtf (<)*3 vs 1 runs*same*pass",
            "OK: no regression in gated metrics (2 same); exit 0",
        ]
    )


def test_one_baseline_run_leaves_the_gate_untested(suite: pytest.Pytester) -> None:
    base = baseline(suite)
    result = run(
        suite,
        f"--benchmark-json={suite.path / 'new.json'}",
        f"--whisper-compare={base}",
        "--whisper-compare-fail=rtf:10%",
        slow=1.3,
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*rtf (<)*+30.0%*1 vs 1 run*untested*untested",
            "  note: one run per side cannot tell a change from run-to-run noise*",
            "OK: no regression shown, but 2 of 2 gated check(s) could not decide*",
        ]
    )


def test_slower_code_fails_the_session_with_the_table(suite: pytest.Pytester) -> None:
    bases = baselines(suite)
    result = run(
        suite,
        f"--benchmark-json={suite.path / 'new.json'}",
        *bases,
        "--whisper-compare-fail=rtf:10%",
        slow=1.3,
    )
    result.assert_outcomes(passed=2)  # every test passed; the gate fails the session
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*- whisperbench gate -*",
            "test_transcribe[[]tiny.en[]]*rtf (<)*+30.0%*10%*3 vs 1 runs*regression*FAIL",
            "*rtf (<)*+30.0%*10%*3 vs 1 runs*regression*FAIL",
            "why:",
            "  FAIL rtf regression in test_transcribe[[]tiny.en[]], test_transcribe[[]base.en[]]: "
            "worse, beyond 10%, significant: p=* < alpha=0.01 (3 vs 1 runs, t on log run "
            "values, BASE's spread for both)",
            "FAIL: 2 gated check(s) failed (2 regression); worst: rtf +30.0%*; exit 1",
            "whisperbench gate: FAILED",
        ]
    )
    # The run's own JSON was still written, for the artifact upload.
    assert len(json.loads((suite.path / "new.json").read_text())["benchmarks"]) == 2


def test_energy_gate_without_sensor_fails_unless_allowed(suite: pytest.Pytester) -> None:
    """A gated metric this run did not record fails the gate: in CI that is a broken metric,
    not a pass; --whisper-compare-allow-missing lets it through."""
    base = baseline(suite)
    args = (
        f"--benchmark-json={suite.path / 'new.json'}",
        f"--whisper-compare={base}",
        "--whisper-compare-fail=j_per_audio_s:5%",
    )
    result = run(suite, *args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*j_per_audio_s (<)*unavailable*FAIL",
            "*FAIL j_per_audio_s unavailable in *: BASE: no energy: no energy sensor on this "
            "machine (--allow-missing to let it pass)",
            "whisperbench gate: FAILED",
        ]
    )
    allowed = run(suite, *args, "--whisper-compare-allow-missing")
    assert allowed.ret == pytest.ExitCode.OK
    allowed.stdout.fnmatch_lines(["*j_per_audio_s (<)*unavailable*untested"])


def test_base_by_storage_id(suite: pytest.Pytester) -> None:
    storage = suite.path / "store"
    for offset in (0.0, 0.01, -0.01):
        saved = run(suite, "--benchmark-autosave", f"--benchmark-storage={storage}", offset=offset)
        saved.assert_outcomes(passed=2)
    result = run(
        suite,
        "--benchmark-autosave",
        f"--benchmark-storage={storage}",
        "--whisper-compare=0001",
        "--whisper-compare=0002",
        "--whisper-compare=0003",
        "--whisper-compare-fail=rtf:10%",
        slow=1.3,
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["BASE 3 runs:", "  0001_*", "  0002_*", "  0003_*", "FAIL: 2 gated check(s) failed*"]
    )


def test_machine_mismatch_is_refused(suite: pytest.Pytester) -> None:
    base = baseline(suite)
    document = json.loads(base.read_text())
    for bench in document["benchmarks"]:
        bench["extra_info"]["device_state"]["before"]["gpus"][0]["power_limit_w"] = 250.0
    base.write_text(json.dumps(document))
    args = (
        f"--benchmark-json={suite.path / 'new.json'}",
        f"--whisper-compare={base}",
        "--whisper-compare-fail=rtf:10%",
    )
    result = run(suite, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        [
            "whisperbench gate: error: runs come from different machines or device settings: "
            "GPU 0 power limit: 250 W vs 400 W; refusing to compare*",
        ]
    )
    allowed = run(suite, *args, "--whisper-compare-allow-machine-mismatch")
    assert allowed.ret == pytest.ExitCode.OK
    allowed.stdout.fnmatch_lines(["WARNING: compared across different machines/settings*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--whisper-compare=nope.json", "--benchmark-json=x.json"],
            "*--whisper-compare: no such run file: 'nope.json'*",
        ),
        (
            ["--whisper-compare=base.json"],
            "*--whisper-compare gates on this run's JSON: add --benchmark-json=FILE*",
        ),
        (
            ["--whisper-compare-fail=rtf:10%"],
            "*--whisper-compare-fail needs --whisper-compare=BASE*",
        ),
        (["--whisper-compare-fail=rtf:ten"], "*bad threshold 'ten'*"),
        (["--whisper-compare-fail=nope:5%"], "*unknown metric 'nope'*"),
        (["--whisper-compare-metrics=rtf,nope"], "*unknown metric 'nope'*"),
        (["--whisper-compare-threshold=ten"], "*bad threshold 'ten'*"),
    ],
)
def test_usage_errors_stop_before_any_benchmark(
    suite: pytest.Pytester, args: list[str], message: str
) -> None:
    (suite.path / "base.json").write_text('{"benchmarks": []}')
    result = run(suite, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "passed" not in result.stdout.str()


def test_metrics_and_threshold_of_the_rows_not_gated(suite: pytest.Pytester) -> None:
    args = (
        f"--benchmark-json={suite.path / 'new.json'}",
        *baselines(suite),
        "--whisper-compare-fail=rtf:50%",
        "--whisper-compare-metrics=inference_s",
    )
    result = run(suite, *args, slow=1.3)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "test_transcribe[[]tiny.en[]]*rtf (<)*+30.0%*50%*3 vs 1 runs*same*pass",
            "*inference_s (<)*+30.0%*(10%)*3 vs 1 runs*regression",
        ]
    )
    rows = [
        re.match(r"(?:test_transcribe\[\S+\])? +(\w+) \([<>]\) ", line)
        for line in result.stdout.lines
    ]
    shown = {row[1] for row in rows if row}
    assert shown == {"rtf", "inference_s"}  # not the default time, s_per_token, ...
    loose = run(suite, *args, "--whisper-compare-threshold=40%", slow=1.3)
    assert loose.ret == pytest.ExitCode.OK
    loose.stdout.fnmatch_lines(["*inference_s (<)*+30.0%*(40%)*3 vs 1 runs*same"])


def test_fail_on_missing_fails_when_a_base_benchmark_did_not_run(suite: pytest.Pytester) -> None:
    base = baseline(suite)
    args = (
        f"--benchmark-json={suite.path / 'new.json'}",
        f"--whisper-compare={base}",
        "--whisper-compare-fail=rtf:10%",
        "-k",
        "tiny",
    )
    listed = run(suite, *args)
    listed.assert_outcomes(passed=1, deselected=1)
    assert listed.ret == pytest.ExitCode.OK
    listed.stdout.fnmatch_lines(["only in BASE (1): test_transcribe[[]base.en[]]"])
    failed = run(suite, *args, "--whisper-compare-fail-on-missing")
    assert failed.ret == pytest.ExitCode.TESTS_FAILED
    failed.stdout.fnmatch_lines(
        [
            "FAIL only in BASE (1): test_transcribe[[]base.en[]]",
            "FAIL: 1 gated check(s) failed (1 same); exit 1",
            "whisperbench gate: FAILED",
        ]
    )


def test_markdown_is_written_and_a_write_error_is_reported(suite: pytest.Pytester) -> None:
    target = suite.path / "compare.md"
    args = (
        f"--benchmark-json={suite.path / 'new.json'}",
        *baselines(suite),
        "--whisper-compare-fail=rtf:10%",
    )
    result = run(suite, *args, f"--whisper-compare-markdown={target}", slow=1.3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = target.read_text()
    assert text.startswith("## whisperbench compare: FAIL: 2 gated check(s) failed")
    assert text.count("| regression | **FAIL** |") == 2
    nowhere = suite.path / "missing-folder" / "compare.md"
    result = run(suite, *args, f"--whisper-compare-markdown={nowhere}")
    assert result.ret == pytest.ExitCode.OK  # the gate passed; only the copy is missing
    result.stdout.fnmatch_lines(
        [
            "OK: no regression in gated metrics (2 same); exit 0",
            f"whisperbench gate: error: cannot write {nowhere}: *No such file or directory*",
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.filterwarnings("ignore:Not saving anything")
def test_nothing_to_gate_when_no_benchmark_ran(suite: pytest.Pytester) -> None:
    base = baseline(suite)
    result = run(
        suite,
        f"--benchmark-json={suite.path / 'new.json'}",
        f"--whisper-compare={base}",
        "--benchmark-skip",
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["whisperbench gate: nothing to gate: no benchmark ran"])
