"""The app's JSON: the original WhisperViaHF.py keys first, then every benchmark field."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from whisperbench import metrics, schema
from whisperbench.schema import Result

__all__ = ["failure_entry", "nothing_measured_record", "per_clip_times", "seed_record"]

_BYTES_PER_GB = 1e9


def seed_record(
    result: Result,
    *,
    per_clip_times: Sequence[Mapping[str, Any]],
    failures: Sequence[Mapping[str, str]] = (),
    extra: Mapping[str, Any] | None = None,
    inputs: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The command-line app's JSON: the original keys first, then everything else.

    - ``total_audio_duration``: seconds of audio in the workload (counted once);
    - ``total_inference_time``: mean seconds per round to transcribe all of it;
    - ``average_rtf``: their ratio, i.e. a ratio of sums (measurement rule 2), not a mean
      of per-sample ratios;
    - ``gpu_memory_used``: CUDA peak allocated, in GB (1e9 bytes); null on CPU, where there
      is no GPU memory to report;
    - ``transcriptions``: one entry per sample (``per_clip_times`` gives its timing:
      :func:`per_clip_times`), named by its input as the user gave it (``inputs``, one per
      clip of ``result``), with its own WER when it has a reference.
    """
    info = result.to_extra_info()
    cuda_peak = info.get(schema.CUDA_PEAK_ALLOCATED_BYTES)
    transcriptions = []
    words = result.words
    for i, (clip, text, timing) in enumerate(
        zip(result.audio, result.transcripts, per_clip_times, strict=False)
    ):
        reference = result.references[i]
        entry = {
            schema.SAMPLE: i,
            schema.INPUT: inputs[i] if inputs is not None else clip.get("name"),
            schema.NAME: clip.get("name"),
            schema.CATEGORY: clip.get("category"),
            schema.TEXT: text,
            schema.REFERENCE: reference,
            schema.WER: _clip_wer(reference, text, result),
            schema.AUDIO_DURATION: clip.get("duration_s"),
            **dict(timing),
        }
        if words[i]:
            entry[schema.WORDS] = words[i]
        transcriptions.append(entry)
    record: dict[str, Any] = {
        schema.MODEL: result.facts.model,
        schema.DEVICE: result.facts.device.split(":")[0],
        schema.TORCH_DTYPE: result.facts.torch_dtype,
        schema.TOTAL_SAMPLES: len(result.audio),
        schema.TOTAL_AUDIO_DURATION: result.audio_s,
        schema.TOTAL_INFERENCE_TIME: info[schema.INFERENCE_S],
        schema.AVERAGE_RTF: info[schema.RTF],
        schema.MODEL_PARAMETERS: result.facts.parameters,
        schema.GPU_MEMORY_USED: None if cuda_peak is None else cuda_peak / _BYTES_PER_GB,
        schema.TRANSCRIPTIONS: transcriptions,
    }
    record[schema.FAILURES] = [dict(f) for f in failures]
    record.update({k: v for k, v in info.items() if k not in record and k != schema.TRANSCRIPTS})
    if extra:
        record.update(extra)
    finite: dict[str, Any] = schema.finite_json(record)
    return finite


def _clip_wer(reference: str | None, text: str, result: Result) -> float | None:
    """One clip's WER, or None without a usable reference (or with random weights)."""
    if not reference or result.facts.weights_source == "random":
        return None
    try:
        return metrics.wer([reference], [text])
    except ValueError:  # the reference is empty once normalized
        return None


def nothing_measured_record(
    failures: Sequence[Mapping[str, str]], extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON of a run that measured nothing: no audio loaded, or interrupted first."""
    record: dict[str, Any] = {
        schema.TOTAL_SAMPLES: 0,
        schema.TRANSCRIPTIONS: [],
        schema.FAILURES: [dict(f) for f in failures],
    }
    record.update(extra or {})
    return record


def per_clip_times(result: Result) -> list[dict[str, Any]]:
    """Per sample: its batch (in run order) and the batch's mean inference seconds; rtf when it
    was alone in its batch."""
    batch_of = {index: number for number, batch in enumerate(result.batches) for index in batch}
    times = []
    for index, clip in enumerate(result.audio):
        batch = batch_of[index]
        seconds = statistics.fmean(r.batches[batch].times.inference_s for r in result.rounds)
        entry: dict[str, Any] = {schema.BATCH: batch, schema.INFERENCE_TIME: seconds}
        duration = clip.get("duration_s")
        if len(result.batches[batch]) == 1 and duration:
            entry[schema.RTF] = seconds / duration
        times.append(entry)
    return times


def failure_entry(input_name: str, error: str) -> dict[str, str]:
    """One schema.FAILURES entry: the input that failed and why."""
    return {schema.INPUT: input_name, schema.ERROR: error}
