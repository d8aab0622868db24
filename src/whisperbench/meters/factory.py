"""Build the :class:`~whisperbench.meters.base.MeterSet` for a run from plain options."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType

from whisperbench.devices import cuda_ordinal, parse_gpus, synchronizer
from whisperbench.meters.base import Meter, MeterSet, NullEnergyMeter
from whisperbench.meters.device_state import DeviceStateMeter, GpuRef
from whisperbench.meters.gpu_mapping import (
    GpuTarget,
    resolve_cuda_ordinal,
    resolve_nvml_index,
    torch_cuda_uuid,
)
from whisperbench.meters.memory import MemoryMeter
from whisperbench.meters.nvml_api import import_nvml, nvml_query
from whisperbench.meters.nvml_edges import CounterEdges
from whisperbench.meters.nvml_energy import NvmlEnergyMeter
from whisperbench.meters.rapl import DEFAULT_POWERCAP_ROOT, RaplEnergyMeter, discover_rapl
from whisperbench.meters.rapl import read_text as _read_sysfs
from whisperbench.meters.readings import Reading

__all__ = ["build_meter_set"]


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def build_meter_set(
    *,
    device: str,
    gpus: str = "auto",
    idle_s: float = 1.0,
    min_window_s: float = 5.0,
    rapl_root: Path = DEFAULT_POWERCAP_ROOT,
    nvml_module: ModuleType | None = None,
    synchronize: Callable[[], None] | None = None,
    temperature_rise_limit_c: float = 10.0,
    power_poll_interval_s: float = 0.05,
    rss_interval_s: float = 0.05,
    align_to_counter: bool = True,
    cuda_uuid_lookup: Callable[[int], str | None] | None = torch_cuda_uuid,
    cuda_memory: bool | None = None,
    rapl_reader: Callable[[Path], str] = _read_sysfs,
    environ: Mapping[str, str] | None = None,
) -> MeterSet:
    """The meters for one run: device state, memory, RAPL, and NVML energy per GPU.

    Args:
        device: where the model runs: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        gpus: which GPUs to meter. ``"auto"``: the CUDA device the model runs on (none on
            CPU), mapped to NVML by UUID. ``"all"``: every GPU NVML sees (a CPU run can still
            meter a node's GPUs). ``"0,2"``: those NVML indices. ``"none"``: no GPU.
            With GPUs selected, the window's ``energy_j`` is the GPUs' sum; a selected GPU
            that cannot be metered makes it ``None`` with the reason (never a silent fall-back
            to fewer GPUs or to the CPU). Without GPUs, ``energy_j`` is RAPL's package + DRAM.
        idle_s: seconds of each idle baseline (cold before warm-up, warm right before the
            window; 0: none).
        min_window_s: energy windows shorter than this are flagged invalid.
        rapl_root: the powercap tree.
        nvml_module: an NVML module to use instead of ``import pynvml`` (tests). Otherwise
            ``pynvml`` is imported here, at call time (so ``sys.modules`` injection works),
            and only when a GPU is to be metered.
        synchronize: waits for queued GPU work before each counter read; default for a CUDA
            device: ``torch.cuda.synchronize(N)``; a no-op on CPU.
        temperature_rise_limit_c: a larger GPU temperature rise flags the window invalid.
        power_poll_interval_s: power-polling interval where the energy counter is missing.
        rss_interval_s: RSS sampling interval.
        align_to_counter: align energy-window edges to NVML counter updates.
        cuda_uuid_lookup: CUDA ordinal → UUID (default: torch's device properties); the seam
            tests use to emulate CUDA.
        cuda_memory: record torch.cuda allocator peaks; default: device is CUDA and
            ``torch.cuda.is_available()``.
        rapl_reader: reads a sysfs file (tests emulate permissions).
        environ: environment for ``CUDA_VISIBLE_DEVICES`` / ``CUDA_DEVICE_ORDER``.

    Raises:
        ValueError: a malformed ``device`` or ``gpus``.
    """
    ordinal = cuda_ordinal(device)
    mode, indices = parse_gpus(gpus)
    if synchronize is None:
        synchronize = synchronizer(device)

    null_reasons: list[str] = []
    energy_meters: list[Meter[Reading]] = []
    targets: list[GpuTarget] = []
    own: GpuTarget | None = None
    own_reason: str | None = None
    nvml_reason: str | None = None
    gpu_wanted = mode in ("auto", "indices") and not (mode == "auto" and ordinal is None)
    nvml: ModuleType | None = None
    closers: list[Callable[[], None]] = []

    try:
        if mode == "none":
            null_reasons.append("GPU energy disabled (gpus='none')")
        elif mode == "auto" and ordinal is None:
            null_reasons.append(f"no NVML device metered (device is {device})")
        else:
            nvml, nvml_reason = import_nvml(nvml_module)
            if nvml is not None:
                closers.append(nvml.nvmlShutdown)
            if nvml is not None and ordinal is not None:
                resolved = resolve_cuda_ordinal(
                    nvml, ordinal, uuid_lookup=cuda_uuid_lookup, environ=environ
                )
                if isinstance(resolved, GpuTarget):
                    own = resolved
                else:
                    own_reason = resolved
            if mode == "auto":
                assert ordinal is not None
                label = f"cuda:{ordinal}"
                if nvml is None:
                    energy_meters.append(NullEnergyMeter(label, str(nvml_reason)))
                elif own is None:
                    energy_meters.append(NullEnergyMeter(label, str(own_reason)))
                else:
                    targets.append(own)
            elif mode == "all":
                count = nvml_query(nvml, "nvmlDeviceGetCount") if nvml else None
                if nvml is None:
                    null_reasons.append(f"gpus='all': {nvml_reason}")
                elif count is None or not count.ok or not count.value:
                    null_reasons.append(
                        f"gpus='all': NVML lists no GPUs ({count.reason if count else ''})"
                    )
                else:
                    gpu_wanted = True
                    indices = list(range(int(count.value)))
            if mode in ("all", "indices") and indices:
                for index in indices:
                    if nvml is None:
                        energy_meters.append(NullEnergyMeter(f"nvml:{index}", str(nvml_reason)))
                        continue
                    found = resolve_nvml_index(nvml, index)
                    if isinstance(found, str):
                        energy_meters.append(NullEnergyMeter(f"nvml:{index}", found))
                        continue
                    if own is not None and own.nvml_index == found.nvml_index:
                        found = dataclasses.replace(
                            found,
                            used_by_process=True,
                            mig_uuid=own.mig_uuid,
                            mig_handle=own.mig_handle,
                        )
                    targets.append(found)

        assert nvml is not None or not targets
        edges = CounterEdges()  # every GPU's window edges aligned together
        for target in targets:
            assert nvml is not None
            energy_meters.append(
                NvmlEnergyMeter(
                    nvml,
                    target,
                    synchronize=synchronize,
                    min_window_s=min_window_s,
                    temperature_rise_limit_c=temperature_rise_limit_c,
                    poll_interval_s=power_poll_interval_s,
                    align_to_counter=align_to_counter,
                    edges=edges,
                )
            )

        zones, rapl_reasons, rapl_notes = discover_rapl(rapl_root, reader=rapl_reader)
        null_reasons.extend(rapl_reasons)
        rapl_meters = [
            RaplEnergyMeter(z, min_window_s=min_window_s, reader=rapl_reader, notes=rapl_notes)
            for z in zones
        ]

        if cuda_memory is None:
            cuda_memory = ordinal is not None and _cuda_available()
        memory = MemoryMeter(
            cuda_device=ordinal if cuda_memory else None,
            nvml=nvml,
            nvml_handles=[own.process_handle] if own is not None else [],
            interval_s=rss_interval_s,
        )
        state = DeviceStateMeter(nvml, [GpuRef(t.label, t.handle, t.nvml_index) for t in targets])
        meters: list[Meter[Reading]] = [state, memory, *rapl_meters, *energy_meters]
        return MeterSet(
            meters,
            min_window_s=min_window_s,
            idle_s=idle_s,
            gpu_energy_wanted=gpu_wanted,
            energy_null_reasons=null_reasons,
            synchronize=synchronize,
            closers=closers,
        )
    except BaseException:
        for closer in closers:
            closer()
        raise
