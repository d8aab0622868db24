"""Device x dtype rules: what runs where, what is refused, and that results say what ran."""

import pytest
import torch

from whisperbench.models.precision import NotApplicable, PrecisionError, quantize_int8, resolve

CPU_ONLY = {"cuda_available": False, "cuda_count": 0}
ONE_GPU = {"cuda_available": True, "cuda_count": 1}


@pytest.mark.parametrize(
    ("device", "dtype", "machine", "expected_device", "expected_dtype"),
    [
        ("auto", "auto", CPU_ONLY, "cpu", "float32"),
        ("auto", "auto", ONE_GPU, "cuda:0", "float16"),
        ("cpu", "float32", ONE_GPU, "cpu", "float32"),
        ("cpu", "bfloat16", CPU_ONLY, "cpu", "bfloat16"),
        ("cpu", "int8", CPU_ONLY, "cpu", "int8"),
        ("cuda", "float16", ONE_GPU, "cuda:0", "float16"),
        ("cuda:0", "float32", ONE_GPU, "cuda:0", "float32"),
        ("cuda", "bfloat16", {**ONE_GPU, "bf16_supported": True}, "cuda:0", "bfloat16"),
    ],
)
def test_allowed_combinations_resolve_to_what_runs(
    device: str, dtype: str, machine: dict, expected_device: str, expected_dtype: str
) -> None:
    precision = resolve(device, dtype, **machine)
    assert (precision.device, precision.dtype) == (expected_device, expected_dtype)
    assert precision.dtype_requested == dtype


@pytest.mark.parametrize(
    ("device", "dtype", "machine", "message"),
    [
        ("cpu", "float16", CPU_ONLY, r"float16 on CPU is refused.*use float32, bfloat16 or int8"),
        ("cuda", "float32", CPU_ONLY, r"no CUDA device.*--device cpu"),
        ("cuda:3", "float32", ONE_GPU, r"only 1 CUDA device.*CUDA_VISIBLE_DEVICES"),
        ("cuda:x", "float32", ONE_GPU, r"write it as cuda:N"),
        (
            "cuda",
            "bfloat16",
            {**ONE_GPU, "bf16_supported": False},
            r"bfloat16 is not supported.*V100",
        ),
        ("tpu", "float32", CPU_ONLY, r"unknown device 'tpu'"),
        ("cpu", "float8", CPU_ONLY, r"unknown dtype 'float8'"),
    ],
)
def test_refused_combinations_say_why_and_what_to_do(
    device: str, dtype: str, machine: dict, message: str
) -> None:
    with pytest.raises(PrecisionError, match=message):
        resolve(device, dtype, **machine)


@pytest.mark.parametrize(
    ("dtype", "label", "torch_dtype"),
    [
        ("float32", "torch.float32", torch.float32),
        ("bfloat16", "torch.bfloat16", torch.bfloat16),
        ("int8", "torch.qint8", torch.float32),
    ],
)
def test_labels_follow_the_original_apps_torch_dtype_key(
    dtype: str, label: str, torch_dtype: torch.dtype
) -> None:
    precision = resolve("cpu", dtype, **CPU_ONLY)
    assert precision.torch_dtype_label == label
    assert precision.torch_dtype == torch_dtype


