"""Read CTranslate2 ``model.bin`` files into numpy arrays, without CTranslate2 installed.

The layout is the one ``ctranslate2.specs.model_spec.ModelSpec._serialize`` writes (binary
version 6), all integers little-endian:

- ``u32`` binary version, string spec name (e.g. ``"WhisperSpec"``), ``u32`` spec revision;
- ``u32`` variable count, then per variable: string name, ``u8`` rank, ``u32`` dims[rank],
  ``u8`` dtype id (see :class:`Ct2DType`), ``u32`` byte count, raw row-major data;
- ``u32`` alias count, then (alias, target) string pairs: the alias names the same tensor.

A string is a ``u16`` length that counts a trailing NUL, the UTF-8 bytes, then the NUL.
Scalars (``encoder/num_heads``, ``decoder/activation``) are rank-0 variables.

A model may be split over several files (a PyPI package may ship ``model.bin.part1`` and
``.part2``): :func:`open_ct2_source` reads a sequence of files as one stream, so the parts are
never joined on disk.
"""

from __future__ import annotations

import enum
import io
import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "SUPPORTED_BINARY_VERSIONS",
    "ConcatenatedReader",
    "Ct2DType",
    "Ct2FormatError",
    "Ct2Model",
    "Ct2Stream",
    "Ct2Variable",
    "load_ct2_model",
    "open_ct2_source",
    "read_ct2_model",
]

#: Binary format versions this reader understands (CTranslate2 >= 3 writes version 6).
SUPPORTED_BINARY_VERSIONS: tuple[int, ...] = (6,)

_READ_CHUNK_BYTES = 1 << 20


class Ct2Stream(Protocol):
    """What :func:`read_ct2_model` reads from: any binary stream with ``readinto``."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...

    def read(self, size: int = -1, /) -> bytes: ...


class Ct2FormatError(ValueError):
    """A file is not a readable CTranslate2 model: truncated, wrong version, or malformed."""


class Ct2DType(enum.IntEnum):
    """Variable dtype ids, in the order of CTranslate2's ``DataType`` enum (types.h)."""

    FLOAT32 = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    FLOAT16 = 4
    BFLOAT16 = 5

    @property
    def numpy_dtype(self) -> np.dtype[np.generic]:
        """The numpy dtype that holds this type's bytes (bfloat16: raw bits as ``<u2``)."""
        return np.dtype(_NUMPY_DTYPES[self])

    @property
    def itemsize_bytes(self) -> int:
        """Bytes per element."""
        return self.numpy_dtype.itemsize

    @property
    def is_float(self) -> bool:
        """True for float32, float16 and bfloat16."""
        return self in (Ct2DType.FLOAT32, Ct2DType.FLOAT16, Ct2DType.BFLOAT16)


_NUMPY_DTYPES: dict[Ct2DType, str] = {
    Ct2DType.FLOAT32: "<f4",
    Ct2DType.INT8: "i1",
    Ct2DType.INT16: "<i2",
    Ct2DType.INT32: "<i4",
    Ct2DType.FLOAT16: "<f2",
    Ct2DType.BFLOAT16: "<u2",
}


@dataclass(frozen=True, eq=False)
class Ct2Variable:
    """One stored variable.

    ``array`` has the stored shape and the bytes exactly as stored; for bfloat16 (which numpy
    lacks) it holds the raw 16-bit patterns as ``uint16`` — use :meth:`as_float32`.
    """

    name: str
    dtype: Ct2DType
    array: npt.NDArray[np.generic]

    @property
    def shape(self) -> tuple[int, ...]:
        """Dimensions as stored (``()`` for a scalar)."""
        return tuple(int(d) for d in self.array.shape)

    @property
    def nbytes(self) -> int:
        """Size of the stored data in bytes."""
        return int(self.array.nbytes)

    @property
    def is_scalar(self) -> bool:
        """True for rank-0 variables such as ``encoder/num_heads``."""
        return self.array.ndim == 0

    def item(self) -> int | float:
        """The value of a scalar variable.

        Raises:
            ValueError: the variable is not rank 0.
        """
        if not self.is_scalar:
            raise ValueError(f"{self.name} has shape {self.shape}, not a scalar")
        return self.as_float32().item() if self.dtype.is_float else int(self.array.item())

    def as_float32(self) -> npt.NDArray[np.float32]:
        """The values widened to float32 — exact for float16, bfloat16 and float32.

        Raises:
            TypeError: the variable holds integers (quantized weights need their scale).
        """
        if self.dtype is Ct2DType.BFLOAT16:
            bits = self.array.astype(np.uint32) << np.uint32(16)
            return bits.view(np.float32)
        if not self.dtype.is_float:
            raise TypeError(f"{self.name} is {self.dtype.name.lower()}, not a float type")
        return self.array.astype(np.float32)


