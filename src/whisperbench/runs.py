"""Saved runs: find them, load them, check their schema, pair their benchmarks.

A *run* is one pytest-benchmark JSON document (``--benchmark-json=FILE``, or a file that
``--benchmark-save``/``--benchmark-autosave`` wrote into storage). A run is named either by
a path or, like ``pytest-benchmark compare``, by a storage id: ``0001``, a prefix of a saved
file's name (``0001_abc``), or ``<machine-id-dir>/0001``. Storage is laid out as
``<storage>/<machine-id>/NNNN_<name>.json`` (machine id ``Linux-CPython-3.11-64bit``).

Benchmarks are paired by ``fullname`` plus their ``params`` (serialized with sorted keys).
Every failure here raises :class:`RunError` with one line fit for a terminal.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whisperbench import schema

__all__ = [
    "READABLE_SCHEMA_VERSIONS",
    "Benchmark",
    "Matching",
    "Run",
    "RunError",
    "SideMatching",
    "finite",
    "gpu_name",
    "gpu_states",
    "host_fact",
    "load_run",
    "load_runs",
    "match_benchmarks",
    "match_sides",
    "printable",
    "resolve_run",
    "run_from_document",
    "session_facts",
    "session_gpus",
]

#: ``extra_info["schema_version"]`` values this reader understands (schema.SCHEMA_VERSION
#: is what the writer writes; tests/test_runs.py checks the writer's is readable).
READABLE_SCHEMA_VERSIONS = (1,)

DEFAULT_STORAGE = ".benchmarks"

#: Runs nested deeper than this are refused (pytest-benchmark's JSON nests about 8 levels;
#: readers of deeper documents would recurse without bound).
MAX_JSON_DEPTH = 64

#: A device state may hold one GPU's dict under this key instead of a list under
#: ``schema.GPUS``; read, not written by whisperbench.
_SINGLE_GPU = "gpu"


#: Matrix params added after runs were first saved, with the value those runs measured: the
#: engine axes (an earlier run was transformers with a dynamic cache, uncompiled).
_ADDED_PARAMS = {
    "whisper_engine": "transformers",
    "whisper_kv_cache": "dynamic",
    "whisper_compile": "off",
}
_NO_DEFAULT = object()


#: Characters that must not reach a terminal or a document as they are: C0 and C1 controls
#: (ANSI escape sequences start with ESC), DEL, and Unicode bidirectional overrides.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(value: object) -> str:
    """``value`` as text fit for a terminal, Markdown or HTML source: control characters
    (an ANSI escape's ESC, newlines, bidi overrides) shown as ``\\xNN``/``\\uNNNN`` escapes
    instead of acting. Names and machine fields come from JSON files anyone can write."""
    return _UNPRINTABLE.sub(_escape, str(value))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


class RunError(Exception):
    """A run could not be found, read or paired; the message is one line for the user."""


@dataclass(frozen=True)
class Benchmark:
    """One benchmark of a run, as pytest-benchmark wrote it.

    ``stats`` holds pytest-benchmark's statistics in seconds (``data``: per-round seconds,
    present with ``--benchmark-json`` or ``--benchmark-save-data``). ``extra_info`` is
    whisperbench's flat result (empty for plain pytest-benchmark benchmarks).
    """

    name: str
    fullname: str
    params: Mapping[str, Any] | None
    group: str | None
    stats: Mapping[str, Any]
    extra_info: Mapping[str, Any]
    source: str  #: label of the run it came from

    @property
    def key(self) -> tuple[str, str]:
        """What pairs a benchmark across runs: fullname and params (a param added later is
        left out at the value every earlier run had, so older baselines still pair)."""
        params = {
            name: value
            for name, value in (self.params or {}).items()
            if _ADDED_PARAMS.get(name, _NO_DEFAULT) != value
        }
        return self.fullname, json.dumps(params if self.params is not None else None,
                                         sort_keys=True, default=str)  # fmt: skip

    @property
    def schema_version(self) -> int | None:
        version = self.extra_info.get(schema.SCHEMA_VERSION_FIELD)
        return version if isinstance(version, int) else None


@dataclass(frozen=True)
class Run:
    """One loaded run: its benchmarks and the facts of the session that produced it."""

    path: Path
    label: str
    machine_info: Mapping[str, Any]
    commit_info: Mapping[str, Any]
    datetime: str | None
    version: str | None  #: pytest-benchmark's version that wrote it
    benchmarks: tuple[Benchmark, ...]
    whisperbench: Mapping[str, Any] = field(default_factory=dict)  #: run-level options


@dataclass(frozen=True)
class Matching:
    """Benchmarks paired across two runs (in the base run's order) and the leftovers."""

    pairs: tuple[tuple[Benchmark, Benchmark], ...]
    only_base: tuple[Benchmark, ...]
    only_new: tuple[Benchmark, ...]


@dataclass(frozen=True)
class SideMatching:
    """Benchmarks paired across two sides of several runs each (in BASE's order): for every
    benchmark, its record in each run of BASE and of NEW that holds it; and the leftovers."""

    pairs: tuple[tuple[tuple[Benchmark, ...], tuple[Benchmark, ...]], ...]
    only_base: tuple[Benchmark, ...]
    only_new: tuple[Benchmark, ...]


def resolve_run(spec: str, storage: str | Path = DEFAULT_STORAGE) -> Path:
    """The file a run spec names: an existing path, else a storage id.

    Raises :class:`RunError` if nothing or more than one saved file matches.
    """
    candidate = Path(spec)
    if candidate.is_file():
        return candidate
    storage_path = Path(str(storage).removeprefix("file://"))
    looks_like_path = spec.endswith(".json") or candidate.is_absolute() or spec.count("/") > 1
    if looks_like_path or not storage_path.is_dir():
        where = "" if looks_like_path else f" and no storage folder {str(storage_path)!r}"
        raise RunError(f"no such run file: {spec!r}{where}")
    machine_glob, _, name = spec.rpartition("/")
    found = sorted(
        {
            path
            for folder in storage_path.glob(machine_glob or "*")
            if folder.is_dir()
            for path in folder.glob(f"{name}*.json")
        }
    )
    if not found:
        raise RunError(f"no saved run matches {spec!r} in {str(storage_path)!r}")
    if len(found) > 1:
        names = ", ".join(str(path.relative_to(storage_path)) for path in found[:5])
        more = f" (+{len(found) - 5} more)" if len(found) > 5 else ""
        raise RunError(f"{spec!r} matches several saved runs: {names}{more}; be more specific")
    return found[0]


def load_run(path: str | Path, label: str | None = None) -> Run:
    """Read one pytest-benchmark JSON file and check every benchmark's schema version.

    Raises :class:`RunError` for an unreadable file, a document that is not
    pytest-benchmark's, or a schema version this reader does not know.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RunError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise RunError(f"{str(path)!r} is not JSON: {exc}") from None
    except RecursionError:
        raise RunError(
            f"{str(path)!r} is nested too deeply to be a pytest-benchmark run (beyond Python's "
            f"recursion limit; a run is nested about 8 levels)"
        ) from None
    return run_from_document(document, path, label or path.stem)


def run_from_document(document: Any, path: str | Path, label: str) -> Run:
    """A :class:`Run` from pytest-benchmark's JSON document already parsed (``path`` names
    where it came from). Raises :class:`RunError` like :func:`load_run`."""
    path = Path(path)
    depth = _depth(document, MAX_JSON_DEPTH)
    if depth > MAX_JSON_DEPTH:
        raise RunError(
            f"{str(path)!r} is nested more than {MAX_JSON_DEPTH} levels deep; a pytest-benchmark "
            "run is nested about 8 (not a run, or a damaged one)"
        )
    if not isinstance(document, dict) or not isinstance(document.get("benchmarks"), list):
        raise RunError(f"{str(path)!r} is not pytest-benchmark JSON (no 'benchmarks' list)")
    benchmarks = tuple(_benchmark(raw, path, label) for raw in document["benchmarks"])
    extra = document.get(schema.WHISPERBENCH)
    return Run(
        path=path,
        label=label,
        machine_info=_mapping(document.get("machine_info")),
        commit_info=_mapping(document.get("commit_info")),
        datetime=document.get("datetime"),
        version=document.get("version"),
        benchmarks=benchmarks,
        whisperbench=_mapping(extra),
    )


def _depth(document: Any, limit: int) -> int:
    """How deeply ``document`` nests lists and dicts, counted without recursion and up to
    ``limit + 1`` (deeper documents stop there)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, level = stack.pop()
        if not isinstance(value, (dict, list)):
            continue
        deepest = max(deepest, level)
        if level > limit:
            return level
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, level + 1) for child in children)
    return deepest


