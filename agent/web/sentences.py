"""Try a sentence: which intent and slots the command set gives a typed sentence, or why it gives none.

Text only, matched against the set's own sentences (every expansion of a grammar set's templates, with their
slot values): what a perfect recognizer would return. No audio is involved. A sentence that matches nothing
is answered with the closest sentence of the set, so a user sees how to say it.
"""

from __future__ import annotations

import difflib
import logging
import re
import threading
from typing import Any

from ..errors import AgentError
from ..speech.sets.commands import CommandSet
from ..speech.sets.grammar_set import GrammarSet
from ..speech.sets.loader import load_any_set

log = logging.getLogger(__name__)

MAX_SENTENCE_CHARS = 200
MAX_SENTENCES = 200_000  # a larger set is not enumerated for this page
SHOWN_PER_INTENT = 30


def normalize(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split())


class SentenceTester:
    """Loads the command set on first use (off the agent's threads) and answers typed sentences."""

    def __init__(self, commands: str) -> None:
        self.commands = commands
        self._lock = threading.Lock()
        self._loaded = False
        self._error: str | None = None
        self._set: CommandSet | GrammarSet | None = None
        self._index: dict[str, tuple[str, dict[str, str]]] = {}
        self._negatives: set[str] = set()

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            try:
                s = load_any_set(self.commands)
            except (AgentError, OSError, ValueError) as exc:
                self._error = f"the command set {self.commands!r} has no sentence file to read ({exc})"
                log.warning("try a sentence: %s", self._error)
                return
            self._set = s
            self._negatives = {normalize(n) for n in s.negatives}
            if isinstance(s, GrammarSet):
                if s.count() > MAX_SENTENCES:
                    self._error = f"the set has {s.count()} sentences, too many to list here"
                    return
                for intent in s.intents:
                    for text, slots in s.expand(intent):
                        self._index.setdefault(normalize(text), (intent, dict(slots)))
            else:
                for intent, phrases in s.intents.items():
                    for p in phrases:
                        self._index.setdefault(normalize(p), (intent, {}))

    def describe(self) -> dict[str, Any]:
        """The set's name, its sentences (templates for a grammar set) per intent, and its slots' values."""
        self._load()
        s = self._set
        if s is None:
            return {"name": self.commands, "error": self._error, "intents": {}, "slots": {}}
        if isinstance(s, GrammarSet):
            intents = {i: [t.text for t in ts][:SHOWN_PER_INTENT] for i, ts in s.intents.items()}
            slots = {name: list(d.canonical_values) for name, d in s.slots.items()}
        else:
            intents = {i: list(p)[:SHOWN_PER_INTENT] for i, p in s.intents.items()}
            slots = {}
        return {"name": s.name, "description": s.description, "intents": intents, "slots": slots,
                "error": self._error}

    def test(self, sentence: str) -> dict[str, Any]:
        """``{"intent", "slots"}`` for a sentence of the set, else ``{"intent": None, "why", "closest"}``."""
        self._load()
        text = normalize(sentence[:MAX_SENTENCE_CHARS])
        if not text:
            return {"intent": None, "slots": {}, "why": "type a sentence"}
        if self._set is None or (self._error and not self._index):
            return {"intent": None, "slots": {}, "why": self._error or "no command set"}
        hit = self._index.get(text)
        if hit is not None:
            return {"intent": hit[0], "slots": hit[1], "sentence": text}
        if text in self._negatives:
            return {"intent": None, "slots": {}, "why": "it is one of the set's near misses (negatives): "
                                                        "the recognizer answers unknown"}
        close = difflib.get_close_matches(text, list(self._index), n=1, cutoff=0.4)
        out: dict[str, Any] = {"intent": None, "slots": {}, "why": "no sentence of the set says this"}
        if close:
            intent, slots = self._index[close[0]]
            ratio = difflib.SequenceMatcher(None, text, close[0]).ratio()
            out["closest"] = {"sentence": close[0], "intent": intent, "slots": slots, "similarity": round(ratio, 2)}
        return out
