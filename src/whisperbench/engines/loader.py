"""Open the engine a run asks for: load the model and wrap it."""

from __future__ import annotations

from whisperbench.engines.base import Engine, EngineSettings
from whisperbench.models.loading import load_model
from whisperbench.models.precision import Precision
from whisperbench.models.registry import ModelSpec
from whisperbench.transcribe import DecodeSettings

__all__ = ["open_engine"]


def open_engine(
    spec: ModelSpec,
    precision: Precision,
    decode: DecodeSettings,
    settings: EngineSettings,
    *,
    source: str = "auto",
    weights_path: str | None = None,
    threads: int | None = None,
    timing: str = "phases",
) -> Engine:
    """Load ``spec`` for ``settings.engine`` and return the engine, ready to call.

    Raises what the loaders raise: :class:`whisperbench.models.loading.WeightsUnavailable`,
    :class:`whisperbench.models.packaged.WeightsIntegrityError`,
    :class:`whisperbench.models.precision.PrecisionError` (a compute type CTranslate2 cannot
    run here), ``ModuleNotFoundError`` (an engine's package is not installed).
    """
    if settings.engine == "ctranslate2":
        from whisperbench.engines.ctranslate2_engine import CTranslate2Engine, load_ctranslate2

        load = load_ctranslate2(
            spec, precision, source=source, weights_path=weights_path, threads=threads
        )
        return CTranslate2Engine(load, decode)
    from whisperbench.engines.transformers_engine import TransformersEngine

    loaded = load_model(
        spec,
        precision,
        source=source,
        weights_path=weights_path,
        attn_implementation=settings.attn_implementation,
    )
    return TransformersEngine(loaded, decode, settings, timing=timing)
