"""A fast command line and a light plugin: what starting them imports, in a fresh process.

``whisperbench --help``, ``models``, ``compare`` and ``report`` build every parser, and every
pytest run in an environment where whisperbench is installed loads the plugin: none of that
may import torch, transformers, scipy or matplotlib (seconds of start-up); they load where a
model runs, a test is computed or a figure drawn. Import sets, not timings: the machine's
speed does not change what is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"
HEAVY = ("torch", "transformers", "scipy", "matplotlib")

PROBE = """
import json, sys
{setup}
print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}} & {heavy})))
"""


def heavy_modules_after(setup: str, cwd: Path | None = None) -> list[str]:
    """The heavy top-level modules loaded after running ``setup`` in a fresh interpreter."""
    code = PROBE.format(setup=setup, heavy=set(HEAVY))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_the_probe_sees_a_heavy_import() -> None:
    assert heavy_modules_after("import scipy") == ["scipy"]


def test_building_every_parser_imports_nothing_heavy() -> None:
    setup = (
        "from whisperbench.cli import build_parser\n"
        "parser = build_parser()\n"
        "for argv in (['run'], ['models'], ['compare', 'A', 'B'], ['report', 'A'],\n"
        "             ['sweep', 'plan', 'p.toml'], ['sweep', 'run', 'p.toml'],\n"
        "             ['merge', 'S', '-o', 'm']):\n"
        "    parser.parse_args(argv)\n"
        "import whisperbench.options, whisperbench.app.arguments"
    )
    assert heavy_modules_after(setup) == []


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["models"], ["compare"], ["report"], ["sweep"], ["sweep", "run"], ["merge"]],
)
def test_help_of_every_command_imports_nothing_heavy(command: list[str]) -> None:
    setup = (
        "from whisperbench.cli import main\n"
        "try:\n"
        f"    main({[*command, '--help']!r})\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code"
    )
    assert heavy_modules_after(setup) == []


def test_models_lists_every_model_without_torch() -> None:
    setup = "from whisperbench.cli import main\nassert main(['models']) == 0"
    assert heavy_modules_after(setup) == []


def test_report_starts_without_scipy_or_torch(tmp_path: Path) -> None:
    """``report`` draws figures (matplotlib, where used) and needs neither torch nor scipy."""
    run = GOLDEN / "synthetic_a100_base_1.json"
    setup = (
        "from whisperbench.cli import main\n"
        f"assert main(['report', {str(run)!r}, '-o', {str(tmp_path / 'out')!r}]) == 0"
    )
    assert set(heavy_modules_after(setup)) <= {"matplotlib"}


def test_the_pytest_plugins_import_nothing_heavy() -> None:
    """They load in every pytest run where whisperbench is installed, whatever it tests."""
    setup = "import whisperbench.pytest_plugin, whisperbench.pytest_gate"
    assert heavy_modules_after(setup) == []


def test_a_pytest_run_without_whisperbench_cases_stays_light(tmp_path: Path) -> None:
    """A project's own tests, with the plugin loaded: no torch, no whisperbench JSON."""
    (tmp_path / "test_other.py").write_text(
        "import sys\n"
        "def test_plain(benchmark):\n"
        "    benchmark(sum, range(10))\n"
        f"    assert not {{n.split('.')[0] for n in sys.modules}} & {set(HEAVY)!r}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "whisperbench.pytest_plugin",
         "-p", "whisperbench.pytest_gate", "-p", "no:cacheprovider", "-q",
         "--benchmark-json=out.json", "--benchmark-min-rounds=2", "test_other.py"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    written = json.loads((tmp_path / "out.json").read_text())
    assert "whisperbench" not in written
    assert "whisperbench" not in written["machine_info"]
    (bench,) = written["benchmarks"]
    assert bench["options"]["min_rounds"] == 2  # pytest-benchmark's own, left alone


def test_sweep_plan_expands_a_plan_without_torch(tmp_path: Path) -> None:
    plan = REPO / "plans" / "a100-clocks.toml"
    setup = f"from whisperbench.cli import main\nassert main(['sweep', 'plan', {str(plan)!r}]) == 0"
    assert heavy_modules_after(setup) == []
