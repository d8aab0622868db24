"""Reference transcripts for ``--audio-file`` runs, so that their WER can be reported.

Two ways to give them:

- a ``.txt`` file beside each audio file, with the same name (``talk.wav`` -> ``talk.txt``),
  holding exactly what is said;
- ``--references FILE``: a table of audio path -> text, as TSV (one ``path<TAB>text`` per line;
  blank lines and lines starting with ``#`` are skipped) or, for a ``.json`` file, one JSON
  object ``{"path": "text", ...}``. Relative paths are relative to the table's folder.

The table wins over a ``.txt`` beside the file. WER is computed by
:func:`whisperbench.metrics.wer` (corpus-level, after Whisper's normalizer), as for every
other source.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ReferencesError", "read_references", "reference_beside"]


class ReferencesError(ValueError):
    """The references table cannot be read; the message names the file, the line and the fix."""


def read_references(path: str | Path) -> dict[Path, str]:
    """The table in ``path``: resolved audio path -> reference text.

    Raises:
        ReferencesError: the file is missing or unreadable, not UTF-8, a TSV line has no tab
            or an empty path, a JSON file is not an object of strings, or a path is listed
            twice.
    """
    table_file = Path(path)
    try:
        text = table_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReferencesError(f"--references {path}: file not found") from None
    except UnicodeDecodeError as error:
        raise ReferencesError(f"--references {path}: not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise ReferencesError(f"--references {path}: cannot read it ({error.strerror})") from None
    folder = table_file.resolve().parent
    pairs = _json_pairs(path, text) if table_file.suffix == ".json" else _tsv_pairs(path, text)
    table: dict[Path, str] = {}
    for where, name, reference in pairs:
        key = (folder / Path(name).expanduser()).resolve()
        if key in table:
            raise ReferencesError(f"--references {path}: {where}: {name} is listed twice")
        table[key] = reference.strip()
    return table


def _tsv_pairs(path: str | Path, text: str) -> list[tuple[str, str, str]]:
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, tab, reference = line.partition("\t")
        if not tab or not name.strip():
            raise ReferencesError(
                f"--references {path}: line {number}: expected <audio path><TAB><text>, got "
                f"{line[:60]!r}"
            )
        pairs.append((f"line {number}", name.strip(), reference))
    return pairs


def _json_pairs(path: str | Path, text: str) -> list[tuple[str, str, str]]:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ReferencesError(f"--references {path}: not valid JSON ({error})") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ReferencesError(
            f'--references {path}: expected one JSON object of "audio path": "text" pairs'
        )
    return [(f"key {name!r}", name, reference) for name, reference in data.items()]


def reference_beside(audio: str | Path) -> str | None:
    """The text of the ``.txt`` file with the audio file's name beside it, or None.

    Raises:
        ReferencesError: the ``.txt`` exists but cannot be read as UTF-8 text.
    """
    beside = Path(audio).with_suffix(".txt")
    if not beside.is_file():
        return None
    try:
        return beside.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ReferencesError(f"{beside}: cannot read it as UTF-8 text ({error})") from None


def find_reference(audio: str | Path, table: Mapping[Path, str] | None) -> str | None:
    """``audio``'s reference: from ``table`` first, else the ``.txt`` beside it, else None."""
    if table is not None:
        found = table.get(Path(audio).resolve())
        if found is not None:
            return found
    return reference_beside(audio)
