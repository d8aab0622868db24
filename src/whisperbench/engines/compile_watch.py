"""Count torch.compile's compilations and their wall seconds, through dynamo's compile
callbacks (``torch._dynamo.callback.callback_handler``).

Every compilation dynamo starts, the first and each recompilation after a guard fails, runs
the start and end callbacks once; the watch counts them and adds up the seconds between.
The engine takes a reading around each call, so a round knows how many compilations it held:
warm-up keeps going until a round compiles nothing, and the window's count is recorded and
must be 0 (:class:`whisperbench.schema.CompileFacts`).
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["CompileWatch"]


class CompileWatch:
    """Compilations and their seconds since the watch was made. Close it to unregister."""

    def __init__(self) -> None:
        from torch._dynamo.callback import callback_handler

        self._handler = callback_handler
        self.compiles = 0
        self.compile_s = 0.0
        self._started: float | None = None
        callback_handler.register_start_callback(self._start)
        callback_handler.register_end_callback(self._end)
        self._open = True

    def _start(self, _args: Any) -> None:
        self._started = time.perf_counter()

    def _end(self, _args: Any) -> None:
        if self._started is not None:
            self.compile_s += time.perf_counter() - self._started
            self._started = None
        self.compiles += 1

    def reading(self) -> tuple[int, float]:
        """``(compilations, seconds)`` so far."""
        return self.compiles, self.compile_s

    def close(self) -> None:
        """Unregister the callbacks. Idempotent."""
        if self._open:
            self._open = False
            self._handler.remove_start_callback(self._start)
            self._handler.remove_end_callback(self._end)
