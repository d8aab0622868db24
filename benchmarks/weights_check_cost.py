"""What does verifying the converted weights cost? The sha256 check of a cached conversion vs
loading the model it guards.

Run: ``python benchmarks/weights_check_cost.py [--models tiny.en,base] [--pairs 10]``

Alternates (A B A B ...) in one process, per model, on a converted checkpoint already in the
cache (``$WHISPERBENCH_CACHE_DIR``; the first call converts it, outside the pairs):

- A, check: ``packaged_checkpoint(model)`` on a cache hit: every file of the conversion is
  hashed and compared with the sha256 recorded when it was written;
- B, load: ``load_model(model, source="packaged")``, float32 on CPU, which includes A once.

Prints the median seconds of each, and A / B: the share of a load that the check takes. The
files are in the page cache after the first pass, as they are for back-to-back runs; a cold
cache makes both slower (the load reads the same bytes). Not a test: timing assertions do not
belong in the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import time

from whisperbench.models.loading import load_model
from whisperbench.models.packaged import packaged_checkpoint
from whisperbench.models.precision import resolve
from whisperbench.models.registry import get_spec


def pairs(model_id: str, count: int) -> tuple[list[float], list[float], int]:
    """``count`` (check seconds, load seconds) pairs, alternating; and the bytes checked."""
    converted = packaged_checkpoint(model_id)  # converts on first use, outside the pairs
    size = sum(p.stat().st_size for p in converted.path.iterdir())
    spec, precision = get_spec(model_id), resolve("cpu", "float32")
    checks, loads = [], []
    for _ in range(count):
        started = time.perf_counter()
        hit = packaged_checkpoint(model_id)
        checks.append(time.perf_counter() - started)
        assert hit.from_cache, "the cache entry was converted again: damaged?"
        started = time.perf_counter()
        load_model(spec, precision, source="packaged")
        loads.append(time.perf_counter() - started)
    return checks, loads, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--pairs", type=int, default=10)
    args = parser.parse_args()
    for model_id in args.models.split(","):
        checks, loads, size = pairs(model_id, args.pairs)
        check, load = statistics.median(checks), statistics.median(loads)
        ratios = sorted(c / d for c, d in zip(checks, loads, strict=True))
        print(
            f"{model_id}: {size / 1e6:.0f} MB checked in {check:.3f} s (median of {args.pairs}; "
            f"{min(checks):.3f}-{max(checks):.3f}), load {load:.2f} s; check / load median "
            f"{statistics.median(ratios):.3f} (range {ratios[0]:.3f}-{ratios[-1]:.3f})"
        )


if __name__ == "__main__":
    main()
