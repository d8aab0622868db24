"""``whisperbench run``: the original WhisperViaHF.py app on the measured pipeline.

The flags, their meanings and the JSON keys of the original are kept (README, "The
command-line app"); what whisperbench measures besides is written beside them.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whisperbench.argtypes import choice, int_at_least, seconds
from whisperbench.models.loading import WEIGHT_SOURCES
from whisperbench.models.precision import DTYPES
from whisperbench.models.registry import MODELS

__all__ = ["DESCRIPTION", "add_arguments", "list_models", "run"]

log = logging.getLogger("whisperbench")

DESCRIPTION = """\
Transcribe audio with Whisper and measure it: real-time factor, phases, memory, energy.

Audio comes from --audio-file (any number of files), --use-dataset (LibriSpeech), --benchmark
(the original app's short/medium/long/technical samples) or synthetic speech (the default).

examples:
  whisperbench run --model tiny.en
  whisperbench run --benchmark --num-samples 3 --quiet --output-file results.json
  whisperbench run --model base --audio-file a.wav b.flac --output-file out.json
  whisperbench run --model large-v3 --weights random --fixed-tokens 64 --benchmark
"""

_ORIGINAL_MODELS = ("tiny", "base", "small", "medium", "large", "large-v3")
_DEFAULT_SAMPLES = 3
_DEFAULT_DURATION_S = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The original app's flags (same names and meanings) plus whisperbench's own."""
    model = parser.add_argument_group("model configuration (original flags)")
    model.add_argument(
        "--model",
        type=choice(tuple(MODELS), "model"),
        default="base",
        metavar="{" + ",".join(_ORIGINAL_MODELS) + ",...}",
        help=f"Whisper model size; any of {', '.join(MODELS)}",
    )
    model.add_argument(
        "--device",
        default="auto",
        metavar="{auto,cuda,cpu}",
        help="compute device (cuda:N also accepted)",
    )
    model.add_argument(
        "--dtype",
        choices=DTYPES,
        default="auto",
        help="precision; auto is float16 on CUDA, float32 on CPU; int8 is "
        "dynamic quantization (CPU)",
    )

    bench = parser.add_argument_group("benchmark mode (original flags)")
    bench.add_argument(
        "--benchmark",
        action="store_true",
        help="use the benchmark samples: short, medium, long, technical speech",
    )
    bench.add_argument(
        "--num-samples",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help=f"number of samples to process (default {_DEFAULT_SAMPLES} with "
        "--benchmark or --use-dataset, else 1)",
    )
    bench.add_argument(
        "--use-dataset",
        action="store_true",
        help="use LibriSpeech: --dataset-path, or the hub copy when reachable",
    )
    bench.add_argument(
        "--language",
        default=None,
        metavar="LANG",
        help="language code for multilingual models (default en; .en models take none)",
    )
    bench.add_argument(
        "--timestamps",
        action="store_true",
        help="word-level timestamps in the transcriptions (their cost is inside the measured time)",
    )

    audio = parser.add_argument_group("audio input (original flags)")
    audio.add_argument(
        "--audio-file",
        nargs="+",
        default=None,
        metavar="PATH",
        help="audio file(s) to transcribe: any format soundfile reads, any rate",
    )
    audio.add_argument(
        "--generate-audio",
        action="store_true",
        help="transcribe synthetic speech (the default when no audio is given)",
    )
    audio.add_argument(
        "--audio-duration",
        type=seconds(maximum_s=3600),
        default=_DEFAULT_DURATION_S,
        metavar="SECONDS",
        help="duration of generated audio",
    )

    output = parser.add_argument_group("output control (original flags)")
    output.add_argument(
        "--output-file",
        default=None,
        metavar="PATH",
        help="write results as JSON (atomically: temp file + rename)",
    )
    output.add_argument(
        "--quiet",
        action="store_true",
        help="reduce verbosity: no progress bar, no summary, warnings only",
    )
    output.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default="INFO",
        help="logging level",
    )

    extra = parser.add_argument_group("whisperbench")
    extra.add_argument(
        "--weights",
        choices=WEIGHT_SOURCES,
        default="auto",
        help="weights source; auto tries local folder, HF cache, packaged, hub; "
        "random (exact architecture, cost only) only when named",
    )
    extra.add_argument(
        "--weights-path", default=None, metavar="DIR", help="local transformers checkpoint folder"
    )
    extra.add_argument(
        "--dataset-path",
        default=None,
        metavar="DIR",
        help="local LibriSpeech folder (speaker/chapter/*.flac + *.trans.txt)",
    )
    extra.add_argument(
        "--batch-size", type=int_at_least(1), default=1, metavar="N", help="clips per generate call"
    )
    extra.add_argument(
        "--fixed-tokens",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help="fixed-work mode: decode exactly N tokens per clip",
    )
    extra.add_argument(
        "--attn", choices=("sdpa", "eager"), default="sdpa", help="attention implementation"
    )
    extra.add_argument(
        "--threads",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help="torch CPU threads (default: torch's choice)",
    )
    extra.add_argument(
        "--warmup", type=int_at_least(0), default=1, metavar="N", help="unmeasured warm-up passes"
    )
    extra.add_argument(
        "--repeat",
        type=int_at_least(1),
        default=1,
        metavar="N",
        help="measured passes over all samples (more if energy needs a longer window)",
    )
    extra.add_argument(
        "--min-window",
        type=seconds(allow_zero=True),
        default=5.0,
        metavar="SECONDS",
        help="shortest energy window when a sensor is metered",
    )
    extra.add_argument(
        "--idle",
        type=seconds(allow_zero=True),
        default=1.0,
        metavar="SECONDS",
        help="idle power sampling before measuring (0 disables)",
    )
    extra.add_argument(
        "--gpus",
        default="auto",
        metavar="WHICH",
        help="GPUs whose energy is metered: auto, all, or NVML indices '0,1'",
    )


