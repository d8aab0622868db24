"""``whisperbench compare`` end to end on the synthetic golden runs (tests/golden/synthetic_*).

Invoked through a local parser built with ``add_compare_arguments``/``run_compare``, exactly
what ``whisperbench compare`` wires.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from whisperbench.compare import (
    EXIT_OK,
    EXIT_REGRESSION,
    EXIT_USAGE,
    CompareOptions,
    MachineMismatchError,
    Threshold,
    Verdict,
    compare_runs,
)
from whisperbench.compare.cli import add_compare_arguments, run_compare
from whisperbench.compare.render import format_value
from whisperbench.runs import load_run

GOLDEN = Path(__file__).parent / "golden"
BASE = GOLDEN / "synthetic_a100_base.json"
SLOWER = GOLDEN / "synthetic_a100_slower.json"
CLOCK510 = GOLDEN / "synthetic_a100_clock510.json"
CPU = GOLDEN / "synthetic_cpu_nosensors.json"


def cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="whisperbench compare")
    add_compare_arguments(parser)
    try:
        code = run_compare(parser.parse_args([str(arg) for arg in argv]))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def edited(tmp_path: Path, source: Path, name: str, edit: Any) -> Path:
    """A copy of ``source`` changed by ``edit(document)``."""
    document = json.loads(source.read_text())
    edit(document)
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def rows_of(out: str, metric: str) -> list[str]:
    return [line for line in out.splitlines() if f" {metric} (" in line]


def test_a_run_against_itself_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, BASE, BASE, "--fail", "rtf:10%", "--fail", "time:5%")
    assert code == EXIT_OK
    assert "OK: no regression in gated metrics (8 same)" in out
    assert all(" same " in line for line in rows_of(out, "rtf"))


def test_slower_run_fails_on_rtf_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, BASE, SLOWER, "--fail", "rtf:10%")
    assert code == EXIT_REGRESSION
    rtf_rows = rows_of(out, "rtf")
    assert len(rtf_rows) == 4
    assert all(
        re.search(r"\+\d+\.\d% +10% +MWU 15/15 +\S+ +regression +FAIL$", r) for r in rtf_rows
    )
    assert re.search(
        r"FAIL rtf regression in .*: worse, beyond 10%, significant: p=\S+ < alpha=0.01", out
    )
    assert out.rstrip().endswith("FAIL: 4 gated check(s) failed (4 regression)")


def test_table_values_are_the_json_values(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(capsys, BASE, SLOWER, "--metrics", "rtf,j_per_audio_s")
    base = json.loads(BASE.read_text())["benchmarks"][0]["extra_info"]
    new = json.loads(SLOWER.read_text())["benchmarks"][0]["extra_info"]
    first_rtf = rows_of(out, "rtf")[0]
    assert format_value(base["rtf"], "") in first_rtf
    assert format_value(new["rtf"], "") in first_rtf
    assert f"{new['rtf'] / base['rtf'] - 1:+.1%}" in first_rtf
    first_energy = rows_of(out, "j_per_audio_s")[0]
    assert f"{base['j_per_audio_s']:.4g} J" in first_energy


def test_energy_without_samples_is_reported_not_failed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, BASE, SLOWER, "--fail", "j_per_audio_s:5%")
    assert code == EXIT_OK
    assert all(re.search(r"no_samples +untested$", line) for line in rows_of(out, "j_per_audio_s"))
    assert "not tested: one reading per benchmark" in out
    code, out, _ = cli(capsys, BASE, SLOWER, "--fail", "j_per_audio_s:5%", "--fail-without-samples")
    assert code == EXIT_REGRESSION
    assert all(line.endswith("FAIL") for line in rows_of(out, "j_per_audio_s"))


def test_exact_metric_gates_on_threshold_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def worse_wer(document: dict[str, Any]) -> None:
        document["benchmarks"][0]["extra_info"]["wer"] += 0.03

    new = edited(tmp_path, BASE, "wer.json", worse_wer)
    code, out, _ = cli(capsys, BASE, new, "--fail", "wer:0.02")
    assert code == EXIT_REGRESSION
    assert re.search(r"wer \(<\) +0\.062 +0\.092 +\+48\.4% +0\.02 +exact +- +regression +FAIL", out)
    code, _, _ = cli(capsys, BASE, new, "--fail", "wer:0.05")
    assert code == EXIT_OK


def test_improvement_is_not_a_failure(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, SLOWER, BASE, "--fail", "rtf:10%", "--fail", "rtfx:10%")
    assert code == EXIT_OK
    assert len([line for line in rows_of(out, "rtf") if "improvement  pass" in line]) == 4
    assert len([line for line in rows_of(out, "rtfx") if "improvement  pass" in line]) == 4


def test_too_few_rounds_is_inconclusive(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    def three_rounds(document: dict[str, Any]) -> None:
        for bench in document["benchmarks"]:
            info = bench["extra_info"]
            info["rounds_inference_s"] = info["rounds_inference_s"][:3]
            bench["stats"]["data"] = bench["stats"]["data"][:3]

    base = edited(tmp_path, BASE, "base3.json", three_rounds)
    new = edited(tmp_path, SLOWER, "new3.json", three_rounds)
    code, out, _ = cli(capsys, base, new, "--fail", "rtf:10%")
    assert code == EXIT_OK
    assert all(re.search(r"inconclusive +untested$", line) for line in rows_of(out, "rtf"))
    assert "3 vs 3 rounds cannot reach alpha=0.01 (best possible p=0.05); run more rounds" in out


def test_invalid_energy_is_unavailable_with_its_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def invalid(document: dict[str, Any]) -> None:
        for bench in document["benchmarks"]:
            bench["extra_info"]["energy_valid"] = False
            bench["extra_info"]["energy_invalid_reasons"] = ["window 0.8 s shorter than 5 s"]

    new = edited(tmp_path, BASE, "invalid.json", invalid)
    code, out, _ = cli(capsys, BASE, new, "--fail", "j_per_audio_s:5%")
    assert code == EXIT_OK
    assert "NEW: energy invalid: window 0.8 s shorter than 5 s" in out
    code, _, _ = cli(capsys, BASE, new, "--fail", "j_per_audio_s:5%", "--fail-on-missing")
    assert code == EXIT_REGRESSION


def test_cpu_run_without_sensors_hides_empty_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, CPU, CPU, "--fail", "j_per_audio_s:5%", "--fail-on-missing")
    assert code == EXIT_OK  # null in both runs: nothing went missing
    assert "BASE: no energy: no energy sensor on this machine" in out
    assert not rows_of(out, "cuda_peak_allocated_bytes")  # neither run has CUDA
    assert not rows_of(out, "energy_j")  # shown by default, but null everywhere


def test_missing_benchmarks_are_listed_and_fail_only_when_asked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    new = edited(tmp_path, SLOWER, "fewer.json", lambda d: d["benchmarks"].pop(0))
    code, out, _ = cli(capsys, BASE, BASE.parent / "synthetic_a100_base.json", "--fail", "rtf:50%")
    assert code == EXIT_OK
    code, out, _ = cli(capsys, BASE, new, "--fail", "rtf:50%")
    assert code == EXIT_OK
    assert "only in BASE (1): test_transcribe[tiny.en-float32-5s-b1]" in out
    code, out, _ = cli(capsys, BASE, new, "--fail", "rtf:50%", "--fail-on-missing")
    assert code == EXIT_REGRESSION
    assert "FAIL only in BASE (1)" in out


def test_machine_mismatch_is_refused_unless_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, BASE, CLOCK510, "--fail", "rtf:10%")
    assert code == EXIT_USAGE
    assert out == ""
    assert err.count("\n") == 1
    assert "GPU 0 sm clock: 1410 MHz vs 510 MHz (more than 10% apart)" in err
    assert "--allow-machine-mismatch" in err
    code, out, _ = cli(capsys, BASE, CLOCK510, "--fail", "rtf:10%", "--allow-machine-mismatch")
    assert code == EXIT_REGRESSION
    assert "WARNING: compared across different machines/settings (allowed)" in out


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: d["machine_info"]["whisperbench"]["gpus"][0].update(name="NVIDIA H100"),
            "GPU 0: NVIDIA A100-SXM4-40GB vs NVIDIA H100",
        ),
        (
            lambda d: [
                b["extra_info"]["device_state"]["before"]["gpus"][0].update(power_limit_w=250.0)
                for b in d["benchmarks"]
            ],
            "GPU 0 power limit: 400 W vs 250 W",
        ),
        (
            lambda d: [
                b["extra_info"]["device_state"]["before"]["gpus"][0].update(app_sm_clock_mhz=1410)
                for b in d["benchmarks"]
            ],
            "GPU 0 app_sm_clock_mhz: 1095 vs 1410",
        ),
        (
            lambda d: d["machine_info"]["whisperbench"]["host"].update(cpu_model="Intel Xeon"),
            "CPU: 'AMD EPYC 7742 64-Core Processor' vs 'Intel Xeon'",
        ),
    ],
)
def test_hardware_and_operating_point_differences_block(
    tmp_path: Path, edit: Any, expected: str
) -> None:
    new = load_run(edited(tmp_path, BASE, "other.json", edit))
    with pytest.raises(MachineMismatchError, match=re.escape(expected)) as info:
        compare_runs(load_run(BASE), new, CompareOptions())
    assert info.value.differences == (expected,)  # listed once, not once per benchmark


def test_clock_drift_within_tolerance_is_allowed(tmp_path: Path) -> None:
    def drift(document: dict[str, Any]) -> None:
        for bench in document["benchmarks"]:
            bench["extra_info"]["device_state"]["before"]["gpus"][0]["sm_clock_mhz"] = 1350

    new = load_run(edited(tmp_path, BASE, "drift.json", drift))
    assert compare_runs(load_run(BASE), new, CompareOptions()).machine_differences == ()


def test_software_differences_are_shown_not_blocking(tmp_path: Path) -> None:
    def newer_torch(document: dict[str, Any]) -> None:
        document["machine_info"]["whisperbench"]["host"]["torch_version"] = "2.14.0+cu128"

    new = load_run(edited(tmp_path, BASE, "torch.json", newer_torch))
    comparison = compare_runs(load_run(BASE), new, CompareOptions())
    assert comparison.other_differences == ("torch: 2.13.0+cu128 vs 2.14.0+cu128",)
    assert not comparison.failed


def test_saved_runs_by_storage_id_and_missing_per_round_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Saved runs hold no stats.data unless --benchmark-save-data: time is then untested."""
    folder = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    folder.mkdir(parents=True)
    for number, source in (("0001", BASE), ("0002", SLOWER)):
        document = json.loads(source.read_text())
        for bench in document["benchmarks"]:
            del bench["stats"]["data"]
        (folder / f"{number}_abc_20260101_000000.json").write_text(json.dumps(document))
    storage = str(tmp_path / ".benchmarks")
    code, out, _ = cli(capsys, "0001", "0002", "--storage", storage, "--fail", "time:10%")
    assert code == EXIT_OK
    assert "not tested: no per-round data (save runs with --benchmark-save-data)" in out
    code, _, _ = cli(capsys, "0001", "0002", "--storage", storage, "--fail", "rtf:10%")
    assert code == EXIT_REGRESSION  # rtf's samples live in extra_info


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fail", "foo:5%"], "unknown metric 'foo'; known: time,"),
        (["--fail", "rtf:ten"], "bad threshold 'ten'"),
        (["--fail", "rtf:-5%"], "bad threshold '-5%'"),
        (["--fail", "rtf"], "bad gate 'rtf': use METRIC:THRESHOLD"),
        (["--alpha", "2"], "alpha must be between 0 and 1"),
        (["--metrics", "rtf,nope"], "unknown metric 'nope'"),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = cli(capsys, BASE, BASE, *argv)
    assert code == EXIT_USAGE
    assert message in err.splitlines()[-1]


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = cli(capsys, BASE, tmp_path / "nope.json")
    assert (code, out) == (EXIT_USAGE, "")
    assert err == f"whisperbench compare: error: no such run file: '{tmp_path / 'nope.json'}'\n"


