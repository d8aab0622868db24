"""CUDA ordinals → NVML devices by UUID, under reordering CUDA_VISIBLE_DEVICES and MIG."""

from __future__ import annotations

import pytest

from tests.fakes_nvml import FakeGpu, FakeNvml, make_mig_uuid, make_uuid
from whisperbench.meters.gpu_mapping import (
    GpuTarget,
    parse_cuda_visible_devices,
    resolve_cuda_ordinal,
)


def _node(names: list[str] | None = None, mig_on: int | None = None) -> FakeNvml:
    names = names or ["NVIDIA A100-SXM4-80GB"] * 4
    gpus = [FakeGpu(make_uuid(i), name=name) for i, name in enumerate(names)]
    if mig_on is not None:
        gpus[mig_on].mig_mode = (1, 1)
        gpus[mig_on].mig_uuids = (make_mig_uuid(7), make_mig_uuid(8))
    fake = FakeNvml(gpus)
    fake.nvmlInit()
    return fake


def _resolve(fake: FakeNvml, ordinal: int, env: dict[str, str], uuids: dict[int, str] | None = None
             ) -> GpuTarget:  # fmt: skip
    lookup = None if uuids is None else uuids.get
    target = resolve_cuda_ordinal(fake, ordinal, uuid_lookup=lookup, environ=env)
    assert isinstance(target, GpuTarget), target
    return target


def test_torch_uuid_maps_through_a_reordered_visible_devices_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CUDA_VISIBLE_DEVICES=2,0: cuda:0 is NVML 2, cuda:1 is NVML 0 (torch prints bare UUIDs)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    fake = _node()
    torch_uuids = {0: make_uuid(2).removeprefix("GPU-"), 1: make_uuid(0).removeprefix("GPU-")}
    lookup = torch_uuids.get
    first = resolve_cuda_ordinal(fake, 0, uuid_lookup=lookup)
    second = resolve_cuda_ordinal(fake, 1, uuid_lookup=lookup)
    assert isinstance(first, GpuTarget)
    assert isinstance(second, GpuTarget)
    assert (first.label, first.nvml_index, first.uuid) == ("cuda:0", 2, make_uuid(2))
    assert (second.label, second.nvml_index, second.uuid) == ("cuda:1", 0, make_uuid(0))
    assert first.mapping == "torch_uuid"
    assert first.used_by_process


def test_integer_visible_devices_without_uuid_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    fake = _node()
    first = resolve_cuda_ordinal(fake, 0, uuid_lookup=None)
    second = resolve_cuda_ordinal(fake, 1, uuid_lookup=None)
    assert isinstance(first, GpuTarget)
    assert isinstance(second, GpuTarget)
    assert (first.nvml_index, second.nvml_index) == (2, 0)
    assert first.mapping == "cuda_visible_devices_index"


def test_uuid_and_prefix_entries_in_visible_devices() -> None:
    fake = _node()
    env = {"CUDA_VISIBLE_DEVICES": f"{make_uuid(3)},GPU-00000001"}
    assert _resolve(fake, 0, env).nvml_index == 3
    assert _resolve(fake, 1, env).nvml_index == 1
    assert _resolve(fake, 1, env).mapping == "cuda_visible_devices_uuid"


def test_ambiguous_uuid_prefix_is_refused() -> None:
    fake = _node()
    reason = resolve_cuda_ordinal(
        fake, 0, uuid_lookup=None, environ={"CUDA_VISIBLE_DEVICES": "GPU-0000000"}
    )
    assert isinstance(reason, str)
    assert "ambiguous" in reason


def test_torch_uuid_wins_over_visible_devices() -> None:
    fake = _node()
    env = {"CUDA_VISIBLE_DEVICES": "0,1"}  # e.g. stale; the device's own UUID is authoritative
    assert _resolve(fake, 0, env, {0: make_uuid(3)[4:]}).nvml_index == 3


def test_integers_refused_when_cuda_and_nvml_orders_may_differ() -> None:
    fake = _node(["NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB", "Tesla V100", "NVIDIA T4"])
    reason = resolve_cuda_ordinal(fake, 1, uuid_lookup=None, environ={})
    assert isinstance(reason, str)
    assert "CUDA_DEVICE_ORDER=PCI_BUS_ID" in reason
    ok = _resolve(fake, 1, {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert ok.nvml_index == 1
    assert ok.mapping == "cuda_ordinal"


@pytest.mark.parametrize(
    "ident", [make_mig_uuid(8), f"MIG-{make_uuid(1)}/2/0"], ids=["MIG-uuid", "MIG-GPU-legacy"]
)
def test_mig_visible_device_meters_the_parent_and_says_so(ident: str) -> None:
    fake = _node(mig_on=1)
    target = _resolve(fake, 0, {"CUDA_VISIBLE_DEVICES": ident})
    assert target.nvml_index == 1
    assert target.uuid == make_uuid(1)
    assert target.mig_uuid == ident
    assert target.energy_scope == "gpu_whole_mig_parent"


def test_mig_uuid_from_torch_meters_the_parent() -> None:
    fake = _node(mig_on=2)
    target = _resolve(fake, 0, {}, {0: make_mig_uuid(7).removeprefix("MIG-")})
    assert (target.nvml_index, target.mig_uuid) == (2, make_mig_uuid(7))


def test_ordinal_missing_from_visible_devices_is_a_reason() -> None:
    fake = _node()
    reason = resolve_cuda_ordinal(fake, 2, uuid_lookup=None, environ={"CUDA_VISIBLE_DEVICES": "1"})
    assert isinstance(reason, str)
    assert reason.startswith("cannot map cuda:2 to an NVML device")


@pytest.mark.parametrize(
    ("value", "entries"),
    [
        (None, None),
        ("", []),
        ("0,1", ["0", "1"]),
        (" 2 , 0", ["2", "0"]),
        ("1,abc,2", ["1"]),  # CUDA stops at the first invalid entry
        ("3gpu", ["3"]),  # strtoul semantics
        (f"{make_uuid(1)},{make_mig_uuid(2)}", [make_uuid(1), make_mig_uuid(2)]),
        ("-1", []),
    ],
)
def test_parse_cuda_visible_devices(value: str | None, entries: list[str] | None) -> None:
    assert parse_cuda_visible_devices(value) == entries
