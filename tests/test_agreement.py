"""Same work, compared output: which cells are compared, against which reference, and the
figures (time ratio, agreement WER) they get."""

from __future__ import annotations

from typing import Any

import pytest

from whisperbench import metrics, schema
from whisperbench.report.agreement import (
    agreement_fields,
    compare_cells,
    engine_label,
    render_table,
    setting_label,
)


def _cell(engine: str, dtype: str, rtf: float, texts: list[str], **extra: Any) -> dict[str, Any]:
    settings = {schema.KV_CACHE: extra.pop("kv", "dynamic"),
                schema.TORCH_COMPILE: extra.pop("compile", "off")}  # fmt: skip
    info = {
        schema.SCHEMA_VERSION_FIELD: schema.SCHEMA_VERSION,
        schema.MODEL: "tiny.en",
        schema.WEIGHTS_SHA256: "w" * 64,
        schema.AUDIO_SHA256: "a" * 64,
        schema.AUDIO_S: 10.0,
        schema.BATCH_SIZE: 1,
        schema.DEVICE: "cpu",
        schema.DECODING: {schema.FIXED_TOKENS: None},
        schema.ENGINE: engine,
        schema.ENGINE_SETTINGS: settings if engine == "transformers" else {},
        schema.ATTN_IMPLEMENTATION: "sdpa" if engine == "transformers" else "ctranslate2",
        schema.DTYPE: dtype,
        schema.RTF: rtf,
        schema.TRANSCRIPTS: texts,
    }
    info.update(extra)
    return info


SAID = "the cat is sleeping on the chair"


def test_each_cell_is_compared_with_ctranslate2_int8() -> None:
    cells = [
        ("fp32", _cell("transformers", "float32", 0.10, [SAID])),
        ("int8", _cell("transformers", "int8", 0.06, ["the cat is sleeping on a chair"])),
        ("compiled", _cell("transformers", "float32", 0.08, [SAID], kv="static", compile="on")),
        ("ct2", _cell("ctranslate2", "int8", 0.04, [SAID])),
    ]
    found = compare_cells(cells)
    assert {a.reference_label for a in found.values()} == {"ctranslate2 int8"}
    assert found["fp32"].time_ratio == pytest.approx(2.5)
    assert found["compiled"].time_ratio == pytest.approx(2.0)
    assert found["compiled"].label == "transformers float32 static+compile"
    assert found["ct2"].time_ratio == 1.0
    assert found["fp32"].agreement_wer == 0.0
    # one word of seven differs: the speed-up changed the words, and says so
    assert found["int8"].agreement_wer == pytest.approx(1 / 7)
    assert agreement_fields(found["int8"]) == {
        schema.AGREEMENT_WITH: "ctranslate2 int8",
        schema.AGREEMENT_WER: pytest.approx(1 / 7),
        schema.TIME_RATIO: pytest.approx(1.5),
    }


def test_without_ctranslate2_the_reference_is_transformers_float32() -> None:
    cells = [
        ("int8", _cell("transformers", "int8", 0.05, [SAID])),
        ("fp32", _cell("transformers", "float32", 0.10, [SAID])),
    ]
    found = compare_cells(cells)
    assert found["int8"].reference_key == "fp32"
    assert found["int8"].time_ratio == pytest.approx(0.5)


def test_only_the_same_work_is_compared() -> None:
    other_audio = _cell("ctranslate2", "int8", 0.04, [SAID], **{schema.AUDIO_SHA256: "b" * 64})
    other_decoding = _cell("ctranslate2", "int8", 0.04, [SAID],
                           **{schema.DECODING: {schema.FIXED_TOKENS: 32}})  # fmt: skip
    cells = [
        ("fp32", _cell("transformers", "float32", 0.10, [SAID])),
        ("ct2-other-audio", other_audio),
        ("ct2-fixed", other_decoding),
        ("plain", {"some": "pytest-benchmark benchmark"}),
    ]
    assert compare_cells(cells) == {}  # no group holds two settings
    assert render_table(cells) == []


def test_the_table_lists_each_cell_with_its_ratio_and_agreement() -> None:
    cells = [
        ("fp32", _cell("transformers", "float32", 0.10, [SAID])),
        ("ct2", _cell("ctranslate2", "int8", 0.04, [SAID])),
    ]
    lines = render_table(cells)
    assert lines[0].startswith("| model | audio s | engine, dtype, settings |")
    assert len(lines) == 4
    assert lines[2].split("|")[3].strip() == "ctranslate2 int8"  # fastest first
    assert "| 2.50 | 0.000 | ctranslate2 int8 |" in lines[3]


def test_labels_of_runs_written_before_engines_were_recorded() -> None:
    old = {schema.DTYPE: "float16", schema.ATTN_IMPLEMENTATION: "eager"}
    assert engine_label(old) == "transformers eager"
    assert setting_label(old) == "transformers float16 eager"


def test_wer_uses_whispers_spelling_table_as_the_leaderboard_does() -> None:
    said = metrics.normalize_text("The Colour of the Organisation")
    assert said == "the color of the organization"
    assert metrics.wer(["we analysed the colour"], ["we analyzed the color"]) == 0.0
    assert len(metrics.english_spelling()) > 1000
