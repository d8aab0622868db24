"""pytest plugin: gate the run being measured against a saved one, inside pytest.

The in-pytest twin of ``whisperbench compare`` (same rule, same table)::

    pytest benchmarks --benchmark-json=run.json \\
        --whisper-compare=reports/baselines/a100/run1.json \\
        --whisper-compare=reports/baselines/a100/run2.json \\
        --whisper-compare=reports/baselines/a100/run3.json \\
        --whisper-compare-fail=rtf:5% --whisper-compare-fail=j_per_audio_s:5%

This run is one process, so the gate can test it only against a baseline of two runs or
more (``--whisper-compare`` repeated): their spread stands for the run-to-run noise. Against
one baseline run every check beyond its threshold is reported untested.

The gate options are the CLI's with the prefix ``--whisper-compare-`` (``--fail`` here is
``--whisper-compare-fail``, ``--metrics`` is ``--whisper-compare-metrics``, and so on), from
one definition in :mod:`whisperbench.compare.options`. A storage id as BASE is looked up in
pytest-benchmark's ``--benchmark-storage`` (the CLI's ``--storage``).

The base run is loaded when pytest configures, so a wrong path fails before any model
loads. The current run is the JSON pytest-benchmark writes (taken from the
``pytest_benchmark_update_json`` hook after every other plugin has added to it); the gate
is judged when the session finishes, the table is printed in the terminal summary, and a
regression in a gated metric makes pytest exit with status 1 (a refused comparison: 4,
pytest's usage-error status). With ``--whisper-compare-markdown=FILE`` the Markdown form is
written there too; a file that cannot be written is reported in the summary. Loaded from the
root ``conftest.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from whisperbench.compare import (
    CompareOptions,
    Comparison,
    compare_runs,
    render_markdown,
    render_text,
)
from whisperbench.compare.options import (
    PYTEST_PREFIX,
    add_gate_options,
    dest,
    markdown_from,
    options_from,
)
from whisperbench.runs import Run, RunError, load_runs, run_from_document

__all__ = ["GateState", "gate_key"]


@dataclass
class GateState:
    """The gate of one session: what to compare against, and what came of it."""

    base: tuple[Run, ...]
    options: CompareOptions
    markdown: Path | None = None  #: where to write the Markdown form
    current: dict[str, Any] | None = None  #: this run's JSON as pytest-benchmark writes it
    comparison: Comparison | None = None
    error: str | None = None
    note: str | None = None
    markdown_error: str | None = None


gate_key = pytest.StashKey[GateState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    # The description the plugin gives: whichever of the two registers first names the group.
    group = parser.getgroup("whisperbench", "whisperbench: what to measure")
    group.addoption(
        "--whisper-compare",
        metavar="BASE",
        action="append",
        default=[],
        help="Gate this run (NEW) against BASE: a pytest-benchmark JSON file or a storage id "
        "(0001, 0001_name, <machine-id>/0001) in --benchmark-storage. Repeat it for a "
        "baseline of several runs (two or more are needed to test a change against "
        "run-to-run noise). Needs --benchmark-json or --benchmark-save/--benchmark-autosave. "
        "Default: none",
    )
    add_gate_options(group.addoption, prefix=PYTEST_PREFIX)


def pytest_configure(config: pytest.Config) -> None:
    specs = config.getoption("whisper_compare")
    gates = config.getoption(dest("fail", PYTEST_PREFIX))
    if not specs:
        if gates:
            raise pytest.UsageError("--whisper-compare-fail needs --whisper-compare=BASE")
        return
    try:
        writes_json = any(
            config.getoption(name)
            for name in ("benchmark_json", "benchmark_save", "benchmark_autosave")
        )
        storage = str(config.getoption("benchmark_storage"))
    except ValueError:
        raise pytest.UsageError("--whisper-compare needs the pytest-benchmark plugin") from None
    if not writes_json:
        raise pytest.UsageError(
            "--whisper-compare gates on this run's JSON: add --benchmark-json=FILE "
            "(or --benchmark-save=NAME / --benchmark-autosave)"
        )
    try:
        base = tuple(load_runs(specs, storage=storage))
    except RunError as exc:
        raise pytest.UsageError(f"--whisper-compare: {exc}") from None
    config.stash[gate_key] = GateState(
        base=base,
        options=options_from(config.getoption, prefix=PYTEST_PREFIX),
        markdown=markdown_from(config.getoption, prefix=PYTEST_PREFIX),
    )


@pytest.hookimpl(trylast=True, optionalhook=True)
def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: list[Any], output_json: dict[str, Any]
) -> None:
    """Keep this run's JSON, serialized as pytest-benchmark writes it."""
    state = config.stash.get(gate_key, None)
    if state is not None:
        state.current = json.loads(json.dumps(output_json, default=_unserializable))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Judge the gate once pytest-benchmark has produced the run's JSON."""
    state = session.config.stash.get(gate_key, None)
    if state is None:
        return
    if state.current is None:
        state.note = "nothing to gate: no benchmark ran"
        return
    try:
        current = run_from_document(state.current, "<this run>", "this run")
        state.comparison = compare_runs(state.base, current, state.options)
    except RunError as exc:
        state.error = str(exc)
        _fail(session, pytest.ExitCode.USAGE_ERROR)
        return
    if state.markdown is not None:
        try:
            state.markdown.write_text(render_markdown(state.comparison), encoding="utf-8")
        except OSError as exc:
            state.markdown_error = f"cannot write {state.markdown}: {exc}"
    if state.comparison.failed:
        _fail(session, pytest.ExitCode.TESTS_FAILED)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(gate_key, None)
    if state is None:
        return
    terminalreporter.section("whisperbench gate", sep="-", bold=True)
    if state.error is not None:
        terminalreporter.write_line(f"whisperbench gate: error: {state.error}", red=True)
    elif state.note is not None:
        terminalreporter.write_line(f"whisperbench gate: {state.note}", yellow=True)
    elif state.comparison is not None:
        for line in render_text(state.comparison).splitlines():
            terminalreporter.write_line(line)
        if state.comparison.failed:
            terminalreporter.write_line("whisperbench gate: FAILED", red=True, bold=True)
    if state.markdown_error is not None:
        terminalreporter.write_line(f"whisperbench gate: error: {state.markdown_error}", red=True)


def _fail(session: pytest.Session, status: pytest.ExitCode) -> None:
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = status


def _unserializable(value: object) -> str:
    """Mirror pytest-benchmark's SafeJSONEncoder for objects JSON cannot hold."""
    return f"UNSERIALIZABLE[{value!r}]"
