"""Engines and their settings: the refusal rules, the matrix that leaves out what an engine
does not have, CTranslate2 for real on CPU (both packaged sizes, and converted weights), and
torch.compile's bookkeeping (compilations counted, none inside a measured window)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from whisperbench.audio.batches import synthetic_batch
from whisperbench.engines import EngineSettings, check_engine
from whisperbench.engines.compile_watch import CompileWatch
from whisperbench.models.precision import NotApplicable, PrecisionError
from whisperbench.options import RunOptions
from whisperbench.session import check_options, open_session

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]


@pytest.mark.parametrize(
    ("settings", "extra", "error", "message"),
    [
        (EngineSettings("ctranslate2", kv_cache="static"), {}, NotApplicable, "transformers set"),
        (EngineSettings("ctranslate2", torch_compile="on"), {}, NotApplicable, "no torch.compile"),
        (EngineSettings(torch_compile="on"), {}, NotApplicable, "compile needs the static KV"),
        (EngineSettings("ctranslate2"), {"audio_s": 45.0}, NotApplicable, "one 30 s window"),
        (
            EngineSettings("ctranslate2"),
            {"word_timestamps": True},
            ValueError,
            "word timestamps are not measured on the ctranslate2 engine",
        ),
        (
            EngineSettings("ctranslate2"),
            {"fixed_tokens": 300},
            ValueError,
            "CTranslate2 decodes at most 224 new tokens",
        ),
        (
            EngineSettings(kv_cache="static", torch_compile="on"),
            {"word_timestamps": True},
            ValueError,
            "word timestamps with compile are not measured",
        ),
        (EngineSettings("onnx"), {}, ValueError, "unknown engine 'onnx'"),
        (EngineSettings(kv_cache="paged"), {}, ValueError, "unknown KV cache 'paged'"),
    ],
)
def test_engine_settings_refused_with_the_reason(
    settings: EngineSettings, extra: dict, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        check_engine(settings, **extra)


def test_what_each_engine_has_passes() -> None:
    check_engine(EngineSettings("ctranslate2"), audio_s=30.0)
    check_engine(EngineSettings(kv_cache="static", torch_compile="on"), audio_s=60.0)


def test_check_options_applies_engine_and_compute_type_rules() -> None:
    checked = check_options(RunOptions(model="tiny.en", engine="ctranslate2", dtype="int8_float32",
                                       device="cpu"))  # fmt: skip
    assert (checked.precision.dtype, checked.engine.engine) == ("int8_float32", "ctranslate2")
    with pytest.raises(PrecisionError, match="quietly run another type"):
        check_options(RunOptions(model="tiny.en", engine="ctranslate2", dtype="float16",
                                 device="cpu"))  # fmt: skip
    with pytest.raises(NotApplicable, match="CTranslate2 compute type"):
        check_options(RunOptions(model="tiny.en", dtype="int8_float32", device="cpu"))


def test_compile_watch_counts_compilations_and_recompilations() -> None:
    def double(x: torch.Tensor) -> torch.Tensor:
        return x * 2 + 1

    compiled = torch.compile(double, backend="eager", dynamic=False)
    watch = CompileWatch()
    try:
        compiled(torch.ones(3))
        first, seconds = watch.reading()
        compiled(torch.ones(3))  # same shape: the cached graph, no compilation
        assert watch.reading() == (first, seconds)
        compiled(torch.ones(5))  # a new shape: dynamo recompiles
        again, more = watch.reading()
    finally:
        watch.close()
    assert first == 1
    assert seconds > 0
    assert again == 2
    assert more > seconds
    compiled(torch.ones(7))  # closed: no longer counted
    assert watch.reading()[0] == 2


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.syspathinsert(REPO)
    shutil.copy(REPO / "conftest.py", pytester.path / "conftest.py")
    shutil.copy(REPO / "benchmarks" / "test_transcribe.py", pytester.path / "test_engines_copy.py")
    return pytester


def test_matrix_leaves_out_what_an_engine_does_not_have_and_says_so(
    suite: pytest.Pytester,
) -> None:
    result = suite.runpytest(
        "--collect-only", "--whisper-durations=5",
        "--whisper-engines=transformers,ctranslate2", "--whisper-dtypes=float32,int8_float32",
        "--whisper-kv-caches=dynamic,static", "--whisper-compile=off,on",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*test_transcribe[[]tiny.en-float32-5s-b1[]]*",
            "*test_transcribe[[]tiny.en-float32-5s-b1-static[]]*",
            "*test_transcribe[[]tiny.en-float32-5s-b1-static-compiled[]]*",
            "*test_transcribe[[]tiny.en-float32-5s-b1-ctranslate2[]]*",
            "*test_transcribe[[]tiny.en-int8_float32-5s-b1-ctranslate2[]]*",
        ],
        consecutive=True,
    )
    assert "5 tests collected" in result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "whisperbench: left out tiny.en-float32-5s-b1-compiled, *: compile needs the static*",
            "whisperbench: left out *tiny.en-float32-5s-b1-ctranslate2-static, *: KV cache and*",
            "whisperbench: left out tiny.en-int8_float32-5s-b1, *: dtype int8_float32 is a CTr*",
        ]
    )


def test_a_matrix_with_nothing_left_is_a_usage_error(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--whisper-engines=ctranslate2", "--whisper-compile=on")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no case of the matrix can run*"])


@pytest.mark.slow
@pytest.mark.parametrize(("model", "dtype"), [("tiny.en", "int8"), ("base", "float32")])
def test_ctranslate2_runs_the_packaged_files_with_every_phase(model: str, dtype: str) -> None:
    clips = synthetic_batch("short", 6.0, 1)
    options = RunOptions(model=model, engine="ctranslate2", dtype=dtype, device="cpu",
                         weights="packaged", idle_s=0, rounds=2, fixed_tokens=12)  # fmt: skip
    with open_session(options) as session:
        result = session.measure(clips)
        free = session.transcriber(  # free decoding: the transcript of real speech
            [clips[0].samples]
        )
    info = result.to_extra_info()
    assert (info["engine"], info["dtype"], info["device"]) == ("ctranslate2", dtype, "cpu")
    import ctranslate2

    assert info["engine_version"] == ctranslate2.__version__
    settings = info["engine_settings"]
    # what CTranslate2 ran, in its own words: int8 on a CPU is its int8_float32
    assert settings["compute_type"] == {"int8": "int8_float32"}.get(dtype, dtype)
    assert settings["weights_format"].startswith("CTranslate2 files as packaged")
    assert settings["intra_threads"] >= 1
    # Fixed work: exactly 12 new tokens in every round, as on the transformers engine.
    assert all(r.tokens_per_clip == [12] for r in result.rounds)
    assert info["decoder_steps"] == 12
    for phase in ("features_s", "encoder_s", "decoder_s", "detokenize_s"):
        assert 0 < info[phase] < info["inference_s"]
    assert info["weights_bytes"] > 10e6
    assert info["parameters"] > 30e6
    # The same weights as the transformers side: the packaged files' checksum.
    transformers_side = check_options(RunOptions(model=model, device="cpu", weights="packaged"))
    assert transformers_side.spec.model_id == model
    assert len(info["weights_sha256"]) == 64
    assert free.tokens_per_clip[0] >= 2
    assert free.texts[0]
    # Real speech, real weights: close to what was spoken (the transformers engine's bar).
    from whisperbench import metrics

    assert metrics.wer([clips[0].reference or ""], free.texts) <= 0.5


@pytest.mark.slow
def test_ctranslate2_and_transformers_agree_on_the_same_weights_and_audio() -> None:
    clips = synthetic_batch("short", 8.0, 1)
    texts = {}
    shas = {}
    for engine, dtype in (("transformers", "float32"), ("ctranslate2", "float32")):
        options = RunOptions(model="tiny.en", engine=engine, dtype=dtype, device="cpu",
                             weights="packaged", idle_s=0, rounds=1)  # fmt: skip
        with open_session(options) as session:
            result = session.measure(clips)
        texts[engine] = result.transcripts
        # transformers runs a conversion of the packaged CTranslate2 files: its source's checksum
        shas[engine] = result.facts.weights_converted_from_sha256 or result.facts.weights_sha256
    assert shas["transformers"] == shas["ctranslate2"]
    from whisperbench import metrics

    assert metrics.wer(texts["ctranslate2"], texts["transformers"]) <= 0.1, texts


@pytest.mark.slow
def test_ctranslate2_converts_weights_no_package_ships() -> None:
    options = RunOptions(model="tiny.en", engine="ctranslate2", dtype="int8", device="cpu",
                         weights="random", idle_s=0, rounds=1, fixed_tokens=5)  # fmt: skip
    clips = synthetic_batch("tone", 3.0, 2)
    with open_session(options) as session:
        result = session.measure(clips)
    info = result.to_extra_info()
    assert info["weights_source"] == "random"
    assert info["engine_settings"]["weights_format"].startswith("converted by ctranslate2")
    assert result.rounds[0].tokens_per_clip == [5, 5]
    assert info["wer"] is None  # random weights carry no WER


@pytest.mark.slow
def test_ctranslate2_refuses_long_form_clips_at_the_call() -> None:
    options = RunOptions(model="tiny.en", engine="ctranslate2", dtype="int8", device="cpu",
                         weights="packaged", idle_s=0)  # fmt: skip
    long_clip = synthetic_batch("tone", 31.0, 1)[0]
    with open_session(options) as session, pytest.raises(ValueError, match="longer than Whisper"):
        session.transcriber([long_clip.samples])


@pytest.mark.slow
def test_compile_time_is_recorded_apart_and_never_inside_the_window() -> None:
    """Static cache + torch.compile on tiny.en: the first warm-up round compiles, warm-up goes
    on until a round compiles nothing, the window holds no compilation, and the words are the
    eager model's."""
    clips = synthetic_batch("short", 5.0, 1)
    base = RunOptions(model="tiny.en", dtype="float32", device="cpu", weights="packaged",
                      idle_s=0, rounds=2, warmup_rounds=1, fixed_tokens=8)  # fmt: skip
    with open_session(base.with_values(kv_cache="static", torch_compile="on")) as session:
        result = session.measure(clips)
    compiled = result.compile
    assert compiled is not None
    assert compiled.warmup >= 1
    assert compiled.compile_s > 0
    assert compiled.in_window == 0
    assert result.warmup_rounds >= 2  # the compiling round, then one that compiled nothing
    assert all(r.tokens_per_clip == [8] for r in result.rounds)
    info = result.to_extra_info()
    assert info["engine_settings"]["compile"] == "on"
    assert info["engine_settings"]["compile_mode"] == "default"
    assert info["compile_s"] == compiled.compile_s
    # compile time is not in any measured round: each is far shorter than the compilation
    assert max(info["rounds_inference_s"]) < compiled.compile_s
    with open_session(base) as session:
        eager = session.measure(clips)
    assert eager.compile is not None
    assert eager.compile.warmup == 0
    assert eager.transcripts == result.transcripts


