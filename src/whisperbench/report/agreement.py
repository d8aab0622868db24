"""Same work, compared output: time ratio and transcript agreement between cells that did the
same work on different engines or settings.

Cells (benchmarks' ``extra_info``) that share the model and its weights, the audio, the
decoding settings, the batch size and the device did the same work; they differ only in
engine, dtype or settings. Within each such group one cell is the reference: CTranslate2 int8
where it ran (faster-whisper's usual setting), else transformers float32 with default
settings, else the first cell. Every cell then gets

- ``time_ratio``: its RTF over the reference's (each a ratio of sums over its measured
  rounds; above 1 is slower);
- ``agreement_wer``: the word error rate of its transcripts against the reference's
  transcripts, after the same normalization as every WER (:func:`whisperbench.metrics.wer`):
  0 means the same words, so nobody reports a speed-up that changed them.

With fixed-work mode (``--whisper-fixed-tokens``) the cells decode the same number of tokens
by construction; agreement then says whether they decoded the same ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from whisperbench import metrics, schema

__all__ = [
    "Agreement",
    "agreement_fields",
    "compare_cells",
    "engine_label",
    "render_table",
    "setting_label",
    "work_key",
]


def engine_label(info: Mapping[str, Any]) -> str:
    """The engine and its non-default settings, without the dtype: ``transformers``,
    ``transformers static+compile``, ``transformers eager``, ``ctranslate2`` (runs written
    before engines were recorded are transformers)."""
    engine = str(info.get(schema.ENGINE) or "transformers")
    if engine != "transformers":
        return engine
    settings = info.get(schema.ENGINE_SETTINGS) or {}
    parts = [engine]
    attn = info.get(schema.ATTN_IMPLEMENTATION)
    if attn and attn != "sdpa":
        parts.append(str(attn))
    extras = []
    if settings.get(schema.KV_CACHE) == "static":
        extras.append("static")
    if settings.get(schema.TORCH_COMPILE) == "on":
        extras.append("compile")
    if extras:
        parts.append("+".join(extras))
    return " ".join(parts)


def setting_label(info: Mapping[str, Any]) -> str:
    """What ran, in a few words: ``transformers float32``, ``transformers int8 static+compile``,
    ``ctranslate2 int8``."""
    engine, _, settings = engine_label(info).partition(" ")
    return " ".join(part for part in (engine, str(info.get(schema.DTYPE) or "?"), settings) if part)


def work_key(info: Mapping[str, Any]) -> str:
    """What makes two cells the same work (model, weights, audio, decoding, batch, device)."""
    audio = info.get(schema.AUDIO_SHA256) or info.get(schema.AUDIO_NAME)
    return json.dumps(
        [
            info.get(schema.MODEL),
            # the weights' identity: what a conversion started from (packaged transformers
            # weights are converted from the CTranslate2 files the other engine loads)
            info.get(schema.WEIGHTS_CONVERTED_FROM_SHA256)
            or info.get(schema.WEIGHTS_SHA256)
            or info.get(schema.WEIGHTS_SOURCE),
            audio,
            info.get(schema.AUDIO_S),
            info.get(schema.BATCH_SIZE),
            info.get(schema.DEVICE),
            info.get(schema.DECODING),
        ],
        sort_keys=True,
        default=str,
    )


@dataclass(frozen=True)
class Agreement:
    """One cell against its group's reference."""

    key: str  #: the cell's name (test node id or benchmark fullname)
    label: str  #: :func:`setting_label` of the cell
    reference_key: str
    reference_label: str
    time_ratio: float | None  #: RTF / reference RTF (above 1: slower)
    agreement_wer: float | None  #: WER of the cell's transcripts against the reference's


def _preference(info: Mapping[str, Any]) -> int:
    label = setting_label(info)
    if label == "ctranslate2 int8":
        return 0
    if label == "transformers float32":
        return 1
    return 2


def _agreement(reference: Sequence[str], hypothesis: Sequence[str]) -> float | None:
    if len(reference) != len(hypothesis):
        return None
    try:
        return metrics.wer(list(reference), list(hypothesis))
    except ValueError:  # every reference transcript empty after normalization
        same = [metrics.normalize_text(h).strip() == "" for h in hypothesis]
        return 0.0 if all(same) else None


def compare_cells(cells: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Agreement]:
    """Each cell of a group of two or more (same :func:`work_key`) against the group's
    reference, by cell key; cells alone in their group get nothing."""
    grouped: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for key, info in cells:
        if info.get(schema.SCHEMA_VERSION_FIELD) is None:
            continue  # not a whisperbench benchmark
        grouped.setdefault(work_key(info), []).append((key, info))
    found: dict[str, Agreement] = {}
    for members in grouped.values():
        if len({setting_label(info) for _, info in members}) < 2:
            continue
        ref_key, ref = min(members, key=lambda member: _preference(member[1]))
        ref_rtf = ref.get(schema.RTF)
        for key, info in members:
            rtf = info.get(schema.RTF)
            ratio = (
                rtf / ref_rtf
                if isinstance(rtf, int | float) and isinstance(ref_rtf, int | float) and ref_rtf
                else None
            )
            found[key] = Agreement(
                key=key,
                label=setting_label(info),
                reference_key=ref_key,
                reference_label=setting_label(ref),
                time_ratio=ratio,
                agreement_wer=_agreement(
                    ref.get(schema.TRANSCRIPTS) or [], info.get(schema.TRANSCRIPTS) or []
                ),
            )
    return found


def agreement_fields(agreement: Agreement) -> dict[str, Any]:
    """The agreement under its output names (added to the cell's ``extra_info``)."""
    return {
        schema.AGREEMENT_WITH: agreement.reference_label,
        schema.AGREEMENT_WER: agreement.agreement_wer,
        schema.TIME_RATIO: agreement.time_ratio,
    }


def _number(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def render_table(cells: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """A Markdown table of the compared cells, grouped by work, one line per cell: RTF,
    mean seconds per round and per token, compile seconds, WER against the reference text,
    and the time ratio and agreement against the group's reference. Empty when no group has
    two settings."""
    agreements = compare_cells(cells)
    if not agreements:
        return []
    lines = [
        "| model | audio s | engine, dtype, settings | RTF | s/round | s/token | compile s "
        "| WER | time ratio | agreement WER | against |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    by_key = dict(cells)
    ordered = sorted(
        agreements.values(),
        key=lambda a: (work_key(by_key[a.key]), a.time_ratio if a.time_ratio is not None else 0),
    )
    for agreement in ordered:
        info = by_key[agreement.key]
        lines.append(
            f"| {info.get(schema.MODEL)} | {_number(info.get(schema.AUDIO_S), 1)} "
            f"| {agreement.label} | {_number(info.get(schema.RTF))} "
            f"| {_number(info.get(schema.INFERENCE_S))} "
            f"| {_number(info.get(schema.S_PER_TOKEN), 4)} "
            f"| {_number(info.get(schema.COMPILE_S), 1)} | {_number(info.get(schema.WER))} "
            f"| {_number(agreement.time_ratio, 2)} | {_number(agreement.agreement_wer)} "
            f"| {agreement.reference_label} |"
        )
    return lines
