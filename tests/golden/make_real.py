"""Write the REAL golden runs in this folder: real runs of ``pytest benchmarks`` here.

Run from the repository root with the package importable (``python tests/golden/make_real.py``);
it takes a few minutes. What each file is:

- ``real_cpu_default_a.json``, ``real_cpu_default_b.json``: the suite's defaults (tiny.en,
  float32, 5/10/20 s, batch 1, 5 rounds, torch's threads), twice back to back: the A/A pair
  a rounds-only gate called a regression on a busy machine.
- ``real_cpu_threads1_{1,2,3}.json``: three runs with one thread, 8 rounds, 5 and 10 s of
  speech.
- ``real_cpu_threads1_slowed_{1,2,3}.json``: the same with a deliberate slowdown: every
  ``generate`` busy-waits as long again as it took (+100%), through the plugin of
  ``benchmarks/gate_error_rates.py`` (``-p gate_error_rates``, ``WHISPERBENCH_GATE_SLOWDOWN=1``).
  A slowdown in proportion to each call stays visible however busy the machine is; a CPU
  hog beside the run (what these files held before) did not, on a machine shared with
  other work.
- ``ab/a-{1..7}.json``, ``ab/b-{1..7}.json``: ``whisperbench ab`` (tiny.en, 5 s, one thread,
  7 process pairs x 3 pairs), B's workers slowed the same way (``--slowdown 1``): the
  interleaved A/B evidence the gate decides on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def suite(target: Path, *options: str, slowdown: float = 0.0) -> None:
    command = [sys.executable, "-m", "pytest", "benchmarks", "-q", "-p", "no:cacheprovider"]
    command += [*options, f"--benchmark-json={target}"]
    env = dict(os.environ)
    if slowdown:
        command[4:4] = ["-p", "gate_error_rates"]
        parts = [str(REPO / "benchmarks"), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(part for part in parts if part)
        env["WHISPERBENCH_GATE_SLOWDOWN"] = str(slowdown)
    subprocess.run(command, cwd=REPO, check=True, env=env)
    print("wrote", target)


def ab(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    src = str(REPO / "src")
    command = [sys.executable, "-m", "whisperbench.cli", "ab", "--a-path", src, "--b-path", src]
    command += ["--model", "tiny.en", "--dtype", "float32", "--device", "cpu", "--threads", "1"]
    command += ["--audio-duration", "5", "--audio", "short", "--processes", "7", "--pairs", "3"]
    command += ["--b-worker-arg=--slowdown", "--b-worker-arg=1", "--output-dir", str(folder)]
    subprocess.run(command, cwd=REPO, check=False)  # exit 1: the regression it records
    print("wrote", folder)


#: The engine axes' params (added after the first runs were recorded), with the values every
#: run before them measured: transformers, a dynamic KV cache, no compile.
ENGINE_PARAMS = {
    "whisper_engine": "transformers",
    "whisper_kv_cache": "dynamic",
    "whisper_compile": "off",
}


def with_engine_params(path: Path) -> None:
    """Give a run recorded before the engine axes existed their params, with the values it ran
    with (the only engine and settings there were; ``whisperbench.runs`` reads such runs the
    same way). Its measurements are untouched. Used for ``real_cpu_same_code_{a,b}.json``,
    which come from a recording and cannot be run again."""
    import json

    document = json.loads(path.read_text())
    for bench in document["benchmarks"]:
        bench["params"] = {
            **bench["params"],
            **{k: bench["params"].get(k, v) for k, v in ENGINE_PARAMS.items()},
        }
    text = path.read_text()
    indent = 4 if text.startswith("{\n") else None  # keep the file's own layout
    path.write_text(json.dumps(document, indent=indent) + ("\n" if text.endswith("\n") else ""))
    print("extended the params of", path)


def main() -> None:
    for name in ("a", "b"):
        suite(HERE / f"real_cpu_default_{name}.json")
    threads1 = ("--whisper-threads=1", "--whisper-rounds=8", "--whisper-durations=5,10")
    for index in (1, 2, 3):
        suite(HERE / f"real_cpu_threads1_{index}.json", *threads1)
        suite(HERE / f"real_cpu_threads1_slowed_{index}.json", *threads1, slowdown=1.0)
    ab(HERE / "ab")
    for name in ("a", "b"):
        with_engine_params(HERE / f"real_cpu_same_code_{name}.json")


if __name__ == "__main__":
    main()
