"""Wake phrase ("hey home"): detection at the start of an utterance, and the listening window it opens.

Speech recognition here is utterance-level (the VAD cuts a segment, the recognizer runs at its end), so the
wake phrase is found on the *start* of a segment: the segment is prefixed with :data:`PAD_SAMPLES` of silence,
embedded by the shared :class:`~agent.speech.frontend.SpeechFrontend` (one 96-d embedding per 80 ms), and a
small head scores every window of :data:`WINDOW` embeddings that ends between :data:`MIN_END_S` and
:data:`MAX_END_S` into the segment. The head was trained (``models/speech/train/train_wake.py``) to fire on windows
that end just after the phrase, so the best window also says where the phrase ends: the rest of the segment is
the command spoken in the same breath ("hey home turn on the lights"). A segment that is only the phrase just
opens the window for the next utterance.

:class:`ListeningWindow` is the same idea as the fusion engine's gesture-as-wake (``fusion.wake``): a wake
event opens a window of ``window_s`` seconds in which commands are accepted. With ``speech.wake.required`` a
command outside every window is ignored; a wake gesture (``fusion.wake.gestures`` / ``pointing_targets``)
opens the same window through :meth:`ListeningWindow.on_gesture`.

Bundle: ``manifest.json`` (``kind: speech-wake``, phrase, threshold, window geometry, sha256 of each file) +
``head.onnx`` (input ``embeddings`` (B, WINDOW, 96), output ``probs`` (B, 2) = [wake, other]).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelError
from ...runtime.session import OnnxModel, load_model
from ...types import GestureEvent
from ..frontend import EMBED_DIM, SAMPLE_RATE, STRIDE_FRAMES, WINDOW_FRAMES, SpeechFrontend
from .verify import Verdict, WakeVerifier

log = logging.getLogger(__name__)

KIND = "speech-wake"
MANIFEST = "manifest.json"
WINDOW = 12  # embeddings per scored window (0.96 s of hops + the 0.76 s receptive field)
PAD_SAMPLES = 22400  # 1.4 s of silence before the segment, so a phrase at the very start fills a window
MIN_END_S = 0.25  # a window must end this far into the segment ...
MAX_END_S = 2.5  # ... and at most this far: the phrase starts the utterance
HOP_SAMPLES = STRIDE_FRAMES * 160
EMB_END0 = (WINDOW_FRAMES - 1) * 160 + 480  # last sample (exclusive) that embedding 0 sees (measured)
# with a verifier, the head only proposes: at 0.3 it kept 66 of 67 held-out synthetic "hey home" clips (82 of 83
# followed by a command) and passed 8 of 173 real noise chunks and 46 of 532 real other-speech clips to Whisper
CANDIDATE_THRESHOLD = 0.3
CUT_BACK_SAMPLES = 1280  # positives end 0-160 ms after the phrase: the command starts ~80 ms before the window end


def window_end(k: int) -> int:
    """Sample (exclusive, in padded coordinates) at which a window whose last embedding is ``k`` ends."""
    return HOP_SAMPLES * k + EMB_END0


def first_window_after(sample: int) -> int:
    """Index of the first embedding whose window ends at or after ``sample`` (padded coordinates)."""
    return max(0, -(-(sample - EMB_END0) // HOP_SAMPLES))


def window_range(n_emb: int, seg_samples: int) -> range:
    """Last-embedding indices of the windows scored on a segment of ``seg_samples`` (padded embeddings)."""
    lo = max(WINDOW - 1, first_window_after(PAD_SAMPLES + int(MIN_END_S * SAMPLE_RATE)))
    end = PAD_SAMPLES + min(seg_samples, int(MAX_END_S * SAMPLE_RATE)) + HOP_SAMPLES
    hi = min(n_emb - 1, first_window_after(end))
    return range(lo, hi + 1)


def windows(emb: np.ndarray, ks: range | list[int]) -> np.ndarray:
    """(N, WINDOW, 96) windows of a padded segment's embeddings ending at each ``k``."""
    if len(ks) == 0:
        return np.zeros((0, WINDOW, EMBED_DIM), dtype=np.float32)
    return np.stack([emb[k - WINDOW + 1:k + 1] for k in ks]).astype(np.float32)


