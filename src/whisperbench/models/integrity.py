"""Checksums of weight files: what was loaded, checked against what was recorded.

Every load records the sha256 of the weight file(s) it loaded (``weights_sha256``), and checks it
where a reference exists: the conversion record of a packaged checkpoint, the blob name of a
Hugging Face cache file. A mismatch is never used quietly (:class:`WeightsIntegrityError`, or a
new conversion with a warning where whisperbench made the file itself).

Cost (``python benchmarks/weights_check_cost.py``, 2-core build machine shared with other
runs, files in the page cache): checking a packaged conversion takes a median 0.05 s for
tiny.en (79 MB) and 0.10 s for base (149 MB) at load average 3.5, 0.19 s and 0.41 s at load
average 6: about 9% and 13% of loading the model, never inside a measured figure. Files up to
:data:`HASH_EVERY_LOAD_BYTES` are therefore hashed on every load. A larger file (large-v3's
is about 3 GB, twenty times base's; not measured here, no such weights on this machine) is
hashed once per file version: the digest is kept in ``<cache>/verified/`` with the file's size,
mtime, inode and device, and reused while they are unchanged. The result says which happened
(:meth:`FileHash.describe`), so a skipped hash is never silent.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

__all__ = [
    "HASH_EVERY_LOAD_BYTES",
    "FileHash",
    "WeightsIntegrityError",
    "cache_root",
    "digest_of",
    "file_sha256",
    "sha256_file",
]

#: Files up to this size are hashed on every load; larger ones once per size and mtime.
HASH_EVERY_LOAD_BYTES = 1 << 30

_CHUNK_BYTES = 1 << 20


class WeightsIntegrityError(RuntimeError):
    """A weight file is not what it should be (damaged, truncated, altered); the message names
    the file, what was found and what to do."""


def cache_root() -> Path:
    """``$WHISPERBENCH_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/whisperbench``, else
    ``~/.cache/whisperbench``. Not created here."""
    explicit = os.environ.get("WHISPERBENCH_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "whisperbench"
    return Path.home() / ".cache" / "whisperbench"


def sha256_file(path: Path) -> str:
    """sha256 hex digest of one file.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        buffer = bytearray(_CHUNK_BYTES)
        view = memoryview(buffer)
        while count := handle.readinto(view):
            digest.update(view[:count])
    return digest.hexdigest()


@dataclass(frozen=True)
class FileHash:
    """The sha256 of one file and how it was established."""

    path: Path
    sha256: str
    size_bytes: int
    hashed: bool  #: True: read and hashed now; False: a record of the unchanged file was used
    recorded_at: str | None = None  #: when the reused record was made (ISO 8601, UTC)

    def describe(self) -> str:
        """How the checksum was established, for the result (never a silent skip)."""
        if self.hashed:
            return "hashed on load"
        return (
            f"hashed at {self.recorded_at}; unchanged size and mtime since, so not hashed again "
            f"(over {HASH_EVERY_LOAD_BYTES >> 20} MiB)"
        )


def _record_path(records: Path, path: Path) -> Path:
    key = hashlib.sha256(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return records / f"{key}.json"


def _stat_key(info: os.stat_result) -> list[int]:
    return [info.st_size, info.st_mtime_ns, info.st_ino, info.st_dev]


def file_sha256(path: Path, *, records: Path | None = None) -> FileHash:
    """The sha256 of ``path``: hashed now, or, for a file over :data:`HASH_EVERY_LOAD_BYTES`,
    taken from the record in ``records`` (default ``<cache>/verified``) made the last time it
    was hashed, when its size, mtime, inode and device are unchanged.

    Raises:
        OSError: the file cannot be read.
    """
    resolved = Path(path).resolve()
    info = resolved.stat()
    if info.st_size <= HASH_EVERY_LOAD_BYTES:
        return FileHash(resolved, sha256_file(resolved), info.st_size, hashed=True)
    folder = records if records is not None else cache_root() / "verified"
    record_file = _record_path(folder, resolved)
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
        if record["path"] == str(resolved) and record["stat"] == _stat_key(info):
            return FileHash(
                resolved, str(record["sha256"]), info.st_size, False, str(record["hashed_at"])
            )
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = sha256_file(resolved)
    after = resolved.stat()
    if _stat_key(after) == _stat_key(info):  # not changed while hashing: worth recording
        from whisperbench.jsonio import write_json_atomic

        hashed_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_json_atomic(
                record_file,
                {"path": str(resolved), "stat": _stat_key(info), "sha256": digest,
                 "hashed_at": hashed_at},
            )  # fmt: skip
        except OSError:
            pass  # a read-only cache only costs a hash next time
    return FileHash(resolved, digest, info.st_size, hashed=True)


def digest_of(hashes: Sequence[FileHash]) -> str:
    """The checksum recorded for the weights: one file's sha256; for several files (a sharded
    checkpoint), the sha256 of their ``"<sha256>  <name>\\n"`` lines sorted by name (the
    ``sha256sum`` listing of the folder)."""
    if len(hashes) == 1:
        return hashes[0].sha256
    lines = sorted(f"{h.sha256}  {h.path.name}\n" for h in hashes)
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()
