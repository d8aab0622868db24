"""Smoke test on a real NVIDIA GPU with the real NVML (skipped without one)."""

from __future__ import annotations

import pytest


def _real_gpu_or_skip() -> None:
    torch = pytest.importorskip("torch")
    pynvml = pytest.importorskip("pynvml")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        pytest.skip(f"NVML unavailable: {exc}")
    pynvml.nvmlShutdown()


@pytest.mark.gpu
def test_real_gpu_energy_window() -> None:
    _real_gpu_or_skip()
    import torch

    from whisperbench.meters import build_meter_set, machine_info
    from whisperbench.schema import energy_fields, memory_fields

    info = machine_info()
    assert info["gpus"], info
    meters = build_meter_set(device="cuda:0", idle_s=0.5, min_window_s=1.0,
                             synchronize=torch.cuda.synchronize)  # fmt: skip
    x = torch.randn(2048, 2048, device="cuda:0")
    try:
        with meters:
            while meters.elapsed_s() < meters.min_window_s:
                for _ in range(20):
                    x = x @ x
                    x = x / x.norm()
                torch.cuda.synchronize()
        readings = meters.readings
        assert readings is not None
        summary = energy_fields(readings.energy_figures(audio_s=1.0, tokens=1))
        assert summary["energy_source"] in ("nvml_energy_counter", "nvml_power_polling")
        assert isinstance(summary["energy_j"], float)
        assert summary["energy_j"] > 0
        gpu = readings.gpu_energy[0]
        assert gpu.uuid
        assert gpu.uuid.startswith(("GPU-", "MIG-"))
        assert memory_fields(readings.memory)["cuda_peak_allocated_bytes"]
        assert readings.state is not None
        assert readings.state.before["gpus"][0]["sm_clock_mhz"]
    finally:
        meters.close()
