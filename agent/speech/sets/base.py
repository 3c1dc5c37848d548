"""What every command-set format shares: the ``unknown`` label, where the built-in sets live, how a name or
a path is resolved, and how a YAML text tells which format it is in (below both loaders)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ...config.loader import safe_yaml_compose
from ...errors import CommandSetError

UNKNOWN = "unknown"
SETS_DIR = Path(__file__).parent
TEMPLATE_CHARS = set("[](){}$|")


def builtin_sets() -> list[str]:
    return sorted(p.stem for p in SETS_DIR.glob("*.yaml"))


def resolve_set_path(name_or_file: str | Path) -> Path:
    p = Path(name_or_file)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        return p
    return SETS_DIR / f"{name_or_file}.yaml"


def yaml_get(node: Any, key: str) -> Any:
    """The value node of ``key`` in a YAML mapping node, or None."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def is_grammar_file(text: str) -> bool:
    """Whether a command-set YAML text uses slots, template syntax or the Rhino ``context:`` layout (it needs the
    grammar loader)."""
    try:
        root = safe_yaml_compose(text, "<command set>", CommandSetError)
    except CommandSetError:
        return False
    if yaml_get(root, "context") is not None or yaml_get(root, "slots") is not None:
        return True
    intents = yaml_get(root, "intents")
    if not isinstance(intents, yaml.MappingNode):
        return False
    for _, v in intents.value:
        items = v.value if isinstance(v, yaml.SequenceNode) else [v]
        if any(isinstance(i, yaml.ScalarNode) and set(i.value) & TEMPLATE_CHARS for i in items):
            return True
    return False
