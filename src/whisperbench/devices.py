"""Device names and waiting for a device: one definition for the pipeline and the meters.

``"cpu"``, ``"cuda"`` and ``"cuda:N"`` are the device names whisperbench uses once a request
has been resolved (:func:`whisperbench.models.precision.resolve`). :func:`synchronizer` gives
the function that waits for a device's queued work; the Transcriber calls it at every phase
edge and the meters at every window edge (measurement rule 3), so both wait the same way.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable

__all__ = [
    "check_device_spelling",
    "cuda_ordinal",
    "device_type",
    "gpus_type",
    "parse_gpus",
    "synchronizer",
]


def cuda_ordinal(device: str) -> int | None:
    """``"cpu"`` -> ``None``; ``"cuda"`` -> the current CUDA ordinal (0 without CUDA);
    ``"cuda:N"`` -> ``N``.

    Raises:
        ValueError: any other string.
    """
    if device == "cpu":
        return None
    if device == "cuda":
        import torch

        return int(torch.cuda.current_device()) if torch.cuda.is_available() else 0
    prefix, _, ordinal = device.partition(":")
    if prefix == "cuda" and ordinal.isdigit():
        return int(ordinal)
    raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', not {device!r}")


def device_type(text: str) -> str:
    """argparse ``type=`` for a requested device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Only the spelling is checked here; whether CUDA is there is checked when the run is
    resolved (:func:`whisperbench.models.precision.resolve`), with its own message.
    """
    if text == "auto":
        return text
    try:
        check_device_spelling(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{error}; or 'auto' (CUDA when available, else CPU)"
        ) from None
    return text


def check_device_spelling(device: str) -> None:
    """Raise ValueError unless ``device`` is spelled ``cpu``, ``cuda`` or ``cuda:N``."""
    prefix, sep, ordinal = device.partition(":")
    if device in ("cpu", "cuda") or (prefix == "cuda" and sep and ordinal.isdigit()):
        return
    raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', not {device!r}")


def parse_gpus(gpus: str) -> tuple[str, list[int]]:
    """``"auto"``, ``"all"``, ``"none"``, or comma-separated NVML indices (``"0,2"``).

    Returns:
        ``(mode, indices)`` with mode ``"auto"``, ``"all"``, ``"none"`` or ``"indices"``.

    Raises:
        ValueError: anything else, or a repeated index.
    """
    spec = gpus.strip().lower()
    if spec in ("auto", "all", "none"):
        return spec, []
    try:
        indices = [int(part) for part in spec.split(",")]
    except ValueError:
        raise ValueError(
            f"gpus must be 'auto', 'all', 'none' or NVML indices like '0,2', not {gpus!r}"
        ) from None
    if any(i < 0 for i in indices) or len(set(indices)) != len(indices):
        raise ValueError(f"gpus: indices must be distinct and >= 0, not {gpus!r}")
    return "indices", indices


def gpus_type(text: str) -> str:
    """argparse ``type=`` for a GPU selection (:func:`parse_gpus`); keeps the text."""
    try:
        parse_gpus(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def synchronizer(device: str) -> Callable[[], None]:
    """A function that waits for ``device``'s queued work; a no-op on CPU.

    Where torch sees no CUDA (a CUDA device name used with fake NVML in tests) there is no
    queue to wait for, and the function returned is the no-op too.
    """
    ordinal = cuda_ordinal(device)
    if ordinal is None:
        return _no_wait
    import torch

    if not torch.cuda.is_available():
        return _no_wait
    return functools.partial(torch.cuda.synchronize, ordinal)


def _no_wait() -> None:
    return None
