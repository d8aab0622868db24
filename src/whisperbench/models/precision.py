"""Device and dtype rules, in one place: what may run where, and what actually ran.

Rules (measurement rule 10, "no silent substitution"):

- device ``auto`` is CUDA when ``torch.cuda.is_available()``, else CPU; ``cuda`` without a
  usable CUDA device is an error, never a quiet CPU run.
- dtype ``auto`` is float16 on CUDA and float32 on CPU (what the original app meant).
- ``float16`` on CPU is refused: PyTorch emulates much of it there, so a figure would measure
  the emulation, not half precision. ``bfloat16`` on a CUDA device of compute capability
  below 8.0 (V100 and older) is refused: checked on the resolved ``cuda:N``, never counting
  PyTorch's emulation as support.
- ``int8`` is dynamic quantization of the Linear layers (weights int8, activations quantized
  on the fly, float32 elsewhere): a CPU kernel. On CUDA there is none, so it is refused.

:func:`resolve` returns the :class:`Precision` that will run; results record its ``dtype``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions that need it: the command line builds its parsers
# from DTYPES and DEVICES without loading torch (tests/test_startup.py).

__all__ = ["DEVICES", "DTYPES", "Precision", "PrecisionError", "quantize_int8", "resolve"]

DTypeName = Literal["float32", "float16", "bfloat16", "int8"]
#: dtypes a user may ask for (``auto`` resolves to one of the others).
DTYPES: tuple[str, ...] = ("auto", "float32", "float16", "bfloat16", "int8")
#: devices a user may ask for; ``cuda:N`` is accepted too.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


class PrecisionError(ValueError):
    """A device/dtype combination that cannot run here, or would be misleading."""


@dataclass(frozen=True)
class Precision:
    """What will run: the device, the dtype name and the torch dtype of the weights."""

    device: str
    dtype: DTypeName
    dtype_requested: str
    device_requested: str

    @property
    def torch_dtype(self) -> torch.dtype:
        """The dtype weights are loaded in (int8 loads float32, then quantizes Linear layers)."""
        import torch

        return {
            "float32": torch.float32,
            "float16": torch.float16,
            "bfloat16": torch.bfloat16,
            "int8": torch.float32,
        }[self.dtype]

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def torch_dtype_label(self) -> str:
        """The original app's ``torch_dtype`` string, e.g. ``torch.float16`` (``torch.qint8``)."""
        return "torch.qint8" if self.dtype == "int8" else str(self.torch_dtype)


def _resolve_device(requested: str, cuda_available: bool, cuda_count: int) -> str:
    if requested == "auto":
        return "cuda:0" if cuda_available else "cpu"
    if requested == "cpu":
        return "cpu"
    if requested == "cuda" or requested.startswith("cuda:"):
        if not cuda_available:
            import torch

            raise PrecisionError(
                f"device {requested!r} asked for, but torch sees no CUDA device "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda is not None}); "
                "use --device cpu, or install a CUDA build of torch on a GPU machine"
            )
        index = 0 if requested == "cuda" else _cuda_index(requested)
        if index >= cuda_count:
            raise PrecisionError(
                f"device {requested!r} asked for, but only {cuda_count} CUDA device(s) are "
                "visible (check CUDA_VISIBLE_DEVICES)"
            )
        return f"cuda:{index}"
    raise PrecisionError(f"unknown device {requested!r}; choose auto, cpu, cuda or cuda:N")


def _cuda_index(device: str) -> int:
    try:
        return int(device.split(":", 1)[1])
    except ValueError:
        raise PrecisionError(f"bad CUDA device {device!r}; write it as cuda:N") from None


def _native_bf16(index: int) -> tuple[bool, str]:
    """Whether CUDA device ``index`` runs bfloat16 natively, and its capability for messages.

    Not ``torch.cuda.is_bf16_supported()``: that asks the *current* device, not ``index``, and
    by default it also says yes where bf16 is only emulated (a V100 can create bf16 tensors).
    ROCm builds run bf16 on every supported AMD GPU (what torch assumes too).
    """
    if torch.version.hip:
        return True, ""
    major, minor = torch.cuda.get_device_capability(index)
    return major >= 8, f" (compute capability {major}.{minor})"


def resolve(
    device: str = "auto",
    dtype: str = "auto",
    *,
    cuda_available: bool | None = None,
    cuda_count: int | None = None,
    bf16_supported: bool | None = None,
) -> Precision:
    """Resolve a requested device and dtype to what will run.

    The keyword arguments describe the machine and default to asking torch; tests pass them
    to cover GPU rules on a machine without one.

    Raises:
        PrecisionError: unknown names, CUDA asked for but absent, or a combination refused by
            the rules in this module's docstring. The message says what to use instead.
    """
    import torch

    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if cuda_count is None:
        cuda_count = torch.cuda.device_count() if cuda_available else 0
    resolved_device = _resolve_device(device, cuda_available, cuda_count)
    on_cuda = resolved_device.startswith("cuda")

    if dtype not in DTYPES:
        raise PrecisionError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    name: DTypeName = (
        ("float16" if on_cuda else "float32") if dtype == "auto" else dtype  # type: ignore[assignment]
    )

    if name == "float16" and not on_cuda:
        raise PrecisionError(
            "dtype float16 on CPU is refused: PyTorch emulates much of it there, so the figure "
            "would not be half precision; use float32, bfloat16 or int8 on CPU, or run on CUDA"
        )
    if name == "bfloat16" and on_cuda:
        capability = ""
        if bf16_supported is None:
            bf16_supported, capability = _native_bf16(_cuda_index(resolved_device))
        if not bf16_supported:
            raise PrecisionError(
                f"dtype bfloat16 is not supported by {resolved_device}{capability} (needs "
                "compute capability 8.0+, e.g. A100/H100; V100 has none, and PyTorch's "
                "emulation would not measure bfloat16); use float16 or float32"
            )
    if name == "int8" and on_cuda:
        raise PrecisionError(
            "dtype int8 is dynamic quantization, a CPU kernel; PyTorch has none for CUDA. "
            "Use --device cpu for int8, or float16/bfloat16 on CUDA"
        )
    return Precision(
        device=resolved_device, dtype=name, dtype_requested=dtype, device_requested=device
    )


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantization of every ``nn.Linear`` (weights int8; CPU only).

    PyTorch deprecates the quantized tensor API in favour of torchao but it still runs; the
    deprecation warnings are silenced here because they would repeat on every load.
    """
    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (UserWarning, DeprecationWarning, FutureWarning))
        quantized: torch.nn.Module = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return quantized
