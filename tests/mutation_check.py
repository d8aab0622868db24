"""Deliberate bugs, one at a time: does a test catch each? (``python tests/mutation_check.py``)

Each mutation below is a bug that once went unnoticed (issue 12's list): a plain write for the
atomic one, a mean of ratios for the pooled ratio, the idle baselines swapped, RTF and WER
computed wrongly, the gate's significance level loosened. For each, this script copies the
package to a temporary folder, applies the change to the copy's source text, and runs the
tests that should catch it against the copy. A mutation no test catches is a gap: the script
exits 1 and names it. The working tree is never modified.

Not a test itself (its name keeps pytest from collecting it): it runs pytest several times
and takes a few minutes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  #: under src/whisperbench/
    edits: tuple[tuple[str, str], ...]  #: (old, new), each old must occur exactly once
    tests: tuple[str, ...]  #: pytest arguments that should fail with the mutation


MUTATIONS = (
    Mutation(
        "write_json_atomic writes the file in place",
        "jsonio.py",
        (
            (
                "    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _NEW_FILE_MODE)",
                "    temp = target\n"
                "    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _NEW_FILE_MODE)",
            ),
            ("        os.replace(temp, target)\n", ""),
        ),
        ("tests/test_jsonio.py",),
    ),
    Mutation(
        "the report's pooled ratio is a mean of ratios",
        "report/data.py",
        (
            (
                "    return sum(n for n, _ in known) / total if known and total > 0 else None",
                "    ratios = [n / d for n, d in known if d]\n"
                "    return sum(ratios) / len(ratios) if ratios and total > 0 else None",
            ),
        ),
        ("tests/test_report.py",),
    ),
    Mutation(
        "idle power sampled cold after the warm-up (the baselines swapped)",
        "measure.py",
        (
            ('meters.measure_idle("cold")', "MUTATION_PLACEHOLDER"),
            ('meters.measure_idle("warm")', 'meters.measure_idle("cold")'),
            ("MUTATION_PLACEHOLDER", 'meters.measure_idle("warm")'),
        ),
        ("tests/test_measure.py",),
    ),
    Mutation(
        "RTF is audio over inference",
        "metrics.py",
        (
            (
                "    return math.fsum(inference_s) / total_audio",
                "    return total_audio / math.fsum(inference_s)",
            ),
        ),
        ("tests/test_metrics.py",),
    ),
    Mutation(
        "WER without text normalization",
        "metrics.py",
        (("        (normalize_text(r), normalize_text(h)) for r, h", "        (r, h) for r, h"),),
        ("tests/test_metrics.py",),
    ),
    Mutation(
        "WER of references that are all empty is 0 instead of an error",
        "metrics.py",
        (
            (
                '        raise ValueError("wer: every reference is empty after normalization")',
                "        return 0.0",
            ),
        ),
        ("tests/test_metrics.py",),
    ),
    Mutation(
        "the gate's significance level is 0.05, not 0.01",
        "compare/stats.py",
        (("DEFAULT_ALPHA = 0.01", "DEFAULT_ALPHA = 0.05"),),
        ("tests/test_compare_rule_stats.py",),
    ),
    Mutation(
        "the run-level test halves its one-sided p (a one- and two-sided mix-up)",
        "compare/stats.py",
        (
            (
                "        p_greater = float(student.sf(statistic, df))",
                "        p_greater = float(student.sf(statistic, df)) / 2",
            ),
        ),
        ("tests/test_compare_rule_stats.py",),
    ),
)


def _copy(tree: Path) -> None:
    for name in ("src", "tests", "benchmarks", "conftest.py", "pyproject.toml"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, tree / name)


def _apply(tree: Path, mutation: Mutation) -> None:
    path = tree / "src" / "whisperbench" / mutation.path
    text = path.read_text(encoding="utf-8")
    for old, new in mutation.edits:
        count = text.count(old)
        if count != 1:
            raise SystemExit(
                f"mutation {mutation.name!r}: {old!r} occurs {count} times in {mutation.path} "
                "(the source changed: update the mutation)"
            )
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")


def _caught(tree: Path, mutation: Mutation) -> tuple[bool, str]:
    """Run the mutation's tests on the mutated copy: (a test failed, pytest's last line)."""
    env = dict(os.environ, PYTHONPATH=str(tree / "src"))  # the copy before the installed one
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
    command += list(mutation.tests)
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return done.returncode == 1, lines[-1] if lines else done.stderr.strip()[-200:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default="", help="only mutations whose name contains this")
    args = parser.parse_args(argv)
    missed = []
    for mutation in MUTATIONS:
        if args.k not in mutation.name:
            continue
        with tempfile.TemporaryDirectory(prefix="whisperbench-mutation-") as folder:
            tree = Path(folder)
            _copy(tree)
            _apply(tree, mutation)
            caught, last = _caught(tree, mutation)
        print(f"{'caught' if caught else 'MISSED'}: {mutation.name} ({last})", flush=True)
        if not caught:
            missed.append(mutation.name)
    if missed:
        print(f"{len(missed)} mutation(s) no test caught: {'; '.join(missed)}")
        return 1
    print("every mutation was caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
