"""A benchmark file of your own, with whisperbench's fixtures and ``--whisper-*`` options.

With whisperbench installed (``pip install .`` in this repository: its pytest plugin registers
itself through an entry point), copy this file anywhere and run, for example::

    pytest test_my_benchmark.py --whisper-models tiny.en --whisper-durations 5 \\
        --benchmark-json=mine.json

``whisper_case`` is one cell of the ``--whisper-*`` matrix (model x dtype x audio seconds x
batch size), ``whisper_session(case)`` an open session for it (model loaded once per
model/dtype, meters ready), ``whisper_clips(case)`` its deterministic synthetic speech.
whisperbench runs the measured rounds (``--whisper-rounds``) and hands each to
pytest-benchmark's ``pedantic`` mode; ``extra_info`` gets every figure (RTF, phases, memory,
energy, WER). .ci/run runs this file from an empty folder in a fresh virtual environment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def test_my_transcription(
    benchmark: Any,
    whisper_case: Any,
    whisper_session: Callable[[Any], Any],
    whisper_clips: Callable[[Any], Any],
) -> None:
    session = whisper_session(whisper_case)

    def run_rounds(target: Callable[[], Any], rounds: int) -> None:
        benchmark.pedantic(target, rounds=rounds, iterations=1, warmup_rounds=0)

    result = session.measure(whisper_clips(whisper_case), run_rounds=run_rounds)
    benchmark.extra_info.update(result.to_extra_info())
    assert result.transcripts[0], "the model heard nothing"
