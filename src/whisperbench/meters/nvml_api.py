"""The NVML bindings, imported lazily, with every binding error mapped once.

:func:`nvml_query` calls one NVML function and never raises for NVML's own failures: any
``NVMLError`` (``NotSupported``, ``NoPermission``, ...), pynvml's ``NVMLLibraryMismatchError``
(an old driver under new bindings) or a function missing from the installed bindings becomes
a ``None`` value plus a reason string. Every meter reads NVML
through it, so a new kind of binding error is handled here, in one place.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass
from types import ModuleType
from typing import Any

__all__ = [
    "FUNCTION_NOT_FOUND",
    "NvmlResult",
    "binding_errors",
    "bindings_version",
    "import_nvml",
    "nvml_error_text",
    "nvml_query",
]


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


def binding_errors(nvml: ModuleType) -> tuple[type[BaseException], ...]:
    """Every exception class the bindings raise for NVML's own failures.

    ``NVMLError`` and its subclasses, and ``NVMLLibraryMismatchError``: pynvml wraps some
    unversioned functions (``nvmlDeviceGetComputeRunningProcesses`` calls ``..._v3``) so that a
    driver without the versioned symbol (before R510, e.g. R470) raises that one instead, and
    it is a plain ``Exception``, not an ``NVMLError``.
    """
    errors: list[type[BaseException]] = [nvml.NVMLError]
    mismatch = getattr(nvml, "NVMLLibraryMismatchError", None)
    if isinstance(mismatch, type) and issubclass(mismatch, BaseException):
        errors.append(mismatch)
    return tuple(errors)


def nvml_query(nvml: ModuleType, function: str, *args: Any) -> NvmlResult:
    """Call ``nvml.<function>(*args)``, mapping every binding error to a reason, never raising.

    Binding errors are those of :func:`binding_errors`; a function the installed bindings do
    not have (older ``nvidia-ml-py``) is reported the same way. Other exceptions (programming
    errors) propagate.
    """
    func = getattr(nvml, function, None)
    if func is None:
        return NvmlResult(None, f"{function}: not provided by these NVML bindings")
    try:
        return NvmlResult(func(*args))
    except binding_errors(nvml) as exc:
        code = getattr(exc, "value", None)
        if not isinstance(exc, nvml.NVMLError):
            code = FUNCTION_NOT_FOUND  # the library lacks the versioned symbol
            return NvmlResult(
                None,
                f"{function}: {type(exc).__name__} (the driver lacks the version of this "
                "function these bindings call: a driver older than R510 with nvidia-ml-py "
                f"{bindings_version()})",
                code,
            )
        return NvmlResult(None, f"{function}: {nvml_error_text(exc)}", code)


#: NVML_ERROR_FUNCTION_NOT_FOUND: the library has no such symbol.
FUNCTION_NOT_FOUND = 13


def bindings_version() -> str:
    """The installed nvidia-ml-py version, for messages."""
    try:
        return importlib.metadata.version("nvidia-ml-py")
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


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
