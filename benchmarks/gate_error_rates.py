"""How often does the gate cry wolf, and how often does it catch a real 10% slowdown?

Measured, not promised: on this machine, with and without a CPU-heavy process beside the
runs, for both ways of gating:

- ``whisperbench ab`` (two versions interleaved): A/A (the same code on both sides) and
  A/slowed, through the real workers and protocol (:func:`whisperbench.ab.runner.run_ab`);
- ``whisperbench compare`` on stored runs: real ``pytest benchmarks`` processes of the same
  code, and of a slowed one.

The slowdown is injected honestly and only here: B's ``generate`` busy-waits 10% of its own
duration after every call, inside the measured window (:mod:`whisperbench.ab.slowdown`; the
ab worker's ``--slowdown``, and for ``pytest`` runs this module loaded as a plugin,
``-p gate_error_rates`` with ``WHISPERBENCH_GATE_SLOWDOWN=0.1``, which applies it to every
session the suite opens). Nothing else in whisperbench turns it on.

Usage::

    python benchmarks/gate_error_rates.py record DIR --condition quiet --cycles 60
    python benchmarks/gate_error_rates.py record DIR --condition loaded --hog --cycles 60
    python benchmarks/gate_error_rates.py analyze DIR

``record`` repeats a cycle (an A/A process pair of ab workers, an A/slowed one, a stored run
of A and one of the slowed B: interleaved, so all four see the same machine states) and keeps
every result as pytest-benchmark JSON under ``DIR/CONDITION/``; it resumes where it stopped.
``--hog`` runs ``python -c "while True: pass"`` beside it for the whole recording. ``analyze``
draws many gate decisions from the recorded pool with the gate's own rule
(:func:`whisperbench.compare.rule.decide`): an A/B decision of K process pairs x P pairs
draws K recorded process pairs (first P pairs of each) without replacement; a stored-run
decision of n vs n runs draws disjoint runs. The draws overlap, so a rate's uncertainty is
the pool's, not the draws': with 60 recorded process pairs, a rate of 0% says no draw from
these 60 failed, not that failures cannot happen (no interval is computed; the normal model
line beside it says what the measured spread implies for other K). It also prints the
variance at each level (Kalibera & Jones): between pairs inside a process, and between
processes.

Not a test: it takes hours and measures the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SLOWDOWN_ENV = "WHISPERBENCH_GATE_SLOWDOWN"
SLOWDOWN = 0.10
#: What every recorded run measures: tiny.en on 5 s of speech, one thread (see --threads).
CASE = {"model": "tiny.en", "dtype": "float32", "audio_duration_s": 5.0, "audio": "short"}


# -- the pytest plugin half: slows every session of a stored "B" run -------------------------


def pytest_configure(config: Any) -> None:
    """Loaded with ``-p gate_error_rates``: when ``WHISPERBENCH_GATE_SLOWDOWN`` is set, every
    session the suite opens gets the deliberate slowdown (and nothing else changes)."""
    fraction = float(os.environ.get(SLOWDOWN_ENV, "0") or 0)
    if not fraction:
        return
    from whisperbench.ab.slowdown import slow_down
    from whisperbench.session import Session

    original = Session.__init__

    def slowed_init(self: Session, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        slow_down(self.loaded.model, fraction)

    Session.__init__ = slowed_init  # type: ignore[method-assign]


# -- recording ---------------------------------------------------------------------------------


def _worker_args(threads: int) -> list[str]:
    from whisperbench.ab.cli import worker_arguments
    from whisperbench.options import RunOptions

    return worker_arguments(
        RunOptions(
            model=CASE["model"],
            dtype=CASE["dtype"],
            device="cpu",
            audio_duration_s=CASE["audio_duration_s"],
            audio=CASE["audio"],
            threads=threads,
        )
    )


def _record_ab(folder: Path, index: int, slowed: bool, pairs: int, threads: int) -> None:
    from whisperbench.ab.cli import side_document
    from whisperbench.ab.runner import Version, run_ab
    from whisperbench.jsonio import write_json_atomic
    from whisperbench.options import RunOptions
    from whisperbench.pytest_plugin import case_id, case_params

    src = str(REPO / "src")
    a = Version("A", sys.executable, src)
    extra = ("--slowdown", str(SLOWDOWN)) if slowed else ()
    b = Version("B", sys.executable, src, extra)
    (side_a,), (side_b,) = run_ab(a, b, _worker_args(threads), 1, pairs)
    options = RunOptions(model=CASE["model"], dtype=CASE["dtype"], audio_duration_s=5.0)
    case, params = case_id(options), case_params(options)
    for label, side in (("a", side_a), ("b", side_b)):
        document = side_document(label.upper(), side, case, params, pairs)
        document["whisperbench"]["loadavg_1m"] = os.getloadavg()[0]
        write_json_atomic(folder / f"{index:04d}-{label}.json", document)


def _record_stored(target: Path, slowed: bool, rounds: int, threads: int) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "src"), str(REPO / "benchmarks"), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    env[SLOWDOWN_ENV] = str(SLOWDOWN) if slowed else ""
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(REPO / "benchmarks" / "test_transcribe.py"),
        "-p",
        "gate_error_rates",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--rootdir={REPO}",
        f"--whisper-durations={CASE['audio_duration_s']:g}",
        f"--whisper-rounds={rounds}",
        f"--whisper-threads={threads}",
        f"--benchmark-json={target}",
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise SystemExit(f"a stored run failed (exit {done.returncode}): {' | '.join(tail)}")
    from whisperbench.jsonio import write_json_atomic

    document = json.loads(target.read_text())
    document["whisperbench"]["loadavg_1m"] = os.getloadavg()[0]
    document["whisperbench"]["slowdown"] = SLOWDOWN if slowed else 0.0
    write_json_atomic(target, document)


def record(args: argparse.Namespace) -> None:
    root = args.dir / args.condition
    folders = {name: root / name for name in ("ab-aa", "ab-slow", "stored-a", "stored-b")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    hog = None
    if args.hog:
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        print(f"CPU hog running beside the runs: pid {hog.pid}", flush=True)
    try:
        for cycle in range(args.cycles):
            index = len(list(folders["stored-b"].glob("*.json")))
            started = time.monotonic()
            _record_ab(folders["ab-aa"], index, False, args.pairs, args.threads)
            _record_ab(folders["ab-slow"], index, True, args.pairs, args.threads)
            _record_stored(
                folders["stored-a"] / f"{index:04d}.json", False, args.rounds, args.threads
            )
            _record_stored(
                folders["stored-b"] / f"{index:04d}.json", True, args.rounds, args.threads
            )
            print(
                f"{args.condition} cycle {cycle + 1}/{args.cycles} (#{index}) in "
                f"{time.monotonic() - started:.0f} s, load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()


# -- analysis ----------------------------------------------------------------------------------


def _load(folder: Path) -> list[Any]:
    """Every complete run in ``folder`` (one being written by a recording is left out)."""
    from whisperbench.runs import RunError, load_run

    runs = []
    for path in sorted(folder.glob("*.json")):
        try:
            runs.append(load_run(path).benchmarks[0])
        except RunError:
            print(f"  (left out {path.name}: not complete)")
    return runs


def _truncate(bench: Any, pairs: int) -> Any:
    """``bench`` with only its first ``pairs`` measured rounds (an ab worker's run)."""
    import dataclasses

    from whisperbench import schema

    info = dict(bench.extra_info)
    info[schema.ROUNDS_INFERENCE_S] = info[schema.ROUNDS_INFERENCE_S][:pairs]
    stats = dict(bench.stats)
    stats["data"] = list(stats["data"])[:pairs]
    return dataclasses.replace(bench, extra_info=info, stats=stats)


def _ab_pool(folder: Path, pairs: int) -> list[tuple[Any, Any]]:
    """The recorded process pairs: (A's run, B's run) from NNNN-a.json and NNNN-b.json."""
    from whisperbench.runs import RunError, load_run

    pool = []
    for a_path in sorted(folder.glob("*-a.json")):
        try:
            a = load_run(a_path).benchmarks[0]
            b = load_run(a_path.with_name(a_path.name.replace("-a.", "-b."))).benchmarks[0]
        except RunError:
            continue  # a pair still being written
        pool.append((_truncate(a, pairs), _truncate(b, pairs)))
    return pool


Draw = Callable[[random.Random], tuple[list[Any], list[Any]]]


def _rate(
    draw: Draw, judge: Callable[[list[Any], list[Any]], bool], draws: int, rng: random.Random
) -> float:
    """Share of ``draws`` decisions drawn by ``draw`` that ``judge`` calls a regression."""
    return sum(judge(*draw(rng)) for _ in range(draws)) / draws


def _paired_draw(pool: Sequence[tuple[Any, Any]], k: int) -> Draw:
    def draw(rng: random.Random) -> tuple[list[Any], list[Any]]:
        chosen = rng.sample(list(pool), k)
        return [a for a, _ in chosen], [b for _, b in chosen]

    return draw


def _aa_runs_draw(pool: Sequence[Any], n: int) -> Draw:
    def draw(rng: random.Random) -> tuple[list[Any], list[Any]]:
        chosen = rng.sample(list(pool), 2 * n)
        return chosen[:n], chosen[n:]

    return draw


def _ab_runs_draw(a_pool: Sequence[Any], b_pool: Sequence[Any], n: int) -> Draw:
    def draw(rng: random.Random) -> tuple[list[Any], list[Any]]:
        return rng.sample(list(a_pool), n), rng.sample(list(b_pool), n)

    return draw


def _judge(threshold: float, paired: bool) -> Callable[[list[Any], list[Any]], bool]:
    from whisperbench.compare.metrics import METRICS
    from whisperbench.compare.rule import Threshold, Verdict, decide
    from whisperbench.compare.stats import DEFAULT_ALPHA

    gate = Threshold(threshold, relative=True)

    def judge(bases: list[Any], news: list[Any]) -> bool:
        decision = decide(METRICS["rtf"], bases, news, gate, DEFAULT_ALPHA, paired=paired)
        return decision.verdict is Verdict.REGRESSION

    return judge


def analyze(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    for condition in sorted(p.name for p in args.dir.iterdir() if p.is_dir()):
        root = args.dir / condition
        print(f"\n=== {condition}: {_machine_state(root)}")
        _analyze_ab(root, args, rng)
        _analyze_stored(root, args, rng)


def _machine_state(root: Path) -> str:
    loads = []
    for path in root.glob("*/*.json"):
        try:
            loads.append(json.loads(path.read_text())["whisperbench"]["loadavg_1m"])
        except (ValueError, KeyError):
            continue
    if not loads:
        return "no load recorded"
    return (
        f"load average (1 min, 2 cores) as each run ended: median {statistics.median(loads):.1f}, "
        f"range {min(loads):.1f}-{max(loads):.1f}"
    )


def _analyze_ab(root: Path, args: argparse.Namespace, rng: random.Random) -> None:
    full_aa = _ab_pool(root / "ab-aa", 99)
    full_slow = _ab_pool(root / "ab-slow", 99)
    if len(full_aa) < 2 or len(full_slow) < 2:
        print("whisperbench ab: too few process pairs recorded yet")
        return
    pairs_max = min(len(a.extra_info["rounds_inference_s"]) for a, _ in full_aa + full_slow)
    print(
        f"whisperbench ab: {len(full_aa)} A/A and {len(full_slow)} A/slowed process pairs "
        f"recorded, {pairs_max} pairs each"
    )
    _levels(full_aa, full_slow)
    print(
        f"  {'K x P':>7}  {'gate':>8}  {'A/A false alarms':>17}  {'10% slowdown caught':>20}"
        "   (random subsets of the recorded process pairs)"
    )
    for k, p in args.ab_grid:
        if k > min(len(full_aa), len(full_slow)) or p > pairs_max:
            continue
        aa = [(_truncate(a, p), _truncate(b, p)) for a, b in full_aa]
        slow = [(_truncate(a, p), _truncate(b, p)) for a, b in full_slow]
        for amount in args.thresholds:
            judge = _judge(amount, paired=True)
            alarms = _rate(_paired_draw(aa, k), judge, args.draws, rng)
            caught = _rate(_paired_draw(slow, k), judge, args.draws, rng)
            print(f"  {k:>3} x {p:<2}  rtf:{amount:g}%  {alarms:>17.1%}  {caught:>20.1%}")
    _model_power(full_slow, pairs_max, args, rng)


def _model_power(
    slow: Sequence[tuple[Any, Any]], pairs: int, args: argparse.Namespace, rng: random.Random
) -> None:
    """Power for more process pairs than were recorded: each process pair's mean log(B/A)
    drawn from a normal with the recorded A/slowed mean and sd (Kalibera & Jones: plan the
    repetitions from the measured variance), judged by the gate's own test."""
    from whisperbench.compare.stats import DEFAULT_ALPHA, paired_test

    logs = [_mean_log_ratio(a, b) for a, b in slow]
    mu, sigma = statistics.fmean(logs), statistics.stdev(logs)
    row = []
    for k in args.model_processes:
        caught = 0
        for _ in range(args.draws // 4):
            values = [rng.gauss(mu, sigma) for _ in range(k)]
            result = paired_test([([1.0], [math.exp(v)]) for v in values], DEFAULT_ALPHA)
            change = result.change or 0.0
            caught += result.p_greater < DEFAULT_ALPHA and change > args.thresholds[0] / 100
        row.append(f"K={k}: {caught / (args.draws // 4):.0%}")
    print(
        f"  model (normal, mean {mu:+.3f}, sd {sigma:.3f} of a process pair's mean log ratio, "
        f"{pairs} pairs): 10% slowdown caught at rtf:{args.thresholds[0]:g}%: " + ", ".join(row)
    )


def _mean_log_ratio(a: Any, b: Any) -> float:
    return statistics.fmean(
        math.log(y / x)
        for x, y in zip(
            a.extra_info["rounds_inference_s"], b.extra_info["rounds_inference_s"], strict=True
        )
    )


def _analyze_stored(root: Path, args: argparse.Namespace, rng: random.Random) -> None:
    from whisperbench.compare.metrics import METRICS
    from whisperbench.compare.stats import DEFAULT_ALPHA, shift_test

    stored_a = _load(root / "stored-a")
    stored_b = _load(root / "stored-b")
    if len(stored_a) < 4 or len(stored_b) < 2:
        print("whisperbench compare: too few stored runs recorded yet")
        return
    print(
        f"whisperbench compare, stored runs: {len(stored_a)} of A and {len(stored_b)} of the "
        "slowed B (real pytest runs, alternating with each other and the ab pairs)"
    )
    _run_spread(stored_a, stored_b)
    print(f"  {'n vs n':>7}  {'gate':>8}  {'A/A false alarms':>17}  {'10% slowdown caught':>20}")
    for n in args.stored_grid:
        if 2 * n > len(stored_a) or n > len(stored_b):
            continue
        for amount in args.thresholds:
            judge = _judge(amount, paired=False)
            alarms = _rate(_aa_runs_draw(stored_a, n), judge, args.draws, rng)
            caught = _rate(_ab_runs_draw(stored_a, stored_b, n), judge, args.draws, rng)
            print(f"  {n:>3} vs {n:<2} rtf:{amount:g}%  {alarms:>17.1%}  {caught:>20.1%}")
    # The rule it replaces: one run per side, rounds as independent samples (MWU), rtf:10%.
    rtf = METRICS["rtf"]
    alarms = total = 0
    for i, base in enumerate(stored_a):
        for new in stored_a[i + 1 :]:
            b_s, n_s = rtf.samples(base), rtf.samples(new)
            if b_s is None or n_s is None:
                continue
            total += 1
            change = statistics.fmean(n_s) / statistics.fmean(b_s) - 1
            alarms += change > 0.10 and shift_test(b_s, n_s).p < DEFAULT_ALPHA
    print(
        f"  the rounds-only rule it replaces (1 vs 1 run, Mann-Whitney on rounds, rtf:10%): "
        f"{alarms} of {total} A/A pairs of stored runs called a regression "
        f"({alarms / max(total, 1):.1%})"
    )


def _levels(aa: Sequence[tuple[Any, Any]], slow: Sequence[tuple[Any, Any]]) -> None:
    """Spread of log(B/A) at each level (Kalibera & Jones): between the pairs inside one
    process pair, and between process pairs (of their mean)."""
    for name, pool in (("A/A", aa), ("A/slowed", slow)):
        per_process, within = [], []
        for a, b in pool:
            ratios = [
                math.log(y / x)
                for x, y in zip(
                    a.extra_info["rounds_inference_s"],
                    b.extra_info["rounds_inference_s"],
                    strict=True,
                )
            ]
            per_process.append(_mean_log_ratio(a, b))
            if len(ratios) > 1:
                within.append(statistics.variance(ratios))
        mean = statistics.fmean(per_process)
        within_sd = math.sqrt(statistics.fmean(within)) if within else float("nan")
        print(
            f"  {name}: B/A {math.exp(mean):.4f} (mean log ratio over process pairs); sd of "
            f"log(B/A) between process pairs {statistics.stdev(per_process):.3f}, between pairs "
            f"inside one {within_sd:.3f}"
        )


def _run_spread(a_runs: Sequence[Any], b_runs: Sequence[Any]) -> None:
    from whisperbench.compare.stats import coefficient_of_variation

    for name, runs in (("A", a_runs), ("B", b_runs)):
        values = [r.extra_info["rtf"] for r in runs]
        inside = [coefficient_of_variation(r.extra_info["rounds_inference_s"]) or 0 for r in runs]
        print(
            f"  {name}: RTF median {statistics.median(values):.4f}; spread (sd/mean) between "
            f"runs {coefficient_of_variation(values):.1%}, of rounds inside a run "
            f"{statistics.median(inside):.1%} (median)"
        )
    ratio = statistics.median(r.extra_info["rtf"] for r in b_runs) / statistics.median(
        r.extra_info["rtf"] for r in a_runs
    )
    print(f"  slowdown as measured (median RTF of B / of A): {ratio:.4f}")


def _grid(text: str) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in item.split("x")) for item in text.split(",")]  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="record a pool of runs")
    rec.add_argument("dir", type=Path)
    rec.add_argument("--condition", required=True, help="name of the machine state, e.g. quiet")
    rec.add_argument("--hog", action="store_true", help="run a CPU-bound loop beside the runs")
    rec.add_argument("--cycles", type=int, default=40)
    rec.add_argument("--pairs", type=int, default=4, help="pairs per ab process pair")
    rec.add_argument("--rounds", type=int, default=5, help="rounds per stored run")
    rec.add_argument("--threads", type=int, default=1, help="torch threads of every run")
    ana = commands.add_parser("analyze", help="error rates from a recorded pool")
    ana.add_argument("dir", type=Path)
    ana.add_argument("--draws", type=int, default=2000, help="decisions drawn per rate")
    ana.add_argument(
        "--model-processes",
        type=lambda t: [int(v) for v in t.split(",")],
        default=[10, 15, 20, 30, 40],
        help="process pair counts for the model's power",
    )
    ana.add_argument("--seed", type=int, default=2013)
    ana.add_argument("--ab-grid", type=_grid, default=_grid("7x3,10x1,10x2,10x3,10x4,15x3"))
    ana.add_argument(
        "--stored-grid", type=lambda t: [int(v) for v in t.split(",")], default=[2, 3, 5, 8]
    )
    ana.add_argument(
        "--thresholds", type=lambda t: [float(v) for v in t.split(",")], default=[5.0, 10.0]
    )
    args = parser.parse_args()
    import transformers

    transformers.logging.set_verbosity_error()
    record(args) if args.command == "record" else analyze(args)


if __name__ == "__main__":
    main()
