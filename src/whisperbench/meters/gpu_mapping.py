"""Which NVML device is which CUDA device of this process.

CUDA ordinals are mapped to NVML devices by UUID (:func:`resolve_cuda_ordinal`): the UUID
torch reports for the CUDA device, else the ``CUDA_VISIBLE_DEVICES`` entry (``GPU-…`` UUIDs
or prefixes, ``MIG-…`` ids, or integers). Integers are trusted only when CUDA's order equals
NVML's PCI order (``CUDA_DEVICE_ORDER=PCI_BUS_ID``, a single GPU, or identical GPU models).
A CUDA device that is a MIG slice is metered through its parent GPU and labelled
``energy_scope="gpu_whole_mig_parent"``: the figure covers the whole GPU, every slice (slices
have no energy counter). Its process and memory queries use the slice's own handle
(``GpuTarget.mig_handle``, also found for the legacy ``MIG-GPU-<uuid>/<gi>/<ci>`` ids).
(measurement rule 7: ``CUDA_VISIBLE_DEVICES`` reorders indices.)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from whisperbench.meters.nvml_api import nvml_query

__all__ = [
    "GpuTarget",
    "parse_cuda_visible_devices",
    "resolve_cuda_ordinal",
    "resolve_nvml_index",
    "torch_cuda_uuid",
]


@dataclass(frozen=True)
class GpuTarget:
    """An NVML device to meter and how it was found.

    Attributes:
        label: ``"cuda:<ordinal>"`` for a CUDA device of this process, ``"nvml:<index>"`` for
            an NVML index metered on request.
        nvml_index: NVML index of the metered (physical) GPU.
        handle: its NVML handle.
        uuid: its UUID (``"GPU-…"``); the parent GPU for a MIG slice.
        mig_uuid: the MIG slice the process runs on, if any.
        mapping: how the device was found: ``torch_uuid``, ``cuda_visible_devices_uuid``,
            ``cuda_visible_devices_index``, ``cuda_ordinal``, ``requested_nvml_index``.
        used_by_process: the process runs work on it (the process-check then expects our pid).
        mig_handle: the MIG slice's own NVML handle, for process and memory queries (on a MIG
            GPU the parent handle lists processes only to privileged callers); ``None`` when
            not a slice or not found.
    """

    label: str
    nvml_index: int
    handle: Any
    uuid: str | None
    mig_uuid: str | None = None
    mapping: str = "requested_nvml_index"
    used_by_process: bool = False
    mig_handle: Any = None

    @property
    def energy_scope(self) -> str:
        """``"gpu_whole_mig_parent"`` for a MIG slice, else ``"gpu"``."""
        return "gpu_whole_mig_parent" if self.mig_uuid else "gpu"

    @property
    def process_handle(self) -> Any:
        """The handle to ask about our process and its memory: the slice's on MIG."""
        return self.mig_handle if self.mig_handle is not None else self.handle


def torch_cuda_uuid(ordinal: int) -> str | None:
    """The UUID torch reports for CUDA device ``ordinal``, or ``None`` without CUDA.

    torch prints it without prefix (``"8932f937-d72c-…"``); for a MIG slice it is the slice's
    UUID. Imports torch lazily.
    """
    import torch

    if not torch.cuda.is_available():
        return None
    return str(torch.cuda.get_device_properties(ordinal).uuid)


def parse_cuda_visible_devices(value: str | None) -> list[str] | None:
    """The entries of ``CUDA_VISIBLE_DEVICES`` as CUDA reads them, or ``None`` if unset.

    Entries are ``GPU-…``/``MIG-…`` identifiers or integers (leading digits, as ``strtoul``);
    the list ends at the first entry that is none of these (CUDA ignores the rest).
    """
    if value is None:
        return None
    entries: list[str] = []
    for raw in value.split(","):
        item = raw.strip()
        if item.startswith(("GPU-", "MIG-")):
            entries.append(item)
            continue
        digits = ""
        for ch in item:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        entries.append(str(int(digits)))
    return entries


@dataclass(frozen=True)
class _NvmlDevice:
    index: int
    handle: Any
    uuid: str | None
    name: str | None


