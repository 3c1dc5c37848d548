"""Second-stage check of a wake phrase by the real-speech recognizer (:mod:`agent.speech.whisper.model`).

The wake head (:class:`~agent.speech.wake.detector.WakeDetector`) is trained on synthetic voices only. Held to at most
0.5 false accepts per hour on its own, its threshold is so high that it misses most phrases. Two stages fix
that, as keyword spotters usually do: the head runs at a low
*candidate* threshold, and each candidate is checked by Whisper, trained on real speech, which asks whether the
utterance *starts with* the phrase:

* the phrase is scored as the start of the transcript in the ways Whisper writes it ("hey home", "Hey home",
  "Hey, home", "Hey Home" ...): log P(phrase tokens), summed over those spellings, with no end after it (a
  command may follow in the same breath);
* Whisper's own greedy transcript of as many tokens is the alternative: ``margin`` = log P(phrase) − log P(the
  greedy start). It is 0 or more when Whisper itself writes the phrase, and far below 0 for "hey rome",
  "okay home", other speech or noise;
* Whisper's silence rule (no-speech probability above 0.6 with the phrase's mean log-probability per token
  below −1) rejects noise.

A candidate is a wake when ``margin >= -max_margin``. The check costs one encoder run on the first
:data:`VERIFY_S` seconds plus one or two decoder runs, and only for candidates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..asr_recognizer import silent
from ..whisper.mel import as_audio
from ..whisper.model import Candidates, WhisperAsr
from ..whisper.tokenizer import normalize

log = logging.getLogger(__name__)

VERIFY_S = 2.5  # the phrase starts the utterance: Whisper reads its first 2.5 s (the head's MAX_END_S)
MAX_MARGIN = 3.0  # accept when log P(phrase) is at most this far below Whisper's own start (see wake_measure)
GREETINGS = ("hey", "hi", "hello", "ok", "okay", "oh", "yo")  # a first word Whisper may follow with a comma


SAME_WORD = {"ok": ("okay", "OK"), "okay": ("ok", "OK")}  # one word, several spellings


def _same(word: str) -> str:
    return "ok" if word in SAME_WORD else word


def spellings(phrase: str) -> list[str]:
    """How Whisper may write ``phrase`` at the start of a transcript (leading space, as it writes a first word):
    lower case, first word capitalized, every word capitalized; a comma after a greeting word; "ok" also as
    "okay" and "OK"."""
    words = phrase.split()
    firsts = [words[0], *SAME_WORD.get(words[0].lower(), ())]
    forms = [f for w0 in firsts for f in ([w0, *words[1:]], [w0[:1].upper() + w0[1:], *words[1:]],
                                          [w0[:1].upper() + w0[1:], *(w.capitalize() for w in words[1:])])]
    out: list[str] = []
    for f in forms:
        out.append(" " + " ".join(f))
        if len(f) > 1 and f[0].lower() in GREETINGS:
            out.append(" " + f[0] + ", " + " ".join(f[1:]))
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    margin: float  # log P(phrase) - log P(Whisper's own start); >= 0 when Whisper writes the phrase itself
    transcript: str  # Whisper's greedy start (as many tokens as the longest spelling)
    no_speech: float


class WakeVerifier:
    """Checks with Whisper that an utterance starts with ``phrase`` (see the module doc)."""

    def __init__(self, asr: WhisperAsr, phrase: str, max_margin: float = MAX_MARGIN) -> None:
        self.asr = asr
        self.phrase = phrase
        self.max_margin = max_margin
        self._spellings = [asr.tokenizer.encode(s) for s in spellings(phrase)]
        self._prepared: Candidates = asr.prepare(self._spellings)
        self._words = [_same(w) for w in normalize(phrase).split()]

    def check(self, pcm: np.ndarray) -> Verdict:
        """Whether the utterance (int16 or float 16 kHz mono) starts with the phrase."""
        audio = as_audio(pcm)[: int(VERIFY_S * 16000)]
        kv = self.asr.encode(audio)
        p = self.asr.score_prefixes(kv, self._prepared)
        best = int(np.argmax(p.scores))
        free = self.asr.greedy(kv, p.known, len(self._spellings[best]))
        margin = float(np.logaddexp.reduce(p.scores)) - free.logprob
        if [_same(w) for w in normalize(free.text).split()[: len(self._words)]] == self._words:
            margin = max(margin, 0.0)  # Whisper writes the phrase itself (in a spelling not listed, too)
        quiet = silent(p.no_speech, p.scores[best] / len(self._spellings[best]))
        accepted = not quiet and margin >= -self.max_margin
        log.debug("wake check %r: margin %.2f, transcript %r, no-speech %.2f -> %s", self.phrase, margin,
                  free.text, p.no_speech, accepted)
        return Verdict(accepted, margin, free.text, p.no_speech)

    def phrase_end(self, pcm: np.ndarray, step: int = 1280) -> int:
        """Where the phrase ends in an utterance that starts with it: the shortest prefix the check accepts,
        found by bisection to ``step`` samples (a few encoder runs). Less precise than a trained head's cut
        (``models/speech/reports/wake.md``), so this serves only a phrase with no head."""
        audio = as_audio(pcm)
        lo, hi = min(len(audio), 3200), min(len(audio), int(VERIFY_S * 16000))
        while hi - lo > step:
            mid = (lo + hi) // 2
            if self.check(audio[:mid]).accepted:
                hi = mid
            else:
                lo = mid
        return hi

