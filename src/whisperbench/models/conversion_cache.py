"""The on-disk cache of converted checkpoints: complete or absent, verified by sha256, and
cleaned of what killed conversions leave behind.

A conversion is written into a temporary folder next to its final place and renamed into place
after a marker file (:data:`MARKER_NAME`) is written last: a folder with a valid marker is
complete. The marker records every file's size and sha256; :func:`check_conversion` compares
both before a conversion is used, so a file changed or damaged since is never loaded quietly.

Temporary folders are named ``.tmp-<final>~<host>~<pid>~<random>`` so that a later run can tell
a conversion still running from one killed half way (:func:`remove_leftovers`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from whisperbench.models.integrity import sha256_file

__all__ = [
    "MARKER_NAME",
    "WEIGHTS_FILE",
    "check_conversion",
    "install",
    "make_readable",
    "marker_for",
    "remove_leftovers",
    "temp_folder",
]

log = logging.getLogger("whisperbench.models")

#: Written last into a converted folder; its presence (with matching contents) means complete.
MARKER_NAME = "whisperbench-converted.json"
#: The weights file of a converted checkpoint; its sha256 is what results record.
WEIGHTS_FILE = "model.safetensors"
#: A temporary folder unchanged for this long is no conversion in progress (one takes seconds).
_LEFTOVER_AGE_S = 6 * 3600.0


def marker_for(folder: Path, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The marker of ``folder``: ``fields`` plus every file's size and sha256."""
    paths = [p for p in sorted(folder.iterdir()) if p.name != MARKER_NAME]
    return {
        **fields,
        "files_bytes": {p.name: p.stat().st_size for p in paths},
        "files_sha256": {p.name: sha256_file(p) for p in paths},
    }


def check_conversion(
    folder: Path, expected: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, str]:
    """``(marker, "")`` when ``folder`` holds a complete conversion whose marker has the
    ``expected`` fields and whose every file has the size and sha256 the marker recorded; else
    ``(None, what is wrong)``. Sizes are compared first (no reading), then every file is hashed.
    """
    try:
        marker = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"it has no {MARKER_NAME} (a conversion that did not finish)"
    except (OSError, ValueError) as error:
        return None, f"its {MARKER_NAME} cannot be read ({error})"
    if not isinstance(marker, dict):
        return None, f"its {MARKER_NAME} is not a JSON object"
    for key, value in expected.items():
        if marker.get(key) != value:
            return None, f"its {key} is {marker.get(key)!r}, not {value!r}"
    sizes = marker.get("files_bytes")
    digests = marker.get("files_sha256")
    if not isinstance(sizes, dict) or WEIGHTS_FILE not in sizes:
        return None, f"its {MARKER_NAME} lists no {WEIGHTS_FILE}"
    if not isinstance(digests, dict) or set(digests) != set(sizes):
        return None, (
            f"its {MARKER_NAME} records no checksums (made by an older whisperbench), so its "
            "files cannot be verified"
        )
    for name, size in sizes.items():
        path = folder / name
        if not path.is_file():
            return None, f"{name} is missing"
        if path.stat().st_size != size:
            return None, f"{name} has {path.stat().st_size} bytes, {size} recorded"
    for name, recorded in digests.items():
        actual = sha256_file(folder / name)
        if actual != recorded:
            return None, f"{name} has sha256 {actual}, {recorded} recorded at conversion"
    return marker, ""


def temp_folder(final: Path) -> Path:
    """Where to write the conversion that will become ``final``: ``.tmp-<final>~<host>~<pid>~
    <random>`` beside it (``~`` is in no host name), so :func:`remove_leftovers` can tell who
    made it."""
    name = f".tmp-{final.name}~{socket.gethostname()}~{os.getpid()}~{uuid.uuid4().hex[:8]}"
    return final.with_name(name)


def make_readable(folder: Path) -> None:
    """Give files the modes they would have had if created with the process umask (safetensors
    writes 0600 files), so a shared cache is readable by its other users. ``folder`` was made by
    ``mkdir``, so its mode tells the umask without changing it."""
    file_mode = 0o666 & folder.stat().st_mode
    for path in folder.iterdir():
        path.chmod(file_mode)


def install(work: Path, final: Path, is_complete: Callable[[Path], bool]) -> None:
    """Rename ``work`` to ``final``; if another process got there first with a complete
    conversion (``is_complete(final)``), keep theirs; if ``final`` is stale or damaged, move it
    aside and remove it first.

    Raises:
        OSError: the rename fails for another reason, or keeps losing a race.
    """
    for _attempt in range(3):
        try:
            os.rename(work, final)
            return
        except OSError:
            if not final.exists():
                raise
        if is_complete(final):
            return  # a racing process installed a complete conversion
        stale = final.with_name(f".stale-{final.name}~{uuid.uuid4().hex[:8]}")
        try:
            os.rename(final, stale)
        except FileNotFoundError:
            continue  # someone else moved it meanwhile; try again
        shutil.rmtree(stale, ignore_errors=True)
    raise OSError(f"could not install the converted checkpoint at {final}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _newest_mtime(folder: Path) -> float:
    times = [folder.stat().st_mtime]
    for path in folder.iterdir():
        with contextlib.suppress(OSError):  # removed meanwhile
            times.append(path.stat().st_mtime)
    return max(times)


def _is_leftover(path: Path, host: str, now: float) -> bool:
    """Whether ``path`` (a ``.tmp-`` or ``.stale-`` folder in the cache) is garbage."""
    if path.name.startswith(".stale-"):
        return True  # moved aside by install(), which removes it at once: nobody reads it
    parts = path.name.rsplit("~", 3)
    ours = len(parts) == 4 and parts[1] == host and parts[2].isdigit()
    if ours and not _process_alive(int(parts[2])):
        return True
    # Another host's (a cache shared over the network), an older naming, or a live pid (which
    # may have been reused): garbage once nothing in it changed for hours.
    return now - _newest_mtime(path) > _LEFTOVER_AGE_S


def remove_leftovers(parent: Path) -> list[Path]:
    """Remove what killed conversions left in ``parent`` (``<cache>/packaged``); returns them.

    A temporary folder is removed when the process that made it on this host is gone, or,
    made elsewhere, when nothing in it changed for six hours; a folder moved aside as stale is
    always removed. Never raises.
    """
    removed: list[Path] = []
    try:
        candidates = [
            p for p in parent.iterdir() if p.name.startswith((".tmp-", ".stale-")) and p.is_dir()
        ]
    except OSError:
        return removed
    host, now = socket.gethostname(), time.time()
    for path in candidates:
        try:
            garbage = _is_leftover(path, host, now)
        except OSError:
            continue
        if garbage:
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                log.info("removed %s, left by a conversion that did not finish", path)
                removed.append(path)
    return removed