def test_int8_quantizes_every_linear_through_torchao_and_keeps_outputs_close() -> None:
    from torchao.quantization import Int8Tensor

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8))
    x = torch.randn(4, 64)
    expected = model(x)
    quantized = quantize_int8(model)
    linears = [m for m in quantized.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 2
    assert all(isinstance(m.weight, Int8Tensor) for m in linears)
    assert all(m.weight.qdata.dtype == torch.int8 for m in linears)
    assert torch.allclose(quantized(x), expected, atol=0.05)


class _Props:
    def __init__(self, name: str, major: int, minor: int) -> None:
        self.name, self.major, self.minor = name, major, minor


V100 = _Props("Tesla V100-SXM2-32GB", 7, 0)
A100 = _Props("NVIDIA A100-SXM4-80GB", 8, 0)


def _emulated_cuda(monkeypatch: pytest.MonkeyPatch, devices: list[_Props], current: int) -> None:
    """torch.cuda as on a machine with ``devices``: torch's own is_bf16_supported runs on top
    (it asks the *current* device and, by default, accepts bf16 that only emulation runs)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(devices))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: current)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d=None: devices[int(d or 0)])
    # On a V100 a bf16 tensor can be created (emulated), so torch's fallback check says yes.
    monkeypatch.setattr(torch.cuda, "_check_bf16_tensor_supported", lambda device: True)


@pytest.mark.parametrize(
    ("devices", "current", "device"),
    [
        ([V100], 0, "cuda:0"),  # emulation is not support
        ([A100, V100], 0, "cuda:1"),  # the current device is not the one that runs
    ],
    ids=["v100-emulated", "resolved-device-not-current"],
)
def test_bfloat16_refused_on_the_resolved_device_without_emulation(
    monkeypatch: pytest.MonkeyPatch, devices: list[_Props], current: int, device: str
) -> None:
    _emulated_cuda(monkeypatch, devices, current)
    assert torch.cuda.is_bf16_supported()  # what the code asked before: a yes for a V100
    with pytest.raises(PrecisionError, match=rf"bfloat16 is not supported by {device}.*7\.0"):
        resolve(device, "bfloat16")


def test_bfloat16_allowed_on_compute_capability_8(monkeypatch: pytest.MonkeyPatch) -> None:
    devices = [_Props("Tesla V100-SXM2-32GB", 7, 0), _Props("NVIDIA H100 80GB HBM3", 9, 0)]
    _emulated_cuda(monkeypatch, devices, current=0)
    assert resolve("cuda:1", "bfloat16").dtype == "bfloat16"


def test_int8_no_longer_goes_through_the_deprecated_quantized_api() -> None:
    import inspect

    from whisperbench.models import precision

    source = inspect.getsource(precision)
    assert "quantize_dynamic" not in source
    assert "catch_warnings" not in source  # nothing silenced any more


@pytest.mark.parametrize(
    ("device", "dtype", "machine", "expected"),
    [
        ("cpu", "int8", CPU_ONLY, "int8"),
        ("cpu", "int8_float32", CPU_ONLY, "int8_float32"),
        ("cpu", "auto", CPU_ONLY, "float32"),
        ("cuda", "auto", ONE_GPU, "float16"),
        ("cuda", "int8_float16", ONE_GPU, "int8_float16"),
        ("cuda", "int8_bfloat16", {**ONE_GPU, "bf16_supported": True}, "int8_bfloat16"),
    ],
)
def test_ctranslate2_compute_types_per_device(
    device: str, dtype: str, machine: dict, expected: str
) -> None:
    precision = resolve(device, dtype, engine="ctranslate2", **machine)
    assert (precision.dtype, precision.engine) == (expected, "ctranslate2")
    assert precision.torch_dtype_label == f"ctranslate2.{expected}"


@pytest.mark.parametrize(
    ("device", "dtype", "engine", "machine", "error", "message"),
    [
        # CTranslate2 would run float32 for these on a CPU, quietly: refused.
        ("cpu", "float16", "ctranslate2", CPU_ONLY, PrecisionError, r"quietly run another type"),
        ("cpu", "int8_float16", "ctranslate2", CPU_ONLY, PrecisionError, r"on CPU use float32"),
        ("cuda", "int8_float32", "ctranslate2", ONE_GPU, PrecisionError, r"CUDA is refused"),
        (
            "cuda",
            "int8_bfloat16",
            "ctranslate2",
            {**ONE_GPU, "bf16_supported": False},
            PrecisionError,
            r"compute capability 8.0",
        ),
        # int4 is torchao's, CUDA only.
        ("cpu", "int4", "transformers", CPU_ONLY, PrecisionError, r"int4 on CPU is refused"),
        ("cuda", "int4", "ctranslate2", ONE_GPU, NotApplicable, r"CTranslate2 has no int4"),
        # A CTranslate2 compute type is not a transformers dtype: left out of a matrix.
        ("cpu", "int8_float32", "transformers", CPU_ONLY, NotApplicable, r"CTranslate2 compute"),
        ("cpu", "float32", "onnx", CPU_ONLY, PrecisionError, r"unknown engine 'onnx'"),
    ],
)
def test_engine_dtype_refusals_say_why(
    device: str, dtype: str, engine: str, machine: dict, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        resolve(device, dtype, engine=engine, **machine)


def test_int8_and_int4_run_on_cuda_through_torchao() -> None:
    assert resolve("cuda", "int8", **ONE_GPU).dtype == "int8"
    int4 = resolve("cuda", "int4", **ONE_GPU)
    assert (int4.dtype, int4.torch_dtype) == ("int4", torch.bfloat16)
