"""Issue 15, item 11: an end-to-end-only timing mode, for runs where energy matters.

The phase timing hooks synchronize the device around every encoder pass inside ``generate``,
which idles a GPU between launches. In ``end-to-end`` mode no synchronizing hook is
registered; the encoder and decoder seconds are then not measured (null, never a guess),
and the result says which mode ran.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from whisperbench.audio import synthetic
from whisperbench.engines import EngineSettings
from whisperbench.engines.transformers_engine import TransformersEngine
from whisperbench.measure import MeasureSettings, measure
from whisperbench.models.loading import LoadedModel
from whisperbench.options import RunOptions, option_specs
from whisperbench.transcribe import DecodeSettings, Transcriber


def _hooks(loaded: LoadedModel) -> tuple[int, int]:
    encoder = loaded.model.model.encoder
    return len(encoder._forward_pre_hooks), len(encoder._forward_hooks)


def test_end_to_end_mode_registers_no_synchronizing_hook(tiny_en: LoadedModel) -> None:
    before = _hooks(tiny_en)
    with Transcriber(tiny_en, DecodeSettings(fixed_tokens=2), timing="phases"):
        assert _hooks(tiny_en) == (before[0] + 1, before[1] + 1)
    with Transcriber(tiny_en, DecodeSettings(fixed_tokens=2), timing="end-to-end") as t:
        assert _hooks(tiny_en) == before
        done = t([synthetic.tone(1.0).samples])
    assert math.isnan(done.times.encoder_s)
    assert math.isnan(done.times.decoder_s)
    assert done.times.inference_s > 0
    assert done.decoder_steps == 2  # counting decoder passes needs no synchronization


def test_end_to_end_results_say_so_and_leave_phase_seconds_null(tiny_en: LoadedModel) -> None:
    clip: Any = synthetic.tone(1.0)
    decode = DecodeSettings(fixed_tokens=2)
    engine = TransformersEngine(tiny_en, decode, EngineSettings(), timing="end-to-end")
    try:
        info = measure(engine, [clip], MeasureSettings(rounds=2)).to_extra_info()
    finally:
        engine.close()
    assert info["timing_mode"] == "end-to-end"
    assert info["encoder_s"] is None
    assert info["decoder_s"] is None
    assert info["s_per_token"] is None
    assert info["rounds_s_per_token"] == []
    assert info["rtf"] > 0
    json.dumps(info, allow_nan=False)
    engine = TransformersEngine(tiny_en, decode, EngineSettings())
    try:
        phases = measure(engine, [clip], MeasureSettings(rounds=1)).to_extra_info()
    finally:
        engine.close()
    assert phases["timing_mode"] == "phases"
    assert phases["encoder_s"] > 0


def test_timing_is_one_run_option_for_both_front_ends() -> None:
    specs = dict(option_specs())
    assert specs["timing"].flag == "timing"
    assert RunOptions().timing == "phases"
    with pytest.raises(ValueError, match="timing must be one of"):
        Transcriber.__init__(object.__new__(Transcriber), None, timing="sometimes")  # type: ignore[arg-type]
