"""The pytest plugin: ``--whisper-*`` options, the benchmark matrix, machine info.

Loaded by the root ``conftest.py``. The options are :class:`whisperbench.options.RunOptions`
in their ``--whisper-`` form (:func:`whisperbench.options.add_run_options`): each has an
argparse type, so a typo is a usage error when pytest parses the command line, and every
case of the matrix is checked against this machine (:func:`whisperbench.session.check_options`)
when pytest configures, before any model loads. The matrix (model x dtype x audio seconds x
batch size) is parametrized on any test that takes the ``whisper_case`` argument,
model-major, so each model/dtype pair is loaded once and kept only while its cases run.

Interrupts keep what finished. On Ctrl-C pytest stops and pytest-benchmark still writes its
JSON (in ``pytest_sessionfinish``); SIGTERM (SLURM's time limit) is made to do the same (it
raises :class:`whisperbench.interrupts.Interrupted`, a ``KeyboardInterrupt``), and then exits
143. The case that was running is left out of the JSON (its rounds did not finish), and the
run's ``whisperbench`` block says ``"interrupted": true``.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Generator
from typing import Any

import pytest

from whisperbench.interrupts import exit_code, interrupts_raised
from whisperbench.options import SUITE_PREFIX, Matrix, RunOptions, add_run_options

__all__ = ["CASE_PARAMS", "case_id", "matrix_key", "whisper_case"]

matrix_key = pytest.StashKey[Matrix]()
#: Undoes the SIGTERM handler at unconfigure.
_signals_key = pytest.StashKey[contextlib.ExitStack]()
#: The SIGTERMs received (the handler appends to it).
_sigterms_key = pytest.StashKey[list[int]]()
_session_key = pytest.StashKey[pytest.Session]()

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
    signals = contextlib.ExitStack()
    # SIGTERM -> KeyboardInterrupt, like Ctrl-C
    config.stash[_sigterms_key] = signals.enter_context(interrupts_raised())
    config.stash[_signals_key] = signals


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
    interrupted_by = _interrupted_by(config)
    if interrupted_by is not None:  # only the cases that finished are in the file
        output_json[schema.WHISPERBENCH][schema.INTERRUPTED] = True
        output_json[schema.WHISPERBENCH][schema.INTERRUPTED_BY] = interrupted_by
