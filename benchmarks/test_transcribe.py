"""What does transcription cost? One benchmark per model x dtype x audio length x batch size.

pytest-benchmark times each measured round (one ``generate`` over the batch, edges
synchronized); ``extra_info`` carries the phases, RTF, tokens, memory, energy and what ran.
"""

from __future__ import annotations

from collections.abc import Callable

from whisperbench.measure import MeasureSettings, measure
from whisperbench.pytest_plugin import WhisperCase, WhisperOptions
from whisperbench.rounds import Round
from whisperbench.transcribe import DecodeSettings, Transcriber


def test_transcribe(
    benchmark,  # type: ignore[no-untyped-def]
    whisper_case: WhisperCase,
    whisper_options: WhisperOptions,
    whisper_model,  # type: ignore[no-untyped-def]
    whisper_clips,  # type: ignore[no-untyped-def]
    whisper_meters,  # type: ignore[no-untyped-def]
) -> None:
    loaded = whisper_model(whisper_case.model, whisper_case.dtype)
    clips = whisper_clips(whisper_case.audio_s, whisper_case.batch_size)
    settings = MeasureSettings(
        rounds=whisper_options.rounds,
        warmup_rounds=whisper_options.warmup_rounds,
        min_window_s=whisper_options.min_window_s,
    )

    def through_pytest_benchmark(target: Callable[[], Round], rounds: int) -> None:
        benchmark.pedantic(target, rounds=rounds, iterations=1, warmup_rounds=0)

    benchmark.group = f"{whisper_case.model} {loaded.precision.dtype}"
    decode = DecodeSettings(fixed_tokens=whisper_options.fixed_tokens)
    with Transcriber(loaded, decode) as transcriber:
        result = measure(
            transcriber, clips, settings, whisper_meters(loaded), through_pytest_benchmark
        )
    benchmark.extra_info.update(result.to_extra_info())

    # No silent substitution (measurement rule 10): what ran is what was asked.
    if whisper_case.dtype != "auto":
        assert loaded.precision.dtype == whisper_case.dtype
    if whisper_options.fixed_tokens is not None:
        expected = [whisper_options.fixed_tokens] * whisper_case.batch_size
        for measured in result.rounds:
            assert measured.tokens_per_clip == expected, "fixed-work mode decoded other work"
