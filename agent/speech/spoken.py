"""How transcripts and sentences are written and compared: one normalization for every speech path.

Whisper writes numbers as digits ("set 21 degrees", "23rd", "50%"), capitalizes the first word and the pronoun
"I", contracts ("I'd like") and loops on short windows ("4 4 3 6 3 1 2 4 4 3 ..."). :func:`written_forms`
says how it may write a sentence of a set (for the token trie), :func:`spoken_key` is the form two texts are
compared in, :func:`once` cuts a loop, and :func:`reading_distance` says how far a free reading is from a
sentence (the snapping rule of :mod:`agent.speech.asr_grammar`).
"""

from __future__ import annotations

import re

from .whisper.tokenizer import normalize

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
        "ninety": 90}


ORDINALS = {w: n for n, w in enumerate(["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh",
                                         "eighth", "ninth", "tenth", "eleventh", "twelfth", "thirteenth",
                                         "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth",
                                         "nineteenth"]) if w}
ORDINALS.update({w[:-1] + "ieth": n for w, n in TENS.items()})


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def numerals(text: str) -> str:
    """Number words written as digits, as Whisper writes them ("set twenty one degrees" → "set 21 degrees",
    "one hundred" → "100", "twenty third" → "23rd")."""
    words = text.split()
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if w == "one" and nxt == "hundred":
            out.append("100")
            i += 1
        elif w in TENS and nxt in ORDINALS and ORDINALS[nxt] < 10:
            out.append(_ordinal(TENS[w] + ORDINALS[nxt]))
            i += 1
        elif w in TENS:
            n = TENS[w]
            if nxt in ONES[1:10]:
                n += ONES.index(nxt)
                i += 1
            out.append(str(n))
        elif w in ONES:
            out.append(str(ONES.index(w)))
        elif w in ORDINALS:
            out.append(_ordinal(ORDINALS[w]))
        else:
            out.append(w)
        i += 1
    return " ".join(out)


def spoken_key(text: str) -> str:
    """The form two transcripts are compared in, one normalization for every path: lower case, numbers as
    digits and digit runs joined ("3 5 7", "3, 5, 7" and "357" are one key), "%" as "percent", contractions
    spelled out ("I'd like" = "I would like", "can't" = "can not"), "okay" as "ok"."""
    words = normalize(text)
    for pattern, repl in _CONTRACTIONS:
        words = pattern.sub(repl, words)
    return _DIGIT_GAP.sub("", _OH.sub("0", numerals(words)))


_DIGIT_GAP = re.compile(r"(?<=\d) (?=\d)")
_OH = re.compile(r"(?<=\d )oh\b|\boh(?= \d)")  # "one five oh four" is 1 5 0 4
_CONTRACTIONS = [(re.compile(p), r) for p, r in (
    (r"\bwon't\b", "will not"), (r"\bcan't\b", "can not"), (r"\bcannot\b", "can not"), (r"n't\b", " not"),
    (r"'m\b", " am"), (r"'re\b", " are"), (r"'ve\b", " have"), (r"'ll\b", " will"), (r"'d\b", " would"),
    (r"\blet's\b", "let us"), (r"\bokay\b", "ok"))]
_PERCENT = re.compile(r"\b(\d+) percent\b")
# a number before a unit, as Whisper writes it when it qualifies a noun: "a 12-ounce latte", "a 5-minute timer"
_UNIT = re.compile(r"\b(\d+) (ounce|inch|foot|minute|hour|second|degree|day|week|month|year|pound|cup|liter|"
                   r"litre|mile|meter|metre|gallon|piece|shot)\b")


def unit_forms(words: str, first: bool) -> list[str]:
    """How Whisper may write one unit (a word or a slot value) inside a sentence: :func:`written_forms`, with
    a capital first letter only when the unit starts the sentence."""
    return written_forms(words, capitalize=first)


_PRONOUN_I = re.compile(r"\bi(?=$| |'(?:m|d|ll|ve)\b)")


def written_forms(sentence: str, capitalize: bool = True) -> list[str]:
    """How Whisper may write a sentence: leading space, first letter lower or upper case (only lower with
    ``capitalize`` False), the pronoun "I" in capitals ("can I get", "I'm"), and with its number words as digits
    when it has any (spaced, and run together: "3 5 7", "357"; "50%"; a number and its unit hyphenated,
    "12-ounce")."""
    forms: list[str] = []
    sentence = _PRONOUN_I.sub("I", sentence)
    digits = numerals(sentence)
    percent = _PERCENT.sub(r"\1%", digits)  # "fifty percent" → "50%"
    hyphen = _UNIT.sub(r"\1-\2", digits)  # "twelve ounce" → "12-ounce"
    for s in dict.fromkeys((sentence, digits, _DIGIT_GAP.sub("", digits), percent, hyphen)):
        for v in (" " + s, " " + s[:1].upper() + s[1:]) if capitalize else (" " + s,):
            if v not in forms:
                forms.append(v)
    return forms




def _loop_cut(words: list[str]) -> list[str]:
    """The words up to where they start over for good ("and it had 2 seats and it had 2 ..."): Whisper tiny's
    loop on a short window, of any period (:func:`collapse_repeats` takes up to four words)."""
    for p in range(1, len(words) // 2 + 1):
        if (p > 1 or len(words) > 2) and all(words[i] == words[i - p] for i in range(p, len(words))):
            return words[:p]
    return words


def once(text: str) -> str:
    """A transcript said once: normalized, numbers as digits, Whisper's loops cut ("4 4 3 6 3 1 2 4 4 3 6 ..."
    → "4 4 3 6 3 1 2", "down, down, down" → "down"; a doubled digit, "4 4", stays)."""
    words = [c for w in numerals(normalize(text)).split() for c in (w if w.isdigit() else [w])]  # "268" 2 6 8
    return " ".join(_loop_cut(words))


def reading_distance(free: str, sentence: str, early_stop: float = 0.6) -> float:
    """Character edit distance between a free transcript (its loop cut) and a sentence, in spoken keys with
    spaces dropped, over the longer of the two: 0.04 for "the actual primary rainbulb observed" against "...
    rainbow observed"; above 0.6 for unrelated speech. Only the length difference when that alone rules a
    snap out."""
    a = spoken_key(once(free)).replace(" ", "")
    b = spoken_key(sentence).replace(" ", "")
    longer = max(len(a), len(b), 1)
    if abs(len(a) - len(b)) > early_stop * longer:  # the distance is at least the difference in length
        return abs(len(a) - len(b)) / longer
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[len(b)] / longer
