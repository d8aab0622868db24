"""The compare/ and report/ packages import one way: no circles, core apart from front ends.

Imports are read from the source with ``ast``, function-local ones included (that is where a
circle hides), so the graph is the one the code could follow at run time.
"""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

import whisperbench

SRC = Path(whisperbench.__file__).parent
PACKAGES = ("compare", "report")


def modules(package: str) -> dict[str, Path]:
    """Module name inside ``package`` ("__init__", "cli", ...) -> file."""
    return {path.stem: path for path in sorted((SRC / package).glob("*.py"))}


def imported(package: str, path: Path) -> set[str]:
    """Modules of ``package`` that the file at ``path`` imports ("__init__" for the package)."""
    own = modules(package)
    full = f"whisperbench.{package}"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
            found |= {name.removeprefix(f"{full}.") for name in names if name.startswith(full)}
            found |= {"__init__" for name in names if name == full}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the package
                base = ".".join(filter(None, [full, base]))
            if base == full:
                found |= {a.name if a.name in own else "__init__" for a in node.names}
            elif base.startswith(f"{full}."):
                found.add(base.removeprefix(f"{full}.").split(".")[0])
            elif base == "whisperbench":
                found |= {"__init__" for alias in node.names if alias.name == package}
    return found


def graph(package: str) -> dict[str, set[str]]:
    return {name: imported(package, path) - {name} for name, path in modules(package).items()}


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in edges[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_import_each_other_without_a_circle(package: str) -> None:
    edges = graph(package)
    assert len(edges) > 3  # the package is there and the walk found its modules
    assert all(target in edges for targets in edges.values() for target in targets)
    graphlib.TopologicalSorter(edges).prepare()  # raises CycleError on a circle
    assert not any("__init__" in edges[name] for name in edges if name != "__init__")


def test_the_comparison_and_its_rendering_do_not_reach_the_front_end() -> None:
    edges = graph("compare")
    for core in ("comparison", "render", "rule", "metrics", "stats", "machines"):
        assert not {"cli", "options"} & reachable(edges, core), core
    assert "render" not in reachable(edges, "comparison")
    assert "cli" not in reachable(edges, "options")


def test_the_graph_reader_sees_a_function_local_import(tmp_path: Path) -> None:
    """The reader would have caught the old circle, hidden inside a function."""
    source = tmp_path / "hidden.py"
    source.write_text(
        "def run():\n"
        "    from whisperbench.compare.render import render_text\n"
        "    from whisperbench.compare import Comparison, options\n"
        "    from . import cli\n"
    )
    assert imported("compare", source) == {"render", "__init__", "options", "cli"}


@pytest.mark.slow
def test_importing_the_front_ends_loads_no_scipy_torch_or_matplotlib() -> None:
    code = (
        "import sys\n"
        "import whisperbench.compare, whisperbench.compare.cli\n"
        "import whisperbench.report, whisperbench.report.cli, whisperbench.pytest_gate\n"
        "heavy = {'scipy', 'torch', 'matplotlib'}\n"
        "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
