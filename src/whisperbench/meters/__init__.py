"""Meters: energy (NVML on NVIDIA GPUs, RAPL on CPUs), memory and device state per window.

Start with :func:`build_meter_set`; see ``docs/measurement.md`` for the method.
"""

from whisperbench.meters.base import EnergyMeter, Meter, MeterSet, NullEnergyMeter
from whisperbench.meters.device_state import DeviceStateMeter, machine_info
from whisperbench.meters.factory import build_meter_set
from whisperbench.meters.memory import MemoryMeter, weights_size_bytes
from whisperbench.meters.nvml_energy import NvmlEnergyMeter, trapezoid_energy_j
from whisperbench.meters.rapl import RaplEnergyMeter, discover_rapl
from whisperbench.meters.readings import (
    DeviceEnergy,
    DeviceStateReading,
    EnergyFigures,
    EnergyReading,
    EnergyWarning,
    MemoryReading,
    Reading,
    WindowEnergy,
    WindowReadings,
)

__all__ = [
    "DeviceEnergy",
    "DeviceStateMeter",
    "DeviceStateReading",
    "EnergyFigures",
    "EnergyMeter",
    "EnergyReading",
    "EnergyWarning",
    "MemoryMeter",
    "MemoryReading",
    "Meter",
    "MeterSet",
    "NullEnergyMeter",
    "NvmlEnergyMeter",
    "RaplEnergyMeter",
    "Reading",
    "WindowEnergy",
    "WindowReadings",
    "build_meter_set",
    "discover_rapl",
    "machine_info",
    "trapezoid_energy_j",
    "weights_size_bytes",
]
