"""A sweep worker: one process, one GPU (or the CPU), cells from the shared queue.

The worker runs pytest on :mod:`whisperbench.sweep.cell_benchmark`, parametrized over its
cells, so each cell is timed by pytest-benchmark itself; as soon as a cell finishes, its
pytest-benchmark JSON is written to ``shards/<cell>.json`` (atomically), built by
pytest-benchmark's own ``pytest_benchmark_generate_json`` hook for that one benchmark, so a
shard is exactly what ``--benchmark-json`` would write for it. A cell that fails is recorded
(``shards/<cell>.failed.json``) and the worker goes on with the next.

SIGTERM (SLURM at a job's time limit) and SIGINT stop the worker like Ctrl-C stops pytest:
the cell being measured is recorded as interrupted, finished shards stay, and the GPU's
operating point is restored before the process exits (exit code 2; 0 when every cell it
took is done, 1 when some failed).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Generator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from whisperbench import schema
from whisperbench.jsonio import write_json_atomic
from whisperbench.measure import through_pedantic
from whisperbench.sweep.cells import CellRunner, SkipCell, find_gpu
from whisperbench.sweep.clocks import ClockControlError
from whisperbench.sweep.folder import SweepFolder
from whisperbench.sweep.plan import Cell

__all__ = ["SWEEP_PARAMS", "SweepPlugin", "run_worker"]

log = logging.getLogger("whisperbench.sweep")

#: A sweep benchmark's pytest-benchmark ``params``: the suite's four, then the cell's own.
SWEEP_PARAMS = (
    "whisper_model_id",
    "whisper_dtype",
    "whisper_audio_s",
    "whisper_batch_size",
    "whisper_sm_clock_mhz",
    "whisper_mem_clock_mhz",
    "whisper_power_limit_w",
    "whisper_run",
    "whisper_cell",
)


def _params(cell: Cell) -> tuple[Any, ...]:
    o, p = cell.options, cell.point
    return (o.model, o.dtype, o.audio_duration_s, o.batch_size, p.sm_clock_mhz, p.mem_clock_mhz,
            p.power_limit_w, cell.run, cell.id)  # fmt: skip


class SweepPlugin:
    """The pytest plugin of one worker: parametrizes its cells, writes shards and failures,
    restores clocks when pytest ends."""

    def __init__(self, folder: SweepFolder, runner: CellRunner, cells: Sequence[Cell]) -> None:
        self.folder = folder
        self.runner = runner
        self.cells = {cell.id: cell for cell in cells}
        self.outcomes: dict[str, str] = {}
        self._machine_info: dict[str, Any] | None = None

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "cell_to_measure" in metafunc.fixturenames:
            cells = list(self.cells.values())
            metafunc.parametrize(
                SWEEP_PARAMS, [_params(c) for c in cells], ids=[c.id for c in cells]
            )

    @pytest.fixture
    def cell_to_measure(  # every parameter is requested, so each is in the test's closure
        self,
        whisper_model_id: str,
        whisper_dtype: str,
        whisper_audio_s: float,
        whisper_batch_size: int,
        whisper_sm_clock_mhz: int | None,
        whisper_mem_clock_mhz: int | None,
        whisper_power_limit_w: float | None,
        whisper_run: int,
        whisper_cell: str,
    ) -> Cell:
        return self.cells[whisper_cell]

    @pytest.fixture
    def cell_runner(self) -> CellRunner:
        return self.runner

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        outcome = yield
        report = outcome.get_result()
        cell = self._cell_of(item)
        if cell is None or report.when != "call":
            return
        if report.passed:
            self._write_shard(item, cell)
        elif report.failed:
            error = call.excinfo.exconly() if call.excinfo is not None else report.longreprtext
            self.folder.record_failure(cell, _exception_text(error), worker=self.runner.worker)
            self.outcomes[cell.id] = "failed"
        self.folder.release(cell)

    def _cell_of(self, item: pytest.Item) -> Cell | None:
        callspec = getattr(item, "callspec", None)
        if callspec is None:
            return None
        cell_id = callspec.params.get("whisper_cell")
        return self.cells.get(cell_id) if isinstance(cell_id, str) else None

    def _write_shard(self, item: pytest.Item, cell: Cell) -> None:
        """This cell's pytest-benchmark JSON, by pytest-benchmark's own hooks."""
        from pytest_benchmark.utils import safe_dumps

        config = item.config
        session = config._benchmarksession  # type: ignore[attr-defined]  # pytest-benchmark's own
        mine = [b for b in session.benchmarks if b.fullname == item.nodeid and not b.has_error]
        if not mine:
            self.folder.record_failure(cell, "pytest-benchmark recorded no benchmark")
            return
        if self._machine_info is None:
            self._machine_info = session.get_machine_info()
        commit_info = config.hook.pytest_benchmark_generate_commit_info(config=config)
        config.hook.pytest_benchmark_update_commit_info(config=config, commit_info=commit_info)
        output = config.hook.pytest_benchmark_generate_json(
            config=config,
            benchmarks=mine[-1:],
            include_data=True,
            machine_info=self._machine_info,
            commit_info=commit_info,
        )
        config.hook.pytest_benchmark_update_json(
            config=config, benchmarks=mine[-1:], output_json=output
        )
        write_json_atomic(self.folder.shard(cell), _json_safe(safe_dumps, output))
        self.folder.failure(cell).unlink(missing_ok=True)
        self.outcomes[cell.id] = "done"

    def pytest_benchmark_update_machine_info(
        self, config: pytest.Config, machine_info: dict[str, Any]
    ) -> None:
        from whisperbench.meters.device_state import machine_info as whisper_machine_info

        machine_info[schema.WHISPERBENCH] = whisper_machine_info()

    @pytest.hookimpl(trylast=True)
    def pytest_benchmark_update_json(
        self, config: pytest.Config, benchmarks: list[Any], output_json: dict[str, Any]
    ) -> None:
        output_json[schema.WHISPERBENCH] = {
            schema.SCHEMA_VERSION_FIELD: schema.SCHEMA_VERSION,
            schema.SWEEP: self.folder.plan.name,
        }

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.runner.close()


def _exception_text(exconly: str) -> str:
    """``Type: message`` of a failed cell, without the exception's module path (4000 chars)."""
    text = exconly.strip()
    head, sep, rest = text.partition(": ")
    return (f"{head.rsplit('.', 1)[-1]}{sep}{rest}" if sep else text)[:4000]


