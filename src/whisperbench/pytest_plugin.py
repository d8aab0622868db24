"""The pytest plugin: ``--whisper-*`` options, the benchmark matrix, machine info.

Installed as a ``pytest11`` entry point named after this module, so every pytest run in an
environment where whisperbench is installed has the options and the fixtures (re-exported from
:mod:`whisperbench.pytest_fixtures`); the repository's root ``conftest.py`` lists the same
module name, which pytest skips when the entry point has registered it (and loads when it has
not: an uninstalled checkout, ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``).

The options are :class:`whisperbench.options.RunOptions` in their ``--whisper-`` form
(:func:`whisperbench.options.add_run_options`): each has an argparse type, so a typo is a
usage error when pytest parses the command line. The matrix (model x dtype x audio seconds x
batch size x engine x KV cache x compile) is parametrized on any test that takes the
``whisper_case`` argument, model-major, so each loaded model is loaded once and kept only
while its cases run. A combination an engine does not have (a KV cache for CTranslate2, a
CTranslate2 compute type for transformers, compile without the static cache) is left out of
the matrix and listed in the report header.

A session that collected whisperbench cases checks them once collection is done, before any
model loads: every case against this machine (:func:`whisperbench.session.check_options`),
and pytest-benchmark's round options, which do not apply to rounds whisperbench runs
(refused, naming the ``--whisper-*`` option to use). A session without such cases loads
nothing heavy and writes nothing of whisperbench's into pytest-benchmark's JSON.

Cells that did the same work on different engines or settings are compared after the run
(:mod:`whisperbench.report.agreement`): each gets its time ratio and transcript agreement
against a reference cell, written into the JSON's ``extra_info`` and printed as a table.

Interrupts keep what finished. On Ctrl-C pytest stops and pytest-benchmark still writes its
JSON (in ``pytest_sessionfinish``); SIGTERM (SLURM's time limit) is made to do the same (it
raises :class:`whisperbench.interrupts.Interrupted`, a ``KeyboardInterrupt``), and then exits
143. The case that was running is left out of the JSON (its rounds did not finish), and the
run's ``whisperbench`` block says ``"interrupted": true``.

At the end, the terminal summary shows each case's headline figures
(:mod:`whisperbench.report.summary`), so nobody has to open the JSON to read them.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import weakref
from collections.abc import Callable, Generator
from typing import Any

import pytest

from whisperbench.interrupts import exit_code, interrupts_raised
from whisperbench.options import SUITE_PREFIX, Matrix, RunOptions, add_run_options
from whisperbench.pytest_fixtures import whisper_clips, whisper_session

__all__ = [
    "CASE_PARAMS",
    "FOREIGN_ROUND_OPTIONS",
    "active_key",
    "case_id",
    "case_params",
    "cases_key",
    "foreign_round_options",
    "matrix_key",
    "summary_key",
    "truthful_round_options",
    "whisper_case",
    "whisper_clips",
    "whisper_session",
]

matrix_key = pytest.StashKey[Matrix]()
#: The cases that run, the combinations left out with the reason, and the cases this machine
#: cannot run with the error (refused once collection is done).
cases_key = pytest.StashKey[tuple[list[RunOptions], list[tuple[str, str]], list[tuple[str, str]]]]()
#: Each benchmark's extra_info by test node id, for the comparison after the run.
results_key = pytest.StashKey[dict[str, dict[str, Any]]]()
#: Set once collection found whisperbench cases: the hooks that write JSON act only then.
active_key = pytest.StashKey[bool]()
_defaults_key = pytest.StashKey[argparse.Namespace]()
#: Each pytest run's parser, to read option defaults from (pytest_addoption gets the parser,
#: pytest_configure the config; the plugin manager is what both know).
_parsers: weakref.WeakKeyDictionary[Any, pytest.Parser] = weakref.WeakKeyDictionary()

#: pytest-benchmark options that ``benchmark.pedantic`` ignores, so they cannot shape the
#: rounds whisperbench runs: option dest -> (flag, what to do instead; ``{value}`` is filled).
FOREIGN_ROUND_OPTIONS: dict[str, tuple[str, str]] = {
    "benchmark_min_rounds": ("--benchmark-min-rounds", "use --whisper-rounds {value}"),
    "benchmark_max_time": (
        "--benchmark-max-time",
        "rounds are counted, not timed: use --whisper-rounds N (and --whisper-min-window "
        "SECONDS for the shortest energy window)",
    ),
    "benchmark_min_time": (
        "--benchmark-min-time",
        "a round is one generate over the batch, never repeated to fill a time: use "
        "--whisper-rounds N",
    ),
    "benchmark_warmup": ("--benchmark-warmup", "use --whisper-warmup-rounds N"),
    "benchmark_warmup_iterations": (
        "--benchmark-warmup-iterations",
        "use --whisper-warmup-rounds N",
    ),
    "benchmark_calibration_precision": (
        "--benchmark-calibration-precision",
        "rounds are not calibrated (one generate over the batch each): leave it out",
    ),
}
#: Undoes the SIGTERM handler at unconfigure.
_signals_key = pytest.StashKey[contextlib.ExitStack]()
#: The SIGTERMs received (the handler appends to it).
_sigterms_key = pytest.StashKey[list[int]]()
_session_key = pytest.StashKey[pytest.Session]()
#: The cases that ran, for the terminal summary (``whisperbench.report.summary.CaseResult``).
summary_key = pytest.StashKey[list[Any]]()

#: The matrix's parameter names, as they appear in pytest-benchmark's ``params``.
CASE_PARAMS = (
    "whisper_model_id",
    "whisper_dtype",
    "whisper_audio_s",
    "whisper_batch_size",
    "whisper_engine",
    "whisper_kv_cache",
    "whisper_compile",
)


def case_params(case: RunOptions) -> dict[str, Any]:
    """The case's ``params`` as pytest-benchmark's JSON holds them (:data:`CASE_PARAMS`)."""
    values = (
        case.model,
        case.dtype,
        case.audio_duration_s,
        case.batch_size,
        case.engine,
        case.kv_cache,
        case.torch_compile,
    )
    return dict(zip(CASE_PARAMS, values, strict=True))


def case_id(case: RunOptions) -> str:
    """The test id of a case: ``tiny.en-float32-5s-b1``, then what differs from the default
    engine and settings: ``-ctranslate2``, ``-static``, ``-compiled``."""
    parts = [f"{case.model}-{case.dtype}-{case.audio_duration_s:g}s-b{case.batch_size}"]
    if case.engine != "transformers":
        parts.append(case.engine)
    if case.kv_cache != "dynamic":
        parts.append(case.kv_cache)
    if case.torch_compile == "on":
        parts.append("compiled")
    return "-".join(parts)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("whisperbench", "whisperbench: what to measure")
    add_run_options(group.addoption, prefix=SUITE_PREFIX, matrix=True)
    _parsers[pluginmanager] = parser


def pytest_configure(config: pytest.Config) -> None:
    """Read the matrix (nothing is imported or checked until cases are collected)."""
    config.stash[matrix_key] = Matrix.from_parsed(config.getoption)
    parser = _parsers.get(config.pluginmanager)
    if parser is not None:
        config.stash[_defaults_key] = parser.parse_known_args([])


def _cases(
    config: pytest.Config,
) -> tuple[list[RunOptions], list[tuple[str, str]], list[tuple[str, str]]]:
    """The matrix's cases split into those that run, those left out (a setting the engine
    does not have) and those this machine cannot run; computed once, when collection first
    meets a whisperbench test (a session without one imports nothing heavy)."""
    found = config.stash.get(cases_key, None)
    if found is not None:
        return found
    from whisperbench.models.precision import NotApplicable
    from whisperbench.session import check_options

    kept: list[RunOptions] = []
    left_out: list[tuple[str, str]] = []
    refused: list[tuple[str, str]] = []
    for case in config.stash[matrix_key].cases():
        try:
            check_options(case)
        except NotApplicable as reason:
            left_out.append((case_id(case), str(reason)))
            continue
        except ValueError as error:  # PrecisionError is a ValueError
            refused.append((case_id(case), str(error)))
            continue
        kept.append(case)
    config.stash[cases_key] = (kept, left_out, refused)
    return kept, left_out, refused


def pytest_collection_finish(session: pytest.Session) -> None:
    """Check the collected whisperbench cases before any runs.

    Raises:
        pytest.UsageError: a pytest-benchmark round option that cannot apply, a case this
            machine cannot run (a dtype the device cannot run, an English-only model given a
            language...), or a matrix of which no case can run.
    """
    config = session.config
    if not any("whisper_case" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    refused_options = foreign_round_options(config)
    if refused_options:
        raise pytest.UsageError(
            "whisperbench: whisperbench runs the rounds of its benchmarks itself, so "
            "pytest-benchmark's round options cannot apply to them:\n  "
            + "\n  ".join(refused_options)
        )
    kept, left_out, refused = _cases(config)
    if refused:
        name, error = refused[0]
        raise pytest.UsageError(f"whisperbench: case {name}: {error}")
    if not kept:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in left_out)
        raise pytest.UsageError(f"whisperbench: no case of the matrix can run ({reasons})")
    import transformers

    # Whisper's generate warns on every call about settings it sets itself; keep the
    # benchmark output readable (errors still show).
    transformers.logging.set_verbosity_error()
    config.stash[results_key] = {}
    config.stash[active_key] = True
    signals = contextlib.ExitStack()
    # SIGTERM -> KeyboardInterrupt, like Ctrl-C (only in sessions that measure)
    config.stash[_sigterms_key] = signals.enter_context(interrupts_raised())
    config.stash[_signals_key] = signals


def foreign_round_options(config: pytest.Config) -> list[str]:
    """pytest-benchmark round options given a value other than their default, each as
    ``--flag=value: what to use instead`` (empty without pytest-benchmark)."""
    defaults = config.stash.get(_defaults_key, None)
    if defaults is None:
        return []
    refused = []
    for dest, (flag, instead) in FOREIGN_ROUND_OPTIONS.items():
        try:
            value = config.getoption(dest)
        except ValueError:  # pytest-benchmark not loaded (-p no:benchmark)
            continue
        if value != getattr(defaults, dest, value):
            refused.append(f"{flag}={value}: {instead.format(value=value)}")
    return refused


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    """Name the combinations the matrix left out, and why (nothing leaves quietly)."""
    if cases_key not in config.stash:
        return []
    _, left_out, _ = config.stash[cases_key]
    by_reason: dict[str, list[str]] = {}
    for name, reason in left_out:
        by_reason.setdefault(reason, []).append(name)
    return [
        f"whisperbench: left out {', '.join(names)}: {reason}"
        for reason, names in by_reason.items()
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the matrix on plain values (so the JSON's ``params`` are readable)."""
    if "whisper_case" in metafunc.fixturenames:
        cases, _, _ = _cases(metafunc.config)
        metafunc.parametrize(
            CASE_PARAMS,
            [tuple(case_params(c).values()) for c in cases],
            ids=[case_id(case) for case in cases],
        )


