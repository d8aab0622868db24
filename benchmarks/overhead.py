"""How much does the suite add to what it measures? Suite rounds vs a bare ``generate`` loop.

Run: ``python benchmarks/overhead.py [--rounds 15] [--trials 3] [--duration 5]``

Alternates (A B A B ...) in one process, on the same model weights and the same audio:

- A, bare: ``feature_extractor -> model.generate -> batch_decode`` timed with
  ``perf_counter`` per round, nothing else;
- B, suite: ``pytest benchmarks/test_transcribe.py`` in-process; the per-round times are the
  ones pytest-benchmark reports (``--benchmark-save-data``), i.e. our hooks, CUDA sync points,
  round recording and pytest-benchmark's own timer all included.

Prints the median per-round seconds of each, and their ratio (suite / bare); the goal is
<= 1.01. ``--paired`` instead alternates round by round inside one window: a bare round, then
the suite's timed path (Transcriber with its hooks, inside an open MeterSet window with the
RSS sampler running), and reports the median of the per-pair ratios, which cancels drift
that trial-level alternation cannot. Not a test: timing assertions do not belong in the
test suite.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import pytest
import torch

from whisperbench.audio.batches import synthetic_batch
from whisperbench.options import RunOptions
from whisperbench.session import Session, open_session

REPO = Path(__file__).resolve().parents[1]


def bare_rounds(loaded, samples, rounds: int) -> list[float]:  # type: ignore[no-untyped-def]
    processor, model = loaded.processor, loaded.model
    times = []
    for _ in range(rounds + 1):  # +1 warm-up, dropped
        started = time.perf_counter()
        features = processor.feature_extractor(
            [samples], sampling_rate=16_000, return_tensors="pt"
        ).input_features
        with torch.inference_mode():
            ids = model.generate(features)
        processor.tokenizer.batch_decode(ids, skip_special_tokens=True)
        times.append(time.perf_counter() - started)
    return times[1:]


def suite_rounds(model_id: str, duration_s: float, rounds: int) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run.json"
        code = pytest.main(
            [
                str(REPO / "benchmarks" / "test_transcribe.py"),
                f"--whisper-models={model_id}",
                f"--whisper-durations={duration_s:g}",
                f"--whisper-rounds={rounds}",
                "--whisper-warmup-rounds=1",
                f"--benchmark-json={out}",
                "--benchmark-save-data",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--rootdir={REPO}",
            ]
        )
        if code != 0:
            raise SystemExit(f"the suite failed (exit {code})")
        (bench,) = json.loads(out.read_text())["benchmarks"]
        return list(bench["stats"]["data"])


def paired_rounds(session: Session, samples, rounds: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Per-pair ratios (suite path / bare) for ``rounds`` alternating pairs.

    The suite path is the session's own Transcriber (hooks, sync points) inside the session's
    open meter window (RSS sampler running), as ``Session.measure`` runs it.
    """
    transcriber, meters = session.transcriber, session.meters
    transcriber([samples])  # warm-up
    bare_rounds(session.loaded, samples, 1)
    meters.begin()
    ratios = []
    try:
        for _ in range(rounds):
            (bare_s,) = bare_rounds(session.loaded, samples, 1)
            started = time.perf_counter()
            transcriber([samples])
            ratios.append((time.perf_counter() - started) / bare_s)
    finally:
        meters.end()
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--paired", action="store_true", help="alternate round by round")
    args = parser.parse_args()

    import transformers

    transformers.logging.set_verbosity_error()
    options = RunOptions(model=args.model, dtype="float32", device="cpu", idle_s=0.0)
    (clip,) = synthetic_batch("short", args.duration, 1)
    with open_session(options) as session:
        run(args, session, clip)


def run(args: argparse.Namespace, session: Session, clip) -> None:  # type: ignore[no-untyped-def]
    loaded = session.loaded
    if args.paired:
        ratios = paired_rounds(session, clip.samples, args.rounds)
        quartiles = statistics.quantiles(ratios, n=4)
        print(
            f"{args.model}, {args.duration:g} s speech, {len(ratios)} pairs, torch threads "
            f"{torch.get_num_threads()}\nper-pair ratio suite path / bare: median "
            f"{statistics.median(ratios):.4f} (quartiles {quartiles[0]:.4f}-{quartiles[2]:.4f})"
        )
        return
    bare: list[float] = []
    suite: list[float] = []
    for trial in range(args.trials):
        bare += bare_rounds(loaded, clip.samples, args.rounds)
        suite += suite_rounds(args.model, args.duration, args.rounds)
        print(
            f"trial {trial}: bare median {statistics.median(bare):.4f} s, "
            f"suite median {statistics.median(suite):.4f} s"
        )
    ratio = statistics.median(suite) / statistics.median(bare)
    print(
        f"\n{args.model}, {args.duration:g} s speech, {len(bare)} rounds each, "
        f"torch threads {torch.get_num_threads()}\n"
        f"bare generate loop : median {statistics.median(bare):.4f} s/round "
        f"(min {min(bare):.4f})\n"
        f"suite (as reported): median {statistics.median(suite):.4f} s/round "
        f"(min {min(suite):.4f})\n"
        f"ratio suite/bare   : {ratio:.4f} (median), {min(suite) / min(bare):.4f} (min)"
    )


if __name__ == "__main__":
    main()
