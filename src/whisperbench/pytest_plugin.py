"""The pytest plugin: ``--whisper-*`` options, the benchmark matrix, machine info.

Loaded by the root ``conftest.py``. The options are :class:`whisperbench.options.RunOptions`
in their ``--whisper-`` form (:func:`whisperbench.options.add_run_options`): each has an
argparse type, so a typo is a usage error when pytest parses the command line, and every
case of the matrix is checked against this machine (:func:`whisperbench.session.check_options`)
when pytest configures, before any model loads. The matrix (model x dtype x audio seconds x
batch size x engine x KV cache x compile) is parametrized on any test that takes the
``whisper_case`` argument, model-major, so each loaded model is loaded once and kept only
while its cases run. A combination an engine does not have (a KV cache for CTranslate2, a
CTranslate2 compute type for transformers, compile without the static cache) is left out of
the matrix and listed in the report header; everything else that cannot run is a usage error.

Cells that did the same work on different engines or settings are compared after the run
(:mod:`whisperbench.report.engines`): each gets its time ratio and transcript agreement
against a reference cell, written into the JSON's ``extra_info`` and printed as a table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from whisperbench.options import SUITE_PREFIX, Matrix, RunOptions, add_run_options

__all__ = ["CASE_PARAMS", "case_id", "cases_key", "matrix_key", "whisper_case"]

matrix_key = pytest.StashKey[Matrix]()
#: The cases that run, and the combinations left out with the reason.
cases_key = pytest.StashKey[tuple[list[RunOptions], list[tuple[str, str]]]]()
#: Each benchmark's extra_info by test node id, for the comparison after the run.
results_key = pytest.StashKey[dict[str, dict[str, Any]]]()

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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("whisperbench", "whisperbench: what to measure")
    add_run_options(group.addoption, prefix=SUITE_PREFIX, matrix=True)


def pytest_configure(config: pytest.Config) -> None:
    import transformers

    from whisperbench.models.precision import NotApplicable
    from whisperbench.session import check_options

    # Whisper's generate warns on every call about settings it sets itself; keep the
    # benchmark output readable (errors still show).
    transformers.logging.set_verbosity_error()
    matrix = Matrix.from_parsed(config.getoption)
    kept: list[RunOptions] = []
    left_out: list[tuple[str, str]] = []
    for case in matrix.cases():
        try:
            check_options(case)
        except NotApplicable as reason:
            left_out.append((case_id(case), str(reason)))
            continue
        except ValueError as error:  # PrecisionError is a ValueError
            raise pytest.UsageError(f"whisperbench: case {case_id(case)}: {error}") from None
        kept.append(case)
    if not kept:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in left_out)
        raise pytest.UsageError(f"whisperbench: no case of the matrix can run ({reasons})")
    config.stash[matrix_key] = matrix
    config.stash[cases_key] = (kept, left_out)
    config.stash[results_key] = {}


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Name the combinations the matrix left out, and why (nothing leaves quietly)."""
    if cases_key not in config.stash:
        return []
    _, left_out = config.stash[cases_key]
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
        cases, _ = metafunc.config.stash[cases_key]
        metafunc.parametrize(
            CASE_PARAMS,
            [
                (
                    c.model,
                    c.dtype,
                    c.audio_duration_s,
                    c.batch_size,
                    c.engine,
                    c.kv_cache,
                    c.torch_compile,
                )
                for c in cases
            ],
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


def pytest_benchmark_update_machine_info(
    config: pytest.Config, machine_info: dict[str, Any]
) -> None:
    """Add host, software and GPU facts (``machine_info["whisperbench"]``)."""
    from whisperbench import schema
    from whisperbench.meters.device_state import machine_info as whisper_machine_info

    machine_info[schema.WHISPERBENCH] = whisper_machine_info()


def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: list[Any], output_json: dict[str, Any]
) -> None:
    """Record the schema version and options of the run beside pytest-benchmark's own."""
    from whisperbench import schema
    from whisperbench.report.agreement import agreement_fields, compare_cells

    output_json[schema.WHISPERBENCH] = {
        schema.SCHEMA_VERSION_FIELD: schema.SCHEMA_VERSION,
        schema.OPTIONS: config.stash[matrix_key].record(),
    }
    written = output_json.get("benchmarks") or []
    cells = [(str(b.get("fullname")), b.get("extra_info") or {}) for b in written]
    agreements = compare_cells(cells)
    for bench in written:
        found = agreements.get(str(bench.get("fullname")))
        if found is not None:
            bench.setdefault("extra_info", {}).update(agreement_fields(found))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Cells that did the same work on other engines or settings: the comparison table."""
    if results_key not in config.stash:
        return
    from whisperbench.report.agreement import render_table

    lines = render_table(list(config.stash[results_key].items()))
    if lines:
        terminalreporter.section("whisperbench: engines and settings on the same work")
        for line in lines:
            terminalreporter.write_line(line)
