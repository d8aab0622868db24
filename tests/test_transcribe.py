"""The measured pipeline on the real tiny.en model: phases, tokens, fixed work, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from whisperbench.audio import synthetic
from whisperbench.engines import EngineSettings
from whisperbench.engines.transformers_engine import TransformersEngine
from whisperbench.measure import MeasureSettings, measure
from whisperbench.models.loading import LoadedModel
from whisperbench.rounds import Round
from whisperbench.transcribe import DecodeSettings, Transcriber

RATE = 16_000


def tone(seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_phases_add_up_to_the_wall_time(tiny_en: LoadedModel) -> None:
    with Transcriber(tiny_en) as transcriber:
        result = transcriber([tone(2.0)])
    times = result.times
    phases = times.features_s + times.encoder_s + times.decoder_s + times.detokenize_s
    assert all(value > 0 for value in (times.features_s, times.encoder_s, times.decoder_s)), times
    assert phases == pytest.approx(times.inference_s, rel=1e-6, abs=1e-6)
    assert result.audio_s == 2.0
    assert result.decoder_steps == result.tokens >= 1  # batch 1: one step per token


def test_fixed_work_decodes_exactly_n_tokens_per_clip(tiny_en: LoadedModel) -> None:
    with Transcriber(tiny_en, DecodeSettings(fixed_tokens=12)) as transcriber:
        result = transcriber([tone(1.0), tone(3.0, hz=880.0)])
    assert result.tokens_per_clip == [12, 12]
    assert result.decoder_steps == 12
    assert result.s_per_token == pytest.approx(result.times.decoder_s / 12)


def test_encoder_hook_is_removed_on_close(tiny_en: LoadedModel) -> None:
    encoder = tiny_en.model.model.encoder
    before = len(encoder._forward_hooks) + len(encoder._forward_pre_hooks)
    with Transcriber(tiny_en):
        assert len(encoder._forward_hooks) + len(encoder._forward_pre_hooks) == before + 2
    assert len(encoder._forward_hooks) + len(encoder._forward_pre_hooks) == before


def test_round_sums_its_batches(tiny_en: LoadedModel) -> None:
    with Transcriber(tiny_en, DecodeSettings(fixed_tokens=4)) as transcriber:
        first, second = transcriber([tone(1.0)]), transcriber([tone(2.0), tone(1.5)])
    round_ = Round((first, second))
    assert round_.audio_s == 4.5
    assert round_.tokens == 12
    assert round_.tokens_per_clip == [4, 4, 4]
    assert round_.times.inference_s == first.times.inference_s + second.times.inference_s
    assert len(round_.texts) == 3


@pytest.mark.parametrize(
    ("batch", "message"),
    [([], "batch is empty"), ([np.zeros(0, np.float32)], "non-empty 1-D"),
     ([np.zeros((2, 100), np.float32)], "non-empty 1-D")],
)  # fmt: skip
def test_bad_batches_are_refused(tiny_en: LoadedModel, batch: list, message: str) -> None:
    with Transcriber(tiny_en) as transcriber, pytest.raises(ValueError, match=message):
        transcriber(batch)


def test_english_only_model_refuses_a_language(tiny_en: LoadedModel) -> None:
    with pytest.raises(ValueError, match=r"English-only.*use a multilingual model such as tiny"):
        Transcriber(tiny_en, DecodeSettings(language="fr"))


@pytest.mark.parametrize("n", [0, 445])
def test_fixed_tokens_must_fit_the_decoder(n: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 444"):
        DecodeSettings(fixed_tokens=n)


def test_word_timestamps_are_ordered_and_inside_the_clip(tiny_en: LoadedModel) -> None:
    from whisperbench.audio import synthetic

    clip = synthetic.speech("short", 6.0)
    with Transcriber(tiny_en, DecodeSettings(word_timestamps=True)) as transcriber:
        result = transcriber([clip.samples])
    (words,) = result.words
    spoken = [w["word"].strip(".,").lower() for w in words]
    assert spoken[:4] == ["good", "morning", "the", "sun"]
    starts = [w["start_s"] for w in words]
    assert starts == sorted(starts)
    for word in words:
        assert 0 <= word["start_s"] <= word["end_s"] <= 30.0
    assert words[-1]["end_s"] <= clip.duration_s + 1.0


def test_word_times_are_on_whispers_20_ms_grid(tiny_en: LoadedModel) -> None:
    """Written as precisely as Whisper resolves them: multiples of 0.02 s, two decimals
    (0.24, not the float32 0.23999999463558197), the clip's end included."""
    from whisperbench.audio import synthetic
    from whisperbench.transcribe import WORD_TIME_STEP_S

    clip = synthetic.speech("short", 5.37)  # an end that is off the grid
    with Transcriber(tiny_en, DecodeSettings(word_timestamps=True)) as transcriber:
        result = transcriber([clip.samples])
    times = [t for word in result.words[0] for t in (word["start_s"], word["end_s"])]
    assert len(times) > 4
    for t in times:
        assert t == round(t, 2)
        assert abs(t / WORD_TIME_STEP_S - round(t / WORD_TIME_STEP_S)) < 1e-9, t
        assert len(repr(t).partition(".")[2]) <= 2, repr(t)  # as the JSON will write it


