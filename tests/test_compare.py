"""``whisperbench compare`` end to end on the golden runs (tests/golden/).

Invoked through a local parser built with ``add_compare_arguments``/``run_compare``, exactly
what ``whisperbench compare`` wires. Synthetic runs come three per side (processes with their
own offsets); real ones are runs of this suite on a busy 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
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
BASE = GOLDEN / "synthetic_a100_base_1.json"
SLOWER = GOLDEN / "synthetic_a100_slower_1.json"
BASES = [GOLDEN / f"synthetic_a100_base_{i}.json" for i in (1, 2, 3)]
SLOWERS = [GOLDEN / f"synthetic_a100_slower_{i}.json" for i in (1, 2, 3)]
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
    assert out.rstrip().endswith("OK: no regression in gated metrics (8 same); exit 0")
    assert all(" same " in line for line in rows_of(out, "rtf"))


def test_three_runs_of_the_same_code_pass(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--base", *BASES[:2], "--new", BASES[2], "--fail", "rtf:10%")
    assert code == EXIT_OK
    assert all(re.search(r"2 vs 1 runs +\S+ +same +pass$", line) for line in rows_of(out, "rtf"))


def test_slower_runs_fail_on_rtf_and_say_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--base", *BASES, "--new", *SLOWERS, "--fail", "rtf:10%")
    assert code == EXIT_REGRESSION
    rtf_rows = rows_of(out, "rtf")
    assert len(rtf_rows) == 4
    assert all(
        re.search(
            r"\+\d+\.\d% +\+\d+\.\d% to \+\d+\.\d% +10% +3 vs 3 runs +\S+ +regression +FAIL$", r
        )
        for r in rtf_rows
    ), rtf_rows
    assert re.search(
        r"FAIL rtf regression in .*: worse, beyond 10%, significant: p=\S+ < alpha=0.01 "
        r"\(3 vs 3 runs, Welch t on log run values\)",
        out,
    )
    last = out.rstrip().splitlines()[-1]
    assert re.fullmatch(
        r"FAIL: 4 gated check\(s\) failed \(4 regression\); worst: rtf \+\d+\.\d% "
        r"\[\+\d+\.\d%, \+\d+\.\d%\] in test_transcribe\[\S+\] \(3 vs 3 runs, p=\S+\); exit 1",
        last,
    ), last


def test_one_run_per_side_is_untested_not_failed(capsys: pytest.CaptureFixture[str]) -> None:
    """20 % slower rounds in one run each: the rounds share their process, so the gate says
    it cannot decide (and what the rounds alone would claim) instead of failing."""
    code, out, _ = cli(capsys, BASE, SLOWER, "--fail", "rtf:10%")
    assert code == EXIT_OK
    assert all(re.search(r"1 vs 1 run +- +untested +untested$", r) for r in rows_of(out, "rtf"))
    assert "not tested: one run per side: run-to-run noise cannot be estimated" in out
    assert "note: one run per side cannot tell a change from run-to-run noise" in out
    assert out.rstrip().endswith(
        "OK: no regression shown, but 4 of 4 gated check(s) could not decide "
        "(4 untested; see why:); exit 0"
    )
    code, _, _ = cli(capsys, BASE, SLOWER, "--fail", "rtf:10%", "--fail-without-samples")
    assert code == EXIT_REGRESSION


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


def test_several_runs_show_their_geometric_mean_and_the_change_between(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = cli(capsys, "--base", *BASES, "--new", *SLOWERS, "--metrics", "rtf")
    rtf = {
        side: [
            [bench["extra_info"]["rtf"] for bench in json.loads(path.read_text())["benchmarks"]]
            for path in paths
        ]
        for side, paths in (("base", BASES), ("new", SLOWERS))
    }
    for index, line in enumerate(rows_of(out, "rtf")):
        base = statistics.geometric_mean(run[index] for run in rtf["base"])
        new = statistics.geometric_mean(run[index] for run in rtf["new"])
        cells = line.split()
        assert format_value(base, "") in line
        assert format_value(new, "") in line
        assert f"{new / base - 1:+.1%}" in cells


def test_energy_is_tested_across_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """One energy reading per run: several runs per side make it testable."""
    code, out, _ = cli(capsys, BASE, SLOWER, "--fail", "j_per_audio_s:5%")
    assert code == EXIT_OK
    assert all(re.search(r"untested +untested$", line) for line in rows_of(out, "j_per_audio_s"))
    code, out, _ = cli(capsys, "--base", *BASES, "--new", *SLOWERS, "--fail", "j_per_audio_s:5%")
    assert code == EXIT_REGRESSION
    assert all(
        re.search(r"3 vs 3 runs +\S+ +regression +FAIL$", line)
        for line in rows_of(out, "j_per_audio_s")
    )


def test_exact_metric_gates_on_threshold_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def worse_wer(document: dict[str, Any]) -> None:
        document["benchmarks"][0]["extra_info"]["wer"] += 0.03

    new = edited(tmp_path, BASE, "wer.json", worse_wer)
    code, out, _ = cli(capsys, BASE, new, "--fail", "wer:0.02")
    assert code == EXIT_REGRESSION
    assert re.search(
        r"wer \(<\) +0\.062 +0\.092 +\+48\.4% +- +0\.02 +exact +- +regression +FAIL", out
    )
    code, _, _ = cli(capsys, BASE, new, "--fail", "wer:0.05")
    assert code == EXIT_OK


def test_improvement_is_not_a_failure(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        capsys, "--base", *SLOWERS, "--new", *BASES, "--fail", "rtf:10%", "--fail", "rtfx:10%"
    )
    assert code == EXIT_OK
    assert len([line for line in rows_of(out, "rtf") if "improvement  pass" in line]) == 4
    assert len([line for line in rows_of(out, "rtfx") if "improvement  pass" in line]) == 4


def test_invalid_energy_is_unavailable_with_its_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def invalid(document: dict[str, Any]) -> None:
        for bench in document["benchmarks"]:
            bench["extra_info"]["energy_valid"] = False
            bench["extra_info"]["energy_invalid_reasons"] = ["window 0.8 s shorter than 5 s"]

    new = edited(tmp_path, BASE, "invalid.json", invalid)
    code, out, _ = cli(capsys, BASE, new, "--fail", "j_per_audio_s:5%")
    assert code == EXIT_REGRESSION  # a gated metric NEW did not record fails the gate
    assert (
        "FAIL j_per_audio_s unavailable in test_transcribe[tiny.en-float32-5s-b1], "
        "test_transcribe[tiny.en-float16-5s-b1], test_transcribe[base.en-float32-5s-b1], "
        "test_transcribe[base.en-float16-5s-b1]: NEW: energy invalid: window 0.8 s shorter "
        "than 5 s (--allow-missing to let it pass)"
    ) in out
    code, _, _ = cli(capsys, BASE, new, "--fail", "j_per_audio_s:5%", "--allow-missing")
    assert code == EXIT_OK


def test_cpu_run_without_sensors_hides_empty_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, CPU, CPU, "--fail", "j_per_audio_s:5%")
    assert code == EXIT_REGRESSION  # asked to gate on energy, and there is none to gate on
    assert "BASE: no energy: no energy sensor on this machine" in out
    code, out, _ = cli(capsys, CPU, CPU, "--fail", "j_per_audio_s:5%", "--allow-missing")
    assert code == EXIT_OK
    assert not rows_of(out, "cuda_peak_allocated_bytes")  # neither run has CUDA
    assert not rows_of(out, "energy_j")  # shown by default, but null everywhere


def test_missing_benchmarks_are_listed_and_fail_only_when_asked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    new = edited(tmp_path, SLOWER, "fewer.json", lambda d: d["benchmarks"].pop(0))
    code, out, _ = cli(
        capsys, BASE, BASE.parent / "synthetic_a100_base_1.json", "--fail", "rtf:50%"
    )
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
    assert code == EXIT_OK  # one run per side: untested
    assert "WARNING: compared across different machines/settings (allowed)" in out
    code, out, err = cli(capsys, "--base", *BASES, "--new", BASE, CLOCK510)
    assert code == EXIT_USAGE  # every run of either side must match BASE's first
    assert "GPU 0 sm clock: 1410 MHz vs 510 MHz" in err


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


def test_saved_runs_by_storage_id_without_per_round_data(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Saved runs hold no stats.data unless --benchmark-save-data: run-level evidence needs
    only each run's own figure, so time is tested across runs all the same."""
    folder = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    folder.mkdir(parents=True)
    for number, source in enumerate([*BASES, *SLOWERS], start=1):
        document = json.loads(source.read_text())
        for bench in document["benchmarks"]:
            del bench["stats"]["data"]
        (folder / f"{number:04d}_abc_20260101_000000.json").write_text(json.dumps(document))
    storage = str(tmp_path / ".benchmarks")
    sides = ["--base", "0001", "0002", "0003", "--new", "0004", "0005", "0006"]
    code, out, _ = cli(capsys, *sides, "--storage", storage, "--fail", "time:10%")
    assert code == EXIT_REGRESSION
    assert all("3 vs 3 runs" in line for line in rows_of(out, "time"))
    code, _, _ = cli(capsys, "0001", "0004", "--storage", storage, "--fail", "rtf:10%")
    assert code == EXIT_OK  # one run per side: untested


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fail", "foo:5%"], "unknown metric 'foo'; known: time,"),
        (["--fail", "rtf:ten"], "bad threshold 'ten'"),
        (["--fail", "rtf:-5%"], "bad threshold '-5%'"),
        (["--fail", "rtf"], "bad gate 'rtf': use METRIC:THRESHOLD"),
        (["--alpha", "2"], "alpha must be between 0 and 1"),
        (["--metrics", "rtf,nope"], "unknown metric 'nope'"),
        (["--base", str(GOLDEN / "synthetic_cpu_nosensors.json")], "give BASE NEW, or --base"),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = cli(capsys, BASE, BASE, *argv)
    assert code == EXIT_USAGE
    assert message in err.splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "nothing to compare: give BASE NEW, or --base RUN... --new RUN..."),
        (["a.json"], "expected BASE NEW, got 1 run(s)"),
        (["--base", "a.json"], "nothing to compare"),
    ],
)
def test_sides_must_be_given_one_way(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    parser = argparse.ArgumentParser(prog="whisperbench compare")
    add_compare_arguments(parser)
    assert run_compare(parser.parse_args(argv)) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = cli(capsys, BASE, tmp_path / "nope.json")
    assert (code, out) == (EXIT_USAGE, "")
    assert err == f"whisperbench compare: error: no such run file: '{tmp_path / 'nope.json'}'\n"


def test_markdown_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "compare.md"
    sides = ["--base", *BASES, "--new", *SLOWERS]
    code, _, _ = cli(capsys, *sides, "--fail", "rtf:10%", "--markdown", target)
    assert code == EXIT_REGRESSION
    text = target.read_text()
    assert text.startswith("## whisperbench compare: FAIL: 4 gated check(s) failed")
    assert (
        "| benchmark | metric | base | new | change | interval | threshold | evidence | p | "
        "verdict | gate |"
    ) in text
    assert text.count("| regression | **FAIL** |") == 4


def test_options_gate_nothing_by_default() -> None:
    comparison = compare_runs(
        [load_run(path) for path in BASES], [load_run(path) for path in SLOWERS], CompareOptions()
    )
    assert not comparison.failed
    assert {row.decision.verdict for row in comparison.rows if row.metric.name == "rtf"} == {
        Verdict.REGRESSION
    }
    assert all(row.threshold == Threshold(10.0, relative=True) for row in comparison.rows)


# -- real runs of this suite (tests/golden/real_*: tiny.en on a busy 2-core CPU, --whisper-threads
#    1, 8 rounds, 5 and 10 s of speech, three runs; "slowed" with a deliberate +100% slowdown of
#    every generate call; see tests/golden/make_real.py) -------------------------------------

REAL_BASES = [GOLDEN / f"real_cpu_threads1_{i}.json" for i in (1, 2, 3)]
REAL_SLOWED = [GOLDEN / f"real_cpu_threads1_slowed_{i}.json" for i in (1, 2, 3)]


def test_real_runs_of_the_same_code_pass(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(
        capsys, "--base", *REAL_BASES[:2], "--new", REAL_BASES[2], "--fail", "rtf:10%"
    )
    assert code == EXIT_OK, out
    assert all("2 vs 1 runs" in line for line in rows_of(out, "rtf"))


def test_real_slowed_runs_on_a_busy_machine_are_not_called_anything_else(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Three runs against three runs twice as slow, recorded in turns on a machine whose
    load made runs of the same code differ by 20-60 %: the estimate shows the slowdown, and
    the gate calls it a regression only if the runs' spread allows; never the other way."""
    code, out, _ = cli(capsys, "--base", *REAL_BASES, "--new", *REAL_SLOWED, "--fail", "rtf:10%")
    rtf_rows = rows_of(out, "rtf")
    assert len(rtf_rows) == 2
    for line in rtf_rows:
        found = re.search(r" ([+-]\d+\.\d)% ", line)
        assert found, line
        assert float(found[1]) > 20, line
        assert "3 vs 3 runs" in line
        assert re.search(r"(regression +FAIL|inconclusive +untested)$", line), line
    failed = any(line.endswith("FAIL") for line in rtf_rows)
    assert code == (EXIT_REGRESSION if failed else EXIT_OK)


def test_real_interleaved_runs_catch_the_slowdown(capsys: pytest.CaptureFixture[str]) -> None:
    """The same slowdown through whisperbench ab (tests/golden/ab: 7 process pairs of tiny.en
    workers, 3 interleaved pairs each, recorded on the same busy machine): the pairs cancel
    the machine's drift, and every process pair sees B slower."""
    a_runs = [load_run(GOLDEN / "ab" / f"a-{i}.json") for i in range(1, 8)]
    b_runs = [load_run(GOLDEN / "ab" / f"b-{i}.json") for i in range(1, 8)]
    comparison = compare_runs(
        a_runs, b_runs, CompareOptions(gates={"rtf": Threshold(10.0, True)}), paired=True
    )
    (row,) = [row for row in comparison.rows if row.metric.name == "rtf"]
    assert row.decision.verdict is Verdict.REGRESSION
    assert row.decision.test == "7 process pairs x 3 pairs"
    assert row.decision.p == pytest.approx(1 / 128)  # all seven process pairs: B slower
    assert row.decision.low is not None
    assert row.decision.low > 0.10
    assert comparison.failed


def test_real_run_numbers_are_shown_as_recorded(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = cli(capsys, REAL_BASES[0], REAL_SLOWED[0], "--metrics", "rtf")
    for bench_base, bench_new, line in zip(
        json.loads(REAL_BASES[0].read_text())["benchmarks"],
        json.loads(REAL_SLOWED[0].read_text())["benchmarks"],
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
            str(REAL_BASES[0]),
            str(REAL_SLOWED[0]),
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


def test_real_default_runs_on_a_busy_machine_are_untested_not_failed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two runs at the suite's defaults (5 rounds, torch's 2 threads) on a 2-core machine
    shared with other jobs: one run per side cannot be tested, so the gate says so."""
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
    assert all(re.search(r"1 vs 1 run +- +(untested +untested|same +pass)$", r) for r in rtf_rows)


def test_names_from_a_run_cannot_drive_the_terminal_or_the_markdown(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A benchmark name with an ANSI escape and HTML in it: shown, never obeyed."""

    def evil(document: dict[str, Any]) -> None:
        for bench in document["benchmarks"]:
            bench["name"] = "\x1b[2J\x1b[31m<script>alert(1)</script>|" + bench["name"]

    base = edited(tmp_path, BASE, "evil-base.json", evil)
    new = edited(tmp_path, SLOWER, "evil-new.json", evil)
    target = tmp_path / "compare.md"
    code, out, _ = cli(capsys, base, new, "--fail", "rtf:10%", "--markdown", target)
    assert code == EXIT_OK
    assert "\x1b" not in out
    assert "\\x1b[2J\\x1b[31m<script>" in out  # the terminal shows what the name holds
    markdown = target.read_text()
    assert "\x1b" not in markdown
    assert "<script>" not in markdown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\|" in markdown


def test_the_false_alarm_of_two_runs_of_the_same_code_is_gone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two real runs of the same commit (tests/golden/real_cpu_same_code_*) that the
    rounds-only rule failed: +13.5 % rtf, p = 0.0079 from 5 vs 5 rounds. Their rounds are
    tight inside each run; the runs differ by what the busy machine did between them. One
    run per side is now untested, and the reason still shows what the rounds claimed."""
    code, out, _ = cli(
        capsys,
        GOLDEN / "real_cpu_same_code_a.json",
        GOLDEN / "real_cpu_same_code_b.json",
        "--fail",
        "rtf:10%",
    )
    assert code == EXIT_OK
    (row,) = rows_of(out, "rtf")
    assert re.search(r"\+13\.5% +- +10% +1 vs 1 run +- +untested +untested$", row), row
    assert "not tested: one run per side: run-to-run noise cannot be estimated (its rounds " in out
    assert "alone would give p=0.0079)" in out
