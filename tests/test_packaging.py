"""Packaging hygiene: the license, one version, every import declared, install lines that hold.

Read from pyproject.toml, the sources and the README; tests/test_install.py builds and installs
the wheel, .ci/check-install does it from a clean environment.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import whisperbench

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "whisperbench"


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads TOML")
    loaded: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return loaded


def _name(requirement: str) -> str:
    """The normalized distribution name of a requirement string ("tqdm>=4.60" -> "tqdm")."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def test_the_license_is_an_spdx_expression_with_its_file(project: dict[str, Any]) -> None:
    meta = project["project"]
    assert meta["license"] == "MIT"  # not the deprecated {text = ...} table
    assert meta["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) the whisperbench authors" in text
    requires = project["build-system"]["requires"]
    assert requires == ["setuptools>=77"]  # the first setuptools with PEP 639 license fields


def test_the_version_is_written_once(project: dict[str, Any]) -> None:
    meta = project["project"]
    assert "version" not in meta
    assert meta["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "whisperbench.__version__"
    }
    assert re.fullmatch(r"\d+\.\d+\.\d+", whisperbench.__version__)
    # tests/test_install.py: the installed metadata and `whisperbench --version` agree with it.


def test_linters_are_a_lint_extra_not_test_dependencies(project: dict[str, Any]) -> None:
    extras = project["project"]["optional-dependencies"]
    assert {_name(r) for r in extras["lint"]} == {"ruff", "mypy"}
    assert not {"ruff", "mypy"} & {_name(r) for r in extras["test"]}
    assert extras["dev"] == ["whisperbench[test,lint]"]


def _imported_packages() -> set[str]:
    """Top-level names of the third-party modules the package imports (inside functions too)."""
    names: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return names - set(sys.stdlib_module_names) - {"whisperbench", "__future__"}


def test_every_third_party_import_is_declared(project: dict[str, Any]) -> None:
    """tqdm (the app's progress bar) was imported and not declared; nothing else may be."""
    meta = project["project"]
    declared = {_name(r) for r in meta["dependencies"]}
    for requirements in meta["optional-dependencies"].values():
        declared |= {_name(r) for r in requirements if not r.startswith("whisperbench[")}
    distributions = importlib.metadata.packages_distributions()
    imported = _imported_packages()
    assert {"tqdm", "torch", "transformers", "matplotlib", "huggingface_hub"} <= imported
    undeclared = {}
    for module in sorted(imported):
        # A module that is not installed here (datasets) must be declared under its own name.
        dists = distributions.get(module, [module])
        if not {_name(d) for d in dists} & declared:
            undeclared[module] = dists
    assert undeclared == {}
    assert "tqdm" in {_name(r) for r in meta["dependencies"]}


def test_the_readme_says_how_to_get_torchs_cpu_build_and_ci_runs_its_test_command() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    test_command = "python -m pip install torch==2.13.0 -e '.[test]' && python -m pytest"
    assert f"```bash\n{test_command}\n```" in readme
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci  # the same command, a line of its own
    cpu = "python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    assert f"```bash\n{cpu}\n```" in readme
    assert "multi-GB CUDA build" in readme
    assert "`report` extra" in readme