@pytest.mark.slow
def test_long_form_audio_is_transcribed_sequentially_in_full(tiny_en: LoadedModel) -> None:
    from whisperbench.audio import synthetic
    from whisperbench.metrics import wer

    clip = synthetic.speech("long", 50.0)
    with Transcriber(tiny_en, DecodeSettings(word_timestamps=True)) as transcriber:
        result = transcriber([clip.samples])
    assert result.audio_s == 50.0
    assert result.decoder_steps > 60
    assert result.times.encoder_s > 0
    # More than one 30 s window was decoded: the text covers the end of the reference too.
    assert clip.reference is not None
    assert wer([clip.reference], result.texts) < 0.35
    assert max(w["end_s"] for w in result.words[0]) > 30.0
    assert all(w["start_s"] == round(w["start_s"], 2) for w in result.words[0])  # 20 ms grid


@pytest.mark.parametrize("word_timestamps", [False, True])
def test_token_counts_agree_between_tensor_and_dict_outputs(
    tiny_en: LoadedModel, word_timestamps: bool
) -> None:
    """Both output paths count end-of-text as a token and padding as none."""
    from whisperbench.audio import synthetic

    batch = [synthetic.speech("short", 2.0).samples, synthetic.speech("short", 6.0).samples]
    with Transcriber(tiny_en, DecodeSettings(word_timestamps=word_timestamps)) as transcriber:
        result = transcriber(batch)
    ids = tiny_en.processor.tokenizer(result.texts[0], add_special_tokens=False).input_ids
    assert result.tokens_per_clip[0] < result.tokens_per_clip[1] == result.decoder_steps
    # its words, then end-of-text; with timestamps also a start and an end timestamp token
    expected = len(ids) + 1 + (2 if word_timestamps else 0)
    assert result.tokens_per_clip[0] == expected


def test_clips_over_30_s_are_batched_apart_from_short_ones(tiny_en: LoadedModel) -> None:
    """A 3 s tone batched with 35 s of speech was decoded long-form with it: 223 x "beep"."""
    short, long = synthetic.tone(3.0), synthetic.speech("long", 35.0)
    settings = MeasureSettings(rounds=1, warmup_rounds=0)
    engine = TransformersEngine(tiny_en, DecodeSettings(word_timestamps=True), EngineSettings())
    try:
        result = measure(engine, [short, long], settings, batch_size=2)
        alone = measure(engine, [short], settings)
    finally:
        engine.close()
    assert result.transcripts[0] == alone.transcripts[0]  # as if it had been on its own
    assert len(result.transcripts[0].split()) < 10, result.transcripts[0]
    assert "expedition" in result.transcripts[1]
    words = [entry["words"] for entry in _seed_entries(result)]
    for clip, clip_words in zip((short, long), words, strict=True):
        for word in clip_words:
            assert 0.0 <= word["start_s"] <= word["end_s"] <= clip.duration_s, word
    assert result.batches == ((0,), (1,))


def _seed_entries(result: Any) -> list[dict[str, Any]]:
    """Per clip, in clip order, its words as the app's JSON lists them."""
    from whisperbench.app.record import per_clip_times, seed_record

    times = per_clip_times(result)
    return [
        {"words": entry.get("words", [])}
        for entry in seed_record(result, per_clip_times=times)["transcriptions"]
    ]