@dataclass(frozen=True)
class Ct2Model:
    """The contents of a CTranslate2 ``model.bin``."""

    binary_version: int
    spec_name: str  #: e.g. "WhisperSpec"
    revision: int  #: the spec's revision (WhisperSpec: 3)
    variables: Mapping[str, Ct2Variable]  #: in file order
    aliases: Mapping[str, str] = field(default_factory=dict)  #: alias -> variable name

    def __contains__(self, name: object) -> bool:
        return name in self.variables or name in self.aliases

    def resolve(self, name: str) -> Ct2Variable:
        """The variable called ``name``, following an alias if ``name`` is one.

        Raises:
            KeyError: no variable or alias has that name.
        """
        target = self.aliases.get(name, name)
        try:
            return self.variables[target]
        except KeyError:
            raise KeyError(f"{self.spec_name} model has no variable {name!r}") from None


class ConcatenatedReader(io.RawIOBase):
    """A read-only, forward-only stream over several files read one after another.

    Args:
        paths: the files, in order. Each is opened when reading reaches it.

    Raises:
        ValueError: ``paths`` is empty.
    """

    def __init__(self, paths: Iterable[Path | str]) -> None:
        super().__init__()
        self._paths = [Path(p) for p in paths]
        if not self._paths:
            raise ValueError("ConcatenatedReader needs at least one file")
        self._index = 0
        self._current: io.BufferedReader | None = None
        self.bytes_read = 0  #: total bytes returned so far

    @property
    def paths(self) -> tuple[Path, ...]:
        """The files, in reading order."""
        return tuple(self._paths)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        while self._index < len(self._paths):
            if self._current is None:
                self._current = open(self._paths[self._index], "rb")  # noqa: SIM115
            count = self._current.readinto(view)
            if count:
                self.bytes_read += count
                return count
            if len(view) == 0:
                return 0
            self._current.close()
            self._current = None
            self._index += 1
        return 0

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
        super().close()


def open_ct2_source(paths: Path | str | Sequence[Path | str]) -> io.BufferedReader:
    """Open one file, or several read as one stream, for :func:`read_ct2_model`.

    Raises:
        FileNotFoundError: a file does not exist (checked up front, before any reading).
    """
    path_list = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    for path in path_list:
        if not path.is_file():
            raise FileNotFoundError(f"CTranslate2 model file not found: {path}")
    return io.BufferedReader(ConcatenatedReader(path_list), buffer_size=_READ_CHUNK_BYTES)


class _Cursor:
    """Reads exact byte counts from a stream and knows its offset, for error messages."""

    def __init__(self, stream: Ct2Stream, source: str) -> None:
        self._stream = stream
        self._source = source
        self.offset = 0

    def fail(self, message: str) -> Ct2FormatError:
        return Ct2FormatError(f"{self._source}: {message} (at byte {self.offset})")

    def read_into(self, buffer: bytearray, what: str) -> None:
        view = memoryview(buffer)
        filled = 0
        while filled < len(buffer):
            count = self._stream.readinto(view[filled:])
            if not count:
                raise self.fail(
                    f"file is truncated: {what} needs {len(buffer)} bytes, only {filled} remain"
                )
            filled += count
        self.offset += len(buffer)

    def read(self, size: int, what: str) -> bytes:
        buffer = bytearray(size)
        self.read_into(buffer, what)
        return bytes(buffer)

    def unpack(self, fmt: str, what: str) -> int:
        (value,) = struct.unpack("<" + fmt, self.read(struct.calcsize(fmt), what))
        return int(value)

    def string(self, what: str) -> str:
        length = self.unpack("H", f"length of {what}")
        if length == 0:
            raise self.fail(f"{what} has length 0 (a stored string always counts its NUL)")
        raw = self.read(length, what)
        if raw[-1] != 0:
            raise self.fail(f"{what} is not NUL-terminated")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as error:
            raise self.fail(f"{what} is not valid UTF-8: {error}") from None

    def at_end(self) -> bool:
        return not self._stream.read(1)


