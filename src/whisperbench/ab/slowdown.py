"""A deliberate slowdown of known size, to measure whether the gate catches one.

Used only by ``benchmarks/gate_error_rates.py`` (through the worker's ``--slowdown`` and a
pytest plugin of that script); nothing else in whisperbench turns it on, and a result that
ran with it says so (``ab`` prints it in the header of its table).

How: the loaded model's ``generate`` is wrapped so that, after each real call, it
busy-waits ``fraction`` x the call's own duration, inside the measured window. Every round
is therefore slower by ``fraction`` of its ``generate`` time (on tiny.en on a CPU,
``generate`` is above 99% of a round), whatever the machine's load at that moment; the wait
spins, so it occupies a core like real work would. On CUDA ``generate`` may return before
the GPU is done, so the wait would overlap GPU work: the knob is meant for CPU runs.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

__all__ = ["slow_down"]


def slow_down(model: Any, fraction: float) -> None:
    """Make ``model.generate`` slower by ``fraction`` of its own time (0.1: 10% slower).

    Raises ValueError for a fraction that is negative or not finite.
    """
    if not math.isfinite(fraction) or fraction < 0:
        raise ValueError(f"slowdown must be a finite fraction >= 0, got {fraction!r}")
    if fraction == 0:
        return
    generate = model.generate

    @functools.wraps(generate)
    def slowed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        output = generate(*args, **kwargs)
        until = time.perf_counter() + fraction * (time.perf_counter() - started)
        while time.perf_counter() < until:
            pass
        return output

    model.generate = slowed
