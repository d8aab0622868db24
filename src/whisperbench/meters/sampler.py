"""A background thread that samples one reading at a fixed interval (power, RSS)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Sampler"]


class Sampler:
    """Calls ``read()`` every ``interval_s`` seconds on a daemon thread.

    The first sample is taken in :meth:`start` and the last in :meth:`stop`, both on the
    caller's thread, so the samples always span the whole interval. A sample's time is the
    midpoint of its ``read()`` call (``clock`` seconds). ``read()`` returns ``None`` for a
    failed sample (counted in :attr:`failures`); an exception ends sampling and is kept in
    :attr:`error` (the thread never dies with an unhandled exception).
    """

    def __init__(
        self,
        read: Callable[[], float | None],
        interval_s: float,
        *,
        name: str,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self._read = read
        self.interval_s = interval_s
        self.name = name
        self._clock = clock
        self.samples: list[tuple[float, float]] = []
        self.failures = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True while the sampling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _take(self) -> None:
        start = self._clock()
        value = self._read()
        end = self._clock()
        if value is None:
            self.failures += 1
        else:
            self.samples.append(((start + end) / 2.0, float(value)))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._take()
            except Exception as exc:
                self.error = exc
                return

    def start(self) -> None:
        """Clear old samples, take the first one, start the thread."""
        if self.running:
            raise RuntimeError(f"sampler {self.name} already running")
        self.samples = []
        self.failures = 0
        self.error = None
        self._stop = threading.Event()
        self._take()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> list[tuple[float, float]]:
        """Stop and join the thread, take the last sample, return all samples. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return self.samples
        self._stop.set()
        thread.join()
        if self.error is None:
            try:
                self._take()
            except Exception as exc:
                self.error = exc
        return self.samples