@pytest.mark.slow
def test_suite_compares_engines_on_the_same_work(suite: pytest.Pytester) -> None:
    """Two engines in one run: params tell them apart, each cell gets its agreement and time
    ratio against CTranslate2 int8, the table is printed, and the report draws the figure."""
    result = suite.runpytest(
        "--whisper-durations=4", "--whisper-rounds=1", "--whisper-idle=0",
        "--whisper-engines=transformers,ctranslate2", "--whisper-dtypes=float32,int8",
        "--benchmark-json=out.json", "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*whisperbench: engines and settings on the same work*",
            "| model | audio s | engine, dtype, settings | RTF |*",
        ]
    )
    data = json.loads((suite.path / "out.json").read_text())
    by_engine = {
        (b["params"]["whisper_engine"], b["params"]["whisper_dtype"]): b for b in data["benchmarks"]
    }
    assert set(by_engine) == {
        ("transformers", "float32"),
        ("transformers", "int8"),
        ("ctranslate2", "float32"),
        ("ctranslate2", "int8"),
    }
    reference = by_engine["ctranslate2", "int8"]["extra_info"]
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        assert info["agreement_with"] == "ctranslate2 int8"
        assert 0 <= info["agreement_wer"] <= 1
        assert info["time_ratio"] == pytest.approx(info["rtf"] / reference["rtf"])
    assert reference["time_ratio"] == 1.0
    assert reference["agreement_wer"] == 0.0
    assert data["whisperbench"]["options"]["engines"] == ["transformers", "ctranslate2"]

    from whisperbench.cli import main

    assert main(["report", str(suite.path / "out.json"), "-o", str(suite.path / "rep")]) == 0
    assert (suite.path / "rep" / "engines.png").stat().st_size > 5000
    report = (suite.path / "rep" / "report.md").read_text()
    assert "## Engines and settings on the same work" in report
    assert "| ctranslate2 int8 |" in report


def test_baselines_saved_before_the_engine_axes_still_pair() -> None:
    from whisperbench.runs import Benchmark

    def bench(params: dict) -> Benchmark:
        return Benchmark("t", "b.py::t[tiny.en-float32-5s-b1]", params, None, {}, {}, "run")

    old = {"whisper_model_id": "tiny.en", "whisper_dtype": "float32",
           "whisper_audio_s": 5.0, "whisper_batch_size": 1}  # fmt: skip
    default = {**old, "whisper_engine": "transformers", "whisper_kv_cache": "dynamic",
               "whisper_compile": "off"}  # fmt: skip
    assert bench(old).key == bench(default).key
    assert bench(old).key != bench({**default, "whisper_engine": "ctranslate2"}).key
    assert bench(old).key != bench({**default, "whisper_compile": "on"}).key
