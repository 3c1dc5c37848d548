"""The architecture note (agent/README.md) holds: rooms import only the rooms below them, no import cycles
(imports inside functions included), the runtime never imports ``models/``, and modules and functions stay
small. Read from the source with ``ast``, so a new import that breaks a rule fails here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AGENT = ROOT / "agent"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# modules every room may import
BASE = {"errors", "types", "paths", "strictjson", "ratelog", "agent"}
# room -> the rooms it may import (besides BASE and itself); the table in agent/README.md
ALLOWED: dict[str, set[str]] = {
    "errors": set(), "types": set(), "paths": set(), "strictjson": set(), "ratelog": set(),
    "config": set(),
    "runtime": set(),
    "audio": {"config", "runtime"},
    "sources": {"config", "audio"},
    "speech": {"config", "runtime", "audio"},
    "vision": {"config", "runtime"},
    "fusion": {"config"},
    "intents": {"config"},
    "privacy": set(),
    "mqtt": {"config", "intents", "privacy"},
    "ota": {"runtime"},
    "web": {"config", "runtime", "audio", "speech", "vision", "fusion", "privacy"},
    "daemon": {"config", "runtime", "audio", "sources", "speech", "vision", "fusion", "intents", "privacy", "mqtt",
               "ota", "web"},
    "bench": {"config", "runtime", "audio", "sources", "speech", "vision", "fusion", "intents", "privacy", "mqtt",
              "ota", "web", "daemon", "demo"},
    "demo": {"config", "runtime", "audio", "sources", "speech", "vision", "fusion", "intents", "privacy", "mqtt",
             "ota", "web", "daemon"},
    "cli": {"config", "runtime", "audio", "sources", "speech", "vision", "fusion", "intents", "privacy", "mqtt",
            "ota", "web", "daemon", "bench", "demo"},
    "__main__": {"cli"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(AGENT.rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _imports(mod: str) -> set[str]:
    """Every module of ours that ``mod`` imports, at any depth of its code (functions included)."""
    path = MODULES[mod]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES}
    return {t for t in found if t.split(".")[0] in ("agent", "models")}


def _room(mod: str) -> str:
    parts = mod.split(".")
    return "agent" if len(parts) == 1 else parts[1]


def test_rooms_import_only_the_rooms_below_them() -> None:
    wrong = []
    for mod in MODULES:
        room = _room(mod)
        assert room in ALLOWED or room == "agent", f"{mod}: room {room!r} is missing from agent/README.md"
        for target in _imports(mod):
            if target.startswith("models"):
                continue  # its own test below
            other = _room(target)
            if other != room and other not in BASE and other not in ALLOWED.get(room, set()):
                wrong.append(f"{mod} -> {target}")
    assert not wrong, "imports against the room table in agent/README.md:\n" + "\n".join(wrong)


def test_the_runtime_never_imports_models() -> None:
    wrong = [f"{m} -> {t}" for m in MODULES for t in _imports(m) if t.split(".")[0] == "models"]
    assert not wrong, wrong


def test_no_import_cycles() -> None:
    graph = {m: {t for t in _imports(m) if t in MODULES and t != m} for m in MODULES}
    # a package's __init__ re-exporting its own modules is not a cycle of design: leave parent packages out
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_modules_and_functions_stay_small() -> None:
    big = []
    for folder in (ROOT / "agent", ROOT / "models"):
        for p in sorted(folder.rglob("*.py")):
            text = p.read_text()
            if len(text.splitlines()) > MAX_MODULE_LINES:
                big.append(f"{p.relative_to(ROOT)}: {len(text.splitlines())} lines")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    n = (node.end_lineno or node.lineno) - node.lineno + 1
                    if n > MAX_FUNCTION_LINES:
                        big.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name}(): {n} lines")
    assert not big, big


def test_the_note_names_every_room() -> None:
    note = (AGENT / "README.md").read_text()
    rooms = {_room(m) for m in MODULES} - {"agent"}
    missing = [r for r in rooms if f"`{r}" not in note]
    assert not missing, f"agent/README.md does not describe {missing}"
