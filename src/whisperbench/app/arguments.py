"""The command line of ``whisperbench run``: the original app's flags, then whisperbench's.

The run options (model, device, dtype, decoding, how to measure) come from
:mod:`whisperbench.options`, the same definitions the suite uses with its ``--whisper-``
prefix; this module adds only what belongs to the app: where the audio comes from and where
the results go.
"""

from __future__ import annotations

import argparse

from whisperbench.argtypes import int_at_least
from whisperbench.options import OptionSpec, add_run_options

__all__ = ["DEFAULT_SAMPLES", "DESCRIPTION", "add_arguments"]

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

#: Samples taken with --benchmark or --use-dataset when --num-samples is not given.
DEFAULT_SAMPLES = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The original app's flags (same names and meanings) plus whisperbench's own."""
    model = parser.add_argument_group("model configuration (original flags)")
    add_run_options(model.add_argument, only=lambda _, spec: _grouped(spec, "model"))

    bench = parser.add_argument_group("benchmark mode (original flags)")
    bench.add_argument(
        "--benchmark",
        action="store_true",
        help="Use the benchmark samples: short, medium, long, technical speech",
    )
    bench.add_argument(
        "--num-samples",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help=f"Number of samples to process. Default: {DEFAULT_SAMPLES} with --benchmark or "
        "--use-dataset, else 1",
    )
    bench.add_argument(
        "--use-dataset",
        action="store_true",
        help="Use LibriSpeech: --dataset-path, or the hub copy when reachable",
    )
    add_run_options(bench.add_argument, only=lambda _, spec: _grouped(spec, "decoding"))

    audio = parser.add_argument_group("audio input (original flags)")
    audio.add_argument(
        "--audio-file",
        nargs="+",
        default=None,
        metavar="PATH",
        help="Audio file(s) to transcribe: any format soundfile reads, any rate",
    )
    audio.add_argument(
        "--references",
        default=None,
        metavar="FILE",
        help="Reference transcripts for --audio-file, to report WER: a TSV of "
        "<path><TAB><text> lines or a .json object {path: text} (paths relative to FILE's "
        "folder). Without it, a .txt beside each audio file with its name is used. Default: none",
    )
    audio.add_argument(
        "--generate-audio",
        action="store_true",
        help="Transcribe synthetic speech (the default when no audio is given)",
    )
    add_run_options(audio.add_argument, only=lambda _, spec: _grouped(spec, "audio"))
    audio.add_argument(
        "--dataset-path",
        default=None,
        metavar="DIR",
        help="Local LibriSpeech folder (speaker/chapter/*.flac + *.trans.txt). Default: none",
    )

    output = parser.add_argument_group("output control (original flags)")
    output.add_argument(
        "--output-file",
        default=None,
        metavar="PATH",
        help="Write results as JSON (atomically: temp file + rename); checked before anything "
        "is measured: its folder must exist, and it may not be a folder or one of the inputs. "
        "Default: none",
    )
    output.add_argument(
        "--quiet",
        action="store_true",
        help="Reduce verbosity: no progress bar, no summary, warnings only",
    )
    output.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default="INFO",
        help="Logging level. Default: INFO",
    )

    measurement = parser.add_argument_group("whisperbench: weights and how to measure")
    add_run_options(measurement.add_argument, only=lambda _, spec: _grouped(spec, "measurement"))


def _grouped(spec: OptionSpec, group: str) -> bool:
    return spec.group == group
