"""Write the SYNTHETIC golden runs in this folder (hand-made data, not measurements).

They imitate what ``pytest benchmarks --benchmark-json=FILE`` writes (pytest-benchmark 5.2
layout, whisperbench schema 1, the plugin's ``params``: ``whisperbench.pytest_plugin``'s
``CASE_PARAMS``, tests/test_golden.py checks them) so compare/report tests run without a
GPU. Re-run with ``python tests/golden/make_synthetic.py`` after changing it; the files are
committed.

- synthetic_a100_base_{1,2,3}.json: three runs (processes) of 2 models x 2 dtypes, 15 rounds,
  NVML energy, A100 at 1410 MHz; each run has its own offset (2% sd), as processes do.
- synthetic_a100_slower_{1,2,3}.json: the same, 20 % slower per round and 15 % more energy.
- synthetic_a100_clock{510,960,1410}.json: tiny.en float16 at those SM clocks (shards).
- synthetic_cpu_nosensors.json: CPU run, no energy sensor (all energy fields null), 2 models
  x 5/10/20 s clips x batch 1 and 4.
- synthetic_a100_lengths.json: 2 models, float16, 5/10/30 s clips, batch 1 and 4, NVML
  energy: figures that pool workloads (energy per model) must pool as ratios of sums.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
#: whisperbench.pytest_plugin.CASE_PARAMS (spelled here so this script needs no install).
CASE_PARAMS = (
    "whisper_model_id",
    "whisper_dtype",
    "whisper_audio_s",
    "whisper_batch_size",
    "whisper_engine",
    "whisper_kv_cache",
    "whisper_compile",
)
#: The engine axes' values of every synthetic run: transformers, dynamic KV cache, no compile.
ENGINE_PARAMS = ("transformers", "dynamic", "off")
#: Run-to-run spread (lognormal sd) of a whole run, and of its rounds.
RUN_SD, ROUND_SD = 0.02, 0.03
MODELS = {"tiny.en": (37_760_640, 0.040), "base.en": (72_593_920, 0.075)}
DTYPE_SPEED = {"float32": 1.0, "float16": 0.55}
DTYPE_BYTES = {"float32": 4, "float16": 2}


GPU_NAME = "NVIDIA A100-SXM4-40GB"


def gpu_static(power_limit: float = 400.0) -> dict[str, Any]:
    """machine_info["whisperbench"]["gpus"][i], as device_state.gpu_static_info writes it."""
    return {
        "device": "nvml:0",
        "nvml_index": 0,
        "name": GPU_NAME,
        "uuid": "GPU-00000000-1111-2222-3333-444444444444",
        "memory_total_bytes": 42_949_672_960,
        "max_sm_clock_mhz": 1410,
        "max_mem_clock_mhz": 1215,
        "power_limit_w": power_limit,
        "default_power_limit_w": 400.0,
        "persistence_mode": True,
        "mig_mode": False,
        "mig_mode_pending": False,
        "ecc_mode": True,
        "ecc_mode_pending": True,
        "unavailable": {},
    }


def gpu_snapshot(
    sm_clock: int, power_limit: float = 400.0, temperature: int = 41
) -> dict[str, Any]:
    """device_state["before"|"after"]["gpus"][i], as device_state.gpu_snapshot writes it."""
    return {
        "device": "cuda:0",
        "nvml_index": 0,
        "sm_clock_mhz": sm_clock,
        "mem_clock_mhz": 1215,
        "app_sm_clock_mhz": 1095,
        "app_mem_clock_mhz": 1215,
        "power_limit_w": power_limit,
        "power_w": 62.5,
        "temperature_c": temperature,
        "throttle_reasons": [],
        "throttle_reasons_mask": 0,
        "unavailable": {},
    }


def machine_info(device: str) -> dict[str, Any]:
    cuda = device.startswith("cuda")
    host = {
        "cpu_model": "AMD EPYC 7742 64-Core Processor",
        "logical_cores": 16,
        "physical_cores": 8,
        "usable_cores": 16,
        "torch_threads": 8,
        "python_version": "3.11.7",
        "python_implementation": "CPython",
        "torch_version": "2.13.0+cu128" if cuda else "2.13.0+cpu",
        "torch_cuda_version": "12.8" if cuda else None,
        "transformers_version": "5.23.0",
        "machine": "x86_64",
    }
    nvml = (
        {
            "available": True,
            "reason": None,
            "driver_version": "570.86.15",
            "cuda_driver_version": "12.8",
            "nvml_version": "12.570.86.15",
        }
        if cuda
        else {"available": False, "reason": "NVML Shared Library Not Found"}
    )
    return {
        "node": "synthetic-node",
        "processor": "x86_64",
        "machine": "x86_64",
        "python_implementation": "CPython",
        "python_version": "3.11.7",
        "system": "Linux",
        "cpu": {"brand_raw": host["cpu_model"], "count": 16},
        "whisperbench": {"host": host, "nvml": nvml, "gpus": [gpu_static()] if cuda else []},
    }


def stats(data: list[float]) -> dict[str, Any]:
    ordered = sorted(data)
    q1, _, q3 = statistics.quantiles(ordered, n=4)
    return {
        "min": ordered[0],
        "max": ordered[-1],
        "mean": statistics.fmean(data),
        "stddev": statistics.stdev(data),
        "rounds": len(data),
        "median": statistics.median(data),
        "iqr": q3 - q1,
        "q1": q1,
        "q3": q3,
        "iqr_outliers": 0,
        "stddev_outliers": 0,
        "outliers": "0;0",
        "ld15iqr": ordered[0],
        "hd15iqr": ordered[-1],
        "ops": 1 / statistics.fmean(data),
        "total": sum(data),
        "data": data,
        "iterations": 1,
    }


def benchmark(
    rng: np.random.Generator,
    model: str,
    dtype: str,
    device: str,
    *,
    clip_s: float = 5.0,
    batch: int = 1,
    rounds: int = 15,
    slow: float = 1.0,
    energy_factor: float = 1.0,
    sm_clock: int = 1410,
    energy: bool = True,
    run_factor: float = 1.0,
) -> dict[str, Any]:
    parameters, rtf = MODELS[model]
    audio_s = clip_s * batch
    rtf *= DTYPE_SPEED[dtype] * slow * run_factor * (1410 / sm_clock) ** 0.8
    rtf *= (0.6 + 0.4 / batch) * (1.0 + 2.0 / clip_s) / 1.4  # batching and padding
    per_round = [float(v) for v in audio_s * rtf * rng.lognormal(0.0, ROUND_SD, rounds)]
    inference = statistics.fmean(per_round)
    tokens = 14.0 * batch
    features, encoder = 0.08 * inference, 0.27 * inference
    detokenize = 0.002 * inference
    decoder = inference - features - encoder - detokenize
    case = f"{model}-{dtype}-{clip_s:g}s-b{batch}"
    power = (60.0 + 140.0 * (sm_clock / 1410) ** 2.2) * energy_factor if energy else None
    energy_j = power * sum(per_round) if power is not None else None
    audio_total = audio_s * rounds
    clips = [
        {
            "name": f"speech-short-{clip_s:.1f}s" + (f"-{i}" if i else ""),
            "kind": "speech",
            "category": "short",
            "duration_s": clip_s,
            "sha256": f"{i:064x}",
            "sample_rate_hz": 16000,
        }
        for i in range(batch)
    ]
    info: dict[str, Any] = {
        "schema_version": 1,
        "model": model,
        "hub_id": f"openai/whisper-{model}",
        "weights_source": "packaged",
        "weights_origin": "synthetic",
        "weights_sha256": None,
        "parameters": parameters,
        "weights_bytes": parameters * DTYPE_BYTES[dtype],
        "device": device,
        "dtype": dtype,
        "dtype_requested": dtype,
        "attn_implementation": "sdpa",
        "threads": 8,
        "load_s": 2.5,
        "batch_size": batch,
        "clips": batch,
        "audio_name": clips[0]["name"],
        "audio_category": "short",
        "audio_sha256": "0" * 64,
        "audio": clips,
        "audio_s": audio_s,
        "rounds": rounds,
        "warmup_rounds": 1,
        "inference_s": inference,
        "features_s": features,
        "encoder_s": encoder,
        "decoder_s": decoder,
        "detokenize_s": detokenize,
        "rounds_inference_s": per_round,
        "rtf": sum(per_round) / audio_total,
        "rtfx": audio_total / sum(per_round),
        "tokens": tokens,
        "decoder_steps": 14.0,
        "s_per_token": decoder / 14.0,
        "rounds_s_per_token": [0.65 * r / 14.0 for r in per_round],
        "fixed_tokens": None,
        "transcript": "the quick brown fox",
        "reference": "the quick brown fox",
        "wer": {"tiny.en": 0.062, "base.en": 0.041}[model],
        "peak_rss_bytes": 1_900_000_000 + parameters * 4,
        "cuda_peak_allocated_bytes": parameters * DTYPE_BYTES[dtype] + 60_000_000
        if device != "cpu"
        else None,
        "cuda_peak_reserved_bytes": parameters * DTYPE_BYTES[dtype] + 90_000_000
        if device != "cpu"
        else None,
        "nvml_process_gpu_memory_bytes": parameters * DTYPE_BYTES[dtype] + 500_000_000
        if device != "cpu"
        else None,
        "energy_j": energy_j,
        "energy_above_idle_j": None if energy_j is None else energy_j - 55.0 * sum(per_round),
        "idle_power_w": 55.0 if energy else None,
        "avg_power_w": power,
        "j_per_audio_s": None if energy_j is None else energy_j / audio_total,
        "j_per_token": None if energy_j is None else energy_j / (tokens * rounds),
        "energy_source": "nvml_total_energy" if energy else None,
        "energy_window_s": sum(per_round) if energy else None,
        "energy_valid": bool(energy),
        "energy_invalid_reasons": [],
        "energy_null_reason": None if energy else "no energy sensor on this machine",
        "energy_devices": [{"device": "cuda:0", "nvml_index": 0}] if energy else [],
        "device_state": {
            "before": {
                "host": {"loadavg_1m": 0.4, "cpu_freq_mhz": 2250.0},
                "gpus": [gpu_snapshot(sm_clock)] if device != "cpu" else [],
            },
            "after": {
                "host": {"loadavg_1m": 0.9, "cpu_freq_mhz": 2250.0},
                "gpus": [gpu_snapshot(sm_clock, temperature=47)] if device != "cpu" else [],
            },
        },
    }
    return {
        "group": f"{model} {dtype}",
        "name": f"test_transcribe[{case}]",
        "fullname": f"benchmarks/test_transcribe.py::test_transcribe[{case}]",
        "params": dict(
            zip(CASE_PARAMS, (model, dtype, clip_s, batch, *ENGINE_PARAMS), strict=True)
        ),
        "param": case,
        "extra_info": info,
        "options": {
            "disable_gc": False,
            "timer": "perf_counter",
            "min_rounds": 5,
            "max_time": 1.0,
            "min_time": 5e-06,
            "warmup": False,
        },
        "stats": stats(per_round),
    }


def run(benchmarks: list[dict[str, Any]], device: str) -> dict[str, Any]:
    return {
        "machine_info": machine_info(device),
        "commit_info": {
            "id": "synthetic",
            "time": None,
            "author_time": None,
            "dirty": False,
            "project": "whisperbench",
            "branch": "main",
        },
        "benchmarks": benchmarks,
        "datetime": "2026-01-01T00:00:00+00:00",
        "version": "5.2.3",
        "whisperbench": {"schema_version": 1, "options": {"rounds": 15}},
    }


def main() -> None:
    cases = [(m, d) for m in MODELS for d in DTYPE_SPEED]
    outputs: dict[str, dict[str, Any]] = {}
    for index in (1, 2, 3):
        for name, seed, slow, energy_factor in (("base", 0, 1.0, 1.0), ("slower", 100, 1.2, 1.15)):
            run_rng = np.random.default_rng(1000 + seed + index)
            run_factor = float(run_rng.lognormal(0.0, RUN_SD))
            outputs[f"synthetic_a100_{name}_{index}.json"] = run(
                [
                    benchmark(
                        np.random.default_rng(seed + 10 * index + i),
                        m,
                        d,
                        "cuda:0",
                        slow=slow,
                        energy_factor=energy_factor,
                        run_factor=run_factor,
                    )
                    for i, (m, d) in enumerate(cases)
                ],
                "cuda:0",
            )
    outputs["synthetic_cpu_nosensors.json"] = run(
        [
            benchmark(
                np.random.default_rng(201 + i),
                m,
                "float32",
                "cpu",
                energy=False,
                rounds=5,
                clip_s=clip_s,
                batch=batch,
            )
            for i, (m, clip_s, batch) in enumerate(
                (m, c, b) for m in MODELS for b in (1, 4) for c in (5.0, 10.0, 20.0)
            )
        ],
        "cpu",
    )
    outputs["synthetic_a100_lengths.json"] = run(
        [
            benchmark(
                np.random.default_rng(301 + i),
                m,
                "float16",
                "cuda:0",
                rounds=8,
                clip_s=clip_s,
                batch=batch,
                energy_factor=1.0 + 0.1 * i,
            )
            for i, (m, clip_s, batch) in enumerate(
                (m, c, b) for m in MODELS for b in (1, 4) for c in (5.0, 10.0, 30.0)
            )
        ],
        "cuda:0",
    )
    for clock in (510, 960, 1410):
        outputs[f"synthetic_a100_clock{clock}.json"] = run(
            [
                benchmark(
                    np.random.default_rng(clock),
                    "tiny.en",
                    "float16",
                    "cuda:0",
                    sm_clock=clock,
                    rounds=5,
                )
            ],
            "cuda:0",
        )
    for name, document in outputs.items():
        (HERE / name).write_text(json.dumps(document, indent=4) + "\n", encoding="utf-8")
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