def _nvml_devices(nvml: ModuleType) -> list[_NvmlDevice]:
    count = nvml_query(nvml, "nvmlDeviceGetCount")
    devices = []
    for index in range(int(count.value or 0)):
        handle = nvml_query(nvml, "nvmlDeviceGetHandleByIndex", index)
        if not handle.ok:
            continue
        uuid = nvml_query(nvml, "nvmlDeviceGetUUID", handle.value).value
        name = nvml_query(nvml, "nvmlDeviceGetName", handle.value).value
        devices.append(_NvmlDevice(index, handle.value, uuid, name))
    return devices


def _by_uuid_prefix(devices: Sequence[_NvmlDevice], prefix: str) -> _NvmlDevice | str:
    matches = [d for d in devices if d.uuid and d.uuid.lower().startswith(prefix.lower())]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        return f"no NVML device has UUID {prefix!r}"
    return f"UUID prefix {prefix!r} is ambiguous ({len(matches)} devices)"


def _mig_parent(
    nvml: ModuleType, devices: Sequence[_NvmlDevice], mig_uuid: str
) -> tuple[_NvmlDevice, Any] | str:
    """The parent GPU of a MIG slice, and the slice's handle."""
    mig = nvml_query(nvml, "nvmlDeviceGetHandleByUUID", mig_uuid)
    if not mig.ok:
        return f"MIG device {mig_uuid!r} not found: {mig.reason}"
    parent = nvml_query(nvml, "nvmlDeviceGetDeviceHandleFromMigDeviceHandle", mig.value)
    if not parent.ok:
        return f"parent GPU of {mig_uuid!r} unknown: {parent.reason}"
    index = nvml_query(nvml, "nvmlDeviceGetIndex", parent.value)
    if not index.ok:
        return f"parent GPU index of {mig_uuid!r} unknown: {index.reason}"
    for device in devices:
        if device.index == int(index.value):
            return device, mig.value
    return f"parent GPU index {index.value} of {mig_uuid!r} not enumerated"


def _legacy_mig_handle(nvml: ModuleType, parent: _NvmlDevice, ident: str) -> Any:
    """The slice handle for an R450-era id ``MIG-GPU-<uuid>/<gi>/<ci>``: by that id where the
    driver still knows it, else the parent's MIG device with those instance ids; ``None``."""
    by_id = nvml_query(nvml, "nvmlDeviceGetHandleByUUID", ident)
    if by_id.ok:
        return by_id.value
    try:
        gi, ci = (int(part) for part in ident.split("/")[1:3])
    except ValueError:
        return None
    count = nvml_query(nvml, "nvmlDeviceGetMaxMigDeviceCount", parent.handle)
    for i in range(int(count.value or 0)):
        mig = nvml_query(nvml, "nvmlDeviceGetMigDeviceHandleByIndex", parent.handle, i)
        if not mig.ok:
            continue
        found_gi = nvml_query(nvml, "nvmlDeviceGetGpuInstanceId", mig.value)
        found_ci = nvml_query(nvml, "nvmlDeviceGetComputeInstanceId", mig.value)
        if found_gi.value == gi and found_ci.value == ci:
            return mig.value
    return None


_Match = tuple[_NvmlDevice, str | None, Any]


def _match_uuid(nvml: ModuleType, devices: Sequence[_NvmlDevice], ident: str) -> _Match | str:
    """Find the NVML device for a UUID in any of its spellings;
    ``(device, mig_uuid, mig_handle)``."""
    ident = ident.strip()
    if ident.startswith("MIG-GPU-"):  # R450-era MIG id: MIG-GPU-<uuid>/<gi>/<ci>
        found = _by_uuid_prefix(devices, ident[len("MIG-") :].split("/")[0])
        if isinstance(found, str):
            return found
        return found, ident, _legacy_mig_handle(nvml, found, ident)
    if ident.startswith("MIG-"):
        parent = _mig_parent(nvml, devices, ident)
        return parent if isinstance(parent, str) else (parent[0], ident, parent[1])
    if ident.startswith("GPU-"):
        found = _by_uuid_prefix(devices, ident)
        return found if isinstance(found, str) else (found, None, None)
    # torch's spelling: the bare UUID, of a whole GPU or of a MIG slice.
    bare = ident.lower()
    for device in devices:
        if device.uuid and device.uuid.lower() == f"gpu-{bare}":
            return device, None, None
    parent = _mig_parent(nvml, devices, f"MIG-{bare}")
    if not isinstance(parent, str):
        return parent[0], f"MIG-{bare}", parent[1]
    return f"no NVML device or MIG slice has UUID {ident!r}"


