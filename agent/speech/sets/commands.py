"""Command sets: YAML files mapping intents to phrasings (``agent/speech/sets/<name>.yaml``).

Format::

    name: home
    description: ...
    intents:
      lights_on: ["turn on the lights", "lights on"]
    negatives: ["turn on the radio"]     # optional near-misses, always "unknown"

The recognizer's labels are the intents in file order followed by ``unknown``.

Grammar sets extend this format with template syntax in the phrases (``[optional]``, ``(a | b)``,
``{slot}``) and an optional ``slots:`` mapping (slot list name → values; a value may map synonyms to a
canonical value, e.g. ``{"ceiling light": light}``); Rhino-style ``context:`` files are read unchanged.
They are loaded by :func:`agent.speech.sets.grammar_set.load_grammar_set` (see that module for the format);
:func:`load_command_set` refuses them with a pointer there, and :func:`.loader.load_any_set` loads either kind.
Flat sets load exactly as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ...config.loader import safe_yaml_load
from ...errors import CommandSetError
from .base import UNKNOWN, builtin_sets, is_grammar_file, resolve_set_path

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class CommandSet:
    name: str
    description: str
    intents: dict[str, tuple[str, ...]]
    negatives: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()  # intents that only answer a question (yes, no): never free-standing commands

    @property
    def labels(self) -> tuple[str, ...]:
        return (*self.intents, UNKNOWN)


def _fail(path: Path, node: Any, msg: str) -> CommandSetError:
    line = f":{node.start_mark.line + 1}" if node is not None and hasattr(node, "start_mark") else ""
    return CommandSetError(f"{path}{line}: {msg}")


def _node_for(root: Any, *keys: str) -> Any:
    node = root
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            return node
        node = next((v for k, v in node.value if k.value == key), node)
    return node


def _phrases(path: Path, root: Any, where: tuple[str, ...], value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(path, _node_for(root, *where), f"'{'.'.join(where)}' must be a non-empty list of phrases")
    return tuple(" ".join(v.lower().split()) for v in value)


def load_command_set(name_or_file: str | Path) -> CommandSet:
    """Load and validate a command set by built-in name or YAML path; errors name the file and line."""
    path = resolve_set_path(name_or_file)
    if not path.is_file():
        raise CommandSetError(f"command set {name_or_file!r} not found (built-in: {', '.join(builtin_sets())})")
    text = path.read_text(encoding="utf-8")
    data, root = safe_yaml_load(text, str(path), CommandSetError)  # bounded: size, depth, nodes, duplicates
    if not isinstance(data, dict):
        raise CommandSetError(f"{path}: a command set must be a mapping with 'name' and 'intents'")
    if is_grammar_file(text):
        raise CommandSetError(f"{path}: this is a grammar command set (slots, templates or a Rhino context): "
                              "load it with agent.speech.sets.grammar_set.load_grammar_set")
    unknown_keys = set(data) - {"name", "description", "intents", "negatives", "answers"}
    if unknown_keys:
        key = sorted(unknown_keys)[0]
        raise _fail(path, _node_for(root, key), f"unknown key '{key}'")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(path, _node_for(root, "name"), "'name' must match [a-z][a-z0-9_]*")
    intents_raw = data.get("intents")
    if not isinstance(intents_raw, dict) or not intents_raw:
        raise _fail(path, _node_for(root, "intents"), "'intents' must be a non-empty mapping")
    intents: dict[str, tuple[str, ...]] = {}
    for intent, phrases in intents_raw.items():
        if not isinstance(intent, str) or not _NAME.match(intent) or intent == UNKNOWN:
            raise _fail(path, _node_for(root, "intents", str(intent)),
                        f"intent name {intent!r} must match [a-z][a-z0-9_]* and not be '{UNKNOWN}'")
        intents[intent] = _phrases(path, root, ("intents", intent), phrases)
    negatives = data.get("negatives") or []
    negs = _phrases(path, root, ("negatives",), negatives) if negatives else ()
    seen: dict[str, str] = {}
    for intent, phrases in intents.items():
        for ph in phrases:
            if ph in seen and seen[ph] != intent:
                raise _fail(path, _node_for(root, "intents", intent),
                            f"phrase {ph!r} is in both '{seen[ph]}' and '{intent}'")
            seen[ph] = intent
    clash = [n for n in negs if n in seen]
    if clash:
        raise _fail(path, _node_for(root, "negatives"), f"negative {clash[0]!r} is also a command phrase")
    answers = data.get("answers") or []
    if not isinstance(answers, list) or any(a not in intents for a in answers):
        raise _fail(path, _node_for(root, "answers"), "'answers' must list intents of this set (e.g. [yes, no])")
    return CommandSet(name=name, description=str(data.get("description", "")), intents=intents,
                      negatives=negs, answers=tuple(answers))