def padded(pcm: np.ndarray) -> np.ndarray:
    """The segment's first ``MAX_END_S`` (+ one hop) behind :data:`PAD_SAMPLES` of silence (int16)."""
    head = np.asarray(pcm, dtype=np.int16)[: int(MAX_END_S * SAMPLE_RATE) + HOP_SAMPLES]
    return np.concatenate([np.zeros(PAD_SAMPLES, dtype=np.int16), head])


@dataclass(frozen=True)
class WakeHit:
    """The phrase was heard: ``score``, and ``cut`` = first sample of the segment after the phrase."""

    score: float
    cut: int


@dataclass(frozen=True)
class WakeManifest:
    name: str
    version: int
    phrase: str
    threshold: float
    files: dict[str, dict[str, Any]]
    report: dict[str, Any]

    @classmethod
    def read(cls, path: Path) -> WakeManifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path}: unreadable wake bundle manifest ({exc})") from exc
        try:
            if data["kind"] != KIND:
                raise ModelError(f"{path}: bundle kind is {data['kind']!r}, expected {KIND!r}")
            geo = data["input"]
            if int(geo["window"]) != WINDOW or int(geo["pad_samples"]) != PAD_SAMPLES:
                raise ModelError(f"{path}: window geometry {geo} does not match this runtime "
                                 f"(window {WINDOW}, pad {PAD_SAMPLES}): retrain the wake phrase")
            files = {str(k): dict(v) for k, v in data["files"].items()}
            if list(files) != ["head.onnx"] or "sha256" not in files["head.onnx"]:
                raise ModelError(f"{path}: expected exactly one file, head.onnx, with its sha256")
            return cls(name=str(data["name"]), version=int(data["version"]), phrase=str(data["phrase"]),
                       threshold=float(data["threshold"]), files=files, report=dict(data.get("report", {})))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"{path}: invalid wake bundle manifest ({exc!r})") from exc


