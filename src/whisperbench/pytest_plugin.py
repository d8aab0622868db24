"""The pytest plugin: ``--whisper-*`` options, the benchmark matrix, machine info.

Loaded by the root ``conftest.py``. The options are :class:`whisperbench.options.RunOptions`
in their ``--whisper-`` form (:func:`whisperbench.options.add_run_options`): each has an
argparse type, so a typo is a usage error when pytest parses the command line, and every
case of the matrix is checked against this machine (:func:`whisperbench.session.check_options`)
when pytest configures, before any model loads. The matrix (model x dtype x audio seconds x
batch size) is parametrized on any test that takes the ``whisper_case`` argument,
model-major, so each model/dtype pair is loaded once and kept only while its cases run.
At the end, the terminal summary shows each case's headline figures
(:mod:`whisperbench.report.summary`), so nobody has to open the JSON to read them.
"""

from __future__ import annotations

from typing import Any

import pytest

from whisperbench.options import SUITE_PREFIX, Matrix, RunOptions, add_run_options

__all__ = ["CASE_PARAMS", "case_id", "matrix_key", "summary_key", "whisper_case"]

matrix_key = pytest.StashKey[Matrix]()
#: The cases that ran, for the terminal summary (``whisperbench.report.summary.CaseResult``).
summary_key = pytest.StashKey[list[Any]]()

#: The matrix's parameter names, as they appear in pytest-benchmark's ``params``.
CASE_PARAMS = ("whisper_model_id", "whisper_dtype", "whisper_audio_s", "whisper_batch_size")


def case_id(case: RunOptions) -> str:
    """The test id of a case: ``tiny.en-float32-5s-b1``."""
    return f"{case.model}-{case.dtype}-{case.audio_duration_s:g}s-b{case.batch_size}"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("whisperbench", "whisperbench: what to measure")
    add_run_options(group.addoption, prefix=SUITE_PREFIX, matrix=True)


def pytest_configure(config: pytest.Config) -> None:
    import transformers

    from whisperbench.session import check_options

    # Whisper's generate warns on every call about settings it sets itself; keep the
    # benchmark output readable (errors still show).
    transformers.logging.set_verbosity_error()
    matrix = Matrix.from_parsed(config.getoption)
    for case in matrix.cases():
        try:
            check_options(case)
        except ValueError as error:  # PrecisionError is a ValueError
            raise pytest.UsageError(f"whisperbench: case {case_id(case)}: {error}") from None
    config.stash[matrix_key] = matrix


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the matrix on plain values (so the JSON's ``params`` are readable)."""
    if "whisper_case" in metafunc.fixturenames:
        cases = metafunc.config.stash[matrix_key].cases()
        metafunc.parametrize(
            CASE_PARAMS,
            [(c.model, c.dtype, c.audio_duration_s, c.batch_size) for c in cases],
            ids=[case_id(case) for case in cases],
        )


@pytest.fixture
def whisper_case(
    pytestconfig: pytest.Config,
    whisper_model_id: str,
    whisper_dtype: str,
    whisper_audio_s: float,
    whisper_batch_size: int,
) -> RunOptions:
    """The options of the matrix cell this test runs."""
    return pytestconfig.stash[matrix_key].base.with_values(
        model=whisper_model_id,
        dtype=whisper_dtype,
        audio_duration_s=whisper_audio_s,
        batch_size=whisper_batch_size,
    )


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

    output_json[schema.WHISPERBENCH] = {
        schema.SCHEMA_VERSION_FIELD: schema.SCHEMA_VERSION,
        schema.OPTIONS: config.stash[matrix_key].record(),
    }


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
    """The headline figures of every case, one table (RTF, s/token, WER, J per audio s,
    peak memory, flags)."""
    cases = config.stash.get(summary_key, [])
    if not cases:
        return
    from whisperbench.report.summary import summary_lines

    terminalreporter.section("whisperbench results", sep="-", bold=True)
    for line in summary_lines(cases):
        terminalreporter.write_line(line)