@dataclass
class _Workload:
    clips: list[Any] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    source: str = "synthetic"
    load_s: float = 0.0


class UsageError(Exception):
    """Bad input that stops the run before anything is measured (exit 2)."""


def _synthetic_category(duration_s: float) -> str:
    from whisperbench.audio import synthetic

    for name, category in synthetic.CATEGORIES.items():
        if category.min_s <= duration_s <= category.max_s:
            return name
    return "short" if duration_s < 15 else "long"


def _failure_records(failed: Sequence[Any]) -> list[dict[str, str]]:
    """``AudioFileFailure``s as the JSON's ``failures`` entries."""
    return [{"input": str(f.path), "error": f.cause} for f in failed]


def _gather_audio(args: argparse.Namespace) -> _Workload:
    from whisperbench.audio import synthetic

    started = time.perf_counter()
    work = _Workload()
    if args.audio_file:
        from whisperbench.audio.files import load_audio_files

        loaded, failed = load_audio_files(args.audio_file)
        work.clips = [item.clip for item in loaded]
        work.failures = _failure_records(failed)
        work.source = "files"
    elif args.use_dataset:
        from whisperbench.audio import librispeech

        limit = args.num_samples or _DEFAULT_SAMPLES
        if args.dataset_path:
            utterances = librispeech.read_local(args.dataset_path, limit=limit)
            clips, failed = librispeech.load_utterances(utterances)
            work.failures = _failure_records(failed)
            work.clips = list(clips)
            work.source = f"librispeech:{args.dataset_path}"
        else:
            work.clips = librispeech.stream_hub(limit=limit)
            work.source = "librispeech:hub"
    elif args.benchmark:
        work.clips = synthetic.benchmark_samples(args.num_samples or _DEFAULT_SAMPLES)
        work.source = "benchmark-samples"
    else:
        category = _synthetic_category(args.audio_duration)
        from whisperbench.audio.batches import synthetic_batch

        work.clips = synthetic_batch(category, args.audio_duration, args.num_samples or 1)
        work.source = f"synthetic:{category}"
    work.load_s = time.perf_counter() - started
    return work


def _configure_logging(args: argparse.Namespace) -> None:
    level = "WARNING" if args.quiet and args.log_level == "INFO" else args.log_level
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    log.setLevel(level)
    import transformers

    # transformers' own chatter (generation-config notes) only when debugging.
    if level == "DEBUG":
        transformers.logging.set_verbosity_info()
    else:
        transformers.logging.set_verbosity_error()


def _progress(total: int, enabled: bool) -> tuple[Callable[[], None] | None, Callable[[], None]]:
    if not enabled or total <= 1 or not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="batch", file=sys.stderr, leave=False)
    return (lambda: bar.update(1)), bar.close


def run(args: argparse.Namespace) -> int:
    """The run command; returns the exit code."""
    _configure_logging(args)
    try:
        return _run(args)
    except UsageError as error:
        log.error("%s", error)
        return 2


