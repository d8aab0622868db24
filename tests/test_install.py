"""whisperbench installed like any pytest plugin: a wheel, a virtual environment, an empty folder.

The wheel is built from a copy of the project (so the checkout is not written to) and installed
without its dependencies into a virtual environment that sees this one's packages (torch and
the rest), then used from folders outside the repository with no ``PYTHONPATH``:

- ``pytest --help`` lists every ``--whisper-*`` option;
- a user's own benchmark file (docs/examples/test_my_benchmark.py) runs on the suite's
  fixtures and writes pytest-benchmark JSON;
- with the repository's root ``conftest.py`` beside a test, each plugin module is registered
  once: by its entry point (the conftest's listing is skipped), or by the conftest when
  plugin autoloading is off.

.ci/run does the same from a clean virtual environment with every dependency installed from
the index (``.ci/check-install``), which takes a minute more.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

import whisperbench
from whisperbench.options import option_specs

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "examples" / "test_my_benchmark.py"
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Installed:
    python: Path
    scripts: Path
    env: dict[str, str]

    def run(self, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *args], capture_output=True, text=True, timeout=600, cwd=cwd,
            env={**self.env, **env},
        )  # fmt: skip


def _build_wheel(project: Path, dist: Path) -> Path:
    """Build the wheel with this environment's setuptools when it is recent enough for the
    project's build requirements, else in pip's isolated build environment."""
    setuptools_major = int(importlib.metadata.version("setuptools").split(".")[0])
    isolation = [] if setuptools_major >= 77 else ["--use-pep517"]
    no_isolation = ["--no-build-isolation"] if setuptools_major >= 77 else []
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *no_isolation, *isolation,
         "--quiet", "-w", str(dist), str(project)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (wheel,) = dist.glob("whisperbench-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("install")
    project = root / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, project / name)
    shutil.copytree(
        REPO / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    wheel = _build_wheel(project, root / "dist")

    environment = root / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(environment)
    python = environment / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--ignore-installed", "--quiet",
         str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env["HF_HUB_OFFLINE"] = "1"
    return Installed(python=python, scripts=environment / "bin", env=env)


def test_the_installed_package_is_the_one_imported(installed: Installed, tmp_path: Path) -> None:
    done = installed.run(
        "-c",
        "import importlib.metadata, whisperbench; "
        "print(whisperbench.__file__); print(importlib.metadata.version('whisperbench'))",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    location, version = done.stdout.split()
    assert Path(location).is_relative_to(installed.python.parents[1])
    assert version == whisperbench.__version__  # one version source: __init__.py
    script = subprocess.run(
        [str(installed.scripts / "whisperbench"), "--version"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=installed.env,
    )  # fmt: skip
    assert script.stdout.strip() == f"whisperbench {whisperbench.__version__}"


def test_pytest_help_lists_every_whisper_option_from_an_empty_folder(
    installed: Installed, tmp_path: Path
) -> None:
    done = installed.run("-m", "pytest", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = {"--whisper-compare", "--whisper-compare-fail"}
    for _, spec in option_specs():
        expected.add(f"--whisper-{spec.axis.flag if spec.axis else spec.flag}")
    words = done.stdout.replace(",", " ").split()
    listed = {word.partition("=")[0] for word in words if word.startswith("--whisper-")}
    assert expected <= listed
    assert "whisperbench: what to measure" in done.stdout


def test_a_users_own_benchmark_file_runs_on_the_suites_fixtures(
    installed: Installed, tmp_path: Path
) -> None:
    shutil.copy(EXAMPLE, tmp_path / EXAMPLE.name)
    done = installed.run(
        "-m", "pytest", EXAMPLE.name, "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
        "--whisper-durations=2", "--whisper-rounds=1", "--whisper-warmup-rounds=0",
        "--whisper-audio=short", "--whisper-min-window=0", "--whisper-idle=0",
        "--benchmark-json=mine.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout
    data = json.loads((tmp_path / "mine.json").read_text())
    (bench,) = data["benchmarks"]
    assert bench["params"]["whisper_model_id"] == "tiny.en"
    assert bench["extra_info"]["rtf"] > 0
    assert bench["extra_info"]["transcript"]
    assert data["whisperbench"]["options"]["rounds"] == 1


REGISTERED_ONCE = """
import whisperbench.pytest_gate as gate
import whisperbench.pytest_plugin as plugin


def test_each_plugin_is_registered_once(pytestconfig):
    manager = pytestconfig.pluginmanager
    from_entry_points = [p for p, _ in manager.list_plugin_distinfo()]
    for module in (plugin, gate):
        names = [name for name, p in manager.list_name_plugin() if p is module]
        assert names == [module.__name__]
        how = "entry point" if any(p is module for p in from_entry_points) else "conftest"
        print(f"{module.__name__} registered by the {how}")
"""


@pytest.mark.parametrize(
    ("autoload", "registered_by"), [(True, "entry point"), (False, "conftest")]
)
def test_the_root_conftest_never_registers_a_plugin_twice(
    installed: Installed, tmp_path: Path, autoload: bool, registered_by: str
) -> None:
    shutil.copy(REPO / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_registered.py").write_text(REGISTERED_ONCE)
    env = {} if autoload else {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = installed.run("-m", "pytest", "-s", "-q", "-p", "no:cacheprovider", cwd=tmp_path, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("whisperbench.pytest_plugin", "whisperbench.pytest_gate"):
        assert f"{name} registered by the {registered_by}" in done.stdout
