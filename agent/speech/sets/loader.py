"""Loading a command set of either format: a flat :class:`~.commands.CommandSet` or a
:class:`~.grammar_set.GrammarSet`."""

from __future__ import annotations

from pathlib import Path

from .base import is_grammar_file, resolve_set_path
from .commands import CommandSet, load_command_set
from .grammar_set import GrammarSet, load_grammar_set


def load_any_set(name_or_file: str | Path) -> CommandSet | GrammarSet:
    """A flat :class:`CommandSet` or, for slots/templates/Rhino contexts, a :class:`GrammarSet`."""
    path = resolve_set_path(name_or_file)
    if path.is_file() and is_grammar_file(path.read_text(encoding="utf-8")):
        return load_grammar_set(path)
    return load_command_set(name_or_file)
