"""Template sentences with optional parts, alternatives and slots, parsed into an expansion graph.

Two syntaxes are accepted, and may be mixed:

- hassil-like: ``[optional]``, ``(a | b)`` a required choice, ``[a | b]`` an optional choice, ``{slot}`` or
  ``{slot_list:variable}`` a slot;
- Rhino-style: ``[a, b]`` an optional choice, ``(a, b)`` a required choice, ``$slot:variable`` (or ``$slot``).
  Picovoice's own contexts use the brackets the other way round (``(the)`` optional, ``[pause, stop]`` a
  choice): ``parse_template(..., swap_brackets=True)`` reads them so, and a Rhino context accepts both readings
  (:mod:`agent.speech.sets.grammar_set`). Rhino's built-in slots ``$pv.SingleDigitInteger``, ``$pv.TwoDigitInteger``,
  ``$pv.Percent``, ``$pv.SingleDigitOrdinal`` and ``$pv.TwoDigitOrdinal`` are slot lists generated here
  (:func:`builtin_slot`: number words, canonical values as digits: "twenty five" → ``25``, "fifty percent" →
  ``50%``, "third" → ``3``).

Inside brackets both ``|`` and ``,`` separate alternatives. Outside brackets punctuation (``, . ! ? ;``) is
ignored, words are lower-cased. A slot reference names a slot *list* (its spoken values and their canonical
values) and the *variable* the recognizer reports it under (by default the list's name).

The graph supports counting expansions without enumerating (:func:`count`, exact big integers), sampling
(:func:`sample`; ``uniform=True`` draws every expansion with equal probability, otherwise each alternative is
equally likely, which covers rare alternatives better) and enumeration of small graphs (:func:`expand`).
Pure Python: no numpy or torch.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = ["BUILTIN_SLOTS", "Alt", "GrammarError", "Seq", "SlotDef", "SlotRef", "SlotValue", "Word", "builtin_slot",
           "can_be_empty", "count", "expand", "parse_template", "sample", "slot_vars"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_PUNCT = set(".!?;:\"")
_SPECIAL = set("[]()|,{}$") | _PUNCT


class GrammarError(ValueError):
    """A template is malformed; ``col`` is the 1-based column in the template text (0 if unknown)."""

    def __init__(self, message: str, col: int = 0) -> None:
        super().__init__(message)
        self.col = col


@dataclass(frozen=True)
class Word:
    text: str


@dataclass(frozen=True)
class SlotRef:
    slot: str  # the slot list's name
    var: str  # the variable it is reported under


@dataclass(frozen=True)
class Seq:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Alt:
    options: tuple[Seq, ...]
    optional: bool


Node = Word | SlotRef | Seq | Alt


@dataclass(frozen=True)
class SlotValue:
    spoken: Seq  # may itself contain alternatives, e.g. "(ceiling | overhead) light"
    canonical: str


@dataclass(frozen=True)
class SlotDef:
    name: str
    values: tuple[SlotValue, ...]

    @property
    def canonical_values(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.canonical for v in self.values))


_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORD = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
        "twelve": "twelfth"}


def number_words(n: int) -> str:
    """0-100 in words ("twenty five", "one hundred")."""
    if n == 100:
        return "one hundred"
    if n < 20:
        return _ONES[n]
    return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])


def ordinal_words(n: int) -> str:
    """1-99 as an ordinal ("first", "twenty third", "fortieth")."""
    words = number_words(n).split()
    last = words[-1]
    words[-1] = _ORD.get(last, last[:-1] + "ieth" if last.endswith("y") else last + "th")
    return " ".join(words)


BUILTIN_SLOTS: dict[str, list[tuple[str, str]]] = {
    "pv.SingleDigitInteger": [(number_words(n), str(n)) for n in range(10)],
    "pv.TwoDigitInteger": [(number_words(n), str(n)) for n in range(100)],
    "pv.Percent": [(number_words(n) + " percent", f"{n}%") for n in range(101)],
    "pv.SingleDigitOrdinal": [(ordinal_words(n), str(n)) for n in range(1, 10)],
    "pv.TwoDigitOrdinal": [(ordinal_words(n), str(n)) for n in range(1, 100)],
}


def builtin_slot(name: str) -> SlotDef:
    """The slot list of a Rhino built-in slot type (``pv.TwoDigitInteger`` ...)."""
    return SlotDef(name, tuple(SlotValue(Seq(tuple(Word(w) for w in spoken.split())), canonical)
                               for spoken, canonical in BUILTIN_SLOTS[name]))


class _Parser:
    def __init__(self, text: str, allow_slots: bool, swap_brackets: bool = False,
                 macros: Mapping[str, Alt] | None = None) -> None:
        self.text = text
        self.pos = 0
        self.allow_slots = allow_slots
        self.optional_opener = "(" if swap_brackets else "["
        self.macros = macros

    def error(self, msg: str, pos: int | None = None) -> GrammarError:
        p = self.pos if pos is None else pos
        return GrammarError(f"{msg} (column {p + 1} of {self.text!r})", p + 1)

    def parse(self) -> Seq:
        seq = self.seq(top=True)
        if self.pos < len(self.text):
            raise self.error(f"unexpected {self.text[self.pos]!r} (unbalanced bracket?)")
        if not seq.items:
            raise self.error("empty template", 0)
        return seq

    def seq(self, top: bool) -> Seq:
        items: list[Node] = []
        t = self.text
        while self.pos < len(t):
            c = t[self.pos]
            if c.isspace() or c in _PUNCT or (top and c == ","):
                self.pos += 1
            elif c in "])" or c in "|,":
                if top and c in "])":
                    raise self.error(f"unbalanced {c!r}: no matching opening bracket")
                if top:
                    raise self.error(f"{c!r} outside brackets: put alternatives in (a | b) or [a | b]")
                break
            elif c in "[(":
                items.append(self.group(c))
            elif c in "{$":
                items.append(self.slot(c))
            elif c == "}":
                raise self.error("unbalanced '}'")
            else:
                start = self.pos
                while self.pos < len(t) and not t[self.pos].isspace() and t[self.pos] not in _SPECIAL:
                    self.pos += 1
                word = t[start:self.pos]
                if word[0] == "@" and self.macros is not None:
                    if word[1:] not in self.macros:
                        raise self.error(f"unknown macro {word!r} (defined: "
                                         f"{', '.join('@' + m for m in self.macros) or 'none'})", start)
                    items.append(self.macros[word[1:]])
                    continue
                if word[0] in "<@":
                    raise self.error(f"{word!r}: expansion rules (<rule>) and macros (@macro) are not supported: "
                                     "write the alternatives out as (a | b)", start)
                items.append(Word(word.lower()))
        return Seq(tuple(items))

    def group(self, opener: str) -> Alt:
        closer = "]" if opener == "[" else ")"
        start = self.pos
        self.pos += 1
        options: list[Seq] = []
        while True:
            at = self.pos
            opt = self.seq(top=False)
            if self.pos >= len(self.text):
                raise self.error(f"unbalanced {opener!r}: no closing {closer!r}", start)
            c = self.text[self.pos]
            if not opt.items:
                raise self.error("empty alternative", at)
            options.append(opt)
            self.pos += 1
            if c == closer:
                break
            if c in "])":
                raise self.error(f"{opener!r} closed by {c!r}", self.pos - 1)
        return Alt(tuple(options), optional=opener == self.optional_opener)

    def slot(self, c: str) -> SlotRef:
        start = self.pos
        if not self.allow_slots:
            raise self.error("slot references are not allowed here (slot values cannot contain slots)")
        self.pos += 1
        m = _NAME.match(self.text, self.pos)
        if not m:
            raise self.error(f"{c!r} must be followed by a slot name", start)
        name = m.group(0)
        self.pos = m.end()
        var = name
        if self.pos < len(self.text) and self.text[self.pos] == ":":
            m2 = _NAME.match(self.text, self.pos + 1)
            if not m2:
                raise self.error("':' must be followed by a variable name", self.pos)
            var = m2.group(0)
            self.pos = m2.end()
        if c == "{":
            if self.pos >= len(self.text) or self.text[self.pos] != "}":
                raise self.error("unbalanced '{': slot reference needs a closing '}'", start)
            self.pos += 1
        if name.startswith("pv.") and name not in BUILTIN_SLOTS:
            raise self.error(f"built-in slot type ${name} is not supported (supported: "
                             f"{', '.join('$' + b for b in BUILTIN_SLOTS)}): list its values under 'slots'", start)
        return SlotRef(name, var)


def parse_template(text: str, *, allow_slots: bool = True, swap_brackets: bool = False,
                   macros: Mapping[str, Alt] | None = None) -> Seq:
    """Parse one template sentence; raises :class:`GrammarError` naming the column. ``swap_brackets``:
    ``(...)`` is optional and ``[...]`` a required choice (Picovoice's reading of a Rhino context);
    ``macros``: a Rhino context's macros (``@name`` → a required choice of its phrases)."""
    if not isinstance(text, str):
        raise GrammarError(f"a template must be a string, got {type(text).__name__}")
    return _Parser(text, allow_slots, swap_brackets, macros).parse()


def _walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, Seq):
        for it in node.items:
            yield from _walk(it)
    elif isinstance(node, Alt):
        for o in node.options:
            yield from _walk(o)


