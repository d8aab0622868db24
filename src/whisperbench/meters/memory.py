"""Memory over a window: peak RSS (sampled), CUDA allocator peaks, NVML per-process memory.

* **Peak RSS**: a thread samples this process's RSS (psutil) every ``interval_s`` (50 ms),
  plus one sample at each edge. ``getrusage().ru_maxrss`` is the peak since the process
  started, not per window, so it is never used as the window's figure. A spike shorter than
  the interval can be missed.
* **CUDA peaks**: ``torch.cuda.reset_peak_memory_stats`` at begin, then
  ``max_memory_allocated`` / ``max_memory_reserved`` at end — only when the set was built for
  a CUDA device; a CPU run never touches ``torch.cuda``.
* **NVML per-process memory**: what NVML attributes to this process on the device it runs on
  (the MIG slice's handle on a MIG GPU; includes the CUDA context, which torch's allocator
  does not count); the larger of the two edge values, not a peak; ``None`` with a note when
  our pid is not listed (containers, MPS) or the list cannot be trusted.
* :func:`weights_size_bytes`: bytes of a module's parameters and buffers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import psutil

from whisperbench.meters.gpu_processes import running_processes
from whisperbench.meters.readings import MemoryReading
from whisperbench.meters.sampler import Sampler

if TYPE_CHECKING:
    import torch

__all__ = ["MemoryMeter", "process_gpu_memory_bytes", "weights_size_bytes"]


def _tensor_bytes(tensor: torch.Tensor) -> int:
    """Bytes a tensor holds; a wrapper subclass (torchao's quantized weights) holds its inner
    tensors (``__tensor_flatten__``: int8/int4 data, scales), not ``numel`` of its dtype."""
    flatten = getattr(type(tensor), "__tensor_flatten__", None)
    if flatten is None:
        return tensor.numel() * tensor.element_size()
    names, _ = flatten(tensor)
    inner = (getattr(tensor, name) for name in names)
    return sum(_tensor_bytes(t) for t in inner if hasattr(t, "element_size"))


def weights_size_bytes(module: torch.nn.Module) -> int:
    """Bytes of ``module``'s parameters and buffers (each shared tensor counted once), plus
    the packed weights of dynamically quantized Linear layers, which are neither; torchao's
    quantized weights count their inner tensors.

    Works on meta tensors too (sizes come from shape and dtype).
    """
    seen: set[int] = set()
    total = 0
    for tensor in (*module.parameters(), *module.buffers()):
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        total += _tensor_bytes(tensor)
    for sub in module.modules():  # dynamic int8 Linear keeps weight and bias packed
        packed = getattr(sub, "_packed_params", None)
        if packed is not None and hasattr(packed, "_weight_bias"):
            weight, bias = packed._weight_bias()
            total += weight.numel() * weight.element_size()
            total += 0 if bias is None else bias.numel() * bias.element_size()
    return total


def process_gpu_memory_bytes(
    nvml: ModuleType, handle: Any, pid: int
) -> tuple[int | None, str | None]:
    """GPU memory NVML attributes to ``pid`` on one device, bytes; ``(None, reason)`` if unknown.

    ``handle`` is the device the process runs on: a GPU, or its MIG slice (on a MIG GPU the
    parent handle lists nothing to an unprivileged caller). A pid missing from NVML's list is
    unknown, not 0 bytes: in a container without the host PID namespace NVML lists host pids,
    and under MPS it lists the MPS server. NVML reports ``usedGpuMemory=None`` under WDDM.
    The list is validated first (:func:`~whisperbench.meters.gpu_processes.running_processes`).
    """
    listed = running_processes(nvml, handle)
    if listed.memory_bytes is None:
        return None, listed.reason
    if pid not in listed.memory_bytes:
        shown = ", ".join(map(str, sorted(listed.memory_bytes)[:4])) or "none"
        return None, (
            f"pid {pid} not in NVML's process list (listed: {shown}): a container without the "
            "host PID namespace, or MPS, which lists its server"
        )
    used = listed.memory_bytes[pid]
    if used is None:
        return None, "usedGpuMemory not available (WDDM)"
    return used, None


class MemoryMeter:
    """Peak RSS, CUDA allocator peaks and NVML per-process GPU memory over a window.

    Args:
        cuda_device: CUDA ordinal whose allocator peaks to record; ``None`` on CPU runs.
        nvml: initialized NVML module, or ``None``.
        nvml_handles: handles of the GPUs this process uses (for per-process memory).
        interval_s: RSS sampling interval, seconds.
        pid: the process to watch (default: this one).
    """

    name = "memory"

    def __init__(
        self,
        *,
        cuda_device: int | None = None,
        nvml: ModuleType | None = None,
        nvml_handles: Sequence[Any] = (),
        interval_s: float = 0.05,
        pid: int | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._pid = os.getpid() if pid is None else pid
        self._process = psutil.Process(self._pid)
        self._cuda_device = cuda_device
        self._nvml = nvml
        self._handles = tuple(nvml_handles)
        self._interval_s = interval_s
        self._sampler = Sampler(self._rss, interval_s, name="whisperbench-rss", clock=clock)
        self._nvml_begin: tuple[int | None, str | None] = (None, None)
        self._open = False

    def _rss(self) -> float | None:
        try:
            return float(self._process.memory_info().rss)
        except psutil.Error:
            return None

    def _nvml_process_memory(self) -> tuple[int | None, str | None]:
        if self._nvml is None or not self._handles:
            return None, None
        total = 0
        for handle in self._handles:
            used, reason = process_gpu_memory_bytes(self._nvml, handle, self._pid)
            if used is None:
                return None, reason
            total += used
        return total, None

    def begin(self) -> None:
        """Reset CUDA peaks, note NVML memory, start sampling RSS."""
        if self._open:
            raise RuntimeError("memory: begin() twice")
        self._open = True
        if self._cuda_device is not None:
            import torch

            torch.cuda.reset_peak_memory_stats(self._cuda_device)
        self._nvml_begin = self._nvml_process_memory()
        self._sampler.start()

    def end(self) -> MemoryReading:
        """Stop sampling and return the reading."""
        if not self._open:
            raise RuntimeError("memory: end() without begin()")
        self._open = False
        samples = self._sampler.stop()
        notes: list[str] = []
        if self._sampler.error is not None:
            notes.append(f"rss sampling stopped: {self._sampler.error}")
        allocated: int | None = None
        reserved: int | None = None
        if self._cuda_device is not None:
            import torch

            allocated = int(torch.cuda.max_memory_allocated(self._cuda_device))
            reserved = int(torch.cuda.max_memory_reserved(self._cuda_device))
        nvml_end, reason_end = self._nvml_process_memory()
        nvml_begin, reason_begin = self._nvml_begin
        nvml_bytes: int | None = None
        if nvml_begin is not None and nvml_end is not None:
            nvml_bytes = max(nvml_begin, nvml_end)
        elif reason_begin or reason_end:
            notes.append(f"nvml_process_memory: {reason_end or reason_begin}")
        values = [int(v) for _, v in samples]
        return MemoryReading(
            meter=self.name,
            peak_rss_bytes=max(values) if values else None,
            rss_begin_bytes=values[0] if values else None,
            rss_end_bytes=values[-1] if values else None,
            rss_samples=len(values),
            rss_interval_s=self._interval_s,
            cuda_peak_allocated_bytes=allocated,
            cuda_peak_reserved_bytes=reserved,
            nvml_process_gpu_memory_bytes=nvml_bytes,
            notes=tuple(notes),
        )

    def close(self) -> None:
        """Stop the RSS thread if a window was abandoned."""
        self._sampler.stop()
        self._open = False