def resolve_cuda_ordinal(
    nvml: ModuleType,
    ordinal: int,
    *,
    uuid_lookup: Callable[[int], str | None] | None = torch_cuda_uuid,
    environ: Mapping[str, str] | None = None,
) -> GpuTarget | str:
    """Map CUDA device ``ordinal`` of this process to its NVML device.

    Order of evidence: the UUID from ``uuid_lookup`` (torch's device properties); else the
    ``CUDA_VISIBLE_DEVICES`` entry at ``ordinal`` (UUID, UUID prefix, MIG id, or an integer);
    else ``ordinal`` itself. Integers index CUDA's enumeration, which is fastest-first unless
    ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, whereas NVML enumerates in PCI order, so an integer is
    used only when the two orders must agree.

    Returns:
        The target, or a reason string when it cannot be mapped with certainty.
    """
    env = os.environ if environ is None else environ
    label = f"cuda:{ordinal}"
    devices = _nvml_devices(nvml)
    failures: list[str] = []
    if uuid_lookup is not None:
        try:
            uuid = uuid_lookup(ordinal)
        except Exception as exc:  # a CUDA error must not stop the run
            uuid = None
            failures.append(f"torch UUID lookup failed: {exc}")
        if uuid:
            match = _match_uuid(nvml, devices, uuid)
            if not isinstance(match, str):
                return _target(label, match, "torch_uuid")
            failures.append(f"torch UUID: {match}")
    visible = env.get("CUDA_VISIBLE_DEVICES")
    entries = parse_cuda_visible_devices(visible)
    mapping = "cuda_ordinal"
    index = ordinal
    if entries is not None:
        if ordinal >= len(entries):
            return _fail(label, [*failures, f"CUDA_VISIBLE_DEVICES={visible!r} has no entry"])
        entry = entries[ordinal]
        if entry.startswith(("GPU-", "MIG-")):
            match = _match_uuid(nvml, devices, entry)
            if isinstance(match, str):
                return _fail(label, [*failures, f"CUDA_VISIBLE_DEVICES: {match}"])
            return _target(label, match, "cuda_visible_devices_uuid")
        index = int(entry)
        mapping = "cuda_visible_devices_index"
    names = {d.name for d in devices}
    if not (env.get("CUDA_DEVICE_ORDER") == "PCI_BUS_ID" or len(devices) <= 1 or len(names) == 1):
        return _fail(
            label,
            [
                *failures,
                f"CUDA index {index} may not be NVML index {index}: CUDA orders GPUs "
                "fastest-first and NVML by PCI bus, and these GPUs differ "
                "(set CUDA_DEVICE_ORDER=PCI_BUS_ID)",
            ],
        )
    for device in devices:
        if device.index == index:
            return _target(label, (device, None, None), mapping)
    return _fail(label, [*failures, f"NVML has no device {index} ({len(devices)} devices)"])


def resolve_nvml_index(nvml: ModuleType, index: int) -> GpuTarget | str:
    """The NVML device at ``index`` (labelled ``"nvml:<index>"``), or a reason string."""
    handle = nvml_query(nvml, "nvmlDeviceGetHandleByIndex", index)
    if not handle.ok:
        return f"NVML index {index}: {handle.reason}"
    uuid = nvml_query(nvml, "nvmlDeviceGetUUID", handle.value).value
    return GpuTarget(
        f"nvml:{index}", index, handle.value, uuid, None, "requested_nvml_index", False
    )


def _target(label: str, match: _Match, mapping: str) -> GpuTarget:
    device, mig_uuid, mig_handle = match
    return GpuTarget(
        label, device.index, device.handle, device.uuid, mig_uuid, mapping, True, mig_handle
    )


def _fail(label: str, failures: Sequence[str]) -> str:
    # No "<label>: " prefix: the summary puts the device label in front of a device's reason.
    return f"cannot map {label} to an NVML device: " + "; ".join(failures)
