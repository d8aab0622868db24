"""Memory meter: peak RSS sees a real allocation; CUDA untouched on CPU runs; weights size."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
import torch

from tests.fakes_nvml import FakeGpu, FakeNvml, FakeProcess, make_uuid
from whisperbench.meters.memory import MemoryMeter, weights_size_bytes

MB = 1 << 20


def test_peak_rss_sees_a_200mb_allocation_inside_the_window() -> None:
    meter = MemoryMeter(interval_s=0.01)
    meter.begin()
    block = np.ones(200 * MB, dtype=np.uint8)  # ones: pages are touched, so resident
    time.sleep(0.1)
    del block
    reading = meter.end()
    assert reading.rss_begin_bytes is not None
    assert reading.peak_rss_bytes is not None
    assert reading.peak_rss_bytes - reading.rss_begin_bytes >= 150 * MB
    assert reading.rss_samples >= 3
    assert reading.cuda_peak_allocated_bytes is None
    assert reading.nvml_process_gpu_memory_bytes is None


def test_cpu_run_never_touches_torch_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.cuda touched on a CPU run")

    for name in ("reset_peak_memory_stats", "max_memory_allocated", "max_memory_reserved"):
        monkeypatch.setattr(torch.cuda, name, boom)
    meter = MemoryMeter(cuda_device=None)
    meter.begin()
    assert meter.end().cuda_peak_reserved_bytes is None


def test_nvml_per_process_memory_in_bytes() -> None:
    gpu = FakeGpu(make_uuid(0), processes=[FakeProcess(os.getpid(), 3 << 30), FakeProcess(7)])
    fake = FakeNvml([gpu])
    fake.nvmlInit()
    meter = MemoryMeter(nvml=fake, nvml_handles=[fake.nvmlDeviceGetHandleByIndex(0)])
    meter.begin()
    assert meter.end().nvml_process_gpu_memory_bytes == 3 << 30


def test_nvml_per_process_memory_unreadable_is_none_with_note() -> None:
    gpu = FakeGpu(make_uuid(0), errors={"nvmlDeviceGetComputeRunningProcesses": 4})
    fake = FakeNvml([gpu])
    fake.nvmlInit()
    meter = MemoryMeter(nvml=fake, nvml_handles=[fake.nvmlDeviceGetHandleByIndex(0)])
    meter.begin()
    reading = meter.end()
    assert reading.nvml_process_gpu_memory_bytes is None
    assert any("NVMLError_NoPermission" in n for n in reading.notes)


def test_sampling_thread_is_joined() -> None:
    before = set(threading.enumerate())
    meter = MemoryMeter()
    meter.begin()
    assert any(t.name == "whisperbench-rss" for t in threading.enumerate())
    meter.end()
    assert set(threading.enumerate()) == before


def test_weights_size_counts_parameters_and_buffers_once() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.BatchNorm1d(20))
    params = (10 * 20 + 20) * 4 + (20 + 20) * 4
    buffers = (20 + 20) * 4 + 8  # running mean/var (fp32) + num_batches_tracked (int64)
    assert weights_size_bytes(model) == params + buffers
    tied = torch.nn.Linear(4, 4, bias=False)
    both = torch.nn.ModuleList([tied, torch.nn.Linear(4, 4, bias=False)])
    both[1].weight = tied.weight
    assert weights_size_bytes(both) == 4 * 4 * 4
    with torch.device("meta"):
        half = torch.nn.Linear(1000, 1000).to(torch.float16)
    assert weights_size_bytes(half) == (1000 * 1000 + 1000) * 2


def test_weights_size_counts_int8_packed_linear_weights() -> None:
    from torch.ao.quantization import quantize_dynamic

    model = quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(64, 32)), {torch.nn.Linear})
    # int8 weight (1 byte each) plus its float32 bias, held in packed params, not parameters.
    assert weights_size_bytes(model) == 64 * 32 * 1 + 32 * 4


def test_weights_size_counts_torchao_weights_by_their_inner_tensors() -> None:
    from whisperbench.models.precision import quantize_int8

    model = quantize_int8(torch.nn.Sequential(torch.nn.Linear(64, 32)))
    weight = model[0].weight
    assert weight.qdata.dtype == torch.int8
    names, _ = type(weight).__tensor_flatten__(weight)
    inner = sum(getattr(weight, n).numel() * getattr(weight, n).element_size() for n in names)
    # int8 data with its per-channel scale and zero point, and the float32 bias: about a
    # quarter of the float32 weight's 64 x 32 x 4 bytes
    assert weights_size_bytes(model) == inner + 32 * 4 < 64 * 32 * 4
