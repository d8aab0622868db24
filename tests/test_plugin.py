"""The suite end to end through pytester: options, parametrization and the JSON it writes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from whisperbench.models.packaged import packaged_checkpoint

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["pytester"]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester folder holding our root conftest and benchmark module."""
    pytester.syspathinsert(REPO)
    shutil.copy(REPO / "conftest.py", pytester.path / "conftest.py")
    # A name of its own: in-process runs would clash with tests/test_transcribe.py.
    shutil.copy(REPO / "benchmarks" / "test_transcribe.py", pytester.path / "test_suite_copy.py")
    return pytester


@pytest.mark.slow
def test_one_tiny_case_writes_every_field(suite: pytest.Pytester) -> None:
    result = suite.runpytest(
        "--whisper-durations=4",
        "--whisper-rounds=2",
        "--benchmark-json=out.json",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_transcribe?tiny.en-float32-4s-b1?*"])

    data = json.loads((suite.path / "out.json").read_text())
    (bench,) = data["benchmarks"]
    info = bench["extra_info"]
    assert bench["stats"]["rounds"] == 2 == info["rounds"]
    # pytest-benchmark's options as they applied to these rounds (tests/test_plugin_rounds.py)
    assert bench["options"]["min_rounds"] == 2 == data["whisperbench"]["options"]["rounds"]
    assert bench["options"]["warmup"] == info["warmup_rounds"] == 1
    assert bench["options"]["max_time"] is None
    assert bench["params"] == {
        "whisper_model_id": "tiny.en",
        "whisper_dtype": "float32",
        "whisper_audio_s": 4.0,
        "whisper_batch_size": 1,
        "whisper_engine": "transformers",
        "whisper_kv_cache": "dynamic",
        "whisper_compile": "off",
    }
    assert info["schema_version"] == 1
    assert (info["model"], info["dtype"], info["device"]) == ("tiny.en", "float32", "cpu")
    assert (info["engine"], info["engine_settings"]["kv_cache"]) == ("transformers", "dynamic")
    assert info["engine_version"]
    assert (info["compile_s"], info["compiles_in_window"]) == (0.0, 0)
    assert info["weights_source"] == "packaged"
    # The checksum of the converted file that was loaded, and of the file it came from.
    converted = packaged_checkpoint("tiny.en")
    assert info["weights_sha256"] == converted.weights_sha256
    assert (
        info["weights_sha256"]
        == hashlib.sha256((converted.path / "model.safetensors").read_bytes()).hexdigest()
    )
    assert info["weights_converted_from_sha256"] == (
        "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
    )
    assert info["weights_check"] in (
        "sha256 of every file matches the conversion record",  # converted by an earlier run
        "converted on first use; sha256 of every file recorded",
    )
    assert info["parameters"] == 37_760_256
    assert info["audio_s"] == 4.0
    assert info["batch_size"] == 1
    assert len(info["rounds_inference_s"]) == 2
    assert info["rtf"] == pytest.approx(sum(info["rounds_inference_s"]) / (2 * 4.0))
    assert info["rtfx"] == pytest.approx(1 / info["rtf"])
    # pytest-benchmark timed the same rounds the pipeline timed (its clock wraps ours).
    assert bench["stats"]["mean"] >= info["inference_s"]
    for phase in ("features_s", "encoder_s", "decoder_s"):
        assert 0 < info[phase] < info["inference_s"]
    assert info["tokens"] >= 1
    assert info["s_per_token"] > 0
    assert info["peak_rss_bytes"] > info["weights_bytes"] > 100e6
    assert info["reference"]
    assert info["transcript"]
    assert info["wer"] is not None
    assert info["wer"] <= 0.5, (info["reference"], info["transcript"])
    # No sensor on a CPU build machine: energy is null with a reason, never a guess.
    if info["energy_j"] is None:
        assert info["energy_null_reason"]
    machine = data["machine_info"]["whisperbench"]
    assert machine["host"]["torch_version"]
    assert machine["host"]["transformers_version"]
    assert machine["host"]["cpu_model"]
    assert data["whisperbench"]["schema_version"] == 1
    # The headline figures are printed at the end, the JSON's own numbers.
    result.stdout.fnmatch_lines(
        [
            "*- whisperbench results -*",
            "case * rounds * RTF * s/token * WER * J/audio s * peak RSS MiB * flags",
            f"tiny.en-float32-4s-b1 * 2 * {info['rtf']:.4g} * {info['s_per_token']:.4g} "
            f"* {info['wer']:.4g} * - * {info['peak_rss_bytes'] / 2**20:.0f}*",
            f"note: J/audio s not measured: {info['energy_null_reason']} (1 of 1 cases)",
        ]
    )


def test_unknown_model_is_a_usage_error(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--whisper-models=tiny.en,huge")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown model 'huge'; choose from: tiny, tiny.en, base*"])


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--whisper-durations=5,-1", "*must be >= 0.1 and <= 3600 seconds, got '-1'*"),
        ("--whisper-batch-sizes=0", "*must be >= 1, got 0*"),
        ("--whisper-dtypes=float8", "*unknown dtype 'float8'*"),
        ("--whisper-weights=cloud", "*unknown weights source 'cloud'*"),
        ("--whisper-audio=music", "*unknown audio 'music'; choose from: auto, short*"),
        ("--whisper-device=gpu0", "*device must be 'cpu', 'cuda' or 'cuda:N', not 'gpu0'*"),
        ("--whisper-gpus=0,0", "*gpus: indices must be distinct and >= 0, not '0,0'*"),
        ("--whisper-attn=flash", "*unknown attention implementation 'flash'*"),
        # Checked against this machine when pytest configures, still before any load:
        (
            "--whisper-dtypes=float16",
            "*case tiny.en-float16-5s-b1: dtype float16 on CPU is refused*",
        ),
        ("--whisper-language=de", "*case tiny.en-float32-5s-b1: tiny.en is English-only*"),
    ],
)
def test_bad_options_fail_before_any_model_loads(
    suite: pytest.Pytester, option: str, message: str
) -> None:
    result = suite.runpytest(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_matrix_is_model_major(suite: pytest.Pytester) -> None:
    result = suite.runpytest(
        "--collect-only", "-q", "--whisper-models=tiny.en,base", "--whisper-durations=5,10"
    )
    result.stdout.fnmatch_lines(
        [
            "*[[]tiny.en-float32-5s-b1[]]",
            "*[[]tiny.en-float32-10s-b1[]]",
            "*[[]base-float32-5s-b1[]]",
            "*[[]base-float32-10s-b1[]]",
        ],
        consecutive=True,
    )


FAKE_NVML_CONFTEST = """
import sys
sys.path.insert(0, {repo!r})
from tests.fakes_nvml import FakeGpu, FakeNvml, make_uuid

# FAKE NVML: one simulated A100 drawing a constant {watts} W (counter in mJ, 100 ms updates).
sys.modules["pynvml"] = FakeNvml([FakeGpu(uuid=make_uuid(0), power_w={watts})])
"""


@pytest.mark.slow
def test_suite_run_with_fake_nvml_writes_energy_of_its_power_profile(
    suite: pytest.Pytester,
) -> None:
    watts = 150.0
    conftest = (suite.path / "conftest.py").read_text()
    (suite.path / "conftest.py").write_text(
        FAKE_NVML_CONFTEST.format(watts=watts, repo=str(REPO)) + conftest
    )
    # A subprocess, so the fake never leaks into this process's sys.modules.
    result = suite.runpytest_subprocess(
        "--whisper-durations=3",
        "--whisper-rounds=2",
        "--whisper-gpus=all",  # meter the (fake) node GPU although the model runs on CPU
        "--whisper-min-window=2",
        "--whisper-idle=0.5",
        "--benchmark-json=out.json",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    (bench,) = json.loads((suite.path / "out.json").read_text())["benchmarks"]
    info = bench["extra_info"]

    assert info["energy_source"] == "nvml_energy_counter"
    # Whether the rounds' starts locked onto the fake counter's 100 ms grid depends on how long
    # this machine's rounds take; the rule itself is tested in tests/test_sampling_grid.py.
    reasons = info["energy_invalid_reasons"]
    assert [r for r in reasons if not r.startswith("sampling_grid_lock")] == []
    assert info["energy_valid"] is (not reasons)
    window_s = info["energy_window_s"]
    assert window_s >= 2.0
    assert info["rounds"] >= 2
    assert bench["stats"]["rounds"] == info["rounds"]
    assert info["energy_j"] == pytest.approx(watts * window_s, rel=0.01)
    assert info["avg_power_w"] == pytest.approx(watts, rel=0.01)
    assert info["idle_power_w"] == pytest.approx(watts, rel=0.01)
    audio_total_s = info["audio_s"] * info["rounds"]
    assert info["j_per_audio_s"] == pytest.approx(info["energy_j"] / audio_total_s, rel=1e-9)
    tokens_total = info["tokens"] * info["rounds"]
    assert info["j_per_token"] == pytest.approx(info["energy_j"] / tokens_total, rel=1e-9)
    (device,) = info["energy_devices"]
    assert device["uuid"].startswith("GPU-")
    (gpu_before,) = info["device_state"]["before"]["gpus"]
    assert gpu_before["device"] == device["device"]
    assert (gpu_before["sm_clock_mhz"], gpu_before["power_limit_w"]) == (1410, 400.0)
    assert gpu_before["temperature_c"] == 40
