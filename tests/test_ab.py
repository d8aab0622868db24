"""``whisperbench ab``: the order of pairs, the worker's command line and protocol, the
documents it writes, failing workers, and one real A/A run of two tiny.en workers."""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from whisperbench.ab import protocol
from whisperbench.ab.cli import add_ab_arguments, run_ab_command, side_document, worker_arguments
from whisperbench.ab.runner import AbError, SideResult, Version, order, run_ab
from whisperbench.ab.slowdown import slow_down
from whisperbench.ab.worker import build_parser
from whisperbench.options import RunOptions, run_options_from
from whisperbench.runs import run_from_document

SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_pairs_alternate_and_balance_across_process_pairs() -> None:
    assert order(4) == [("A", "B"), ("B", "A"), ("A", "B"), ("B", "A")]
    assert order(3, start=1) == [("B", "A"), ("A", "B"), ("B", "A")]
    firsts = [first for process in range(4) for first, _ in order(3, start=process)]
    assert firsts.count("A") == firsts.count("B")  # odd pairs still balance over processes


def test_worker_reads_back_the_options_it_is_given() -> None:
    options = RunOptions(
        model="tiny.en",
        dtype="float32",
        device="cpu",
        audio_duration_s=7.5,
        batch_size=2,
        threads=1,
        timestamps=True,
        fixed_tokens=12,
    )
    args = build_parser().parse_args(worker_arguments(options))
    parsed = run_options_from(lambda name: getattr(args, name))
    assert parsed == options  # every measured option crosses the process boundary
    assert args.slowdown == 0.0


def test_protocol_lines_round_trip_and_refuse_strays() -> None:
    line = protocol.encode({protocol.EVENT: "round", "wall_s": 0.5, "bad": float("nan")})
    assert line.endswith("\n")
    assert "\n" not in line[:-1]
    assert protocol.decode(line) == {protocol.EVENT: "round", "wall_s": 0.5, "bad": None}
    with pytest.raises(ValueError, match="not a worker message"):
        protocol.decode('{"no": "event"}')


def test_slowdown_adds_its_fraction_of_each_call_inside_it() -> None:
    class Model:
        def generate(self, seconds: float) -> str:
            time.sleep(seconds)
            return "text"

    model = Model()
    slow_down(model, 0.5)
    started = time.perf_counter()
    assert model.generate(0.05) == "text"
    assert time.perf_counter() - started >= 0.075  # the call itself, then half of it again
    with pytest.raises(ValueError, match="finite fraction"):
        slow_down(Model(), -0.1)


def test_side_documents_load_as_runs() -> None:
    side = SideResult(
        version=Version("A", sys.executable, "/src"),
        ready={"version": "0.1.0"},
        extra_info={"schema_version": 1, "model": "tiny.en", "rounds_inference_s": [0.4, 0.5]},
        machine_info={"whisperbench": {"host": {"cpu_model": "Test CPU"}}},
        wall_s=[0.41, 0.52],
        process=1,
    )
    params = {"whisper_model_id": "tiny.en"}
    document = side_document("A", side, "tiny.en-float32-5s-b1", params, 2)
    run = run_from_document(json.loads(json.dumps(document)), "a.json", "A2")
    (bench,) = run.benchmarks
    assert bench.name == "ab[tiny.en-float32-5s-b1]"
    assert bench.stats["data"] == [0.41, 0.52]
    assert bench.stats["median"] == pytest.approx(0.465)
    assert document["whisperbench"]["ab"]["order"] == ["BA", "AB"]  # process pair 2 of ...


def fake_python(tmp_path: Path, body: str) -> str:
    """An executable standing in for a Python that cannot run the worker."""
    path = tmp_path / "python"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_a_version_without_the_worker_is_named_in_one_line(tmp_path: Path) -> None:
    broken = fake_python(tmp_path, 'echo "$0: No module named whisperbench.ab.worker" >&2\nexit 1')
    with pytest.raises(AbError) as info:
        run_ab(Version("A", broken), Version("B", broken), [], 1, 1, timeout_s=60)
    message = str(info.value)
    assert message.startswith("A: the worker exited (status 1) before sending 'ready'")
    assert "does this version of whisperbench have `whisperbench ab`?" in message
    assert "\n" not in message


def test_a_worker_breaking_the_protocol_is_named(tmp_path: Path) -> None:
    chatty = fake_python(tmp_path, "echo 'hello, not JSON'\nsleep 30")
    with pytest.raises(AbError, match=r"^A: not a worker message: 'hello, not JSON'$"):
        run_ab(Version("A", chatty), Version("B", chatty), [], 1, 1, timeout_s=60)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--a-python", "/nonexistent/python"], "A: --a-python /nonexistent/python: no such "),
        (["--b-path", "/nonexistent/src"], "B: --b-path /nonexistent/src: no such folder"),
        (["--model", "tiny.en", "--language", "fr"], "tiny.en"),
    ],
)
def test_usage_errors_stop_before_any_worker_starts(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    parser = argparse.ArgumentParser(prog="whisperbench ab")
    add_ab_arguments(parser)
    assert run_ab_command(parser.parse_args(["--model", "tiny.en", *argv])) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("whisperbench ab: error: ")
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.slow
def test_a_real_a_a_run_interleaves_two_tiny_workers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two process pairs of tiny.en workers from this source folder, two pairs each: the
    protocol, the documents and the table end to end (two process pairs can never reach
    alpha, so the verdict is undecided, whatever the machine's speed)."""
    monkeypatch.setenv("PYTHONPATH", SRC)
    parser = argparse.ArgumentParser(prog="whisperbench ab")
    add_ab_arguments(parser)
    args = parser.parse_args(
        [
            "--a-path", SRC, "--b-path", SRC,
            "--model", "tiny.en", "--dtype", "float32", "--device", "cpu",
            "--audio-duration", "3", "--audio", "short", "--threads", "1",
            "--processes", "2", "--pairs", "2", "--output-dir", str(tmp_path),
        ]
    )  # fmt: skip
    assert run_ab_command(args) == 0
    out, err = capsys.readouterr()
    assert "processes 2/2, pair 2/2 (A first)" in err  # the second process pair starts with B
    assert "processes 2/2, pair 1/2 (B first)" in err
    lines = out.splitlines()
    assert lines[0] == f"A: {sys.executable}, PYTHONPATH={SRC} (2 worker processes)"
    rtf = next(line for line in lines if " rtf (<) " in line)
    assert "2 process pairs x 2 pairs" in rtf
    assert rtf.split()[-2:] == ["inconclusive", "untested"] or rtf.split()[-2:] == [
        "same",
        "pass",
    ]
    assert lines[-1].endswith("exit 0")
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == ["a-1.json", "a-2.json", "b-1.json", "b-2.json"]
    documents: list[dict[str, Any]] = [json.loads((tmp_path / n).read_text()) for n in written]
    for document in documents:
        (bench,) = document["benchmarks"]
        info = bench["extra_info"]
        assert len(info["rounds_inference_s"]) == 2 == len(bench["stats"]["data"])
        assert info["energy_j"] is None
        assert "ab" in info["energy_null_reason"]
        assert info["threads"] == 1
        assert info["wer"] is not None
    assert os.environ["PYTHONPATH"] == SRC
