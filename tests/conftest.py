"""Shared test fixtures: the real tiny.en model, loaded once per test session; a real
one-node SLURM cluster for the sweep tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import transformers

# numpy and torch load once, here: in-process pytester runs (the suite's benchmark file imports
# whisperbench.session) restore sys.modules afterwards, and numpy cannot load twice in a process.
import whisperbench.session  # noqa: F401
from tests.slurm_cluster import Cluster, missing_binaries, one_node_cluster
from whisperbench.models.loading import LoadedModel, load_model
from whisperbench.models.precision import resolve
from whisperbench.models.registry import get_spec

# matplotlib too, for the same reason: a figure drawn inside an in-process pytester run would
# otherwise load a second copy of it, whose classes the first copy's pyplot does not accept.
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot
except ImportError:  # the report extra is not installed: the report tests skip
    pass

# As the suite's session fixture does (the plugin no longer sets it for every pytest run):
# generate's notes about settings it sets itself would fill the test output.
transformers.logging.set_verbosity_error()


@pytest.fixture(scope="session")
def tiny_en() -> LoadedModel:
    """Real Whisper tiny.en weights (packaged, converted once), float32 on CPU."""
    return load_model(get_spec("tiny.en"), resolve("cpu", "float32"), source="packaged")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A real one-node SLURM cluster (Debian's slurmctld/slurmd), up for the session."""
    missing = missing_binaries()
    if missing:
        pytest.skip(f"SLURM not installed here ({', '.join(missing)} missing): apt-get install "
                    "slurmctld slurmd slurm-client (.ci/run does)")  # fmt: skip
    with one_node_cluster(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster
