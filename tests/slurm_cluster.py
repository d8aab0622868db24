"""A real one-node SLURM cluster for tests, from Debian's packages (slurmctld, slurmd,
slurm-client), started in a temporary folder and stopped afterwards.

No munge (``AuthType=auth/none``, ``CredType=cred/none``), daemons as root in the foreground
on free local ports, the node at 127.0.0.1 under this machine's short host name,
``proctrack/linuxproc`` and ``task/none`` (no cgroups needed), no accounting database (the
sweep reads outcomes from its shard files). ``.ci/run`` installs the packages.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel")


@dataclass(frozen=True)
class Cluster:
    """A running cluster: point ``SLURM_CONF`` at :attr:`conf` to use it."""

    conf: Path
    node: str
    folder: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if shutil.which(name) is None]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _conf(folder: Path, node: str, cpus: int, memory_mb: int) -> str:
    return f"""\
ClusterName=whisperbench-test
SlurmctldHost={node}(127.0.0.1)
AuthType=auth/none
CredType=cred/none
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=10
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


@contextmanager
def one_node_cluster(folder: Path, start_timeout_s: float = 60.0) -> Iterator[Cluster]:
    """Start slurmctld and slurmd, wait until the node is idle, stop both afterwards.

    Raises:
        RuntimeError: the node did not come up (the daemons' logs are in the message).
    """
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    node = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    memory_mb = int(psutil.virtual_memory().total / 2**20 * 0.8)
    conf = folder / "slurm.conf"
    conf.write_text(_conf(folder, node, cpus, memory_mb), encoding="utf-8")
    cluster = Cluster(conf, node, folder)
    env = cluster.env()
    daemons = []
    try:
        for command in (["slurmctld", "-D", "-i", "-f", str(conf)],
                        ["slurmd", "-D", "-f", str(conf), "-N", node]):  # fmt: skip
            log = (folder / f"{command[0]}.out").open("wb")
            daemons.append(subprocess.Popen(command, env=env, stdout=log, stderr=log))
            log.close()
            time.sleep(0.5)
        deadline = time.monotonic() + start_timeout_s
        while True:
            state = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=env,
                                   capture_output=True, text=True)  # fmt: skip
            if state.returncode == 0 and state.stdout.strip().startswith("idle"):
                break
            if time.monotonic() > deadline or any(d.poll() is not None for d in daemons):
                logs = "\n".join(
                    p.read_text(errors="replace")[-2000:] for p in sorted(folder.glob("*.out"))
                )
                raise RuntimeError(
                    f"SLURM node not idle ({state.stdout!r} {state.stderr!r}):\n{logs}"
                )
            time.sleep(0.5)
        yield cluster
    finally:
        subprocess.run(["scancel", "--user=root"], env=env, capture_output=True)
        for daemon in reversed(daemons):
            daemon.terminate()
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