def load_runs(specs: Iterable[str], storage: str | Path = DEFAULT_STORAGE) -> list[Run]:
    """Resolve and load several runs, labelling them uniquely."""
    paths = [resolve_run(spec, storage) for spec in specs]
    labels = _unique_labels(paths)
    return [load_run(path, label) for path, label in zip(paths, labels, strict=True)]


def match_benchmarks(base: Run, new: Run) -> Matching:
    """Pair the benchmarks of two runs by fullname and params.

    Raises :class:`RunError` when a run holds the same benchmark twice (merge shards with
    ``whisperbench report``, not ``compare``).
    """
    base_by_key = _by_key(base)
    new_by_key = _by_key(new)
    pairs = tuple(
        (bench, new_by_key[key]) for key, bench in base_by_key.items() if key in new_by_key
    )
    only_base = tuple(bench for key, bench in base_by_key.items() if key not in new_by_key)
    only_new = tuple(bench for key, bench in new_by_key.items() if key not in base_by_key)
    return Matching(pairs=pairs, only_base=only_base, only_new=only_new)


def match_sides(base: Sequence[Run], new: Sequence[Run]) -> SideMatching:
    """Pair the benchmarks of two sides, each made of one run or several (processes).

    A benchmark is paired when at least one run of each side holds it. Raises
    :class:`RunError` when a run holds the same benchmark twice, or a side has no run.
    """
    if not base or not new:
        raise RunError("each side needs at least one run")
    base_side = _by_key_over(base)
    new_side = _by_key_over(new)
    pairs = tuple(
        (tuple(benches), tuple(new_side[key]))
        for key, benches in base_side.items()
        if key in new_side
    )
    only_base = tuple(benches[0] for key, benches in base_side.items() if key not in new_side)
    only_new = tuple(benches[0] for key, benches in new_side.items() if key not in base_side)
    return SideMatching(pairs=pairs, only_base=only_base, only_new=only_new)