def can_be_empty(node: Node) -> bool:
    """Whether some expansion of ``node`` says nothing at all (every part of it optional)."""
    if isinstance(node, Word | SlotRef):
        return False
    if isinstance(node, Seq):
        return all(can_be_empty(it) for it in node.items)
    return node.optional or any(can_be_empty(o) for o in node.options)


def slot_vars(node: Node) -> dict[str, str]:
    """variable → slot list name, for every slot reference in the graph."""
    return {n.var: n.slot for n in _walk(node) if isinstance(n, SlotRef)}


def slot_patterns(node: Node) -> set[frozenset[str]]:
    """Every set of variables that one expansion of ``node`` fills together (``{frozenset()}`` for none)."""
    if isinstance(node, Word):
        return {frozenset()}
    if isinstance(node, SlotRef):
        return {frozenset((node.var,))}
    if isinstance(node, Seq):
        acc: set[frozenset[str]] = {frozenset()}
        for it in node.items:
            acc = {a | b for a in acc for b in slot_patterns(it)}
        return acc
    out: set[frozenset[str]] = set().union(*(slot_patterns(o) for o in node.options))
    if node.optional:
        out.add(frozenset())
    return out


def count(node: Node, slots: Mapping[str, SlotDef]) -> int:
    """Number of expansions (paths) of ``node``, without enumerating them."""
    if isinstance(node, Word):
        return 1
    if isinstance(node, SlotRef):
        return sum(count(v.spoken, slots) for v in slots[node.slot].values)
    if isinstance(node, Seq):
        n = 1
        for it in node.items:
            n *= count(it, slots)
        return n
    return sum(count(o, slots) for o in node.options) + (1 if node.optional else 0)