class WakeDetector:
    """Scores the start of an utterance for the wake phrase (see the module docstring)."""

    def __init__(self, manifest: WakeManifest, head: OnnxModel, frontend: SpeechFrontend, path: Path,
                 threshold: float | None = None) -> None:
        self.manifest = manifest
        self.head = head
        self.frontend = frontend
        self.path = path
        self.threshold = manifest.threshold if threshold is None else threshold
        self.verifier: WakeVerifier | None = None  # second stage (see :meth:`verify_with`)
        self.candidate_threshold = self.threshold
        self.last_verdict: Verdict | None = None

    def verify_with(self, verifier: WakeVerifier, candidate_threshold: float = CANDIDATE_THRESHOLD) -> None:
        """Two stages: the head proposes at ``candidate_threshold`` (it keeps nearly all held-out synthetic
        phrases there) and ``verifier`` (Whisper, :mod:`agent.speech.wake.verify`) decides. The head's own
        threshold no longer applies."""
        if verifier.phrase != self.phrase:
            raise ModelError(f"wake verifier is for {verifier.phrase!r}, the bundle for {self.phrase!r}")
        self.verifier = verifier
        self.candidate_threshold = candidate_threshold

    @classmethod
    def load(cls, bundle: str | Path, *, frontend: SpeechFrontend | None = None, threads: int = 1,
             threshold: float | None = None) -> WakeDetector:
        d = Path(bundle)
        mpath = d / MANIFEST
        if not mpath.is_file():
            raise ModelError(f"wake bundle {d}: {MANIFEST} not found (train it: python -m "
                             f"models.speech.train.train_wake "
                             f"--phrase '...' --out {d})")
        manifest = WakeManifest.read(mpath)
        meta = manifest.files["head.onnx"]
        fp = d / "head.onnx"
        if not fp.is_file() or ("size" in meta and fp.stat().st_size != int(meta["size"])):
            raise ModelError(f"wake bundle {d}: head.onnx is missing or has the wrong size: refusing to load")
        head = load_model(fp, threads=threads, sha256=meta["sha256"], warm_up=False)
        out = head(np.zeros((1, WINDOW, EMBED_DIM), dtype=np.float32))[0]
        if out.shape != (1, 2):
            raise ModelError(f"{fp}: outputs shape {out.shape}, expected (1, 2) = [wake, other]")
        log.info("loaded wake phrase %r (%s v%d, threshold %.3f)", manifest.phrase, manifest.name,
                 manifest.version, manifest.threshold if threshold is None else threshold)
        return cls(manifest, head, frontend or SpeechFrontend(threads=threads), d, threshold)

    @property
    def phrase(self) -> str:
        return self.manifest.phrase

    def score_windows(self, pcm: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """Wake probabilities of every scored window and the segment sample at which each window ends."""
        emb = self.frontend.embed(padded(pcm))
        ks = window_range(len(emb), len(pcm))
        if len(ks) == 0:
            return np.zeros(0, dtype=np.float32), []
        probs = self.head(windows(emb, ks))[0][:, 0]
        return probs.astype(np.float32), [window_end(k) - PAD_SAMPLES for k in ks]

    def score(self, pcm: np.ndarray) -> tuple[float, int]:
        """(best wake probability, segment sample where the command after the phrase starts)."""
        probs, ends = self.score_windows(pcm)
        if len(probs) == 0:
            return 0.0, 0
        i = int(np.argmax(probs))
        return float(probs[i]), max(0, min(len(pcm), ends[i] - CUT_BACK_SAMPLES))

    def detect(self, pcm: np.ndarray) -> WakeHit | None:
        """A :class:`WakeHit` when the utterance starts with the wake phrase, else None."""
        score, cut = self.score(pcm)
        self.last_verdict = None
        if self.verifier is None:
            return WakeHit(score, cut) if score >= self.threshold else None
        if score < self.candidate_threshold:
            return None
        self.last_verdict = self.verifier.check(pcm)
        return WakeHit(score, cut) if self.last_verdict.accepted else None


class ListeningWindow:
    """Commands are accepted while a window opened by the wake phrase or a wake gesture is open.

    Thread-safe: the recognizer thread opens and checks it, the video thread may open it with a gesture.
    ``gestures`` / ``pointing_targets``: the wake gestures (``fusion.wake``); ``slack_s``: a gesture may start
    this long after the utterance started (the same 0.5 s the fusion engine allows).
    """

    def __init__(self, window_s: float, *, gestures: tuple[str, ...] = (), pointing_targets: tuple[str, ...] = (),
                 slack_s: float = 0.5) -> None:
        self.window_s = window_s
        self.gestures = gestures
        self.pointing_targets = pointing_targets
        self.slack_s = slack_s
        self._spans: list[tuple[float, float]] = []  # (opened at, open until)
        self._lock = threading.Lock()

    def _add(self, start: float, until: float) -> None:
        with self._lock:  # spans long past are dropped: a daemon runs for months
            self._spans = [s for s in self._spans if s[1] >= start - 60.0]
            self._spans.append((start, until))

    def open(self, t: float, window_s: float | None = None) -> None:
        """A wake event ended at ``t``: commands starting until ``t + window_s`` are accepted."""
        self._add(t, t + (self.window_s if window_s is None else window_s))

    def on_gesture(self, event: GestureEvent) -> None:
        """Feed every gesture event here; wake gestures open the window from their start."""
        if event.gesture in self.gestures or (event.gesture == "pointing" and
                                              event.pointing_target in self.pointing_targets):
            self._add(event.t_start, event.t_end + self.window_s)

    def is_open(self, t_start: float) -> bool:
        """Whether an utterance starting at ``t_start`` falls in a listening window."""
        with self._lock:
            return any(a <= t_start + self.slack_s and t_start <= b for a, b in self._spans)

    def close(self) -> None:
        with self._lock:
            self._spans.clear()
