"""What the app leaves behind: the JSON file (atomic, never lost), the summary, progress."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from whisperbench import schema

__all__ = ["OutputError", "check_output_file", "print_summary", "progress", "write_record"]

log = logging.getLogger("whisperbench")


class OutputError(Exception):
    """The results cannot be written where asked; raised before anything is measured."""


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def check_output_file(path: str | None, inputs: Iterable[tuple[str, str]] = ()) -> None:
    """Fail before measuring, not after, when the results could not be written or would
    destroy an input.

    Args:
        path: the ``--output-file``, or None.
        inputs: ``(flag, path)`` of every file the run reads (``("--audio-file", "a.wav")``).

    Raises:
        OutputError: the folder does not exist or is not writable; ``path`` is a folder; or
            ``path`` is one of the ``inputs`` (a hard link or symlink to it counts).
    """
    if path is None:
        return
    target = Path(path).expanduser()
    if target.is_dir():
        raise OutputError(
            f"--output-file {path} is a folder; name a file in it, e.g. {target / 'results.json'}"
        )
    for flag, name in inputs:
        if _same_file(target, Path(name).expanduser()):
            raise OutputError(
                f"--output-file {path} is also an input ({flag} {name}): writing the results "
                "there would replace it; choose another file name"
            )
    folder = target.resolve().parent
    if not folder.is_dir():
        raise OutputError(f"--output-file {path}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"--output-file {path}: folder {folder} is not writable")


def write_record(path: str | None, record: dict[str, Any], *, announce: bool = True) -> bool:
    """Write ``record`` to ``path`` atomically; True when written (or no path was given).

    On failure (a full disk, a folder removed meanwhile) one line goes to stderr and the JSON
    to stdout, so the measurements are never lost, and False is returned. ``announce`` logs
    the path written at INFO.
    """
    if not path:
        return True
    from whisperbench.jsonio import write_json_atomic

    try:
        write_json_atomic(path, record)
    except OSError as error:
        # The measurements are done: never lose them. Print the JSON instead.
        reason = error.strerror or str(error)
        log.error("could not write %s (%s); the results follow on stdout", path, reason)
        print(json.dumps(record, indent=2))
        return False
    if announce:
        log.info("results written to %s", path)
    return True


def progress(total: int, enabled: bool) -> tuple[Callable[[], None] | None, Callable[[], None]]:
    """``(tick, close)`` of a progress bar over ``total`` batches, on a terminal only."""
    if not enabled or total <= 1 or not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="batch", file=sys.stderr, leave=False)
    return (lambda: bar.update(1)), bar.close


def print_summary(record: dict[str, Any]) -> None:
    """The headline figures of a run, for a person at a terminal; inputs named as given."""
    print(
        f"model {record[schema.MODEL]} on {record[schema.DEVICE]} "
        f"({record[schema.TORCH_DTYPE]}), weights: {record.get(schema.WEIGHTS_SOURCE)}"
    )
    for item in record[schema.TRANSCRIPTIONS]:
        name = item.get(schema.INPUT) or item.get(schema.NAME)
        wer = item.get(schema.WER)
        print(
            f"  {name}: {item[schema.AUDIO_DURATION]:.1f} s -> {item[schema.TEXT]!r}"
            + (f" (WER {wer:.3f})" if wer is not None else "")
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
    unfinished = record.get(schema.UNFINISHED) or []
    if record.get(schema.INTERRUPTED):
        print(f"  INTERRUPTED ({record.get(schema.INTERRUPTED_BY)}): {len(unfinished)} unfinished")
    for name in unfinished:
        print(f"  UNFINISHED {name}")
