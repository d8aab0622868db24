"""Local sweeps end to end, in subprocesses, with real tiny.en on the CPU and a FAKE NVML GPU
(tests/fakes_nvml_clocks.py, installed in every process through sitecustomize.py) whose
clocks the sweep locks and must always restore."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes_nvml import make_uuid
from tests.fakes_nvml_clocks import ENV_CONFIG, FakeConfig, sitecustomize_dir, write_config

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

CLOCK_PLAN = """
name = "fake-a100"
runs = 2
[matrix]
model = "tiny.en"
dtype = "float32"
audio-duration = 1
rounds = 1
warmup-rounds = 1
idle = 0.5
min-window = 0.3
gpus = "all"
[operating-points]
sm-clock-mhz = [510, 960, 1410]
"""


def _env(tmp_path: Path, config: FakeConfig | None) -> dict[str, str]:
    env = dict(os.environ)
    if config is not None:
        site = sitecustomize_dir(tmp_path / "site", REPO)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
        env[ENV_CONFIG] = str(write_config(tmp_path / "fake.json", config))
    return env


def _sweep(
    tmp_path: Path, plan: str, config: FakeConfig | None, *args: str
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "plan.toml"
    path.write_text(plan, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "whisperbench", "sweep", "run", str(path),
         "--dir", str(tmp_path / "sweep"), *args],
        capture_output=True, text=True, env=_env(tmp_path, config), timeout=600,
    )  # fmt: skip


def _start(
    tmp_path: Path, config: FakeConfig, **popen: object
) -> tuple[subprocess.Popen[str], Path]:
    """A local sweep of CLOCK_PLAN in the background, once its first cell is done."""
    plan_path = tmp_path / "plan.toml"
    plan_path.write_text(CLOCK_PLAN, encoding="utf-8")
    sweep = tmp_path / "sweep"
    process: subprocess.Popen[str] = subprocess.Popen(  # type: ignore[call-overload]
        [sys.executable, "-m", "whisperbench", "sweep", "run", str(plan_path), "--dir", str(sweep)],
        env=_env(tmp_path, config), text=True, **popen,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not list((sweep / "shards").glob("0000-*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    return process, sweep


def _gpu_state(tmp_path: Path) -> dict[str, object]:
    state = json.loads((tmp_path / "gpu-state.json").read_text())
    value: dict[str, object] = state[make_uuid(0)]
    return value


def _worker_logs(sweep: Path) -> str:
    return "\n".join(p.read_text() for p in sorted((sweep / "logs").glob("worker-*.log")))


def test_clock_sweep_writes_the_frameworks_files_and_restores_clocks(tmp_path: Path) -> None:
    config = FakeConfig(state_file=str(tmp_path / "gpu-state.json"))
    done = _sweep(tmp_path, CLOCK_PLAN, config)
    assert done.returncode == 0, done.stderr + done.stdout
    sweep = tmp_path / "sweep"

    expected = {
        f"A100_freq_{mhz}_run_{run:02d}_{kind}"
        for mhz in (510, 960, 1410)
        for run in (1, 2)
        for kind in ("profile.csv", "log.txt")
    }
    framework = {p.name for p in sweep.iterdir() if p.name.startswith("A100_")}
    assert framework == expected

    summary = json.loads((sweep / "experiment_summary.json").read_text())
    assert (summary["cells"], summary["done"], summary["failed"]) == (6, 6, 0)
    assert summary["gpus"] == {make_uuid(0): "NVIDIA A100-SXM4-80GB"}
    assert 0 < summary["share_measuring"] < 1
    for outcome in summary["outcomes"]:
        requested = outcome["operating_point"]["sm_clock_mhz_requested"]
        assert outcome["sm_clock_mhz_set"] == outcome["sm_clock_mhz_actual"] == requested
        assert outcome["clock_control"] == "locked_clocks"
        assert outcome["energy_valid"] is True, outcome
        stem = f"A100_freq_{requested}_run_{outcome['run']:02d}"
        assert outcome["framework_files"] == [f"{stem}_profile.csv", f"{stem}_log.txt"]

    # The profile is the fake GPU seen through NVML: locked clock and its power, by phase.
    with (sweep / "A100_freq_510_run_02_profile.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    measuring = [r for r in rows if r["phase"] == "measure"]
    assert measuring, {r["phase"] for r in rows}
    assert {r["sm_clock_mhz"] for r in measuring} == {"510"}
    assert float(measuring[0]["power_w"]) == pytest.approx(50.0 + 0.2 * 510, abs=0.01)
    assert next(r["phase"] for r in rows) == "load" or rows[0]["phase"] == "set_clocks"

    # Energy follows the clock the fake GPU ran at (idle 50 W + 0.2 W/MHz).
    shard = json.loads(next((sweep / "shards").glob("0001-*")).read_text())
    (bench,) = shard["benchmarks"]
    info = bench["extra_info"]
    assert info["sm_clock_mhz_requested"] == 960
    # (5%: the window less its grid-stepping pauses at the warm idle power, itself read over
    # a short idle on a loaded machine; the clocks' powers are 152, 242 and 332 W)
    assert info["avg_power_w"] == pytest.approx(50.0 + 0.2 * 960, rel=0.05)
    assert bench["params"]["whisper_sm_clock_mhz"] == 960

    assert _gpu_state(tmp_path)["locked_sm_mhz"] is None  # restored when each worker ended
    assert "SM clock unlocked" in _worker_logs(sweep)

    # The report answers the framework's questions from the sweep folder itself.
    pytest.importorskip("matplotlib")
    out = tmp_path / "report"
    report = subprocess.run(
        [sys.executable, "-m", "whisperbench", "report", str(sweep), "-o", str(out),
         "--rtf-deadline", "100"],
        capture_output=True, text=True, env=_env(tmp_path, config), timeout=300,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    text = (out / "report.md").read_text()
    # Power rises with the clock and the CPU's time does not depend on the fake GPU's clock:
    # the least energy per audio second is at the lowest clock.
    assert "optimal frequency (least energy) 510 MHz" in text
    assert (out / "power_traces.png").is_file()
    assert (out / "pareto.png").is_file()


def test_killed_sweep_resumes_without_redoing_cells_and_restores_the_lock(
    tmp_path: Path,
) -> None:
    config = FakeConfig(state_file=str(tmp_path / "gpu-state.json"))
    process, sweep = _start(tmp_path, config, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 300
    first = next((sweep / "shards").glob("0000-*.json"))
    before = (first.stat().st_mtime_ns, first.read_bytes())
    while _gpu_state(tmp_path)["locked_sm_mhz"] != 960 and time.monotonic() < deadline:
        time.sleep(0.05)  # the next cell has locked its clock: kill it mid-cell
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert _gpu_state(tmp_path)["locked_sm_mhz"] == 960  # a SIGKILL leaves the lock behind

    resumed = _sweep(tmp_path, CLOCK_PLAN, config)
    assert resumed.returncode == 0, resumed.stderr
    assert "SM clock unlocked (left by pid" in resumed.stderr  # the next start restored it
    assert (first.stat().st_mtime_ns, first.read_bytes()) == before  # not redone
    assert _gpu_state(tmp_path)["locked_sm_mhz"] is None

    merged = tmp_path / "merged.json"
    subprocess.run([sys.executable, "-m", "whisperbench", "merge", str(sweep), "-o", str(merged)],
                   check=True, capture_output=True, env=_env(tmp_path, config))  # fmt: skip
    cells = json.loads((sweep / "cells.json").read_text())["cells"]
    names = [b["params"]["whisper_cell"] for b in json.loads(merged.read_text())["benchmarks"]]
    assert names == [cell["id"] for cell in cells]  # a clean run's cell set, in cell order


def test_sigterm_stops_the_sweep_keeps_finished_cells_and_restores(tmp_path: Path) -> None:
    config = FakeConfig(state_file=str(tmp_path / "gpu-state.json"))
    process, sweep = _start(tmp_path, config, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert _gpu_state(tmp_path)["locked_sm_mhz"] is None
    assert "SM clock unlocked" in _worker_logs(sweep)
    summary = json.loads((sweep / "experiment_summary.json").read_text())
    assert summary["done"] >= 1
    assert summary["executions"][-1]["interrupted_by"] == ["SIGTERM"]


def test_no_permission_stops_the_sweep_before_anything_runs(tmp_path: Path) -> None:
    config = FakeConfig(state_file=str(tmp_path / "gpu-state.json"), can_set=False)
    done = _sweep(tmp_path, CLOCK_PLAN, config)
    assert done.returncode == 2
    (line,) = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith("whisperbench sweep: error: no permission to lock the SM clock")
    assert "--clocks external" in line
    assert not list((tmp_path / "sweep" / "shards").iterdir())
    assert not (tmp_path / "sweep" / "logs").exists()  # no worker started


def test_external_clocks_are_recorded_not_set_and_off_lock_windows_flagged(
    tmp_path: Path,
) -> None:
    config = FakeConfig(state_file=str(tmp_path / "gpu-state.json"))
    plan = CLOCK_PLAN.replace("runs = 2", "runs = 1").replace("[510, 960, 1410]", "[510, 1410]")
    done = _sweep(tmp_path, plan, config, "--clocks", "external")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "gpu-state.json").exists()  # nothing was ever set
    by_clock = {}
    for shard in (tmp_path / "sweep" / "shards").glob("*.json"):
        info = json.loads(shard.read_text())["benchmarks"][0]["extra_info"]
        by_clock[info["sm_clock_mhz_requested"]] = info
    assert by_clock[510]["clock_control"] == "external"
    assert by_clock[510]["sm_clock_mhz_actual"] == 1410  # the GPU was never at 510 MHz
    assert by_clock[510]["energy_valid"] is False
    assert "sm_clock_off_lock:1410/1410MHz!=510MHz" in by_clock[510]["energy_invalid_reasons"]
    assert by_clock[1410]["energy_valid"] is True


def test_a_failing_cell_is_recorded_the_sweep_goes_on_and_retry_reruns_it(
    tmp_path: Path,
) -> None:
    plan = """
name = "one-fails"
[matrix]
model = ["tiny", "tiny.en"]
dtype = "float32"
device = "cpu"
audio-duration = 1
rounds = 1
idle = 0
"""
    first = _sweep(tmp_path, plan, None)
    assert first.returncode == 1, first.stderr
    # tiny has no weights on this machine (no hub, no PyPI package): its cell fails, with why
    failed = next(line for line in first.stderr.splitlines() if "FAILED" in line)
    assert failed.startswith("  FAILED 0000-tiny-float32-1s-b1-default-run01: ")
    assert "no weights for whisper tiny" in failed
    shards = tmp_path / "sweep" / "shards"
    assert (shards / "0001-tiny.en-float32-1s-b1-default-run01.json").is_file()
    record = shards / "0000-tiny-float32-1s-b1-default-run01.failed.json"
    written = json.loads(record.read_text())["time_unix_s"]

    again = _sweep(tmp_path, plan, None)
    assert again.returncode == 1
    assert json.loads(record.read_text())["time_unix_s"] == written  # skipped, not retried

    retried = _sweep(tmp_path, plan, None, "--retry-failed")
    assert retried.returncode == 1
    assert json.loads(record.read_text())["time_unix_s"] > written  # tried again