def test_markdown_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "compare.md"
    code, _, _ = cli(capsys, BASE, SLOWER, "--fail", "rtf:10%", "--markdown", target)
    assert code == EXIT_REGRESSION
    text = target.read_text()
    assert text.startswith("## whisperbench compare: FAIL: 4 gated check(s) failed")
    assert (
        "| benchmark | metric | base | new | change | threshold | test | p | verdict | gate |"
        in text
    )
    assert text.count("| regression | **FAIL** |") == 4


def test_options_gate_nothing_by_default() -> None:
    comparison = compare_runs(load_run(BASE), load_run(SLOWER), CompareOptions())
    assert not comparison.failed
    assert {row.decision.verdict for row in comparison.rows if row.metric.name == "rtf"} == {
        Verdict.REGRESSION
    }
    assert all(row.threshold == Threshold(10.0, relative=True) for row in comparison.rows)


# -- real runs of this suite (tests/golden/real_*: tiny.en on a 2-core CPU, --whisper-threads 1,
#    8 rounds, 5 and 10 s of speech; "contended" ran beside a busy loop on the same core) ------

REAL_BASE = GOLDEN / "real_cpu_threads1.json"
REAL_SLOWED = GOLDEN / "real_cpu_threads1_contended.json"


def test_real_run_against_itself_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, REAL_BASE, REAL_BASE, "--fail", "rtf:10%", "--fail", "wer:0.01")
    assert code == EXIT_OK
    assert out.rstrip().endswith("OK: no regression in gated metrics (4 same)")