@pytest.fixture
def whisper_case(
    pytestconfig: pytest.Config,
    whisper_model_id: str,
    whisper_dtype: str,
    whisper_audio_s: float,
    whisper_batch_size: int,
    whisper_engine: str,
    whisper_kv_cache: str,
    whisper_compile: str,
) -> RunOptions:
    """The options of the matrix cell this test runs."""
    return pytestconfig.stash[matrix_key].base.with_values(
        model=whisper_model_id,
        dtype=whisper_dtype,
        audio_duration_s=whisper_audio_s,
        batch_size=whisper_batch_size,
        engine=whisper_engine,
        kv_cache=whisper_kv_cache,
        torch_compile=whisper_compile,
    )


@pytest.fixture
def whisper_record(request: pytest.FixtureRequest) -> Callable[[dict[str, Any]], None]:
    """``whisper_record(extra_info)``: keep a cell's result for the comparison of engines and
    settings after the run (the terminal table, the JSON's agreement fields)."""
    results = request.config.stash[results_key]

    def record(extra_info: dict[str, Any]) -> None:
        results[request.node.nodeid] = extra_info

    return record


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(
    config: pytest.Config, machine_info: dict[str, Any]
) -> None:
    """Add host, software and GPU facts (``machine_info["whisperbench"]``)."""
    if not config.stash.get(active_key, False):
        return
    from whisperbench import schema
    from whisperbench.meters.device_state import machine_info as whisper_machine_info

    machine_info[schema.WHISPERBENCH] = whisper_machine_info()


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: list[Any], output_json: dict[str, Any]
) -> None:
    """Record the schema version and options of the run beside pytest-benchmark's own, and
    make each whisperbench benchmark's ``options`` say how its rounds were run."""
    if not config.stash.get(active_key, False):
        return
    from whisperbench import schema
    from whisperbench.report.agreement import agreement_fields, compare_cells

    matrix = config.stash[matrix_key]
    output_json[schema.WHISPERBENCH] = {
        schema.SCHEMA_VERSION_FIELD: schema.SCHEMA_VERSION,
        schema.OPTIONS: matrix.record(),
    }
    interrupted_by = _interrupted_by(config)
    if interrupted_by is not None:  # only the cases that finished are in the file
        output_json[schema.WHISPERBENCH][schema.INTERRUPTED] = True
        output_json[schema.WHISPERBENCH][schema.INTERRUPTED_BY] = interrupted_by
    for bench in output_json.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        if info.get(schema.SCHEMA_VERSION_FIELD) is None or schema.WARMUP_ROUNDS not in info:
            continue  # not measured through a whisperbench session
        bench["options"] = truthful_round_options(
            bench.get("options") or {}, rounds=matrix.base.rounds, warmup=info[schema.WARMUP_ROUNDS]
        )

    written = output_json.get("benchmarks") or []
    cells = [(str(b.get("fullname")), b.get("extra_info") or {}) for b in written]
    agreements = compare_cells(cells)
    for bench in written:
        found = agreements.get(str(bench.get("fullname")))
        if found is not None:
            bench.setdefault("extra_info", {}).update(agreement_fields(found))


