"""Command recognition with the real-speech recognizer (:mod:`agent.speech.whisper.model`), constrained to the set.

A bundle of kind ``speech-asr`` holds only its manifest: the labels (the last is ``unknown``), the phrases of
each label as text (spelling variants, homophones and numerals included), the threshold, and which acoustic
model it needs. Nothing is trained per set. For one utterance:

* every phrase of every label is scored by the recognizer (:meth:`WhisperAsr.analyze`), each in lower case
  and capitalized, with a leading space as Whisper writes a first word; a label's score is the sum over its
  variants;
* the recognizer's own greedy transcript (repetitions collapsed) is the alternative "something else": when
  it is none of the phrases, its probability goes to ``unknown``. Noise and other words end
  there (Whisper writes "you", "[Music]", "Now", "darling"). Its weight is a prior, the manifest's
  ``unknown_bias`` (log scale), calibrated on synthetic speech by :mod:`models.speech.train.asr_calibrate`;
* Whisper's own silence rule (as in its ``transcribe``): a no-speech probability above 0.6 with the best
  phrase's mean log-probability per token below -1 means nothing was said.

The posteriors over the labels (``unknown`` included) are what :meth:`AsrRecognizer.decide` thresholds.

With the set's trained head in the bundle (``head.onnx``, on the openWakeWord embeddings, trained on synthetic
voices), one calibrated rule (:mod:`agent.speech.word_rule`) weighs both: Whisper's best command, how far above
its own free transcript it is, whether that transcript is a non-speech marker, its no-speech probability, the
head's command and ``unknown`` probabilities and whether the two agree. The label is the best of the product of
both posteriors; the rule's probability of it being right is the confidence. Whisper sees at least 3 s here (a
1 s word zero-padded before the log-mel), which ranks real words better (``models/speech/reports/asr.md``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..types import CommandScores
from . import word_rule
from .bundle import ASR_MODEL, HEAD, MANIFEST, AsrManifest, check_files
from .frontend import SpeechFrontend
from .grammar_recognizer import GrammarScores
from .recognizer import CommandRecognizer, decide_threshold, load_head
from .whisper.mel import as_audio, frames_for
from .whisper.model import Analysis, Transcript, WhisperAsr
from .whisper.tokenizer import collapse_repeats, normalize

log = logging.getLogger(__name__)

MODEL = ASR_MODEL
CANVAS_SAMPLES = 38400  # the sliding window of false-accept measurements, as the head bundles use
NO_SPEECH = 0.6  # Whisper's transcribe(): no speech when its no-speech probability is above this ...
LOW_LOGPROB = -1.0  # ... and the decoded text's mean log-probability per token is below this


def silent(no_speech: float, best_mean_logprob: float, free: Transcript | None = None) -> bool:
    """Whisper's own silence rule (its ``transcribe``): no speech when the no-speech probability is above
    :data:`NO_SPEECH` and the decoded text's mean log-probability per token is below :data:`LOW_LOGPROB`. With
    ``free``, the decoded text is the better of the set's best sentence and Whisper's own transcript: a quiet
    "zero" that Whisper reads confidently as "0 0" is speech even when the sentence "0" alone scores low."""
    best = best_mean_logprob
    if free is not None:
        best = max(best, free.logprob / max(1, len(free.tokens) + int(free.ended)))
    return no_speech > NO_SPEECH and best < LOW_LOGPROB


def variants(phrase: str) -> list[str]:
    """How Whisper may write a phrase as a whole utterance: lower case and capitalized, leading space."""
    p = " ".join(phrase.split())
    out = [" " + p]
    if p[:1].isalpha() and (" " + p[:1].upper() + p[1:]) not in out:
        out.append(" " + p[:1].upper() + p[1:])
    return out


class AsrRecognizer:
    """A :class:`~agent.speech.recognizer.Recognizer` for ``speech-asr`` bundles: Whisper scores the set's
    phrases, with the bundle's trained head (a :class:`CommandRecognizer`) when it has one."""

    def __init__(self, manifest: AsrManifest, asr: WhisperAsr, path: Path,
                 head: CommandRecognizer | None = None) -> None:
        self.manifest = manifest
        self.asr = asr
        self.trained = head  # the bundle's trained head on the embeddings (a CommandRecognizer), if any
        self.path = path
        self.threshold = manifest.threshold
        self.canvas = int(manifest.input.get("canvas_samples", CANVAS_SAMPLES))
        self._label_of: list[int] = []
        self._sentences: list[list[int]] = []
        self._texts: dict[str, int] = {}
        for i, label in enumerate(manifest.labels[:-1]):
            for phrase in manifest.phrases[label]:
                self._texts.setdefault(normalize(phrase), i)
                for v in variants(phrase):
                    self._label_of.append(i)
                    self._sentences.append(self.asr.tokenizer.encode(v))
        self._label_index = np.array(self._label_of)
        self._prepared = self.asr.prepare(self._sentences)

    @classmethod
    def load(cls, name_or_path: str | Path = "", *, frontend: Any = None, threads: int = 1,
             asr: WhisperAsr | None = None) -> AsrRecognizer:
        d = Path(name_or_path)
        manifest = AsrManifest.read(d / MANIFEST)
        model = asr or WhisperAsr.load(threads=threads)
        head = None
        if manifest.files:
            if list(manifest.files) != [HEAD]:
                raise ModelError(f"{d / MANIFEST}: a speech-asr bundle holds no file or one, {HEAD}")
            check_files(d, manifest.files)
            onnx = load_head(d / HEAD, manifest.files[HEAD]["sha256"], len(manifest.labels), threads)
            head = CommandRecognizer(manifest, onnx, frontend or SpeechFrontend(threads=threads), d)
            head.threshold = manifest.head_threshold
        log.info("loaded speech bundle %s v%d (%d labels, recognizer %s%s)", manifest.name, manifest.version,
                 len(manifest.labels), manifest.model, " + trained head" if head else "")
        return cls(manifest, model, d, head)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.manifest.labels

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> int:
        return self.manifest.version

    def _could_be_phrase(self, text: str) -> bool:
        """Whether to read on: the transcript so far (repetitions collapsed) may still become one of the
        phrases, and it is not already a phrase that Whisper has started to repeat ("Seven seven ...": a loop
        on a short window, up to 16 more decoder runs for nothing)."""
        t = collapse_repeats(text)
        if t in self._texts and len(normalize(text).split()) > len(t.split()):
            return False
        return any(p.startswith(t) for p in self._texts)

    def read(self, pcm: np.ndarray) -> tuple[np.ndarray, float, bool]:
        """(log-score of each label but ``unknown``, log-prob of the free transcript or -inf when it is one of
        the phrases, whether Whisper's own silence rule says nothing was said)."""
        per, a, in_set = self._analyze(pcm)
        best = int(np.argmax(a.scores))
        quiet = silent(a.no_speech, a.scores[best] / (len(self._sentences[best]) + 1), a.free)
        return per, (-np.inf if in_set else a.free.logprob), quiet

    def _analyze(self, pcm: np.ndarray, min_frames: int = 0) -> tuple[np.ndarray, Analysis, bool]:
        """(each command's log-score, Whisper's analysis, whether its transcript is one of the phrases), the
        encoder seeing at least ``min_frames``."""
        audio = as_audio(pcm)
        kv = self.asr.encode(audio, max(frames_for(len(audio)), min_frames))
        a = self.asr.analyze(kv, self._prepared, keep_going=self._could_be_phrase)
        per = np.full(len(self.labels) - 1, -np.inf)
        np.logaddexp.at(per, self._label_index, a.scores)
        return per, a, collapse_repeats(a.free.text) in self._texts

    def word_reading(self, pcm: np.ndarray) -> word_rule.WordReading:
        """What the single-word rule weighs of one utterance (a bundle with a head): Whisper's reading on at least
        :data:`~agent.speech.word_rule.MIN_WINDOW_FRAMES`, and the head's posteriors."""
        assert self.trained is not None, "the single-word rule needs the bundle's trained head"
        per, a, in_set = self._analyze(pcm, word_rule.MIN_WINDOW_FRAMES)
        head = np.asarray(self.trained.recognize(pcm).scores, np.float64)
        return word_rule.WordReading(per, a.free.text, a.free.logprob, in_set, a.no_speech, head)

    def scores(self, pcm: np.ndarray) -> tuple[np.ndarray, float]:
        """:meth:`read` with the silence rule applied: no command scores and a certain "something else"."""
        per, free, quiet = self.read(pcm)
        return (np.full_like(per, -np.inf), 0.0) if quiet else (per, free)

    def posteriors(self, pcm: np.ndarray) -> np.ndarray:
        """The recognizer's posteriors over the labels, ``unknown`` last (the free transcript is unknown)."""
        per, free = self.scores(pcm)
        allp = np.append(per, free + self.manifest.unknown_bias)
        return np.exp(allp - np.logaddexp.reduce(allp))

    def recognize(self, pcm: np.ndarray, t_start: float = 0.0, t_end: float = 0.0,
                  snr_db: float = 30.0) -> CommandScores:
        """Scores over :attr:`labels` for one utterance of int16 (or float) 16 kHz mono PCM. Without a head: the
        recognizer's posteriors, thresholded by :meth:`decide`. With one (see the module doc), ``confidence``
        carries the decision: above 0 for an accepted command, whose label is the best of ``scores``."""
        if self.trained is None:
            post = self.posteriors(pcm)
            return CommandScores(labels=self.labels, scores=tuple(float(p) for p in post),
                                 t_start=t_start, t_end=t_end, snr_db=snr_db)
        k, conf = word_rule.decide(self.word_reading(pcm))
        out = np.zeros(len(self.labels))
        out[k], out[-1] = conf, 1.0 - conf  # the chosen command's chance of being right, and the rest
        accepted = conf >= word_rule.ACCEPT
        return GrammarScores(labels=self.labels, scores=tuple(float(p) for p in out), t_start=t_start,
                             t_end=t_end, snr_db=snr_db, confidence=conf if accepted else 0.0)

    def decide(self, scores: CommandScores) -> tuple[str | None, float]:
        if self.trained is not None and isinstance(scores, GrammarScores):
            n = len(self.labels) - 1
            if scores.confidence <= 0:
                return None, float(scores.scores[n])
            return self.labels[int(np.argmax(scores.scores[:n]))], scores.confidence
        return decide_threshold(scores, self.threshold)
