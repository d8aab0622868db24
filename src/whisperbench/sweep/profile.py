"""The framework's ``*_profile.csv``: a time series of one cell, sampled through NVML.

One row every ``interval_s`` (100 ms) from the cell's start to its end, with the phase the
cell was in (``load``, ``set_clocks``, ``idle``, ``warmup``, ``measure``, ``done``), so a
power trace can be read against what ran. Columns, units in the names::

    time_unix_s, elapsed_s, phase, power_w, sm_clock_mhz, mem_clock_mhz, temperature_c,
    gpu_util_percent, mem_util_percent, cpu_percent, rss_bytes

GPU columns are empty where there is no GPU (or NVML cannot read a value); the CPU columns
are this process's (psutil). The file is written as it goes (line-buffered), so a killed cell
leaves the trace up to its last second. Sampling costs one NVML read per column per 100 ms on
a thread of its own, outside the measured window's synchronization points.
"""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import psutil

from whisperbench import schema
from whisperbench.meters.nvml_api import nvml_query

__all__ = ["PROFILE_COLUMNS", "ProfileRecorder"]

PROFILE_COLUMNS = (
    "time_unix_s",
    "elapsed_s",
    "phase",
    "power_w",
    schema.SM_CLOCK_MHZ,
    schema.MEM_CLOCK_MHZ,
    "temperature_c",
    "gpu_util_percent",
    "mem_util_percent",
    "cpu_percent",
    "rss_bytes",
)


class ProfileRecorder:
    """Samples one GPU (and this process) to a CSV file on a thread until :meth:`stop`.

    Args:
        path: the CSV file (replaced).
        nvml: an initialized NVML module, or ``None`` without a GPU.
        handle: the GPU's NVML handle (``None`` without a GPU).
        interval_s: seconds between rows.
    """

    def __init__(
        self,
        path: Path,
        nvml: ModuleType | None,
        handle: Any,
        interval_s: float = 0.1,
    ) -> None:
        self.path = path
        self._nvml = nvml
        self._handle = handle
        self._interval_s = interval_s
        self._phase = "start"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: IO[str] | None = None
        self._writer: Any = None
        self._t0 = 0.0
        self._process = psutil.Process()
        self._lock = threading.Lock()  # rows come from the sampler and from mark()
        self.rows = 0

    def mark(self, phase: str) -> None:
        """From now on rows carry ``phase``; a row is written at once at the boundary."""
        self._phase = phase
        if self._writer is not None:
            self._row()

    def _gpu(self, function: str, *args: Any) -> Any:
        if self._nvml is None or self._handle is None:
            return None
        result = nvml_query(self._nvml, function, self._handle, *args)
        return result.value if result.ok else None

    def _row(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._write_row()

    def _write_row(self) -> None:
        power_mw = self._gpu("nvmlDeviceGetPowerUsage")
        sm = self._gpu("nvmlDeviceGetClockInfo", getattr(self._nvml, "NVML_CLOCK_SM", 1))
        mem = self._gpu("nvmlDeviceGetClockInfo", getattr(self._nvml, "NVML_CLOCK_MEM", 2))
        temp = self._gpu("nvmlDeviceGetTemperature", getattr(self._nvml, "NVML_TEMPERATURE_GPU", 0))
        util = self._gpu("nvmlDeviceGetUtilizationRates")
        try:
            cpu: float | None = self._process.cpu_percent(None)
            rss: int | None = int(self._process.memory_info().rss)
        except psutil.Error:
            cpu, rss = None, None
        now = time.time()
        self._writer.writerow(
            [
                f"{now:.3f}",
                f"{time.perf_counter() - self._t0:.3f}",
                self._phase,
                "" if power_mw is None else f"{power_mw / 1000:.3f}",
                _text(sm),
                _text(mem),
                _text(temp),
                _text(getattr(util, "gpu", None)),
                _text(getattr(util, "memory", None)),
                _text(cpu),
                _text(rss),
            ]
        )
        self.rows += 1

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._row()

    def start(self, phase: str = "start") -> None:
        """Open the file, write the header and the first row, start sampling."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._stream = self.path.open("w", encoding="utf-8", newline="", buffering=1)
        self._writer = csv.writer(self._stream)
        self._writer.writerow(PROFILE_COLUMNS)
        self._t0 = time.perf_counter()
        self._process.cpu_percent(None)  # the first call only starts psutil's counter
        self._phase = phase
        self._row()
        self._thread = threading.Thread(target=self._run, name="whisperbench-profile", daemon=True)
        self._thread.start()

    def stop(self, phase: str = "done") -> None:
        """Write a last row in ``phase``, stop the thread, close the file. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()
        self._phase = phase
        self._row()
        assert self._stream is not None
        self._stream.close()
        self._writer = None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
