"""The house rules, checked on the source: no import circles, imports only go down the layers,
and result names are spelled in one place (the schema).

Imports inside functions count too: a circle hidden by a function-local import is a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from whisperbench import schema

SRC = Path(__file__).resolve().parents[1] / "src" / "whisperbench"

#: Components of the package from the bottom up; a module may import its own layer or lower.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "argtypes", "jsonio", "interrupts", "devices", "metrics", "rounds", "audio"),
    ("models", "meters"),  # weights and hardware
    ("schema",),  # the data contract
    ("transcribe", "engines", "measure"),  # the measured pipeline and its engines
    ("options", "session"),  # assembling a run
    ("runs", "compare", "report", "sweep"),  # reading and combining results
    (
        "app",
        "ab",
        "pytest_plugin",
        "pytest_fixtures",
        "pytest_gate",
        "cli",
        "__main__",
    ),  # front ends
)
LAYER = {component: level for level, names in enumerate(LAYERS) for component in names}


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(("whisperbench", *parts))] = path
    return found


def _imports(path: Path, module: str) -> Iterator[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1],
                                 *([base] if base else [])])  # fmt: skip
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {imported for imported in _imports(path, name) if imported in modules} - {name}
        for name, path in modules.items()
    }


def _component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_component_has_a_layer() -> None:
    assert {_component(m) for m in _modules()} <= set(LAYER)


def test_imports_only_go_down_the_layers() -> None:
    upward = [
        f"{module} -> {imported}"
        for module, imports in _graph().items()
        for imported in imports
        if LAYER[_component(imported)] > LAYER[_component(module)]
    ]
    assert upward == []


def test_no_import_circles() -> None:
    graph = _graph()
    # A package's __init__ re-exporting its own modules is not a circle through them.
    for name in graph:
        graph[name] = {i for i in graph[name] if not (name.startswith(f"{i}.") and i != name)}
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert circles == []


#: Result fields whose names are spelled only in schema.py. Decoding settings are left out:
#: they are also transformers' own ``generate`` keywords, spelled where generate is called.
_DECODING = {
    schema.NUM_BEAMS,
    schema.DO_SAMPLE,
    schema.MAX_NEW_TOKENS,
    schema.RETURN_TIMESTAMPS,
    schema.WORD_TIMESTAMPS,
}
#: The device-state record is built by meters/device_state.py, which owns its keys (the
#: schema names the ones readers use; tests/test_meters_device_state.py pins them).
_DEVICE_STATE_OWNER = SRC / "meters" / "device_state.py"


def _owned_names() -> set[str]:
    names = {
        value
        for key, value in vars(schema).items()
        if key.isupper() and isinstance(value, str) and ("_" in value or key in {"RTF", "WER"})
    }
    return names - _DECODING


def test_result_field_names_are_spelled_only_in_the_schema() -> None:
    names = _owned_names()
    assert {"j_per_audio_s", "rtf", "peak_rss_bytes", "energy_null_reason"} <= names
    spelled = []
    for module, path in _modules().items():
        if path in (SRC / "schema.py", _DEVICE_STATE_OWNER):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        exported = {  # names of functions in __all__ (metrics.rtf) are not field names
            id(element)
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
            for element in ast.walk(node.value)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names and id(node) not in exported:
                spelled.append(f"{module}:{node.lineno}: {node.value!r}")
    assert spelled == []


#: A module longer than this says why at the top of its docstring ("Length: ...").
LONG_MODULE_LINES = 450


def test_long_modules_say_why() -> None:
    unexplained = []
    for module, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if lines > LONG_MODULE_LINES and "\nLength: " not in f"\n{docstring}":
            unexplained.append(f"{module}: {lines} lines")
    assert unexplained == []