def _by_key_over(runs: Sequence[Run]) -> dict[tuple[str, str], list[Benchmark]]:
    grouped: dict[tuple[str, str], list[Benchmark]] = {}
    for run in runs:
        for key, bench in _by_key(run).items():
            grouped.setdefault(key, []).append(bench)
    return grouped


def gpu_states(extra_info: Mapping[str, Any], when: str = schema.BEFORE) -> list[Mapping[str, Any]]:
    """The GPU dicts of ``extra_info["device_state"][when]`` (empty on CPU-only runs).

    Accepts a list under ``"gpus"`` (what whisperbench writes), a single dict under
    ``"gpu"``, or the GPU dict itself.
    """
    state = _mapping(extra_info.get(schema.DEVICE_STATE)).get(when)
    if not isinstance(state, Mapping):
        return []
    gpus = state.get(schema.GPUS)
    if isinstance(gpus, list):
        return [gpu for gpu in gpus if isinstance(gpu, Mapping)]
    gpu = state.get(_SINGLE_GPU)
    if isinstance(gpu, Mapping):
        return [gpu]
    return [state] if schema.SM_CLOCK_MHZ in state or schema.UUID in state else []


def session_facts(run: Run) -> Mapping[str, Any]:
    """``machine_info["whisperbench"]``: ``host`` (CPU, versions), ``nvml``, ``gpus``."""
    return _mapping(run.machine_info.get(schema.WHISPERBENCH))


