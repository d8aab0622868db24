"""Engines: ways to run Whisper behind one call signature, chosen per run.

An engine is anything with the Transcriber's call signature, a batch of 16 kHz float32
waveforms -> :class:`whisperbench.rounds.Transcription` with phase times, plus the facts a
result needs (:class:`Engine`). :func:`whisperbench.measure.measure`, the meters and the schema
do not know which engine ran; the result records it (``engine``, ``engine_version``,
``engine_settings``).

- ``transformers`` (:mod:`~whisperbench.engines.transformers_engine`): the
  :class:`~whisperbench.transcribe.Transcriber` with its settings as axes: attention
  implementation, KV cache (dynamic or static), ``torch.compile`` (needs the static cache),
  int8/int4 through torchao.
- ``ctranslate2`` (:mod:`~whisperbench.engines.ctranslate2_engine`): CTranslate2, the engine
  under faster-whisper, on the same weights (the packaged CTranslate2 files as they ship, or the
  transformers checkpoint converted by ctranslate2's own converter) and the same features.

:func:`check_engine` refuses what cannot run before anything loads; :func:`open_engine` loads.
"""

from __future__ import annotations

from typing import Any

from whisperbench.engines.base import Engine, EngineSettings, check_engine

__all__ = ["Engine", "EngineSettings", "check_engine", "open_engine"]


def __getattr__(name: str) -> Any:
    # open_engine loads the pipeline (torch); the command line reads the engines' names from
    # this package without it (tests/test_startup.py).
    if name == "open_engine":
        from whisperbench.engines.loader import open_engine

        return open_engine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
