"""The weighted log-linear late-fusion rule and its fitted parameters (numpy only).

For candidate intents ``k`` (every intent either modality can name, plus ``NONE`` = do nothing)::

    S(k) = w_v * log q_v(k) + w_g * log q_g(k) + b * [k == NONE]      P = softmax(S)
    w_v  = softplus(theta_v . r_v)       w_g = softplus(theta_g . r_g)

``q_v`` are the speech posteriors (``unknown`` -> ``NONE``), ``q_g`` spreads the gesture score over the
intents the gesture supports. ``r_v`` / ``r_g`` are reliability features (SNR and posterior sharpness for
speech; classifier score, hand size and visibility for the hand), so noisy audio or a tiny / occluded hand
gets a small weight. ``theta`` and ``b`` are fitted on scenario data (``models/fusion/fit.py``); the
abstain threshold and the conflict scores (how sure each modality must be on its own for a disagreement to
be a conflict) are calibrated there too. A missing modality contributes a constant (no evidence).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..types import CommandScores, GestureEvent

NONE = "none"
UNKNOWN = "unknown"
EPS = 1e-4
DEFAULT_WEIGHTS = Path(__file__).with_name("late_fusion.json")
VOICE_FEATURES = ("bias", "snr_db/10", "top_score", "sharpness")
GESTURE_FEATURES = ("bias", "score", "hand_size/0.2", "visibility")


def voice_reliability(scores: CommandScores) -> np.ndarray:
    """Reliability features of one utterance (see ``VOICE_FEATURES``)."""
    p = np.clip(np.asarray(scores.scores, dtype=np.float64), 1e-9, 1.0)
    p = p / p.sum()
    ent = float(-(p * np.log(p)).sum() / math.log(max(len(p), 2)))
    snr = float(np.clip(scores.snr_db, -10.0, 40.0)) / 10.0
    return np.array([1.0, snr, float(p.max()), 1.0 - ent])


def gesture_reliability(event: GestureEvent, image_height: float = 480.0) -> np.ndarray:
    """Reliability features of one gesture event (see ``GESTURE_FEATURES``). ``hand_size`` is a fraction of the
    image height, or pixels (any value over 1.5, as ``agent.vision.tracker`` reports) of an ``image_height``
    image."""
    frac = event.hand_size / image_height if event.hand_size > 1.5 else event.hand_size
    size = float(np.clip(frac / 0.2, 0.0, 1.5))
    return np.array([1.0, float(event.score), size, float(np.clip(event.visibility, 0.0, 1.0))])


def softplus(x: float) -> float:
    return float(np.logaddexp(0.0, x))


def voice_evidence(scores: CommandScores | None, candidates: Sequence[str]) -> np.ndarray:
    """``log q_v`` over ``candidates`` (zeros = no evidence when there is no utterance)."""
    if scores is None:
        return np.zeros(len(candidates))
    by = {(NONE if lab == UNKNOWN else lab): float(s) for lab, s in zip(scores.labels, scores.scores, strict=True)}
    other = by.get(NONE, 0.0)  # an intent the command set cannot name is part of "unknown" speech
    q = np.array([by.get(k, other) for k in candidates])
    return np.log(q / max(q.sum(), EPS) + EPS)


def gesture_evidence(score: float | None, supported: Sequence[str], candidates: Sequence[str],
                     boost_only: bool = False) -> np.ndarray:
    """``log q_g``: the gesture's score split over the intents it supports, the rest spread evenly.

    ``boost_only`` (a wake gesture that preceded the speech) never lowers an intent below uniform."""
    if score is None or not supported:
        return np.zeros(len(candidates))
    n = len(candidates)
    sup = [k for k in supported if k in candidates]
    if not sup:
        return np.zeros(n)
    s = float(np.clip(score, 0.0, 1.0))
    q = np.full(n, (1.0 - s) / n)
    for k in sup:
        q[candidates.index(k)] += s / len(sup)
    if boost_only:
        q = np.maximum(q, 1.0 / n)
    return np.log(q + EPS) - math.log(1.0 / n + EPS)


@dataclass(frozen=True)
class LateFusionModel:
    """Fitted parameters of the late-fusion rule."""

    theta_voice: tuple[float, ...]
    theta_gesture: tuple[float, ...]
    bias_none: float
    threshold: float
    meta: dict[str, object]
    conflict_voice: float = 0.6
    conflict_gesture: float = 0.6

    @classmethod
    def load(cls, path: Path | None = None) -> LateFusionModel:
        p = path or DEFAULT_WEIGHTS
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
            m = cls(theta_voice=tuple(float(x) for x in d["theta_voice"]),
                    theta_gesture=tuple(float(x) for x in d["theta_gesture"]),
                    bias_none=float(d["bias_none"]), threshold=float(d["threshold"]),
                    meta=dict(d.get("meta", {})), conflict_voice=float(d.get("conflict_voice", 0.6)),
                    conflict_gesture=float(d.get("conflict_gesture", 0.6)))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{p}: unreadable late-fusion weights ({exc}); refit with "
                             "'python -m models.fusion.fit'") from exc
        if len(m.theta_voice) != len(VOICE_FEATURES) or len(m.theta_gesture) != len(GESTURE_FEATURES):
            raise ModelError(f"{p}: weights have the wrong length for this version; refit them")
        return m

    def to_json(self) -> str:
        return json.dumps({"theta_voice": list(self.theta_voice), "theta_gesture": list(self.theta_gesture),
                           "bias_none": self.bias_none, "threshold": self.threshold,
                           "conflict_voice": self.conflict_voice, "conflict_gesture": self.conflict_gesture,
                           "voice_features": list(VOICE_FEATURES), "gesture_features": list(GESTURE_FEATURES),
                           "meta": self.meta}, indent=1, sort_keys=True)

    def weights(self, r_voice: np.ndarray | None, r_gesture: np.ndarray | None) -> tuple[float, float]:
        wv = softplus(float(np.dot(self.theta_voice, r_voice))) if r_voice is not None else 0.0
        wg = softplus(float(np.dot(self.theta_gesture, r_gesture))) if r_gesture is not None else 0.0
        return wv, wg

    def posterior(self, candidates: Sequence[str], lv: np.ndarray, lg: np.ndarray,
                  wv: float, wg: float) -> np.ndarray:
        s = wv * lv + wg * lg
        if NONE in candidates:
            s = s.copy()
            s[list(candidates).index(NONE)] += self.bias_none
        s = s - s.max()
        e = np.exp(s)
        return np.asarray(e / e.sum())


def candidates_for(scores: CommandScores | None, supported: Sequence[str]) -> list[str]:
    """Sorted candidate intents: every speech label (unknown -> none), the gesture's intents, and none."""
    names = {NONE, *supported}
    if scores is not None:
        names |= {(NONE if lab == UNKNOWN else lab) for lab in scores.labels}
    return sorted(names)
