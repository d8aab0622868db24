"""Were two runs measured on comparable machines?

A slower GPU, a locked SM clock or a lower power limit changes every figure; comparing
across them measures the machines, not the change. :func:`blocking_differences` lists what
makes two runs incomparable (compare refuses them unless told otherwise);
:func:`other_differences` lists what is shown but allowed (driver and library versions,
which are often the very change being measured).

Facts come from ``machine_info["whisperbench"]`` (session) and each benchmark's
``extra_info["device_state"]["before"]`` (the state as its window opened).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from whisperbench.runs import Benchmark, Run, finite, gpu_states

__all__ = ["CLOCK_TOLERANCE", "blocking_differences", "other_differences"]

#: Measured clocks may drift this much (relative) before the runs count as different.
CLOCK_TOLERANCE = 0.10
#: Power limits are set in watts; this much is rounding.
POWER_TOLERANCE_W = 1.0

_SESSION_GPU_EXACT = ("name", "app_sm_clock_mhz", "app_mem_clock_mhz", "mig_mode")
_SESSION_GPU_SOFT = ("driver", "vbios")
_SOFTWARE = ("torch", "transformers", "cuda")


def blocking_differences(
    base: Run, new: Run, pairs: Sequence[tuple[Benchmark, Benchmark]]
) -> list[str]:
    """Differences in hardware or operating point, one line each (empty: comparable)."""
    found: list[str] = []
    base_wb, new_wb = _wb(base), _wb(new)
    cpu_base, cpu_new = _cpu_model(base), _cpu_model(new)
    if cpu_base and cpu_new and cpu_base != cpu_new:
        found.append(f"CPU: {cpu_base!r} vs {cpu_new!r}")
    base_gpus, new_gpus = _gpus(base_wb), _gpus(new_wb)
    if len(base_gpus) != len(new_gpus):
        found.append(f"GPU count: {len(base_gpus)} vs {len(new_gpus)}")
    for index, (gpu_b, gpu_n) in enumerate(zip(base_gpus, new_gpus, strict=False)):
        found += _gpu_differences(f"GPU {index}", gpu_b, gpu_n, _SESSION_GPU_EXACT, clocks=())
    for bench_b, bench_n in pairs:
        device_b, device_n = bench_b.extra_info.get("device"), bench_n.extra_info.get("device")
        if device_b and device_n and device_b != device_n:
            found.append(f"{bench_b.name}: device {device_b} vs {device_n}")
        states = zip(gpu_states(bench_b.extra_info), gpu_states(bench_n.extra_info), strict=False)
        for index, (gpu_b, gpu_n) in enumerate(states):
            found += _gpu_differences(
                f"{bench_b.name}: GPU {index}",
                gpu_b,
                gpu_n,
                exact=("name",),
                clocks=("sm_clock_mhz", "mem_clock_mhz"),
            )
    return _unique(found)


def other_differences(base: Run, new: Run) -> list[str]:
    """Software differences worth showing that do not block a comparison."""
    found: list[str] = []
    base_wb, new_wb = _wb(base), _wb(new)
    for key in _SOFTWARE:
        if base_wb.get(key) != new_wb.get(key):
            found.append(f"{key}: {base_wb.get(key)} vs {new_wb.get(key)}")
    for index, (gpu_b, gpu_n) in enumerate(zip(_gpus(base_wb), _gpus(new_wb), strict=False)):
        for key in _SESSION_GPU_SOFT:
            if key in gpu_b and key in gpu_n and gpu_b[key] != gpu_n[key]:
                found.append(f"GPU {index} {key}: {gpu_b[key]} vs {gpu_n[key]}")
    python_b = base.machine_info.get("python_version")
    python_n = new.machine_info.get("python_version")
    if python_b != python_n:
        found.append(f"python: {python_b} vs {python_n}")
    return found


def _gpu_differences(
    where: str,
    base: Mapping[str, Any],
    new: Mapping[str, Any],
    exact: Iterable[str],
    clocks: Iterable[str],
) -> list[str]:
    found = [
        f"{where} {key}: {base[key]} vs {new[key]}"
        for key in exact
        if base.get(key) is not None and new.get(key) is not None and base[key] != new[key]
    ]
    power_b, power_n = finite(base.get("power_limit_w")), finite(new.get("power_limit_w"))
    if power_b is not None and power_n is not None and abs(power_b - power_n) > POWER_TOLERANCE_W:
        found.append(f"{where} power limit: {power_b:g} W vs {power_n:g} W")
    for key in clocks:
        clock_b, clock_n = finite(base.get(key)), finite(new.get(key))
        if clock_b and clock_n and abs(clock_n - clock_b) > CLOCK_TOLERANCE * clock_b:
            label = key.removesuffix("_mhz").replace("_", " ")
            found.append(
                f"{where} {label}: {clock_b:g} MHz vs {clock_n:g} MHz "
                f"(more than {CLOCK_TOLERANCE:.0%} apart)"
            )
    return found


def _wb(run: Run) -> Mapping[str, Any]:
    value = run.machine_info.get("whisperbench")
    return value if isinstance(value, Mapping) else {}


def _gpus(whisperbench: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    gpus = whisperbench.get("gpus")
    return [gpu for gpu in gpus if isinstance(gpu, Mapping)] if isinstance(gpus, list) else []


def _cpu_model(run: Run) -> str | None:
    model = _wb(run).get("cpu_model")
    if not model:
        cpu = run.machine_info.get("cpu")
        model = cpu.get("brand_raw") if isinstance(cpu, Mapping) else None
    return str(model) if model else None


def _unique(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(lines))
