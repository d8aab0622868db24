"""How long does the command line take to start? ``whisperbench --help``, ``models`` and more.

Each command runs as a fresh process (``python -m whisperbench.cli ...``), timed by the wall
clock from start to exit, ``--runs`` times; ``python -c pass`` is the interpreter's own floor.
With ``--against SRC`` every command alternates between this checkout's package (A) and the one
under SRC (B), A B A B, so drift on a shared machine hits both alike, and the table gives the
per-pair ratio B/A::

    python benchmarks/startup.py --runs 10
    python benchmarks/startup.py --runs 10 --against /path/to/other/checkout/src

What is imported (not how long) is tested in tests/test_startup.py; ``python -X importtime -m
whisperbench.cli --help`` shows where the time goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "src"
GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden" / "synthetic_a100_base_1.json"


def commands(out: Path) -> dict[str, list[str]]:
    """Label -> arguments after ``python``: the floor, then each command's start."""
    cli = ["-m", "whisperbench.cli"]
    return {
        "python -c pass": ["-c", "pass"],
        "whisperbench --help": [*cli, "--help"],
        "whisperbench run --help": [*cli, "run", "--help"],
        "whisperbench models": [*cli, "models"],
        "whisperbench compare --help": [*cli, "compare", "--help"],
        "whisperbench compare A A (U-test)": [*cli, "compare", str(GOLDEN), str(GOLDEN)],
        "whisperbench report --help": [*cli, "report", "--help"],
        "whisperbench report A (figures)": [*cli, "report", str(GOLDEN), "-o", str(out)],
    }


def timed(args: list[str], src: Path) -> float:
    """Wall seconds of one ``python *args`` with ``src`` first on the import path."""
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.decode()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="Runs per command. Default: 10")
    parser.add_argument(
        "--against", type=Path, default=None, metavar="SRC",
        help="Another checkout's src/ to alternate with (B). Default: none",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for label, argv in commands(Path(tmp) / "report").items():
            timed(argv, HERE)  # warm the file cache once; not counted
            a: list[float] = []
            b: list[float] = []
            for _ in range(args.runs):
                a.append(timed(argv, HERE))
                if args.against is not None:
                    b.append(timed(argv, args.against))
            rows.append((label, a, b))
    print(f"{args.runs} runs each, wall seconds: median (min-max)")
    header = f"{'command':<34}{'A: this checkout':>22}"
    if args.against is not None:
        header += f"{'B: ' + str(args.against):>30}{'B/A (median of pairs)':>24}"
    print(header)
    for label, a, b in rows:
        line = f"{label:<34}{_summary(a):>22}"
        if b:
            ratio = statistics.median(y / x for x, y in zip(a, b, strict=True))
            line += f"{_summary(b):>30}{ratio:>24.2f}"
        print(line)


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


if __name__ == "__main__":
    main()
