"""Loading runs: JSON files, pytest-benchmark storage ids, schema versions, pairing."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from whisperbench.runs import (
    READABLE_SCHEMA_VERSIONS,
    RunError,
    gpu_states,
    load_run,
    load_runs,
    match_benchmarks,
    resolve_run,
)

pytest_plugins = ["pytester"]

GOLDEN = Path(__file__).parent / "golden"
BASE = GOLDEN / "synthetic_a100_base_1.json"
MACHINE_DIR = "Linux-CPython-3.11-64bit"


def write(path: Path, document: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    """A pytest-benchmark storage folder with two saved runs of one machine, one of another."""
    root = tmp_path / ".benchmarks"
    document = json.loads(BASE.read_text())
    write(root / MACHINE_DIR / "0001_abc123_20260101_000000.json", document)
    write(root / MACHINE_DIR / "0002_def456_20260102_000000.json", document)
    write(root / "Linux-CPython-3.12-64bit" / "0001_fedcba_20260103_000000.json", document)
    return root


def test_load_golden_run_keeps_every_benchmark_and_session_fact() -> None:
    run = load_run(BASE)
    assert run.label == "synthetic_a100_base_1"
    assert len(run.benchmarks) == 4
    assert run.version == "5.2.3"
    assert run.machine_info["whisperbench"]["gpus"][0]["name"] == "NVIDIA A100-SXM4-40GB"
    bench = run.benchmarks[0]
    assert bench.fullname == "benchmarks/test_transcribe.py::test_transcribe[tiny.en-float32-5s-b1]"
    assert bench.params == {
        "whisper_model_id": "tiny.en",
        "whisper_dtype": "float32",
        "whisper_audio_s": 5.0,
        "whisper_batch_size": 1,
        "whisper_engine": "transformers",
        "whisper_kv_cache": "dynamic",
        "whisper_compile": "off",
    }
    assert bench.schema_version == 1
    assert len(bench.stats["data"]) == bench.stats["rounds"] == 15


def test_writer_schema_version_is_readable() -> None:
    from whisperbench.schema import SCHEMA_VERSION

    assert SCHEMA_VERSION in READABLE_SCHEMA_VERSIONS


def test_newer_schema_version_is_refused_with_one_line(tmp_path: Path) -> None:
    document = json.loads(BASE.read_text())
    document["benchmarks"][1]["extra_info"]["schema_version"] = 99
    with pytest.raises(RunError, match=r"schema_version 99.*reads versions up to 1") as info:
        load_run(write(tmp_path / "future.json", document))
    assert "\n" not in str(info.value)


def test_plain_pytest_benchmark_json_loads_without_extra_info(tmp_path: Path) -> None:
    document = json.loads(BASE.read_text())
    for bench in document["benchmarks"]:
        del bench["extra_info"]
    run = load_run(write(tmp_path / "plain.json", document))
    assert all(bench.schema_version is None for bench in run.benchmarks)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ('{"machine_info": {}}', "no 'benchmarks' list"),
        ('{"benchmarks": [{"name": "x"}]}', "has no 'fullname'"),
        ('{"benchmarks": [{"fullname": "t::x"}]}', "has no 'stats'"),
    ],
)
def test_malformed_files_raise_run_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(RunError, match=message):
        load_run(path)


def test_resolve_existing_file_wins(tmp_path: Path) -> None:
    assert resolve_run(str(BASE), tmp_path) == BASE


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (f"{MACHINE_DIR}/0001", f"{MACHINE_DIR}/0001_abc123_20260101_000000.json"),
        ("0002", f"{MACHINE_DIR}/0002_def456_20260102_000000.json"),
        ("0002_def", f"{MACHINE_DIR}/0002_def456_20260102_000000.json"),
        (
            "Linux-CPython-3.12-64bit/0001",
            "Linux-CPython-3.12-64bit/0001_fedcba_20260103_000000.json",
        ),
    ],
)
def test_resolve_storage_ids_like_pytest_benchmark(storage: Path, spec: str, expected: str) -> None:
    assert resolve_run(spec, storage) == storage / expected
    assert resolve_run(spec, f"file://{storage}") == storage / expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0001", "matches several saved runs: .*0001_abc123.*0001_fedcba"),
        ("0003", "no saved run matches '0003'"),
        ("missing.json", "no such run file: 'missing.json'"),
    ],
)
def test_resolve_errors_are_one_clear_line(storage: Path, spec: str, message: str) -> None:
    with pytest.raises(RunError, match=message):
        resolve_run(spec, storage)


def test_resolve_without_storage_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="no storage folder"):
        resolve_run("0001", tmp_path / "nowhere")


def test_load_runs_labels_shards_with_the_same_name_apart(tmp_path: Path) -> None:
    first = shutil.copy(BASE, write(tmp_path / "node1" / "run.json", {}))
    second = shutil.copy(BASE, write(tmp_path / "node2" / "run.json", {}))
    runs = load_runs([str(first), str(second)])
    assert [run.label for run in runs] == ["node1/run", "node2/run"]


def test_match_pairs_by_fullname_and_params(tmp_path: Path) -> None:
    document = json.loads(BASE.read_text())
    other = copy.deepcopy(document)
    other["benchmarks"][0]["params"]["batch_size"] = 8  # same fullname, other params
    del other["benchmarks"][1]
    matching = match_benchmarks(load_run(BASE), load_run(write(tmp_path / "n.json", other)))
    assert [base.name for base, _ in matching.pairs] == [
        "test_transcribe[base.en-float32-5s-b1]",
        "test_transcribe[base.en-float16-5s-b1]",
    ]
    assert [b.name for b in matching.only_base] == [
        "test_transcribe[tiny.en-float32-5s-b1]",
        "test_transcribe[tiny.en-float16-5s-b1]",
    ]
    assert [b.params["batch_size"] for b in matching.only_new if b.params] == [8]


def test_match_refuses_a_run_holding_a_benchmark_twice(tmp_path: Path) -> None:
    document = json.loads(BASE.read_text())
    document["benchmarks"].append(document["benchmarks"][0])
    doubled = load_run(write(tmp_path / "doubled.json", document))
    with pytest.raises(RunError, match="appears twice"):
        match_benchmarks(load_run(BASE), doubled)


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        ({"gpus": [{"name": "A", "sm_clock_mhz": 1410}]}, [{"name": "A", "sm_clock_mhz": 1410}]),
        ({"gpu": {"name": "A", "uuid": "GPU-1"}}, [{"name": "A", "uuid": "GPU-1"}]),
        ({"name": "A", "sm_clock_mhz": 510}, [{"name": "A", "sm_clock_mhz": 510}]),
        ({"gpus": []}, []),
        ({"cpu": "x"}, []),
    ],
)
def test_gpu_states_accepts_the_shapes_device_state_may_take(
    before: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    assert gpu_states({"device_state": {"before": before}}) == expected
    assert gpu_states({}) == []


def test_real_pytest_benchmark_storage_resolves(pytester: pytest.Pytester) -> None:
    """pytest-benchmark itself writes <storage>/<machine-id>/0001_*.json; ids find it."""
    pytester.makepyfile(
        test_tiny="""
        def test_tiny(benchmark):
            benchmark.extra_info["schema_version"] = 1
            benchmark.pedantic(sum, args=(range(10),), rounds=3)
        """
    )
    storage = pytester.path / "store"
    result = pytester.runpytest_inprocess(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:hypothesispytest",
        "--benchmark-autosave",
        f"--benchmark-storage={storage}",
        "-q",
    )
    result.assert_outcomes(passed=1)
    path = resolve_run("0001", storage)
    assert path.parent.parent == storage
    assert path.name.startswith("0001_")
    run = load_run(path)
    assert run.benchmarks[0].name == "test_tiny"
    # Saved runs carry no per-round data unless --benchmark-save-data was given.
    assert "data" not in run.benchmarks[0].stats


@pytest.mark.parametrize("depth", [65, 200_000])
def test_deeply_nested_json_is_one_clear_error(tmp_path: Path, depth: int) -> None:
    """Beyond 64 levels, and beyond Python's recursion limit: one line, no RecursionError."""
    path = tmp_path / "deep.json"
    path.write_text("[" * depth + "]" * depth)
    with pytest.raises(RunError) as info:
        load_run(path)
    message = str(info.value)
    assert "\n" not in message
    assert "nested" in message
    assert str(path) in message