def host_fact(run: Run, key: str) -> Any:
    """A host fact of the session (``cpu_model``, ``torch_version``, ...), or None.

    Reads ``machine_info["whisperbench"]["host"]``, then the same key one level up, then, for
    ``cpu_model``, pytest-benchmark's own ``machine_info["cpu"]["brand_raw"]``.
    """
    facts = session_facts(run)
    value = _mapping(facts.get(schema.HOST)).get(key, facts.get(key))
    if value is None and key == schema.CPU_MODEL:
        value = _mapping(run.machine_info.get("cpu")).get("brand_raw")
    return value


def session_gpus(run: Run) -> list[Mapping[str, Any]]:
    """The GPUs NVML saw in the session (name, uuid, power limit...), by NVML index."""
    gpus = session_facts(run).get(schema.GPUS)
    return [gpu for gpu in gpus if isinstance(gpu, Mapping)] if isinstance(gpus, list) else []


def gpu_name(run: Run, state: Mapping[str, Any]) -> str | None:
    """The model name of the GPU a window snapshot describes (its own, else by NVML index)."""
    if state.get(schema.NAME):
        return str(state[schema.NAME])
    index = state.get(schema.NVML_INDEX)
    for gpu in session_gpus(run):
        if isinstance(index, int) and gpu.get(schema.NVML_INDEX, -1) == index:
            return str(gpu.get(schema.NAME)) if gpu.get(schema.NAME) else None
    gpus = session_gpus(run)
    if isinstance(index, int) and 0 <= index < len(gpus) and gpus[index].get(schema.NAME):
        return str(gpus[index][schema.NAME])
    return None


def _benchmark(raw: Any, path: Path, label: str) -> Benchmark:
    if not isinstance(raw, dict) or not isinstance(raw.get("fullname"), str):
        raise RunError(f"{str(path)!r}: a benchmark has no 'fullname'")
    stats = raw.get("stats")
    if not isinstance(stats, dict):
        raise RunError(f"{str(path)!r}: benchmark {raw['fullname']!r} has no 'stats'")
    extra_info = _mapping(raw.get("extra_info"))
    version = extra_info.get(schema.SCHEMA_VERSION_FIELD)
    if version is not None and version not in READABLE_SCHEMA_VERSIONS:
        newest = max(READABLE_SCHEMA_VERSIONS)
        raise RunError(
            f"{str(path)!r}: benchmark {raw['fullname']!r} has schema_version {version!r}; "
            f"this whisperbench reads versions up to {newest} (upgrade whisperbench)"
        )
    params = raw.get("params")
    return Benchmark(
        name=str(raw.get("name", raw["fullname"])),
        fullname=raw["fullname"],
        params=params if isinstance(params, dict) else None,
        group=raw.get("group"),
        stats=stats,
        extra_info=extra_info,
        source=label,
    )


def _by_key(run: Run) -> dict[tuple[str, str], Benchmark]:
    by_key: dict[tuple[str, str], Benchmark] = {}
    for bench in run.benchmarks:
        if bench.key in by_key:
            raise RunError(f"{run.label}: benchmark {bench.fullname!r} appears twice")
        by_key[bench.key] = bench
    return by_key


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _unique_labels(paths: Sequence[Path]) -> list[str]:
    """File stems, prefixed by their folder where two stems collide (shards)."""
    stems = [path.stem for path in paths]
    labels = [
        f"{path.parent.name}/{path.stem}" if stems.count(path.stem) > 1 else path.stem
        for path in paths
    ]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return unique


def finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (missing, null, NaN, bool, text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
