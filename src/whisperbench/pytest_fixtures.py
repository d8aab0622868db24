"""The suite's fixtures, shipped with the package and re-exported by the pytest plugin.

A benchmark file of your own takes them like the repository's suite does
(``benchmarks/test_transcribe.py``)::

    def test_mine(benchmark, whisper_case, whisper_session, whisper_clips):
        session = whisper_session(whisper_case)
        result = session.measure(
            whisper_clips(whisper_case),
            run_rounds=lambda target, rounds: benchmark.pedantic(target, rounds=rounds),
        )
        benchmark.extra_info.update(result.to_extra_info())

``whisper_case`` (the options of one cell of the ``--whisper-*`` matrix) is defined by the
plugin, :mod:`whisperbench.pytest_plugin`, beside the hooks that parametrize it.

Nothing heavy is imported here: the plugin is loaded by every pytest run in an environment
where whisperbench is installed, so torch and transformers load only when a fixture is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from whisperbench.audio.clip import Clip
    from whisperbench.options import RunOptions
    from whisperbench.session import Session

__all__ = ["whisper_clips", "whisper_session"]


@pytest.fixture(scope="session")
def whisper_clips() -> Callable[[RunOptions], list[Clip]]:
    """``whisper_clips(case)`` -> the case's clips: ``batch_size`` clips of ``audio`` lasting
    ``audio_duration_s`` seconds each (bit-identical in every process)."""
    from whisperbench.session import synthetic_clips

    return synthetic_clips


@pytest.fixture(scope="session")
def whisper_session() -> Iterator[Callable[[RunOptions], Session]]:
    """``whisper_session(case)`` -> an open :class:`~whisperbench.session.Session` for the case.

    Sessions are reused across cases that differ only in their audio or batch size. Only
    the most recent one is kept (cases run model-major), so a matrix of large models never
    holds two in memory at once; every session is closed (hooks removed, NVML released).
    """
    import transformers

    from whisperbench.session import open_session, session_key

    # Whisper's generate warns on every call about settings it sets itself; keep the
    # benchmark output readable (errors still show).
    transformers.logging.set_verbosity_error()
    current: dict[RunOptions, Session] = {}

    def get(case: RunOptions) -> Session:
        key = session_key(case)
        if key not in current:
            for stale in current.values():
                stale.close()
            current.clear()
            current[key] = open_session(case)
        return current[key]

    yield get
    for session in current.values():
        session.close()
