"""Were two runs measured on comparable machines?

A slower GPU, a locked SM clock or a lower power limit changes every figure; comparing
across them measures the machines, not the change. :func:`blocking_differences` lists what
makes two runs incomparable (compare refuses them unless told otherwise);
:func:`other_differences` lists what is shown but allowed (driver and library versions,
which are often the very change being measured).

Facts come from ``machine_info["whisperbench"]`` (session: ``host``, ``nvml``, ``gpus``) and
each benchmark's ``extra_info["device_state"]["before"]["gpus"]`` (the GPUs it used, as its
window opened); GPU model names are looked up by NVML index in the session's list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from whisperbench import schema
from whisperbench.runs import (
    Benchmark,
    Run,
    finite,
    gpu_name,
    gpu_states,
    host_fact,
    session_facts,
)

__all__ = ["CLOCK_TOLERANCE", "POWER_TOLERANCE_W", "blocking_differences", "other_differences"]

#: Measured clocks may drift this much (relative) before the runs count as different.
CLOCK_TOLERANCE = 0.10
#: Power limits are set in watts; this much is rounding.
POWER_TOLERANCE_W = 1.0

_EXACT = (schema.APP_SM_CLOCK_MHZ, schema.APP_MEM_CLOCK_MHZ, schema.MIG_MODE)
_MEASURED_CLOCKS = (schema.SM_CLOCK_MHZ, schema.MEM_CLOCK_MHZ)
#: (label, host keys tried in turn) of software shown when it differs; the bare names after
#: the schema's are other spellings that are read, but not written by whisperbench.
_SOFTWARE = (
    ("torch", (schema.TORCH_VERSION, "torch")),
    ("transformers", (schema.TRANSFORMERS_VERSION, "transformers")),
    ("CUDA (torch)", (schema.TORCH_CUDA_VERSION, "cuda")),
    ("python", (schema.PYTHON_VERSION,)),
)


def blocking_differences(
    base: Run, new: Run, pairs: Sequence[tuple[Benchmark, Benchmark]]
) -> list[str]:
    """Differences in hardware or operating point, one line each (empty: comparable)."""
    found: list[str] = []
    cpu_base, cpu_new = host_fact(base, schema.CPU_MODEL), host_fact(new, schema.CPU_MODEL)
    if cpu_base and cpu_new and cpu_base != cpu_new:
        found.append(f"CPU: {cpu_base!r} vs {cpu_new!r}")
    for bench_b, bench_n in pairs:
        device_b = bench_b.extra_info.get(schema.DEVICE)
        device_n = bench_n.extra_info.get(schema.DEVICE)
        if device_b and device_n and device_b != device_n:
            found.append(f"device: {device_b} vs {device_n}")
        states = zip(gpu_states(bench_b.extra_info), gpu_states(bench_n.extra_info), strict=False)
        for index, (gpu_b, gpu_n) in enumerate(states):
            found += _gpu_differences(index, base, new, gpu_b, gpu_n)
    return list(dict.fromkeys(found))


def other_differences(base: Run, new: Run) -> list[str]:
    """Software differences worth showing that do not block a comparison."""
    found = []
    for label, keys in _SOFTWARE:
        value_b = next((v for k in keys if (v := host_fact(base, k)) is not None), None)
        value_n = next((v for k in keys if (v := host_fact(new, k)) is not None), None)
        if value_b != value_n:
            found.append(f"{label}: {value_b} vs {value_n}")
    driver_b = _nvml(base).get(schema.DRIVER_VERSION)
    driver_n = _nvml(new).get(schema.DRIVER_VERSION)
    if driver_b != driver_n:
        found.append(f"NVIDIA driver: {driver_b} vs {driver_n}")
    return found


def _gpu_differences(
    index: int, base: Run, new: Run, state_b: Mapping[str, Any], state_n: Mapping[str, Any]
) -> list[str]:
    """What differs between the GPU states two paired benchmarks opened their windows in.

    Messages name no benchmark, so one difference shared by every benchmark is listed once.
    """
    where = f"GPU {index}"
    found = []
    name_b, name_n = gpu_name(base, state_b), gpu_name(new, state_n)
    if name_b and name_n and name_b != name_n:
        found.append(f"{where}: {name_b} vs {name_n}")
    for key in _EXACT:
        value_b, value_n = state_b.get(key), state_n.get(key)
        if value_b is not None and value_n is not None and value_b != value_n:
            found.append(f"{where} {key}: {value_b} vs {value_n}")
    power_b = finite(state_b.get(schema.POWER_LIMIT_W))
    power_n = finite(state_n.get(schema.POWER_LIMIT_W))
    if power_b is not None and power_n is not None and abs(power_b - power_n) > POWER_TOLERANCE_W:
        found.append(f"{where} power limit: {power_b:g} W vs {power_n:g} W")
    for key in _MEASURED_CLOCKS:
        clock_b, clock_n = finite(state_b.get(key)), finite(state_n.get(key))
        if clock_b and clock_n and abs(clock_n - clock_b) > CLOCK_TOLERANCE * clock_b:
            label = key.removesuffix("_mhz").replace("_", " ")
            found.append(
                f"{where} {label}: {clock_b:g} MHz vs {clock_n:g} MHz "
                f"(more than {CLOCK_TOLERANCE:.0%} apart)"
            )
    return found


def _nvml(run: Run) -> Mapping[str, Any]:
    nvml = session_facts(run).get(schema.NVML)
    return nvml if isinstance(nvml, Mapping) else {}