def _json_safe(dumps: Any, output: dict[str, Any]) -> Any:
    """What pytest-benchmark would write (its SafeJSONEncoder), as plain JSON values."""
    import json

    return json.loads(dumps(output, ensure_ascii=True))


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _worker_log(folder: SweepFolder) -> logging.Handler:
    logs = folder.root / "logs"
    logs.mkdir(exist_ok=True)
    handler = logging.FileHandler(
        logs / f"worker-{socket.gethostname()}-{os.getpid()}.log", encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    return handler


def run_worker(
    root: Path,
    *,
    run: int | None = None,
    cell_indices: Sequence[int] | None = None,
    gpu_uuid: str | None = None,
    clocks: str = "set",
) -> int:
    """Measure the cells of ``run`` (or the given indices) that are still pending.

    Returns 0 when every cell this worker was given is done, 1 when some failed, 2 when
    interrupted or when the GPU's operating point cannot be controlled (nothing measured).
    """
    import psutil

    started = psutil.Process().create_time()
    folder = SweepFolder.open(root)
    cells = [
        c
        for c in folder.cells
        if (run is None or c.run == run) and (cell_indices is None or c.index in cell_indices)
    ]
    handler = _worker_log(folder)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return _run(folder, cells, gpu_uuid, clocks, started)
    finally:
        signal.signal(signal.SIGTERM, previous)
        log.removeHandler(handler)
        handler.close()


def _run(
    folder: SweepFolder, cells: list[Cell], gpu_uuid: str | None, clocks: str, started: float
) -> int:
    import transformers

    transformers.logging.set_verbosity_error()
    try:
        gpu = find_gpu(gpu_uuid)
        runner = CellRunner(folder, gpu, clocks=clocks, process_started_unix_s=started)
    except ClockControlError as error:
        log.error("worker cannot start: %s", error)
        for cell in cells:
            if folder.status(cell).state == "pending":
                folder.record_failure(cell, str(error))
        return 2
    plugin = SweepPlugin(folder, runner, cells)
    module = Path(__file__).with_name("cell_benchmark.py")  # handed to pytest, not imported
    ini = folder.root / ".pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")
    args = [
        str(module),
        "-c", str(ini),
        f"--rootdir={module.parent}",
        f"--confcutdir={module.parent}",
        "-o", f"python_files={module.name}",
        "-p", "no:cacheprovider",
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
        "-q",
    ]  # fmt: skip
    try:
        code = pytest.main(args, plugins=[plugin])
    finally:
        runner.close()
    if code == pytest.ExitCode.INTERRUPTED:
        return 2
    taken = [c for c in cells if plugin.outcomes.get(c.id)]
    failed = [c for c in taken if plugin.outcomes[c.id] == "failed"]
    log.info("worker done: %d cell(s) measured, %d failed", len(taken) - len(failed), len(failed))
    return 1 if failed else 0


def skip_or_measure(runner: CellRunner, cell: Cell, benchmark: Any) -> None:
    """The body of the cell benchmark: claim, then measure through pytest-benchmark."""
    try:
        runner.claim(cell)
    except SkipCell as why:
        pytest.skip(str(why))
    folder = runner.folder

    benchmark.group = f"{cell.options.model} {cell.options.dtype} {cell.point.label}"
    try:
        info = runner.measure(cell, through_pedantic(benchmark))
    except KeyboardInterrupt as stop:
        folder.record_failure(cell, f"interrupted ({stop or 'SIGINT'}) while measuring",
                              worker=runner.worker)  # fmt: skip
        folder.release(cell)
        raise
    benchmark.extra_info.update(info)
