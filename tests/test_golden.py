"""The golden runs (tests/golden/) keep the layout the suite writes today.

compare and report tests read these files instead of running the suite; they prove nothing
if the files drift from what ``pytest benchmarks`` writes. This fails when the plugin's
parameter layout (``whisperbench.pytest_plugin.CASE_PARAMS``), its test ids or the result's
names and the goldens part ways: regenerate them (tests/golden/make_real.py and
make_synthetic.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from whisperbench import schema
from whisperbench.options import RunOptions
from whisperbench.pytest_plugin import CASE_PARAMS, case_id

GOLDEN = Path(__file__).parent / "golden"
FILES = sorted(GOLDEN.glob("*.json"))
REAL = [path for path in FILES if path.name.startswith("real_")]
SYNTHETIC = [path for path in FILES if path.name.startswith("synthetic_")]


def benchmarks(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["benchmarks"])


def test_both_kinds_are_there() -> None:
    assert len(REAL) >= 8
    assert len(SYNTHETIC) >= 10
    assert {path.name.split("_")[0] for path in FILES} == {"real", "synthetic"}


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_params_and_ids_are_the_plugins(path: Path) -> None:
    for bench in benchmarks(path):
        params = bench["params"]
        info = bench["extra_info"]
        assert tuple(params) == CASE_PARAMS, (path.name, params)
        assert "UNSERIALIZABLE" not in json.dumps(params)
        case = RunOptions(
            model=params["whisper_model_id"],
            dtype=params["whisper_dtype"],
            audio_duration_s=params["whisper_audio_s"],
            batch_size=params["whisper_batch_size"],
            engine=params["whisper_engine"],
            kv_cache=params["whisper_kv_cache"],
            torch_compile=params["whisper_compile"],
        )
        assert bench["name"] == f"test_transcribe[{case_id(case)}]"
        assert bench["fullname"].endswith(f"test_transcribe.py::{bench['name']}")
        # What the params say ran is what the result says ran.
        assert info[schema.MODEL] == case.model
        assert info[schema.DTYPE] == case.dtype
        assert info[schema.BATCH_SIZE] == case.batch_size
        assert info[schema.AUDIO_S] == pytest.approx(case.audio_duration_s * info[schema.CLIPS])
        assert info[schema.SCHEMA_VERSION_FIELD] == schema.SCHEMA_VERSION


def test_synthetic_runs_spell_only_names_real_runs_carry() -> None:
    """Hand-made runs must not invent fields: every name they use, a real run wrote."""
    real_keys = {key for path in REAL for bench in benchmarks(path) for key in bench["extra_info"]}
    for path in SYNTHETIC:
        for bench in benchmarks(path):
            invented = set(bench["extra_info"]) - real_keys
            assert not invented, (path.name, sorted(invented))


def test_real_runs_hold_per_round_data_and_the_run_record() -> None:
    for path in REAL:
        document = json.loads(path.read_text())
        assert document[schema.WHISPERBENCH][schema.SCHEMA_VERSION_FIELD] == schema.SCHEMA_VERSION
        for bench in document["benchmarks"]:
            rounds = bench["extra_info"][schema.ROUNDS_INFERENCE_S]
            assert len(rounds) == bench["extra_info"][schema.ROUNDS] == len(bench["stats"]["data"])


def test_ab_runs_carry_the_plugins_params_and_their_pairing() -> None:
    """tests/golden/ab: what ``whisperbench ab --output-dir`` wrote, one file per worker."""
    files = sorted((GOLDEN / "ab").glob("*.json"))
    assert [path.name for path in files] == [
        *(f"a-{i}.json" for i in range(1, 8)),
        *(f"b-{i}.json" for i in range(1, 8)),
    ]
    for path in files:
        document = json.loads(path.read_text())
        (bench,) = document["benchmarks"]
        assert tuple(bench["params"]) == CASE_PARAMS
        case = RunOptions(
            model=bench["params"]["whisper_model_id"],
            dtype=bench["params"]["whisper_dtype"],
            audio_duration_s=bench["params"]["whisper_audio_s"],
            batch_size=bench["params"]["whisper_batch_size"],
        )
        assert bench["name"] == f"ab[{case_id(case)}]"
        pairing = document[schema.WHISPERBENCH]["ab"]
        assert pairing["side"] == path.name[0].upper()
        assert pairing["process"] == int(path.stem.split("-")[1]) - 1
        assert len(bench["extra_info"][schema.ROUNDS_INFERENCE_S]) == pairing["pairs"] == 3
