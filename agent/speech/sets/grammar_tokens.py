"""The token prefix tree of a grammar set, built lazily: decoding sets too large to enumerate.

:class:`~agent.speech.asr_grammar.AsrGrammar` writes every sentence of a set out in the ways Whisper may write
it and puts all their token sequences in a trie. That stops at :data:`~agent.speech.asr_grammar.SENTENCE_LIMIT`
sentences: a Rhino context such as "set a timer for $pv.TwoDigitInteger:hours hours
$pv.TwoDigitInteger:minutes minutes $pv.TwoDigitInteger:seconds seconds" says millions. :class:`LazyTokenTrie`
offers the same two questions the beam search asks — the children of a node by token, and the sentences ending
at a node — but computes a node only when the search reaches it.

A node is the set of *derivations* its token prefix is consistent with. A derivation is a partly said template:
its intent, the template items still to say (a stack), the slot values chosen so far, the tokens still to emit
of the unit being said, and whether a unit was said yet. Units are said one at a time: a template word, or a slot value
(all of its words), each written as Whisper may write it — with a leading space, capitalized when it starts the
sentence, and number words also as digits ("twenty five" → " 25", "fifty percent" → " 50%", "third" → " 3rd").
Whisper's tokenizer splits text at word boundaries before merging, so the tokens of a sentence are the tokens of
its units one after the other. Unlike the full trie, digits are not run together across units ("3 5 7" is
found, "357" is not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import grammar as g
from .grammar_set import GrammarSet

Slots = tuple[tuple[str, str], ...]
MAX_NODES = 4_000  # cached nodes kept between utterances (a few hundred are added per utterance)


@dataclass(frozen=True, slots=True)
class Deriv:
    intent: str
    stack: tuple[g.Node, ...]  # items still to say, next first
    slots: Slots
    pending: tuple[int, ...]  # tokens of the current unit still to emit
    started: bool  # a unit has been said (the next is not capitalized)


class LazyTokenTrie:
    """``next_tokens(node)`` (token → node) and ``sentences_at(node)`` (entry ids) of a grammar's token trie,
    computed on demand and cached; ``entries[i]`` = (intent, slots, sentence) of entry ``i``."""

    def __init__(self, gs: GrammarSet, encode: Callable[[str], list[int]],
                 forms: Callable[[str, bool], list[str]]) -> None:
        """``encode``: the tokenizer; ``forms(text, first)``: how Whisper may write a unit of words (with the
        leading space; capitalized variants when ``first``)."""
        self.set = gs
        self._encode = encode
        self._forms = forms
        self._unit_cache: dict[tuple[str, bool], list[tuple[int, ...]]] = {}
        self._values: dict[str, list[tuple[str, str]]] = {}
        self.entries: list[tuple[str, dict[str, str], str]] = []
        self._entry_ids: dict[tuple[str, Slots], int] = {}
        self._nodes: list[frozenset[Deriv]] = []
        self._ids: dict[frozenset[Deriv], int] = {}
        self._children: dict[int, dict[int, int]] = {}
        self._ends: dict[int, list[int]] = {}
        self._root = self._settle_all([Deriv(intent, (t.node,), (), (), False) for intent, ts in gs.intents.items()
                                       for t in ts])
        self._node(self._root)

    def __len__(self) -> int:
        return len(self._nodes)

    def trim(self, max_nodes: int = MAX_NODES) -> None:
        """Forget every node but the root, and every entry, once more than ``max_nodes`` nodes or entries are
        cached. Call it between utterances only (entry ids restart): a daemon decodes for months."""
        if len(self._nodes) > max_nodes or len(self.entries) > max_nodes:
            self._nodes, self._ids, self._children, self._ends = [], {}, {}, {}
            self.entries.clear()  # the same list object: AsrGrammar.entries is this list
            self._entry_ids.clear()
            self._node(self._root)

    # -- units and derivations ------------------------------------------------------------------------------
    def _unit_tokens(self, text: str, first: bool) -> list[tuple[int, ...]]:
        key = (text, first)
        got = self._unit_cache.get(key)
        if got is None:
            got = list(dict.fromkeys(tuple(self._encode(f)) for f in self._forms(text, first)))
            self._unit_cache[key] = got
        return got

    def _settle(self, d: Deriv, out: list[Deriv]) -> None:
        """Expand ``d`` until it has tokens to emit or nothing left to say (then it is a whole sentence)."""
        if d.pending or not d.stack:
            out.append(d)
            return
        top, rest = d.stack[0], d.stack[1:]
        if isinstance(top, g.Seq):
            self._settle(Deriv(d.intent, (*top.items, *rest), d.slots, (), d.started), out)
        elif isinstance(top, g.Alt):
            if top.optional:
                self._settle(Deriv(d.intent, rest, d.slots, (), d.started), out)
            for opt in top.options:
                self._settle(Deriv(d.intent, (opt, *rest), d.slots, (), d.started), out)
        elif isinstance(top, g.Word):
            for toks in self._unit_tokens(top.text, not d.started):
                out.append(Deriv(d.intent, rest, d.slots, toks, True))
        else:  # a slot reference: each value, said whole, with its canonical value recorded
            for spoken, canonical in self._slot_values(top.slot):
                slots = (*d.slots, (top.var, canonical))
                for toks in self._unit_tokens(spoken, not d.started):
                    out.append(Deriv(d.intent, rest, slots, toks, True))

    def _slot_values(self, slot: str) -> list[tuple[str, str]]:
        """(spoken form, canonical value) of every way to say each value of a slot list (cached)."""
        got = self._values.get(slot)
        if got is None:
            got = self._values[slot] = [(spoken, v.canonical) for v in self.set.slots[slot].values
                                        for spoken, _ in g.expand(v.spoken, {})]
        return got

    def _settle_all(self, ds: list[Deriv]) -> frozenset[Deriv]:
        out: list[Deriv] = []
        for d in ds:
            self._settle(d, out)
        return frozenset(out)

    def _node(self, derivs: frozenset[Deriv]) -> int:
        got = self._ids.get(derivs)
        if got is None:
            got = self._ids[derivs] = len(self._nodes)
            self._nodes.append(derivs)
        return got

    # -- what the beam search asks (the same as :class:`~agent.speech.whisper.trie.TokenTrie`) ------------
    def next_tokens(self, node: int) -> dict[int, int]:
        got = self._children.get(node)
        if got is not None:
            return got
        by_token: dict[int, list[Deriv]] = {}
        for d in self._nodes[node]:
            if d.pending:
                by_token.setdefault(d.pending[0], []).append(
                    Deriv(d.intent, d.stack, d.slots, d.pending[1:], d.started))
        got = {tok: self._node(self._settle_all(ds)) for tok, ds in by_token.items()}
        self._children[node] = got
        return got

    def sentences_at(self, node: int) -> list[int]:
        got = self._ends.get(node)
        if got is not None:
            return got
        got = []
        for d in self._nodes[node]:
            if not d.pending and not d.stack and d.started:
                key = (d.intent, tuple(sorted(d.slots)))
                e = self._entry_ids.get(key)
                if e is None:
                    e = self._entry_ids[key] = len(self.entries)
                    self.entries.append((d.intent, dict(key[1]), ""))
                if e not in got:
                    got.append(e)
        self._ends[node] = got
        return got