def truthful_round_options(options: dict[str, Any], *, rounds: int, warmup: int) -> dict[str, Any]:
    """pytest-benchmark's per-benchmark ``options`` as they applied to whisperbench's rounds.

    pytest-benchmark fills them from its own command line, which ``benchmark.pedantic``
    ignores: ``min_rounds`` becomes the rounds asked for (``--whisper-rounds``; a minimum,
    since rounds are added to fill ``--whisper-min-window``), ``warmup`` the warm-up rounds
    run, and the time limits, which did not apply, ``None``. ``timer`` and ``disable_gc``
    did apply and stay.
    """
    return {**options, "min_rounds": rounds, "max_time": None, "min_time": None, "warmup": warmup}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each case's outcome and ``extra_info`` for the terminal summary."""
    report = yield
    in_matrix = "whisper_case" in getattr(item, "fixturenames", ())
    if in_matrix and (call.when == "call" or (call.when == "setup" and report.failed)):
        from whisperbench.report.summary import CaseResult

        fixture = getattr(item, "funcargs", {}).get("benchmark")
        extra_info = getattr(fixture, "extra_info", None) or {}
        callspec = getattr(item, "callspec", None)
        case = callspec.id if callspec is not None else item.name
        results = item.config.stash.setdefault(summary_key, [])
        results.append(CaseResult(case, bool(report.passed), dict(extra_info)))
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The headline figures of every case, one table (RTF, s/token, WER, J per audio s, peak
    memory, flags); then cells that did the same work on other engines or settings."""
    cases = config.stash.get(summary_key, [])
    if cases:
        from whisperbench.report.summary import summary_lines

        terminalreporter.section("whisperbench results", sep="-", bold=True)
        for line in summary_lines(cases):
            terminalreporter.write_line(line)
    if results_key not in config.stash:
        return
    from whisperbench.report.agreement import render_table

    lines = render_table(list(config.stash[results_key].items()))
    if lines:
        terminalreporter.section("whisperbench: engines and settings on the same work")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    signals = config.stash.get(_signals_key, None)
    if signals is not None:
        signals.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """An interrupted case is no finished case: keep it out of pytest-benchmark's JSON (which
    leaves out benchmarks marked ``has_error``; its partial rounds would read as a result)."""
    try:
        return (yield)
    except KeyboardInterrupt:
        fixture = getattr(item, "funcargs", {}).get("benchmark")
        if fixture is not None:
            fixture.has_error = True
        raise


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_session_key] = session


def _interrupted_by(config: pytest.Config) -> str | None:
    """``"SIGINT"`` / ``"SIGTERM"`` when the session was interrupted, else None."""
    session = config.stash.get(_session_key, None)
    if session is None or session.exitstatus != pytest.ExitCode.INTERRUPTED:
        return None
    return "SIGTERM" if config.stash.get(_sigterms_key, []) else "SIGINT"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A session stopped by SIGTERM exits 143, as a process ended by it would (pytest says 2,
    "interrupted", for Ctrl-C)."""
    if _interrupted_by(session.config) == "SIGTERM":
        session.exitstatus = exit_code(signal.SIGTERM)
