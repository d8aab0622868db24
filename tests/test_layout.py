"""The repository's layout promises: the plugin and its fixtures are registered once.

The suite's fixtures ship in the package (``whisperbench.pytest_fixtures``, re-exported by the
plugin), so the repository has no top-level ``fixtures`` folder any more and the PyPI package
of that name cannot shadow anything of ours. The root ``conftest.py`` lists the plugin modules
by the names their ``pytest11`` entry points carry, so pytest skips them when the entry points
have loaded them; tests/test_install.py checks that in an installed environment, with and
without plugin autoloading. This session is either (installed or a bare checkout): the checks
here hold in both.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import whisperbench.pytest_gate
import whisperbench.pytest_plugin

REPO = Path(__file__).resolve().parents[1]
PLUGINS = (whisperbench.pytest_plugin, whisperbench.pytest_gate)
pytest_plugins = ["pytester"]


def test_each_plugin_module_is_registered_once_under_its_module_name(
    pytestconfig: pytest.Config,
) -> None:
    manager = pytestconfig.pluginmanager
    for module in PLUGINS:
        names = [name for name, plugin in manager.list_name_plugin() if plugin is module]
        assert names == [module.__name__]


def test_entry_points_carry_the_names_the_root_conftest_lists() -> None:
    """The names must match, or pytest would load a module twice (and pluggy refuse it)."""
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads TOML")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    entry_points = project["project"]["entry-points"]["pytest11"]
    assert entry_points == {module.__name__: module.__name__ for module in PLUGINS}
    conftest = ast.parse((REPO / "conftest.py").read_text(encoding="utf-8"))
    (listed,) = [
        ast.literal_eval(node.value)
        for node in conftest.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in node.targets)
    ]
    assert listed == list(entry_points)


def test_the_suites_fixtures_are_defined_once(pytester: pytest.Pytester) -> None:
    """The plugin re-exports the fixtures module; nothing else defines the same names."""
    pytester.syspathinsert(REPO)
    pytester.makeconftest((REPO / "conftest.py").read_text(encoding="utf-8"))
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stderr.str()
    for name in ("whisper_case", "whisper_clips", "whisper_session"):
        definitions = [line for line in result.outlines if line.startswith(f"{name} ")]
        assert len(definitions) == 1, (name, definitions)


def test_nothing_of_ours_imports_a_top_level_fixtures_package() -> None:
    """The old hazard, gone: a ``fixtures`` import could resolve to the PyPI package."""
    assert not (REPO / "fixtures").exists()
    sources = [REPO / "conftest.py", *REPO.glob("benchmarks/*.py"), *REPO.glob("tests/*.py")]
    sources += list((REPO / "src").rglob("*.py"))
    importers = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            if any(name == "fixtures" or name.startswith("fixtures.") for name in names):
                importers.append(str(path.relative_to(REPO)))
    assert importers == []
