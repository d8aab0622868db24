"""Atomic JSON files: a run interrupted mid-write never leaves a half-written file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["write_json_atomic"]


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` via a temp file in the same folder and a rename.

    Raises:
        OSError: the folder does not exist or is not writable (nothing is left behind).
        TypeError/ValueError: ``data`` is not JSON-serializable (nothing is written).
    """
    target = Path(path)
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    handle, temp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target