def sample(node: Node, slots: Mapping[str, SlotDef], rng: random.Random, *,
           uniform: bool = False) -> tuple[str, dict[str, str]]:
    """One sentence and its slot values ``{variable: canonical}``."""
    words: list[str] = []
    values: dict[str, str] = {}
    _sample(node, slots, rng, uniform, words, values)
    return " ".join(words), values


def _pick(weights: list[int], rng: random.Random) -> int:
    r = rng.randrange(sum(weights))
    for i, w in enumerate(weights):
        if r < w:
            return i
        r -= w
    return len(weights) - 1


def _sample(node: Node, slots: Mapping[str, SlotDef], rng: random.Random, uniform: bool, words: list[str],
            values: dict[str, str]) -> None:
    if isinstance(node, Word):
        words.append(node.text)
    elif isinstance(node, Seq):
        for it in node.items:
            _sample(it, slots, rng, uniform, words, values)
    elif isinstance(node, SlotRef):
        vals = slots[node.slot].values
        if uniform:
            v = vals[_pick([count(v.spoken, slots) for v in vals], rng)]
        else:
            # each canonical value equally likely, then one of its spoken forms
            canon = slots[node.slot].canonical_values
            c = canon[rng.randrange(len(canon))]
            forms = [v for v in vals if v.canonical == c]
            v = forms[rng.randrange(len(forms))]
        _sample(v.spoken, slots, rng, uniform, words, values)
        values[node.var] = v.canonical
    else:
        weights = [count(o, slots) if uniform else 1 for o in node.options]
        if node.optional:
            weights.append(1 if uniform else max(1, len(node.options) // 2))
        i = _pick(weights, rng)
        if i < len(node.options):
            _sample(node.options[i], slots, rng, uniform, words, values)


def expand(node: Node, slots: Mapping[str, SlotDef], limit: int = 100_000) -> list[tuple[str, dict[str, str]]]:
    """Every expansion as (sentence, slot values); raises :class:`GrammarError` above ``limit``."""
    n = count(node, slots)
    if n > limit:
        raise GrammarError(f"{n} expansions is more than the limit {limit}: sample instead")
    return [(" ".join(w), dict(v)) for w, v in _expand(node, slots)]


def _expand(node: Node, slots: Mapping[str, SlotDef]) -> Iterator[tuple[tuple[str, ...], tuple[tuple[str, str], ...]]]:
    if isinstance(node, Word):
        yield (node.text,), ()
    elif isinstance(node, SlotRef):
        for v in slots[node.slot].values:
            for w, vals in _expand(v.spoken, slots):
                yield w, (*vals, (node.var, v.canonical))
    elif isinstance(node, Seq):
        partial: list[tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = [((), ())]
        for it in node.items:
            partial = [(w + w2, v + v2) for w, v in partial for w2, v2 in _expand(it, slots)]
        yield from partial
    else:
        for o in node.options:
            yield from _expand(o, slots)
        if node.optional:
            yield (), ()
