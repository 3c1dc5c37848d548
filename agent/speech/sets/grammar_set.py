"""Grammar command sets: intents with template sentences and slot lists, from YAML.

Two file formats are read (errors name ``file:line`` and what is wrong):

Rhino-style context files, unchanged::

    context:
      expressions:
        changeColor:
          - "[turn, make] [the] $location:location lights $color:color"
      slots:
        color: [blue, green, red]
        location: [kitchen, bedroom, "living room"]

Ours (a flat set is the special case without templates or slots; see :mod:`agent.speech.sets.commands`)::

    name: lights
    intents:
      set_color: ["(turn | make) the {location} lights {color}", "{color} lights [please]"]
    slots:
      location: [kitchen, bedroom, {"living room": living_room}, {"(lounge | sitting room)": living_room}]
      color: [red, {in: "sky blue", out: blue}]
    negatives: ["turn the page"]     # optional near-misses, always "unknown"

A slot value is a spoken form (its canonical value is the text itself) or a one-entry mapping
``{spoken: canonical}`` / ``{in: spoken, out: canonical}``; the spoken form may use ``(a | b)`` and
``[optional]`` (no slots). Template syntax: see :mod:`agent.speech.sets.grammar`. YAML scalars are read as text
(``on`` stays ``"on"``).
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...config.loader import safe_yaml_compose
from ...errors import CommandSetError
from . import grammar as g
from .base import TEMPLATE_CHARS, UNKNOWN, builtin_sets, resolve_set_path, yaml_get

log = logging.getLogger(__name__)
RHINO_INTENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
OUR_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
ENUMERATE_LIMIT = 50_000


@dataclass(frozen=True)
class Template:
    text: str
    node: g.Seq
    line: int


@dataclass(frozen=True)
class GrammarSet:
    name: str
    description: str
    format: str  # "rhino" | "ours"
    intents: dict[str, tuple[Template, ...]]
    slots: dict[str, g.SlotDef]
    negatives: tuple[str, ...]
    path: Path
    sha256: str = field(default="")

    @property
    def labels(self) -> tuple[str, ...]:
        return (*self.intents, UNKNOWN)

    def intent_vars(self, intent: str) -> dict[str, str]:
        """variable → slot list name, for the slots ``intent``'s templates can contain."""
        out: dict[str, str] = {}
        for t in self.intents[intent]:
            out.update(g.slot_vars(t.node))
        return out

    def required_vars(self, intent: str) -> tuple[str, ...]:
        """Variables every template of ``intent`` contains outside optional parts and choices."""
        req: set[str] | None = None
        for t in self.intents[intent]:
            here = {n.var for n in t.node.items if isinstance(n, g.SlotRef)}
            req = here if req is None else req & here
        return tuple(v for v in self.intent_vars(intent) if v in (req or set()))

    def slot_patterns(self, intent: str) -> tuple[tuple[str, ...], ...]:
        """The combinations of variables ``intent``'s sentences can fill together, each in variable order
        (``()``: a sentence with no slot). "turn on the {device}" and "turn on the {room} lights" give
        ``(("device",), ("room",))``: neither is required, but one of them is."""
        order = list(self.intent_vars(intent))
        pats: set[frozenset[str]] = set()
        for t in self.intents[intent]:
            pats |= g.slot_patterns(t.node)
        return tuple(sorted((tuple(v for v in order if v in p) for p in pats), key=lambda p: (len(p), p)))

    @property
    def variables(self) -> dict[str, str]:
        """Every slot variable of the set (file order) → its slot list name."""
        out: dict[str, str] = {}
        for intent in self.intents:
            out.update(self.intent_vars(intent))
        return out

    def slot_labels(self, var: str) -> tuple[str, ...]:
        """A slot head's labels: the canonical values of the variable's slot list, then ``absent``."""
        return (*self.slots[self.variables[var]].canonical_values, "absent")

    def count(self, intent: str | None = None) -> int:
        names = [intent] if intent else list(self.intents)
        return sum(g.count(t.node, self.slots) for n in names for t in self.intents[n])

    def sample(self, intent: str, rng: random.Random, *, uniform: bool = False) -> tuple[str, dict[str, str]]:
        """A sentence of ``intent`` with its slot values; templates are weighted by their expansion counts
        (``uniform``) or by the square root of their counts (default: rare short forms are still seen)."""
        ts = self.intents[intent]
        counts = [g.count(t.node, self.slots) for t in ts]
        weights = counts if uniform else [max(1, int(c ** 0.5 * 16)) for c in counts]
        t = ts[g._pick(weights, rng)]
        return g.sample(t.node, self.slots, rng, uniform=uniform)

    def expand(self, intent: str, limit: int = ENUMERATE_LIMIT) -> list[tuple[str, dict[str, str]]]:
        """Every sentence of ``intent`` with its slot values, once (a Rhino template read both ways repeats)."""
        out: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, str]] = {}
        for t in self.intents[intent]:
            for text, slots in g.expand(t.node, self.slots, limit):
                out.setdefault((text, tuple(sorted(slots.items()))), slots)
        return [(text, slots) for (text, _), slots in out.items()]


