"""Sweeps as SLURM job arrays on a real one-node cluster (tests/slurm_cluster.py): a 2x2 CPU
matrix as a 4-task array, merged, then read by compare and report; the script on its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.slurm_cluster import Cluster

pytestmark = pytest.mark.slow

PLAN = """
name = "cpu-2x2"
[matrix]
model = ["tiny.en", "base"]
dtype = "float32"
device = "cpu"
audio-duration = [1, 2]
rounds = 2
idle = 0
[slurm]
cpus-per-task = 1
"""


def _whisperbench(
    cluster: Cluster, *args: str, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    env = cluster.env()
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "whisperbench", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)  # fmt: skip


def test_a_2x2_cpu_matrix_runs_as_a_4_task_array(slurm_cluster: Cluster, tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN, encoding="utf-8")
    sweep = tmp_path / "sweep"
    run = _whisperbench(slurm_cluster, "sweep", "run", str(plan), "--dir", str(sweep),
                        "--executor", "slurm", "--wait")  # fmt: skip
    assert run.returncode == 0, run.stderr + run.stdout
    assert "submitted job" in run.stderr
    (script,) = (sweep / "slurm").glob("*.sbatch")
    text = script.read_text()
    assert "#SBATCH --array=0-3" in text
    assert "#SBATCH --cpus-per-task=1" in text
    assert "--gpus-per-task" not in text  # a CPU plan asks for no GPU

    summary = json.loads((sweep / "experiment_summary.json").read_text())
    assert (summary["cells"], summary["done"]) == (4, 4)
    slurm = [e for e in summary["executions"] if e.get("executor") == "slurm"]
    assert slurm[0]["job_id"]
    assert slurm[-1]["wall_s"] > 0
    workers = {o["worker"] for o in summary["outcomes"]}
    assert len(workers) == 4  # one task, one process, per cell
    assert len(list((sweep / "slurm").glob("*_*.out"))) == 4  # the array's task outputs

    merged = tmp_path / "merged.json"
    merge = _whisperbench(slurm_cluster, "merge", str(sweep), "-o", str(merged))
    assert merge.returncode == 0, merge.stderr
    document = json.loads(merged.read_text())
    benches = document["benchmarks"]
    assert len(benches) == 4
    assert {(b["params"]["whisper_model_id"], b["params"]["whisper_audio_s"]) for b in benches} == {
        ("tiny.en", 1.0), ("tiny.en", 2.0), ("base", 1.0), ("base", 2.0),
    }  # fmt: skip
    assert all(b["stats"]["rounds"] == 2 for b in benches)

    compared = _whisperbench(
        slurm_cluster, "compare", str(merged), str(merged), "--fail", "rtf:10%"
    )
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert "OK: no regression" in compared.stdout
    report = _whisperbench(slurm_cluster, "report", str(merged), "-o", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    assert "base" in (tmp_path / "report" / "report.md").read_text()

    again = _whisperbench(slurm_cluster, "sweep", "run", str(plan), "--dir", str(sweep),
                          "--executor", "slurm", "--wait")  # fmt: skip
    assert again.returncode == 0
    assert "nothing to submit" in again.stderr  # finished cells are never resubmitted


def test_dry_run_writes_a_readable_script_and_submits_nothing(tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(
        PLAN.replace('device = "cpu"\n', "") + "[operating-points]\nsm-clock-mhz = [510, 1410]\n"
    )
    sweep = tmp_path / "sweep"
    done = subprocess.run(
        [sys.executable, "-m", "whisperbench", "sweep", "run", str(plan), "--dir", str(sweep),
         "--executor", "slurm", "--dry-run", "--sbatch-arg=--partition=gpu",
         "--sbatch-arg=--time=00:20:00", "--max-parallel", "3"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "#SBATCH --array=0-7%3" in lines
    assert "#SBATCH --gpus-per-task=1" in lines
    assert "#SBATCH --partition=gpu" in lines
    assert "#SBATCH --time=00:20:00" in lines
    last = [line for line in lines if line.strip()][-1]
    assert last.startswith("exec ")
    assert last.endswith('--cell "$SLURM_ARRAY_TASK_ID"')
    assert "not submitted (--dry-run)" in done.stderr
    assert not (sweep / "executions.json").exists()
