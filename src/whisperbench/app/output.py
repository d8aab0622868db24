"""What the app leaves behind: the JSON file (atomic, never lost), the summary, progress."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from whisperbench import schema

__all__ = ["OutputError", "check_output_file", "print_summary", "progress", "write_record"]

log = logging.getLogger("whisperbench")


class OutputError(Exception):
    """The results cannot be written where asked; raised before anything is measured."""


def check_output_file(path: str | None) -> None:
    """Fail before measuring, not after, when the results could not be written.

    Raises:
        OutputError: the folder does not exist or is not writable.
    """
    if path is None:
        return
    folder = Path(path).expanduser().resolve().parent
    if not folder.is_dir():
        raise OutputError(f"--output-file {path}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"--output-file {path}: folder {folder} is not writable")


def write_record(path: str | None, record: dict[str, Any]) -> None:
    """Write ``record`` to ``path`` atomically; on failure print it on stdout, then raise.

    Raises:
        OSError: the write failed (the JSON is on stdout by then).
    """
    if not path:
        return
    from whisperbench.jsonio import write_json_atomic

    try:
        write_json_atomic(path, record)
    except OSError as error:
        # The measurements are done: never lose them. Print the JSON instead.
        log.error("could not write %s (%s); the results follow on stdout", path, error)
        print(json.dumps(record, indent=2))
        raise
    log.info("results written to %s", path)


def progress(total: int, enabled: bool) -> tuple[Callable[[], None] | None, Callable[[], None]]:
    """``(tick, close)`` of a progress bar over ``total`` batches, on a terminal only."""
    if not enabled or total <= 1 or not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="batch", file=sys.stderr, leave=False)
    return (lambda: bar.update(1)), bar.close


def print_summary(record: dict[str, Any]) -> None:
    """The headline figures of a run, for a person at a terminal."""
    print(
        f"model {record[schema.MODEL]} on {record[schema.DEVICE]} "
        f"({record[schema.TORCH_DTYPE]}), weights: {record.get(schema.WEIGHTS_SOURCE)}"
    )
    for item in record[schema.TRANSCRIPTIONS]:
        print(
            f"  [{item[schema.SAMPLE]}] {item[schema.AUDIO_DURATION]:.1f} s -> "
            f"{item[schema.TEXT]!r}"
        )
    print(
        f"samples {record[schema.TOTAL_SAMPLES]}, "
        f"audio {record[schema.TOTAL_AUDIO_DURATION]:.1f} s, "
        f"inference {record[schema.TOTAL_INFERENCE_TIME]:.3f} s, "
        f"RTF {record[schema.AVERAGE_RTF]:.3f}"
    )
    if record.get(schema.WER) is not None:
        print(f"WER {record[schema.WER]:.3f}")
    energy = record.get(schema.ENERGY_J)
    if energy is not None:
        print(
            f"energy {energy:.1f} J ({record.get(schema.ENERGY_SOURCE)}), "
            f"valid: {record.get(schema.ENERGY_VALID)}"
        )
    else:
        print(f"energy: not measured ({record.get(schema.ENERGY_NULL_REASON)})")
    for failure in record.get(schema.FAILURES, []):
        print(f"  FAILED {failure[schema.INPUT]}: {failure[schema.ERROR]}")
