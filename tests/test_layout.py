"""The repository's layout promises: our `fixtures` folder wins over the PyPI package."""

import importlib.metadata
from pathlib import Path

import fixtures
import fixtures.audio
import fixtures.session

REPO = Path(__file__).resolve().parents[1]


def test_fixtures_resolve_to_this_repository() -> None:
    # A PyPI package is also called `fixtures` and is installed with the test extra, so this
    # checks precedence, not merely absence.
    assert importlib.metadata.distribution("fixtures").version
    for module in (fixtures, fixtures.audio, fixtures.session):
        assert Path(module.__file__).resolve().parent == REPO / "fixtures", module.__file__


def test_root_conftest_loads_the_plugin_and_fixtures(pytestconfig) -> None:  # type: ignore[no-untyped-def]
    manager = pytestconfig.pluginmanager
    for name in (
        "whisperbench.pytest_plugin",
        "fixtures.audio",
        "fixtures.session",
    ):
        assert manager.has_plugin(name), name
