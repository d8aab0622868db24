"""The local executor: one worker process per GPU on this machine (one CPU worker without
GPUs), all taking cells from the sweep folder's queue.

Each worker is pinned to its GPU (``CUDA_VISIBLE_DEVICES=<uuid>``); pytest-benchmark switches
itself off under xdist, so parallelism is processes, merged afterwards. Runs are repeats in
fresh processes: every worker measures run 1's cells, exits, then run 2 starts, so no two
repeats of a cell share a process (its loaded model, allocator state, clocks history).

Before anything runs, the GPUs' operating points are tried (set, then restored) when the plan
asks for them: missing permission is one clear error, not a sweep of failed cells. SIGINT
and SIGTERM are passed to the workers, which restore their GPU before they exit; rerunning
the same command skips every finished cell.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from types import FrameType

from whisperbench import schema
from whisperbench.sweep.clocks import ClockControlError, GpuClocks, restore_leftovers
from whisperbench.sweep.folder import SweepFolder
from whisperbench.sweep.summary import record_execution, write_summary

__all__ = ["LocalGpu", "SweepBusyError", "local_gpus", "preflight", "run_local"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


class SweepBusyError(RuntimeError):
    """Another ``sweep run`` is working in this folder."""


@dataclass(frozen=True)
class LocalGpu:
    """A GPU of this machine: NVML index, UUID and name."""

    index: int
    uuid: str
    name: str | None


def local_gpus(which: str = "all") -> list[LocalGpu]:
    """The GPUs NVML lists (``all``, or NVML indices ``"0,2"``); none without NVML."""
    from whisperbench.devices import parse_gpus
    from whisperbench.meters.nvml_api import import_nvml, nvml_query

    mode, indices = parse_gpus(which)
    if mode == "none":
        return []
    nvml, _ = import_nvml()
    if nvml is None:
        return []
    try:
        count = nvml_query(nvml, "nvmlDeviceGetCount")
        wanted = range(int(count.value or 0)) if mode in ("all", "auto") else indices
        found = []
        for index in wanted:
            handle = nvml_query(nvml, "nvmlDeviceGetHandleByIndex", index)
            if not handle.ok:
                raise ClockControlError(f"NVML index {index}: {handle.reason}")
            uuid = nvml_query(nvml, "nvmlDeviceGetUUID", handle.value)
            name = nvml_query(nvml, "nvmlDeviceGetName", handle.value)
            found.append(LocalGpu(index, str(uuid.value), str(name.value) if name.ok else None))
        return found
    finally:
        nvml.nvmlShutdown()


def preflight(folder: SweepFolder, gpus: list[LocalGpu], clocks: str) -> list[str]:
    """Restore what killed workers left, then try the first operating point on every GPU
    (set, then restore), so missing permission stops the sweep before anything runs.

    Raises:
        ClockControlError: an operating point cannot be set (the message says what to do).
    """
    from whisperbench.meters.nvml_api import import_nvml, nvml_query

    plan = folder.plan
    lines: list[str] = []
    if not gpus:
        if plan.controls_clocks:
            raise ClockControlError(
                "the plan asks for operating points, but NVML lists no GPU here; run it on a "
                "GPU machine, or drop [operating-points]"
            )
        return lines
    nvml, reason = import_nvml()
    if nvml is None:
        raise ClockControlError(f"NVML unavailable: {reason}")
    try:
        host = socket.gethostname()
        lines += restore_leftovers(nvml, folder.restore_dir, host)
        if not plan.controls_clocks or clocks != "set":
            return lines
        first = next(point for point in plan.points if not point.is_default)
        for gpu in gpus:
            handle = nvml_query(nvml, "nvmlDeviceGetHandleByUUID", gpu.uuid)
            control = GpuClocks(nvml, handle.value, gpu.uuid, folder.restore_dir, host, clocks)
            try:
                applied = control.apply(first)
            finally:
                lines += control.restore()
            lines.append(f"GPU {gpu.index} {gpu.name}: {first.label} can be set ({applied.method})")
        return lines
    finally:
        nvml.nvmlShutdown()


def _take_folder(folder: SweepFolder) -> None:
    lock = folder.root / ".sweep.lock"
    host = socket.gethostname()
    if lock.is_file():
        owner_host, _, owner_pid = lock.read_text(encoding="utf-8").partition(":")
        alive = owner_pid.strip().isdigit() and _alive(int(owner_pid))
        if owner_host == host and alive:
            raise SweepBusyError(
                f"another `whisperbench sweep run` (pid {owner_pid.strip()}) is working in "
                f"{folder.root}; wait for it, or stop it first"
            )
    lock.write_text(f"{host}:{os.getpid()}", encoding="utf-8")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_local(
    folder: SweepFolder,
    gpus: list[LocalGpu],
    *,
    clocks: str = "set",
    retry_failed: bool = False,
    python: str = sys.executable,
) -> int:
    """Run every pending cell with one worker per GPU (or one CPU worker); returns 0 when
    all cells are done, 1 when some failed, 130/143 when interrupted."""
    _take_folder(folder)
    try:
        return _run_local(folder, gpus, clocks, retry_failed, python)
    finally:
        (folder.root / ".sweep.lock").unlink(missing_ok=True)


def _run_local(
    folder: SweepFolder, gpus: list[LocalGpu], clocks: str, retry_failed: bool, python: str
) -> int:
    folder.clear_claims()  # whoever held them is gone: this folder is ours now
    if retry_failed:
        folder.clear_failures()
    started = time.time()
    slots: list[LocalGpu | None] = list(gpus) or [None]
    logs = folder.root / "logs"
    logs.mkdir(exist_ok=True)
    stopped: list[int] = []
    workers: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        stopped.append(signum)
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    codes: list[int] = []
    try:
        for run in range(1, folder.plan.runs + 1):
            if stopped:
                break
            workers.clear()
            for slot in slots:
                command = [python, "-m", "whisperbench", "sweep", "worker", str(folder.root),
                           "--run", str(run), "--clocks", clocks]  # fmt: skip
                env = dict(os.environ)
                if slot is not None:
                    command += ["--gpu-uuid", slot.uuid]
                    env["CUDA_VISIBLE_DEVICES"] = slot.uuid
                name = f"gpu{slot.index}" if slot is not None else "cpu"
                out = (logs / f"{name}-run{run:02d}.out").open("wb")
                workers.append(subprocess.Popen(command, env=env, stdout=out, stderr=out))
                out.close()
            codes += [worker.wait() for worker in workers]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        record_execution(
            folder,
            {
                "executor": "local",
                "host": socket.gethostname(),
                "gpus": [slot.uuid if slot else "cpu" for slot in slots],
                "started_unix_s": started,
                "wall_s": time.time() - started,
                "worker_exit_codes": codes,
                schema.INTERRUPTED_BY: [signal.Signals(s).name for s in stopped],
            },
        )
        summary = write_summary(folder)
    if stopped:
        return EXIT_SIGINT if stopped[0] == signal.SIGINT else EXIT_SIGTERM
    return EXIT_OK if summary["done"] == summary["cells"] else EXIT_FAILED