def _fail(path: Path, node: Any, msg: str) -> CommandSetError:
    line = f":{node.start_mark.line + 1}" if node is not None and hasattr(node, "start_mark") else ""
    return CommandSetError(f"{path}{line}: {msg}")


def _keys(path: Path, node: Any, where: str) -> list[tuple[str, Any]]:
    if not isinstance(node, yaml.MappingNode) or not node.value:
        raise _fail(path, node, f"'{where}' must be a non-empty mapping")
    out = []
    for k, v in node.value:
        if not isinstance(k, yaml.ScalarNode):
            raise _fail(path, k, f"'{where}' keys must be names")
        out.append((k.value, v))
    return out


def _strings(path: Path, node: Any, where: str) -> list[tuple[str, Any]]:
    if isinstance(node, yaml.ScalarNode):
        node = yaml.SequenceNode("tag:yaml.org,2002:seq", [node], node.start_mark, node.end_mark)
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise _fail(path, node, f"'{where}' must be a non-empty list of sentences")
    for item in node.value:
        if not isinstance(item, yaml.ScalarNode) or not item.value.strip():
            raise _fail(path, item, f"'{where}' entries must be non-empty strings")
    return [(item.value, item) for item in node.value]


Macros = dict[bool, dict[str, g.Alt]]  # swap_brackets → macro name → its phrases as a required choice


def _templates(path: Path, node: Any, intent: str, reading: str = "ours", macros: Macros | None = None,
               ) -> tuple[Template, ...]:
    """The intent's templates. ``reading`` (see :func:`bracket_reading`): "ours" (``[optional]``,
    ``(required)``), "picovoice" (the other way round) or "both": each template in both readings, so every
    sentence either allows is recognized, except a reading in which the whole template may be left unsaid
    ("[stop, cancel]" read as optional), which its author cannot have meant."""
    out = []
    for text, item in _strings(path, node, intent):
        try:
            line = item.start_mark.line + 1
            m = macros or {}
            swaps = {"ours": (False,), "picovoice": (True,)}.get(reading, (False, True))
            readings = list(dict.fromkeys(g.parse_template(text, swap_brackets=sw, macros=m.get(sw))
                                          for sw in swaps))
            if len(swaps) > 1:
                readings = [r for r in readings if not g.can_be_empty(r)] or readings[:1]
            out += [Template(text, r, line) for r in readings]
        except g.GrammarError as exc:
            raise _fail(path, item, f"intent '{intent}': {exc}") from exc
    return tuple(out)


