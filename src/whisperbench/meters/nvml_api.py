"""The NVML bindings, imported lazily, with every binding error mapped once.

:func:`nvml_query` calls one NVML function and never raises for NVML's own failures: any
``NVMLError`` (``NotSupported``, ``NoPermission``, ...) or a function missing from the
installed bindings becomes a ``None`` value plus a reason string. Every meter reads NVML
through it, so a new kind of binding error is handled here, in one place.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = ["NvmlResult", "import_nvml", "nvml_error_text", "nvml_query"]


@dataclass(frozen=True)
class NvmlResult:
    """The outcome of one NVML call.

    Attributes:
        value: the call's return value, ``None`` on error.
        reason: ``"<function>: <ErrorClass> (<message>)"`` on error, else ``None``.
        code: the ``NVML_ERROR_*`` value on an NVML error, else ``None``.
    """

    value: Any
    reason: str | None = None
    code: int | None = None

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.reason is None


def nvml_query(nvml: ModuleType, function: str, *args: Any) -> NvmlResult:
    """Call ``nvml.<function>(*args)``, mapping every NVML error to a reason, never raising.

    A function the installed bindings do not have (older ``nvidia-ml-py``) is reported the
    same way. Other exceptions (programming errors) propagate.
    """
    func = getattr(nvml, function, None)
    if func is None:
        return NvmlResult(None, f"{function}: not provided by these NVML bindings")
    try:
        return NvmlResult(func(*args))
    except nvml.NVMLError as exc:
        code = getattr(exc, "value", None)
        return NvmlResult(None, f"{function}: {nvml_error_text(exc)}", code)


def nvml_error_text(exc: BaseException) -> str:
    """``"NVMLError_NotSupported (Not Supported)"`` for an NVML exception."""
    try:
        message = str(exc)
    except Exception:  # pynvml's __str__ calls into the library for unknown codes
        message = f"code {getattr(exc, 'value', '?')}"
    return f"{type(exc).__name__} ({message})"


def import_nvml(nvml_module: ModuleType | None = None) -> tuple[ModuleType | None, str | None]:
    """Import (lazily, at call time) and initialize NVML.

    Args:
        nvml_module: a module object to use instead of ``import pynvml`` (tests pass a fake);
            ``sys.modules["pynvml"]`` is honoured too, because the import happens here.

    Returns:
        ``(module, None)`` after a successful ``nvmlInit()`` (the caller owes one
        ``nvmlShutdown()``), or ``(None, reason)`` — no bindings, no library, no driver.
    """
    if nvml_module is None:
        try:
            nvml_module = importlib.import_module("pynvml")
        except ImportError as exc:
            return None, f"NVML bindings not importable (pip install nvidia-ml-py): {exc}"
    try:
        nvml_module.nvmlInit()
    except nvml_module.NVMLError as exc:
        return None, f"NVML init failed: {nvml_error_text(exc)}"
    except OSError as exc:  # a broken library can surface as an OSError from ctypes
        return None, f"NVML init failed: {exc}"
    return nvml_module, None
