"""The wake gate of the audio pipeline, and finding (or training on first use) a wake phrase's bundle.

:class:`WakeGate` sits between the VAD and the command recognizer: an utterance that starts with the wake
phrase opens the listening window and hands the rest of the utterance (if it holds speech) to the recognizer;
with ``speech.wake.required`` an utterance without the phrase is recognized only inside an open window (opened
by the phrase or by a wake gesture); otherwise it passes unchanged.

Bundles: a committed ``models/bundles/wake_*`` whose manifest names the phrase (``hey home`` ships), else
``<cache>/wake/<key>/`` where ``key`` hashes the phrase and the training version. A missing one is trained by
``python -m models.speech.train.train_wake`` in a child process (the runtime never imports torch) into a temporary
folder renamed into place under a file lock, like command sets (:mod:`agent.speech.bundle_cache`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...config.fusion import WakeConfig
from ...config.schema import WakePhraseConfig
from ...errors import ModelError
from ...paths import bundles_dir, cache_dir
from ...types import Segment
from ..bundle import verify
from ..bundle_cache import build_cached, run_training, train_scale
from ..frontend import SpeechFrontend
from ..whisper.model import WhisperAsr, asr_available
from .detector import CANDIDATE_THRESHOLD, KIND, MANIFEST, ListeningWindow, WakeDetector, WakeHit
from .verify import MAX_MARGIN, Verdict, WakeVerifier

log = logging.getLogger(__name__)

WAKE_TRAIN_VERSION = 1
MIN_COMMAND_S = 0.2  # speech after the phrase shorter than this is not a command (breath, hangover)
SPEECH_DB = 15.0  # a 20 ms frame counts as speech within this many dB of the utterance's loudest frame


def wake_key(phrase: str) -> str:
    h = hashlib.sha256(f"{phrase}|wake-v{WAKE_TRAIN_VERSION}".encode())
    scale = train_scale()
    if scale != 1.0:
        h.update(f"|scale{scale}".encode())
    return h.hexdigest()[:20]


def committed_wake_bundle(phrase: str) -> Path | None:
    for m in sorted(bundles_dir().glob(f"wake_*/{MANIFEST}")):
        try:
            data = json.loads(m.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("kind") == KIND and data.get("phrase") == phrase:
            return m.parent
    return None


def find_wake_bundle(phrase: str) -> Path | None:
    found = committed_wake_bundle(phrase)
    if found is not None:
        return found
    d = cache_dir() / "wake" / wake_key(phrase)
    return d if verify(d) else None


def _train(phrase: str, dest: Path) -> None:
    run_training("models.speech.train.train_wake",
                 ["--phrase", phrase, "--out", str(dest), "--scale", str(train_scale())],
                 f"wake phrase {phrase!r}", "a wake phrase", note=" (first use; minutes)")


def ensure_wake_bundle(phrase: str) -> Path:
    """The bundle of ``phrase``, trained from synthetic voices and cached first if there is none."""
    found = committed_wake_bundle(phrase)
    if found is not None:
        return found
    return build_cached(cache_dir() / "wake", wake_key(phrase), lambda out: _train(phrase, out),
                        f"wake phrase {phrase!r}")


def has_speech(pcm: np.ndarray, ref_db: float, min_s: float = MIN_COMMAND_S) -> bool:
    """Whether ``pcm`` holds at least ``min_s`` of 20 ms frames within :data:`SPEECH_DB` of ``ref_db``."""
    n = len(pcm) // 320
    if n == 0:
        return False
    db = frame_db(pcm[: n * 320])
    return int((db >= ref_db - SPEECH_DB).sum()) * 0.02 >= min_s


def frame_db(pcm: np.ndarray) -> np.ndarray:
    n = len(pcm) // 320
    x = pcm[: n * 320].astype(np.float64).reshape(n, 320)
    return np.asarray(10 * np.log10(np.mean(x * x, axis=1) + 1.0))


class WhisperWakeDetector:
    """A wake phrase with no trained head, checked by Whisper alone on every utterance (the same interface as
    :class:`~agent.speech.wake.detector.WakeDetector` for :class:`~agent.speech.wake.gate.WakeGate`). Used when the head
    cannot be trained here (no torch on the device): a phrase alone opens the listening window as well as with a
    head, but a command in the same breath is cut less precisely (:meth:`WakeVerifier.phrase_end`;
    ``models/speech/reports/wake.md``)."""

    def __init__(self, verifier: WakeVerifier) -> None:
        self.verifier = verifier
        self.last_verdict: Verdict | None = None

    @property
    def phrase(self) -> str:
        return self.verifier.phrase

    def detect(self, pcm: np.ndarray) -> WakeHit | None:
        self.last_verdict = v = self.verifier.check(pcm)
        if not v.accepted:
            return None
        return WakeHit(float(np.exp(min(v.margin, 0.0))), self.verifier.phrase_end(pcm))


PhraseDetector = WakeDetector | WhisperWakeDetector


@dataclass
class WakeStats:
    wakes: int = 0  # utterances that started with the wake phrase
    in_breath: int = 0  # ... and went on with a command
    ignored: int = 0  # utterances dropped because no listening window was open


class WakeGate:
    """Decides which part of each utterance reaches the recognizer (see the module docstring)."""

    def __init__(self, detector: PhraseDetector, window: ListeningWindow, *, required: bool) -> None:
        self.detector = detector
        self.window = window
        self.required = required
        self.stats = WakeStats()

    @classmethod
    def from_config(cls, w: WakePhraseConfig | None, g: WakeConfig, frontend: SpeechFrontend | None = None,
                    asr: WhisperAsr | None = None) -> WakeGate | None:
        """The gate for the wake phrase section ``w`` (``speech.wake``; None: no gate) and the wake gestures
        ``g`` (``fusion.wake``); trains on first use. A phrase that has no head and cannot get one here (no
        torch) is checked by Whisper alone (:class:`WhisperWakeDetector`). ``asr``: the recognizer's Whisper,
        shared when it is already loaded."""
        if w is None:
            return None
        whisper_ok = w.verify != "off" and (asr is not None or asr_available())
        margin = MAX_MARGIN if w.verify_margin is None else w.verify_margin
        try:
            bundle = w.bundle if w.bundle is not None else ensure_wake_bundle(w.phrase)
        except ModelError as exc:  # no head and none can be trained here (no torch on the device)
            if not whisper_ok:
                raise
            log.warning("wake phrase %r: %s; Whisper alone checks every utterance instead (a phrase alone works as "
                        "well; a command in the same breath is cut less precisely than with a trained head)",
                        w.phrase, exc)
            detector: PhraseDetector = WhisperWakeDetector(WakeVerifier(asr or WhisperAsr.load(), w.phrase,
                                                                        margin))
        else:
            detector = WakeDetector.load(bundle, frontend=frontend, threshold=w.threshold)
            if detector.phrase != w.phrase:
                log.warning("wake bundle %s was trained for %r, not the configured %r", bundle, detector.phrase,
                            w.phrase)
            if w.verify == "whisper" or (w.verify == "auto" and whisper_ok):
                model = asr or WhisperAsr.load()  # "whisper" without the model built: a clear ModelError
                detector.verify_with(WakeVerifier(model, detector.phrase, margin),
                                     CANDIDATE_THRESHOLD if w.candidate_threshold is None else w.candidate_threshold)
                log.info("wake phrase %r: head proposes at %.2f, Whisper checks (margin %.1f)", detector.phrase,
                         detector.candidate_threshold, margin)
            elif w.verify == "auto":
                log.warning("wake phrase %r: the head alone decides (threshold %.3f): build the real-speech "
                            "recognizer (python -m models.speech.fetch.fetch_asr) for the two-stage check, which "
                            "hears far "
                            "more phrases", detector.phrase, detector.threshold)
        on = w.gestures and g.enabled
        window = ListeningWindow(w.window_s, gestures=tuple(g.gestures) if on else (),
                                 pointing_targets=tuple(g.pointing_targets) if on else ())
        return cls(detector, window, required=w.required)

    def admit(self, seg: Segment) -> Segment | None:
        """The utterance (or its part after the wake phrase) to recognize as a command, or None."""
        hit = self.detector.detect(seg.pcm)
        if hit is not None:
            t_cmd = seg.t_start + hit.cut / seg.sample_rate
            self.window.open(t_cmd)
            self.stats.wakes += 1
            rest = seg.pcm[hit.cut:]
            if not has_speech(rest, float(frame_db(seg.pcm).max(initial=0.0))):
                log.info("wake phrase %r (%.2f): listening for %.1f s", self.detector.phrase, hit.score,
                         self.window.window_s)
                return None
            self.stats.in_breath += 1
            log.info("wake phrase %r (%.2f) with a command in the same breath", self.detector.phrase, hit.score)
            return dataclasses.replace(seg, pcm=rest, t_start=t_cmd)
        if not self.required or self.window.is_open(seg.t_start):
            return seg
        self.stats.ignored += 1
        log.debug("utterance at %.2f s ignored: no wake phrase and no listening window", seg.t_start)
        return None
