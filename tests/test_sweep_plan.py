"""Sweep plans: TOML -> cells, in run order, refused with the command line's own messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from whisperbench.sweep.folder import SweepFolder, framework_stem, gpu_type_of
from whisperbench.sweep.plan import OperatingPoint, PlanError, load_plan
from whisperbench.sweep.slurm import array_spec

PLAN = """
name = "a100-clocks"
runs = 2
[matrix]
model = ["tiny.en", "base"]
dtype = "float32"
audio-duration = [5, 10]
rounds = 3
[operating-points]
sm-clock-mhz = [510, 960, 1410]
"""


def _plan(tmp_path: Path, text: str = PLAN) -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_cells_are_the_product_in_run_model_point_workload_order(tmp_path: Path) -> None:
    plan = load_plan(_plan(tmp_path))
    cells = plan.cells()
    assert len(cells) == 2 * 2 * 3 * 2  # runs x models x clocks x durations
    assert [c.index for c in cells] == list(range(len(cells)))
    first = [(c.options.model, c.point.sm_clock_mhz, c.options.audio_duration_s) for c in cells[:6]]
    assert first == [
        ("tiny.en", 510, 5.0),
        ("tiny.en", 510, 10.0),
        ("tiny.en", 960, 5.0),
        ("tiny.en", 960, 10.0),
        ("tiny.en", 1410, 5.0),
        ("tiny.en", 1410, 10.0),
    ]
    assert {c.run for c in cells[:12]} == {1}
    assert {c.run for c in cells[12:]} == {2}
    assert all(c.options.rounds == 3 and c.options.dtype == "float32" for c in cells)
    assert cells[3].id == "0003-tiny.en-float32-10s-b1-sm960-run01"
    assert plan.controls_clocks


def test_sweep_plan_command_prints_cells_and_count(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "whisperbench", "sweep", "plan", str(_plan(tmp_path))],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    lines = out.stdout.splitlines()
    assert lines[-1] == "24 cell(s)"
    assert lines[0] == "0000-tiny.en-float32-5s-b1-sm510-run01"
    assert len(lines) == 25


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[matrix]\nmodel = 'huge'\n", "[matrix] model: unknown model 'huge'; choose from: tiny,"),
        ("[matrix]\nrounds = 0\n", "[matrix] rounds: must be >= 1, got 0"),
        ("[matrix]\nmodels = ['base']\n", "[matrix]: unknown key 'models'; known keys:"),
        ("[matrix]\ntimestamps = 'yes'\n", "[matrix] timestamps: must be true or false"),
        ("[matrix]\nmodel = ['base', 'base']\n", "lists a value twice"),
        ("runs = 0\n", "runs must be a whole number >= 1, got 0"),
        ("[operating-points]\nsm-clock-mhz = [510.5]\n", "clocks are whole MHz"),
        ("[operating-points]\npower-limit-w = -3\n", "values must be positive numbers"),
        ("[operating-points]\nfreq = 3\n", "unknown key 'freq'"),
        ("[slurm]\nsbatch = '--time=1'\n", "sbatch must be a list of strings"),
        ("[matrix\n", "not valid TOML"),
    ],
)
def test_bad_plans_are_refused_with_the_key_and_what_is_valid(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(_plan(tmp_path, text))
    assert message in str(caught.value)
    assert str(tmp_path / "plan.toml") in str(caught.value)


def test_a_folder_of_another_plan_is_refused(tmp_path: Path) -> None:
    plan = load_plan(_plan(tmp_path))
    SweepFolder.create(tmp_path / "sweep", plan)
    SweepFolder.create(tmp_path / "sweep", plan)  # same plan: reopened
    other = load_plan(_plan(tmp_path, PLAN.replace("runs = 2", "runs = 3")))
    with pytest.raises(PlanError, match="holds a sweep of another plan"):
        SweepFolder.create(tmp_path / "sweep", other)


def test_framework_file_names() -> None:
    from whisperbench.options import RunOptions
    from whisperbench.sweep.plan import Cell

    cell = Cell(7, RunOptions(), OperatingPoint(sm_clock_mhz=510), run=1)
    assert framework_stem(cell, "A100") == "A100_freq_510_run_01"
    assert framework_stem(Cell(0, RunOptions(), OperatingPoint(), 12), "CPU") == (
        "CPU_freq_default_run_12"
    )
    varied = Cell(0, RunOptions(), OperatingPoint(sm_clock_mhz=960, power_limit_w=250.0), 3)
    assert framework_stem(varied, "H100", vary_power=True) == ("H100_freq_960_pl_250W_run_03")
    assert gpu_type_of("NVIDIA A100-SXM4-80GB") == "A100"
    assert gpu_type_of("Tesla V100-SXM2-16GB") == "V100"
    assert gpu_type_of("NVIDIA H100 80GB HBM3") == "H100"
    assert gpu_type_of(None) == "CPU"


def test_array_spec_compresses_indices_into_ranges() -> None:
    assert array_spec([0, 1, 2, 3]) == "0-3"
    assert array_spec([9, 0, 2, 3, 4, 7], max_parallel=4) == "0,2-4,7,9%4"
    with pytest.raises(ValueError, match="no cells"):
        array_spec([])