def test_real_slowed_run_fails_on_rtf_and_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, REAL_BASE, REAL_SLOWED, "--fail", "rtf:10%")
    assert code == EXIT_REGRESSION
    rtf_rows = rows_of(out, "rtf")
    assert len(rtf_rows) == 2
    for line in rtf_rows:
        assert re.search(r"\+\d{2,3}\.\d% +10% +MWU 8/8 +\S+ +regression +FAIL$", line), line
    # 8 rounds a side, fully separated: the smallest one-sided p there is, 1/C(16, 8).
    assert "significant: p=7.8e-05 < alpha=0.01" in out
    assert out.rstrip().endswith("FAIL: 2 gated check(s) failed (2 regression)")


def test_real_run_numbers_are_shown_as_recorded(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(capsys, REAL_BASE, REAL_SLOWED, "--metrics", "rtf")
    for bench_base, bench_new, line in zip(
        json.loads(REAL_BASE.read_text())["benchmarks"],
        json.loads(REAL_SLOWED.read_text())["benchmarks"],
        rows_of(out, "rtf"),
        strict=True,
    ):
        assert f"{bench_base['extra_info']['rtf']:.4g}" in line
        assert f"{bench_new['extra_info']['rtf']:.4g}" in line


def test_pytest_benchmarks_own_compare_still_reads_our_json(tmp_path: Path) -> None:
    """`pytest-benchmark compare` (its CLI) loads whisperbench's JSON, extra_info and all."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_benchmark",
            "compare",
            str(REAL_BASE),
            str(REAL_SLOWED),
            "--columns=min,median,rounds",
            "--group-by=name",
        ],
        cwd=tmp_path,  # its CLI imports ./conftest.py: keep ours out of it
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for case in ("5s", "10s"):  # one group per benchmark, holding the row of each run
        assert f"benchmark 'test_transcribe[tiny.en-float32-{case}-b1]': 2 tests" in result.stdout
    assert "Rounds" in result.stdout


def test_real_default_runs_on_a_busy_machine_are_inconclusive_not_failed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two runs at the suite's defaults (3 rounds, torch's 2 threads) on a 2-core machine
    shared with other jobs: rounds from 0.6 s to 27 s. A threshold-only gate would fail all
    three benchmarks; 3 vs 3 rounds cannot be significant, so the gate says so instead."""
    code, out, _ = cli(
        capsys,
        GOLDEN / "real_cpu_default_a.json",
        GOLDEN / "real_cpu_default_b.json",
        "--fail",
        "rtf:10%",
    )
    assert code == EXIT_OK
    rtf_rows = rows_of(out, "rtf")
    assert len(rtf_rows) == 3
    assert all(
        re.search(r"\+\d+\.\d% +10% +MWU 3/3 +\S+ +inconclusive +untested$", r) for r in rtf_rows
    )
    assert "3 vs 3 rounds cannot reach alpha=0.01 (best possible p=0.05); run more rounds" in out
