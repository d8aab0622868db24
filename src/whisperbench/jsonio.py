"""Atomic JSON files: a run interrupted mid-write never leaves a half-written file.

The text goes to a temporary file in the target's folder, is flushed to disk, and replaces the
target by one rename; until then the old file is untouched, and on any failure or interrupt the
temporary file is removed. The new file gets the mode an ordinary ``open(path, "w")`` would
give it: an existing file keeps its mode, a new one gets ``0o666`` less the umask.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any

__all__ = ["write_json_atomic"]

_NEW_FILE_MODE = 0o666  #: what open(path, "w") asks for; the kernel applies the umask


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` via a temp file in the same folder and a rename.

    Raises:
        OSError: the folder does not exist or is not writable, or the write fails (disk
            full); the old file is left as it was and nothing else is left behind.
        TypeError/ValueError: ``data`` is not JSON-serializable, or holds NaN or infinity
            (nothing is written).
    """
    target = Path(path)
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    try:
        existing_mode: int | None = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        existing_mode = None
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    # O_EXCL: never follow or reuse another file; the kernel applies the umask to the mode.
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _NEW_FILE_MODE)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            if existing_mode is not None:
                os.fchmod(stream.fileno(), existing_mode)
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target