class _AnyMacro(dict[str, g.Alt]):
    """Every ``@macro`` name, read as a two-word choice (not a one-option group): for :func:`bracket_reading`."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> g.Alt:
        return g.Alt((g.Seq((g.Word("a"),)), g.Seq((g.Word("b"),))), optional=False)


_ANY_MACRO = _AnyMacro()


def bracket_reading(texts: list[str]) -> str:
    """How a Rhino context's brackets are meant. The issue's layout reads ``[a, b]`` as optional and ``(a, b)``
    as a required choice; Picovoice's own contexts the other way round ("reset (the) (timer)"). Nobody writes a
    required choice of one option, so a one-option group tells: ``(the)`` alone → "picovoice", ``[please]``
    alone → "ours"; neither or both → "both" readings."""
    single = {"(": 0, "[": 0}
    for text in texts:
        try:
            node = g.parse_template(text, macros=_ANY_MACRO)  # only the template's own brackets count here
        except g.GrammarError:
            continue  # reported when the templates are read
        for n in g._walk(node):
            if isinstance(n, g.Alt) and len(n.options) == 1:
                single["[" if n.optional else "("] += 1
    if single["("] and not single["["]:
        return "picovoice"
    if single["["] and not single["("]:
        return "ours"
    return "both"


def _with_builtin_slots(intents: dict[str, tuple[Template, ...]], slots: dict[str, g.SlotDef]
                        ) -> dict[str, g.SlotDef]:
    """``slots`` plus the generated lists of the Rhino built-in slot types the templates use."""
    used = {ref.slot for ts in intents.values() for t in ts for ref in g._walk(t.node) if isinstance(ref, g.SlotRef)}
    return {**slots, **{name: g.builtin_slot(name) for name in sorted(used) if name in g.BUILTIN_SLOTS}}


def _slot_value(path: Path, item: Any, slot: str) -> g.SlotValue:
    if isinstance(item, yaml.ScalarNode):
        spoken, canonical = item.value, " ".join(item.value.lower().split())
        if set(spoken) & TEMPLATE_CHARS:
            raise _fail(path, item, f"slot '{slot}': value {spoken!r} has alternatives: give its canonical "
                                    f"value as {{\"{spoken}\": canonical}}")
    elif isinstance(item, yaml.MappingNode):
        pairs = {k.value: v for k, v in item.value if isinstance(k, yaml.ScalarNode)}
        if set(pairs) == {"in", "out"}:
            spoken_n, canon_n = pairs["in"], pairs["out"]
        elif len(item.value) == 1:
            spoken_n, canon_n = item.value[0]
        else:
            raise _fail(path, item, f"slot '{slot}': a value mapping must be {{spoken: canonical}} or "
                                    "{in: spoken, out: canonical}")
        if not isinstance(spoken_n, yaml.ScalarNode) or not isinstance(canon_n, yaml.ScalarNode):
            raise _fail(path, item, f"slot '{slot}': spoken and canonical values must be strings")
        spoken, canonical = spoken_n.value, canon_n.value.strip()
    else:
        raise _fail(path, item, f"slot '{slot}': a value must be a string or a {{spoken: canonical}} mapping")
    if not spoken.strip() or not canonical:
        raise _fail(path, item, f"slot '{slot}': empty value")
    try:
        node = g.parse_template(spoken, allow_slots=False)
    except g.GrammarError as exc:
        raise _fail(path, item, f"slot '{slot}': {exc}") from exc
    return g.SlotValue(node, canonical)


def _slots(path: Path, node: Any) -> dict[str, g.SlotDef]:
    if node is None:
        return {}
    out: dict[str, g.SlotDef] = {}
    for name, vnode in _keys(path, node, "slots"):
        if not isinstance(vnode, yaml.SequenceNode) or not vnode.value:
            raise _fail(path, vnode, f"slot '{name}' must be a non-empty list of values")
        out[name] = g.SlotDef(name, tuple(_slot_value(path, it, name) for it in vnode.value))
    return out


def _check(gs: GrammarSet, path: Path) -> None:
    var_types: dict[str, str] = {}
    for intent, ts in gs.intents.items():
        for t in ts:
            refs = [n for n in g._walk(t.node) if isinstance(n, g.SlotRef)]
            for ref in refs:
                if ref.slot not in gs.slots:
                    raise CommandSetError(f"{path}:{t.line}: intent '{intent}': unknown slot '{ref.slot}' "
                                          f"(defined slots: {', '.join(gs.slots) or 'none'})")
                if var_types.setdefault(ref.var, ref.slot) != ref.slot:
                    raise CommandSetError(f"{path}:{t.line}: variable '{ref.var}' is slot '{ref.slot}' here but "
                                          f"'{var_types[ref.var]}' elsewhere: name it differently")
                if ref.var == "intent":
                    raise CommandSetError(f"{path}:{t.line}: 'intent' cannot be a slot variable name")
            names = [r.var for r in refs]
            dup = sorted({v for v in names if names.count(v) > 1})
            if dup:
                raise CommandSetError(f"{path}:{t.line}: variable '{dup[0]}' appears twice in one template: "
                                      f"use {{{dup[0]}:other_name}} / ${dup[0]}:other_name")
    if gs.count() > ENUMERATE_LIMIT:
        return
    seen: dict[str, str] = {}
    for intent in gs.intents:
        for text, _ in gs.expand(intent):
            if seen.setdefault(text, intent) != intent:
                line = gs.intents[intent][0].line
                raise CommandSetError(f"{path}:{line}: sentence {text!r} is in both '{seen[text]}' and '{intent}'")
    clash = [n for n in gs.negatives if n in seen]
    if clash:
        raise CommandSetError(f"{path}: negative {clash[0]!r} is also a sentence of intent '{seen[clash[0]]}'")


def _rhino(path: Path, root: Any, reading: str | None = None) -> GrammarSet:
    ctx = yaml_get(root, "context")
    extra = [k for k, _ in _keys(path, ctx, "context") if k not in ("expressions", "slots", "macros")]
    if extra:
        raise _fail(path, yaml_get(ctx, extra[0]), f"unknown key 'context.{extra[0]}'")
    macro_texts = {name: _strings(path, node, f"macro '{name}'")
                   for name, node in (_keys(path, yaml_get(ctx, "macros"), "context.macros")
                                      if yaml_get(ctx, "macros") is not None else [])}
    intents = {}
    exprs = list(_keys(path, yaml_get(ctx, "expressions"), "context.expressions"))
    if reading is None:
        reading = bracket_reading([t for name, node in exprs for t, _ in _strings(path, node, name)]
                                  + [t for ts in macro_texts.values() for t, _ in ts])
    macros: Macros = {swap: {} for swap in (False, True)}
    for swap in (False, True):
        for name, texts in macro_texts.items():
            try:
                macros[swap][name] = g.Alt(tuple(g.parse_template(t, allow_slots=False, swap_brackets=swap)
                                                 for t, _ in texts), optional=False)
            except g.GrammarError as exc:
                raise _fail(path, texts[0][1], f"macro '{name}': {exc}") from exc
    for name, node in exprs:
        if not RHINO_INTENT.match(name) or name == UNKNOWN:
            raise _fail(path, node, f"intent name {name!r} must match [A-Za-z][A-Za-z0-9_]* and not be {UNKNOWN}")
        intents[name] = _templates(path, node, name, reading, macros)
    stem = re.sub(r"[^a-z0-9_]+", "_", path.stem.lower()).strip("_") or "context"
    name = stem if stem[0].isalpha() else f"set_{stem}"
    slots = _with_builtin_slots(intents, _slots(path, yaml_get(ctx, "slots")))
    desc = f"Rhino context {path.name}" + ("" if reading == "ours" else f" ({reading} bracket reading)")
    return GrammarSet(name, desc, "rhino", intents, slots, (), path)


def _ours(path: Path, root: Any) -> GrammarSet:
    keys = dict(_keys(path, root, "top level"))
    extra = sorted(set(keys) - {"name", "description", "intents", "negatives", "slots", "answers"})
    if extra:
        raise _fail(path, keys[extra[0]], f"unknown key '{extra[0]}'")
    name_n = keys.get("name")
    name = name_n.value if isinstance(name_n, yaml.ScalarNode) else path.stem
    if not OUR_NAME.match(name):
        raise _fail(path, name_n, "'name' must match [a-z][a-z0-9_]*")
    intents = {}
    for intent, node in _keys(path, keys.get("intents"), "intents"):
        if not OUR_NAME.match(intent) or intent == UNKNOWN:
            raise _fail(path, node, f"intent name {intent!r} must match [a-z][a-z0-9_]* and not be '{UNKNOWN}'")
        intents[intent] = _templates(path, node, intent)
    negs = keys.get("negatives")
    negatives = tuple(" ".join(s.lower().split()) for s, _ in _strings(path, negs, "negatives")) if negs else ()
    desc = keys.get("description")
    return GrammarSet(name, desc.value if isinstance(desc, yaml.ScalarNode) else "", "ours", intents,
                      _with_builtin_slots(intents, _slots(path, keys.get("slots"))), negatives, path)


def load_grammar_set(name_or_file: str | Path) -> GrammarSet:
    """Load a Rhino-style context, a set of ours with templates/slots, or a flat set, as a grammar."""
    path = resolve_set_path(name_or_file)
    if not path.is_file():
        raise CommandSetError(f"command set {name_or_file!r} not found (built-in: {', '.join(builtin_sets())})")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandSetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    root = safe_yaml_compose(text, str(path), CommandSetError)  # bounded: size, depth, nodes, duplicates
    if not isinstance(root, yaml.MappingNode):
        raise CommandSetError(f"{path}: a command set must be a mapping with 'intents' (or a Rhino 'context')")
    sha = hashlib.sha256(raw).hexdigest()

    def finish(gs: GrammarSet) -> GrammarSet:
        gs = GrammarSet(gs.name, gs.description, gs.format, gs.intents, gs.slots, gs.negatives, path, sha)
        _check(gs, path)
        return gs

    if yaml_get(root, "context") is None:
        return finish(_ours(path, root))
    try:
        return finish(_rhino(path, root))
    except CommandSetError as exc:  # the two bracket readings together make one sentence two intents'
        if "is in both" not in str(exc):
            raise
        log.warning("%s: reading its brackets both ways gives one sentence two intents (%s); using [optional] "
                    "and (required) only", path, exc)
        return finish(_rhino(path, root, reading="ours"))