def _run(args: argparse.Namespace) -> int:
    import torch

    from whisperbench.devices import synchronizer
    from whisperbench.measure import MeasureSettings, measure
    from whisperbench.meters import build_meter_set
    from whisperbench.models.loading import WeightsUnavailable, load_model
    from whisperbench.models.packaged import WeightsIntegrityError
    from whisperbench.models.precision import PrecisionError, resolve
    from whisperbench.models.registry import get_spec
    from whisperbench.schema import seed_record
    from whisperbench.transcribe import DecodeSettings, Transcriber

    _check_output_file(args.output_file)
    spec = get_spec(args.model)
    if spec.english_only and args.language:
        raise UsageError(
            f"--language {args.language}: {spec.model_id} is English-only and takes no "
            f"language; use {spec.model_id.removesuffix('.en')} for other languages"
        )
    try:
        precision = resolve(args.device, args.dtype)
        decode = DecodeSettings(
            fixed_tokens=args.fixed_tokens,
            language=args.language,
            word_timestamps=args.timestamps,
        )
        settings = MeasureSettings(
            rounds=args.repeat, warmup_rounds=args.warmup, min_window_s=args.min_window
        )
    except (PrecisionError, ValueError) as error:
        raise UsageError(str(error)) from None
    if args.threads:
        torch.set_num_threads(args.threads)

    try:
        work = _gather_audio(args)
    except (ValueError, LookupError, OSError) as error:
        raise UsageError(str(error)) from None
    for failure in work.failures:
        log.error("%s: %s", failure["input"], failure["error"])
    if not work.clips:
        log.error("no audio could be loaded; nothing measured")
        _write(args, {"failures": work.failures, "total_samples": 0, "transcriptions": []})
        return 1

    log.info(
        "loading %s (%s, %s, weights: %s)",
        spec.model_id,
        precision.device,
        precision.dtype,
        args.weights,
    )
    try:
        loaded = load_model(
            spec,
            precision,
            source=args.weights,
            weights_path=args.weights_path,
            attn_implementation=args.attn,
        )
    except (WeightsUnavailable, WeightsIntegrityError) as error:
        raise UsageError(str(error)) from None
    log.info(
        "loaded in %.2f s from %s (%s)", loaded.load_s, loaded.weights.source, loaded.weights.origin
    )

    meters = build_meter_set(
        device=precision.device,
        gpus=args.gpus,
        idle_s=args.idle,
        min_window_s=args.min_window,
        synchronize=synchronizer(precision.device),
    )
    batches = math.ceil(len(work.clips) / args.batch_size)
    tick, close = _progress(batches * (args.repeat + args.warmup), not args.quiet)
    try:
        with Transcriber(loaded, decode) as transcriber:
            result = measure(
                transcriber,
                work.clips,
                settings,
                meters,
                batch_size=args.batch_size,
                on_batch=tick,
            )
    finally:
        close()
        meters.close()

    per_clip = _per_clip_times(result, args.batch_size)
    record = seed_record(
        result,
        per_clip_times=per_clip,
        failures=work.failures,
        extra={
            "audio_source": work.source,
            "audio_load_s": work.load_s,
            "argv": sys.argv[1:],
        },
    )
    _write(args, record)
    if not args.quiet:
        _print_summary(record)
    return 1 if work.failures else 0


def _check_output_file(path: str | None) -> None:
    """Fail before measuring, not after, when the results could not be written."""
    if path is None:
        return
    folder = Path(path).expanduser().resolve().parent
    if not folder.is_dir():
        raise UsageError(f"--output-file {path}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"--output-file {path}: folder {folder} is not writable")


def _per_clip_times(result: Any, batch_size: int) -> list[dict[str, Any]]:
    """Per sample: its batch's mean inference seconds; rtf when it was alone in its batch."""
    times = []
    for index in range(len(result.audio)):
        batch = index // batch_size
        seconds = sum(r.batches[batch].times.inference_s for r in result.rounds) / len(
            result.rounds
        )
        entry: dict[str, Any] = {"batch": batch, "inference_time": seconds}
        duration = result.audio[index].get("duration_s")
        if batch_size == 1 and duration:
            entry["rtf"] = seconds / duration
        times.append(entry)
    return times


def _write(args: argparse.Namespace, record: dict[str, Any]) -> None:
    if not args.output_file:
        return
    from whisperbench.jsonio import write_json_atomic

    try:
        write_json_atomic(args.output_file, record)
    except OSError as error:
        # The measurements are done: never lose them. Print the JSON instead.
        log.error("could not write %s (%s); the results follow on stdout", args.output_file, error)
        print(json.dumps(record, indent=2))
        raise
    log.info("results written to %s", args.output_file)


def _print_summary(record: dict[str, Any]) -> None:
    print(
        f"model {record['model']} on {record['device']} ({record['torch_dtype']}), "
        f"weights: {record.get('weights_source')}"
    )
    for item in record["transcriptions"]:
        print(f"  [{item['sample']}] {item['audio_duration']:.1f} s -> {item['text']!r}")
    print(
        f"samples {record['total_samples']}, audio {record['total_audio_duration']:.1f} s, "
        f"inference {record['total_inference_time']:.3f} s, RTF {record['average_rtf']:.3f}"
    )
    if record.get("wer") is not None:
        print(f"WER {record['wer']:.3f}")
    energy = record.get("energy_j")
    if energy is not None:
        print(
            f"energy {energy:.1f} J ({record.get('energy_source')}), "
            f"valid: {record.get('energy_valid')}"
        )
    else:
        print(f"energy: not measured ({record.get('energy_null_reason')})")
    for failure in record.get("failures", []):
        print(f"  FAILED {failure['input']}: {failure['error']}")


def list_models(args: argparse.Namespace) -> int:
    """``whisperbench models``: one line per id, with where its weights would come from."""
    from whisperbench.models.loading import describe_sources

    header = (
        f"{'id':<15}{'d_model':>8}{'enc/dec':>8}{'heads':>6}{'mels':>5}{'vocab':>7}"
        f"{'parameters':>15}  weights here"
    )
    print(header)
    for spec in MODELS.values():
        layers = f"{spec.encoder_layers}/{spec.decoder_layers}"
        print(
            f"{spec.model_id:<15}{spec.d_model:>8}{layers:>8}{spec.attention_heads:>6}"
            f"{spec.num_mel_bins:>5}{spec.vocab_size:>7}{spec.parameters:>15,}  "
            f"{describe_sources(spec)}"
        )
    return 0
