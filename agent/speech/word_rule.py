"""Whether a single-word command was said: one calibrated rule over Whisper's reading and the set's trained head.

Both speech models see the utterance; neither alone decides well on real people (``models/speech/reports/
asr.md``). Whisper picks the right word far more often than the head, but its own free transcript, the
"something else", is junk on many quiet real words ("[Music", ">>", "You", "Bye" for an 8 kHz "five"); the head
was calibrated never to fire on real noise, but it accepts other real words ("cat" as "four", "dog" as "stop")
that Whisper reads plainly. So this rule weighs what each knows, as a logistic regression over nine features
of one utterance:

- Whisper's log-probability of its best command (ended), and how far it is above its own free transcript
  (a plain "cat" at -1.5 against "four" at -7.4 rules "four" out);
- whether that free transcript is a non-speech marker or empty (then it is no evidence of another word);
- Whisper's no-speech probability;
- the head's best command probability and its ``unknown`` probability, and whether the head's best command
  is Whisper's;
- Whisper's posterior of its best command among the commands, and whether its whole transcript is a phrase.

The label is the best of the product of both posteriors among the commands, Whisper's squared (it ranks real
words better). The weights are calibrated on
the development recordings (``python -m models.speech.measure.word_rule``: Speech Commands, FSDD, and real
negatives: noise, other speech, wake words, read sentences), never on the held-back speakers; they are few
and generic, so they are a decision rule, not a model of those voices. :data:`ACCEPT` is the probability of
being right above which the command is taken: the lowest that accepted none of the real negatives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

MIN_WINDOW_FRAMES = 300  # the encoder sees at least 3 s: a 1 s word plus silence, as Whisper was trained on
MARGIN_CAP = 8.0
WHISPER_WEIGHT = 2.0  # which command: Whisper's log-posterior counts twice the head's (dev: digits 95.4 vs 94.9 %)
ACCEPT = 0.63
# Calibrated by models.speech.measure.word_rule (2026-12-08): standardized weights, bias last; means; spreads.
WEIGHTS = np.array([0.64176784, 0.44230492, -0.10185673, 0.05559259, 1.00852908, -1.18764237, 0.61617637,
                    0.57266162, 0.31763610, -1.26694868])
MEANS = np.array([-5.82012336, -1.82699228, 0.18313641, 0.43391411, 0.35304443, 0.54818348, 0.43644826, 0.65671339,
                  0.24794128])
SPREADS = np.array([3.58599049, 6.23462156, 0.38677832, 0.29736668, 0.41653310, 0.40418817, 0.49594473, 0.26695043,
                    0.43181756])
FEATURES = ("best", "margin", "junk", "no_speech", "head_cmd", "head_unk", "agree", "w_post", "in_set")

_WORD = re.compile(r"[A-Za-z0-9]")


def is_junk(text: str) -> bool:
    """A free transcript that says no word was heard: empty, punctuation, or a marker Whisper writes for
    non-speech ("[Music]", "(footsteps)", ">>", "♪")."""
    t = text.strip()
    return not _WORD.search(t) or t.startswith(("[", "(", ">>", "*", "♪"))


@dataclass(frozen=True)
class WordReading:
    """What :func:`features` needs of one utterance."""

    per: np.ndarray  # Whisper's log-score of each command (ended)
    free_text: str  # its greedy transcript
    free_logprob: float
    in_set: bool  # the transcript (loops collapsed) is one of the set's phrases
    no_speech: float
    head: np.ndarray  # the head's posteriors, ``unknown`` last


def features(r: WordReading) -> tuple[np.ndarray, int]:
    """(the rule's feature vector, the chosen command: the best of both posteriors' product)."""
    n = len(r.per)
    k = int(np.argmax(r.per))
    mine = np.exp(r.per - np.logaddexp.reduce(r.per))
    cmd = r.head[:n]
    joint = WHISPER_WEIGHT * np.log(np.maximum(mine, 1e-12)) + np.log(np.maximum(cmd, 1e-12))
    margin = MARGIN_CAP if r.in_set else float(np.clip(r.per[k] - r.free_logprob, -MARGIN_CAP, MARGIN_CAP))
    x = np.array([r.per[k], margin, float(is_junk(r.free_text)), r.no_speech, float(cmd.max()), float(r.head[n]),
                  float(int(np.argmax(cmd)) == k), float(mine[k]), float(r.in_set)], np.float64)
    return x, int(np.argmax(joint))


def probability(x: np.ndarray, weights: np.ndarray = WEIGHTS, means: np.ndarray = MEANS,
                spreads: np.ndarray = SPREADS) -> float:
    """The calibrated probability that the chosen command is right."""
    z = float(np.dot((x - means) / spreads, weights[:-1]) + weights[-1])
    return float(1.0 / (1.0 + np.exp(-z)))


def decide(r: WordReading) -> tuple[int, float]:
    """(the chosen command's index, the probability that it is right): accept it when that is ≥ :data:`ACCEPT`."""
    x, k = features(r)
    return k, probability(x)