def read_ct2_model(stream: Ct2Stream, *, source: str = "<stream>") -> Ct2Model:
    """Parse a CTranslate2 model from ``stream``, which must hold exactly one model.

    Args:
        stream: a binary stream positioned at the start of the model.
        source: how to name the stream in error messages (e.g. the file path).

    Raises:
        Ct2FormatError: the binary version is not in :data:`SUPPORTED_BINARY_VERSIONS`; the data
            ends early; a dtype id is unknown; a byte count disagrees with its shape; a name is
            duplicated; an alias points nowhere; or bytes follow the alias table.
    """
    cursor = _Cursor(stream, source)
    version = cursor.unpack("I", "binary version")
    if version not in SUPPORTED_BINARY_VERSIONS:
        supported = ", ".join(map(str, SUPPORTED_BINARY_VERSIONS))
        raise cursor.fail(
            f"unsupported CTranslate2 binary version {version} (this reader supports {supported}); "
            "re-convert the model with a CTranslate2 release that writes a supported version"
        )
    spec_name = cursor.string("spec name")
    revision = cursor.unpack("I", "spec revision")
    count = cursor.unpack("I", "variable count")

    variables: dict[str, Ct2Variable] = {}
    for index in range(count):
        name = cursor.string(f"name of variable {index}")
        rank = cursor.unpack("B", f"rank of {name}")
        shape = tuple(cursor.unpack("I", f"dimension {d} of {name}") for d in range(rank))
        type_id = cursor.unpack("B", f"dtype of {name}")
        try:
            dtype = Ct2DType(type_id)
        except ValueError:
            raise cursor.fail(f"{name} has unknown dtype id {type_id}") from None
        nbytes = cursor.unpack("I", f"byte count of {name}")
        expected = math.prod(shape) * dtype.itemsize_bytes
        if nbytes != expected:
            raise cursor.fail(
                f"{name} declares {nbytes} bytes but shape {shape} of {dtype.name.lower()} "
                f"needs {expected}"
            )
        if name in variables:
            raise cursor.fail(f"variable {name!r} appears twice")
        buffer = bytearray(nbytes)
        cursor.read_into(buffer, f"data of {name}")
        array = np.frombuffer(buffer, dtype=dtype.numpy_dtype).reshape(shape)
        variables[name] = Ct2Variable(name, dtype, array)

    alias_count = cursor.unpack("I", "alias count")
    aliases: dict[str, str] = {}
    for index in range(alias_count):
        alias = cursor.string(f"alias {index}")
        target = cursor.string(f"target of alias {alias}")
        if alias in variables or alias in aliases:
            raise cursor.fail(f"alias {alias!r} reuses an existing name")
        if target not in variables:
            raise cursor.fail(f"alias {alias!r} points to missing variable {target!r}")
        aliases[alias] = target
    if not cursor.at_end():
        raise cursor.fail("unexpected bytes after the alias table")
    return Ct2Model(version, spec_name, revision, variables, aliases)


def load_ct2_model(paths: Path | str | Sequence[Path | str]) -> Ct2Model:
    """Read a ``model.bin`` (or its parts, in order) from disk.

    Raises:
        FileNotFoundError: a file is missing.
        Ct2FormatError: see :func:`read_ct2_model`.
    """
    path_list = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    source = " + ".join(str(p) for p in path_list)
    with open_ct2_source(path_list) as stream:
        return read_ct2_model(stream, source=source)
