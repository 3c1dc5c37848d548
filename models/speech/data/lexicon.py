"""English words with pronunciations, for choosing negative words: Festival's CMU dictionary (phones) limited to
the Wall Street Journal vocabulary of Festival's POS lexicon (common words), both shipped with festival.

Used to find *near-misses* (one phone away from a command word: "down" → "town", "dawn") and to keep
*homophones* ("four"/"for", "one"/"won", "no"/"know") out of a set's negatives: training a homophone as
"unknown" teaches the head to reject the command itself.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

CMUDICT = Path("/usr/share/festival/dicts/cmu/cmudict-0.4.out")
WSJ_LEX = Path("/usr/share/festival/dicts/wsj.wp39.poslexR")
_ENTRY = re.compile(r'^\("([a-z]+)" \S+ \((.*)\)\)\s*$')
_WORD = re.compile(r'^\("([a-z]+)" ')

Phones = tuple[str, ...]


@lru_cache(maxsize=1)
def pronunciations() -> dict[str, set[Phones]]:
    """word → its pronunciations (phones without stress); empty when festival's dictionary is missing."""
    out: dict[str, set[Phones]] = {}
    if not CMUDICT.is_file():
        log.warning("%s not found (apt-get install festival): negatives fall back to the built-in word list",
                    CMUDICT)
        return out
    for line in CMUDICT.read_text(encoding="latin-1").splitlines():
        m = _ENTRY.match(line)
        if m:
            phones = tuple(re.sub(r"[()0-9]", " ", m.group(2)).split())
            out.setdefault(m.group(1), set()).add(phones)
    return out


@lru_cache(maxsize=1)
def common_words() -> list[str]:
    """Alphabetic WSJ-vocabulary words of 2–10 letters that have a pronunciation, sorted."""
    prons = pronunciations()
    if not WSJ_LEX.is_file() or not prons:
        return []
    words = set()
    for line in WSJ_LEX.read_text(encoding="latin-1").splitlines():
        m = _WORD.match(line)
        if m and 2 <= len(m.group(1)) <= 10 and m.group(1) in prons:
            words.add(m.group(1))
    return sorted(words)


def phrase_phones(text: str) -> set[Phones]:
    """All pronunciations of a phrase (concatenated word pronunciations); empty if a word is unknown."""
    out: set[Phones] = {()}
    prons = pronunciations()
    for w in text.split():
        if w not in prons:
            return set()
        out = {a + b for a in out for b in prons[w]}
    return out


VOWELS = frozenset(["aa", "ae", "ah", "ao", "aw", "ax", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy", "uh", "uw"])
# weak fricatives and h: lost in 8 kHz audio and swapped by accents ("tree"/"free" for "three")
WEAK = frozenset(["f", "v", "th", "dh", "s", "z", "hh", "h"])
CLOSE = [{"t", "th"}, {"d", "dh"}]  # "tree" for "three", "dis" for "this"


def _accent_edit(a: Phones, b: Phones) -> bool:
    """One edit that accents or band-limiting blur: a vowel for a vowel, a weak fricative for another (or th
    for t, dh for d), or a weak fricative inserted or deleted."""
    if len(a) == len(b):
        diff = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
        return len(diff) == 1 and (set(diff[0]) <= VOWELS or set(diff[0]) <= WEAK or set(diff[0]) in CLOSE)
    if abs(len(a) - len(b)) != 1:
        return False
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short and long_[i] in WEAK for i in range(len(long_)))


def confusable(text: str, phrases: set[str]) -> bool:
    """A homophone of one of ``phrases``, or one accent/bandwidth edit away ("tree", "free" → "three";
    "dawn" → "down"): a real speaker saying the command can sound like it, so it must not be trained as
    unknown."""
    if text in phrases:
        return False
    mine = phrase_phones(text)
    return any(a == b or _accent_edit(a, b) for p in phrases for b in phrase_phones(p) for a in mine)


def _one_edit(a: Phones, b: Phones) -> bool:
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def homophone(text: str, phrases: set[str]) -> bool:
    """True when ``text`` is pronounced exactly like one of ``phrases`` (but is not one of them)."""
    if text in phrases:
        return False
    mine = phrase_phones(text)
    return any(mine & phrase_phones(p) for p in phrases)


def near_misses(phrases: set[str], words: list[str]) -> list[str]:
    """Words one phone (substitution, insertion or deletion) away from one of ``phrases``, not homophones
    (:func:`confusable` tells which of them a real speaker's command can sound like)."""
    targets = {ph for p in phrases for ph in phrase_phones(p)}
    prons = pronunciations()
    out = []
    for w in words:
        if w in phrases or homophone(w, phrases):
            continue
        if any(_one_edit(ph, t) for ph in prons.get(w, ()) for t in targets):
            out.append(w)
    return out
