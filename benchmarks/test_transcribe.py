"""What does transcription cost? One benchmark per model x dtype x audio length x batch size
x engine x KV cache x compile.

pytest-benchmark times each measured round (one ``generate`` over the batch, edges
synchronized); ``extra_info`` carries the phases, RTF, tokens, memory, energy and what ran.
Cells of the same work on other engines or settings are compared after the run (time ratio,
transcript agreement).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from whisperbench.audio import Clip
from whisperbench.measure import through_pedantic
from whisperbench.options import RunOptions
from whisperbench.session import Session


def test_transcribe(
    benchmark,  # type: ignore[no-untyped-def]
    whisper_case: RunOptions,
    whisper_session: Callable[[RunOptions], Session],
    whisper_clips: Callable[[RunOptions], list[Clip]],
    whisper_record: Callable[[dict[str, Any]], None],
) -> None:
    session = whisper_session(whisper_case)

    benchmark.group = f"{whisper_case.model} {session.loaded.precision.dtype}"
    if whisper_case.engine != "transformers":
        benchmark.group += f" {whisper_case.engine}"
    if whisper_case.kv_cache != "dynamic":
        benchmark.group += f" {whisper_case.kv_cache}"
    if whisper_case.torch_compile == "on":
        benchmark.group += " compiled"
    result = session.measure(whisper_clips(whisper_case), run_rounds=through_pedantic(benchmark))
    benchmark.extra_info.update(result.to_extra_info())
    whisper_record(benchmark.extra_info)

    # No silent substitution (measurement rule 10): what ran is what was asked.
    if whisper_case.dtype != "auto":
        assert session.loaded.precision.dtype == whisper_case.dtype
    # Compilation belongs to warm-up; a compilation inside the window would be measured.
    assert result.compile is not None
    assert result.compile.in_window == 0, (
        f"torch.compile compiled {result.compile.in_window} time(s) inside the measured window"
    )
    if whisper_case.fixed_tokens is not None:
        expected = [whisper_case.fixed_tokens] * whisper_case.batch_size
        for measured in result.rounds:
            assert measured.tokens_per_clip == expected, "fixed-work mode decoded other work"
