"""Device and dtype rules, in one place: what may run where, and what actually ran.

Rules (measurement rule 10, "no silent substitution"):

- device ``auto`` is CUDA when ``torch.cuda.is_available()``, else CPU; ``cuda`` without a
  usable CUDA device is an error, never a quiet CPU run.
- dtype ``auto`` is float16 on CUDA and float32 on CPU (what the original app meant).
- ``float16`` on CPU is refused: PyTorch emulates much of it there, so a figure would measure
  the emulation, not half precision. ``bfloat16`` on a CUDA device of compute capability
  below 8.0 (V100 and older) is refused: checked on the resolved ``cuda:N``, never counting
  PyTorch's emulation as support.
- ``int8`` (transformers engine) is torchao's dynamic quantization of the Linear layers
  (``quantize_`` with ``Int8DynamicActivationInt8WeightConfig``: weights int8 per channel,
  activations quantized per token on the fly, float32 elsewhere), on CPU and CUDA.
- ``int4`` (transformers engine) is torchao's int4 weight-only quantization
  (``Int4WeightOnlyConfig``, bfloat16 activations): its kernel is CUDA's tinygemm, so on CPU it
  is refused.
- The CTranslate2 engine runs CTranslate2 compute types: ``float32``, ``int8`` and
  ``int8_float32`` on CPU; ``float16``, ``bfloat16``, ``int8``, ``int8_float16`` and
  ``int8_bfloat16`` on CUDA. CTranslate2 would quietly run another type where one is
  unsupported (float16 on CPU runs float32); here that is refused.
- A dtype one engine does not have at all (``int8_float32`` for transformers, ``int4`` for
  CTranslate2) raises :class:`NotApplicable`: a matrix leaves such cells out and says so.

:func:`resolve` returns the :class:`Precision` that will run; results record its ``dtype``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions that need it: the command line builds its parsers
# from DTYPES and DEVICES without loading torch (tests/test_startup.py).

__all__ = [
    "DEVICES",
    "DTYPES",
    "ENGINES",
    "NotApplicable",
    "Precision",
    "PrecisionError",
    "quantize_int4",
    "quantize_int8",
    "resolve",
]

DTypeName = Literal[
    "float32",
    "float16",
    "bfloat16",
    "int8",
    "int4",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
]
#: dtypes a user may ask for (``auto`` resolves to one of the others).
DTYPES: tuple[str, ...] = ("auto", *get_args(DTypeName))
#: Engines that run Whisper (``whisperbench.engines``): names only, so rules need no import.
ENGINES: tuple[str, ...] = ("transformers", "ctranslate2")
#: CTranslate2 compute types per device kind (what whisperbench measures; ctranslate2's own
#: ``get_supported_compute_types`` is asked too, at load).
CT2_COMPUTE_TYPES: dict[str, tuple[str, ...]] = {
    "cpu": ("float32", "int8", "int8_float32"),
    "cuda": ("float16", "bfloat16", "int8", "int8_float16", "int8_bfloat16", "float32"),
}
_TRANSFORMERS_DTYPES = ("float32", "float16", "bfloat16", "int8", "int4")
#: devices a user may ask for; ``cuda:N`` is accepted too.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


class PrecisionError(ValueError):
    """A device/dtype combination that cannot run here, or would be misleading."""


class NotApplicable(PrecisionError):  # noqa: N818 (reads as a state of a case)
    """A setting the engine does not have at all (a CTranslate2 compute type for
    transformers); a matrix leaves such a cell out instead of failing the run."""


@dataclass(frozen=True)
class Precision:
    """What will run: the device, the dtype name and the torch dtype of the weights."""

    device: str
    dtype: DTypeName
    dtype_requested: str
    device_requested: str
    engine: str = "transformers"

    @property
    def torch_dtype(self) -> torch.dtype:
        """The dtype weights are loaded in (int8 loads float32, then quantizes Linear layers;
        int4 loads bfloat16; a CTranslate2 compute type names its float part)."""
        import torch

        return {
            "float32": torch.float32,
            "float16": torch.float16,
            "bfloat16": torch.bfloat16,
            "int8": torch.float32,
            "int4": torch.bfloat16,
            "int8_float32": torch.float32,
            "int8_float16": torch.float16,
            "int8_bfloat16": torch.bfloat16,
        }[self.dtype]

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def torch_dtype_label(self) -> str:
        """The original app's ``torch_dtype`` string, e.g. ``torch.float16`` (``torch.qint8``);
        CTranslate2 cells name their compute type (``ctranslate2.int8_float32``)."""
        if self.engine == "ctranslate2":
            return f"ctranslate2.{self.dtype}"
        if self.dtype in ("int8", "int4"):
            return {"int8": "torch.qint8", "int4": "torch.quint4x2"}[self.dtype]
        return str(self.torch_dtype)


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
    import torch

    if torch.version.hip:
        return True, ""
    major, minor = torch.cuda.get_device_capability(index)
    return major >= 8, f" (compute capability {major}.{minor})"


def resolve(
    device: str = "auto",
    dtype: str = "auto",
    *,
    engine: str = "transformers",
    cuda_available: bool | None = None,
    cuda_count: int | None = None,
    bf16_supported: bool | None = None,
) -> Precision:
    """Resolve a requested device and dtype to what will run on ``engine``.

    The keyword arguments describe the machine and default to asking torch; tests pass them
    to cover GPU rules on a machine without one.

    Raises:
        PrecisionError: unknown names, CUDA asked for but absent, or a combination refused by
            the rules in this module's docstring. The message says what to use instead.
        NotApplicable: (a PrecisionError) a dtype ``engine`` does not have.
    """
    import torch

    if engine not in ENGINES:
        raise PrecisionError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
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

    if engine == "ctranslate2":
        return _resolve_ct2(name, dtype, device, resolved_device, bf16_supported)
    if name not in _TRANSFORMERS_DTYPES:
        raise NotApplicable(
            f"dtype {name} is a CTranslate2 compute type; the transformers engine runs "
            f"{', '.join(_TRANSFORMERS_DTYPES)} (int8/int4 through torchao)"
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
    if name == "int4" and not on_cuda:
        raise PrecisionError(
            "dtype int4 on CPU is refused: torchao's int4 weight-only quantization packs "
            "weights for CUDA's tinygemm kernel, and its CPU int4 layouts need kernels the "
            "PyPI wheel does not build, so a CPU figure would measure a dequantizing fallback; "
            "use int8 (torchao) or float32 on CPU, or int4 on CUDA"
        )
    return Precision(
        device=resolved_device, dtype=name, dtype_requested=dtype, device_requested=device
    )


def _resolve_ct2(
    name: str, requested: str, device_requested: str, device: str, bf16_supported: bool | None
) -> Precision:
    kind = "cuda" if device.startswith("cuda") else "cpu"
    if name == "int4":
        raise NotApplicable("dtype int4 is a torchao setting; CTranslate2 has no int4 type")
    allowed = CT2_COMPUTE_TYPES[kind]
    if name not in allowed:
        raise PrecisionError(
            f"CTranslate2 compute type {name} on {kind.upper()} is refused: CTranslate2 would "
            f"quietly run another type there; on {kind.upper()} use {', '.join(allowed)}"
        )
    if kind == "cuda" and "bfloat16" in name:
        capability = ""
        if bf16_supported is None:
            bf16_supported, capability = _native_bf16(_cuda_index(device))
        if not bf16_supported:
            raise PrecisionError(
                f"compute type {name} is not supported by {device}{capability} (needs compute "
                "capability 8.0+); use float16 or int8_float16"
            )
    return Precision(
        device=device,
        dtype=name,  # type: ignore[arg-type]
        dtype_requested=requested,
        device_requested=device_requested,
        engine="ctranslate2",
    )


def _quiet_torchao_import() -> None:
    """torchao logs a warning, at import, for each CUDA kernel library a CPU build cannot load
    and for Triton's absence on a CPU, and makes torch log a deprecation notice for an Enum
    it registers; transformers imports it on its own whenever it is installed. Those say
    nothing about a run: keep them below ERROR (errors still show)."""
    import logging

    for name in ("torchao", "torchao.kernel.intmm", "torch.utils._pytree"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.ERROR)


_quiet_torchao_import()


def _torchao() -> object:
    import torchao

    return torchao


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """torchao int8 dynamic quantization of every ``nn.Linear`` (weights int8 per output
    channel, activations int8 per token, quantized on the fly), in place; CPU and CUDA.

    Raises:
        ModuleNotFoundError: torchao is not installed (it is a dependency of whisperbench).
    """
    _torchao()
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    # set_inductor_config=False: torchao would otherwise change torch.compile's global
    # settings for every later cell of the process.
    quantize_(model, Int8DynamicActivationInt8WeightConfig(set_inductor_config=False))
    return model


def quantize_int4(model: torch.nn.Module) -> torch.nn.Module:
    """torchao int4 weight-only quantization (groups of 128) of every ``nn.Linear`` whose
    input size divides into groups, in place; CUDA only (:func:`resolve` refuses it on CPU).

    Raises:
        ModuleNotFoundError: torchao is not installed.
    """
    _torchao()
    from torchao.quantization import Int4WeightOnlyConfig, quantize_

    quantize_(model, Int4WeightOnlyConfig(group_size=128, set_inductor_config=False))
    return model
