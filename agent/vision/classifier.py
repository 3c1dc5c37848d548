"""Static gesture classifier: geometric features → tiny ONNX MLP with an explicit ``none`` class."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..paths import bundles_dir
from ..runtime.session import OnnxModel, load_model
from .features import N_FEATURES, features_batch

log = logging.getLogger(__name__)

LABELS = ["open_palm", "fist", "pointing", "thumbs_up", "thumbs_down", "victory", "ok", "none"]
DEFAULT_MODEL = "gestures/gesture_classifier.onnx"


class GestureClassifier:
    """Classify one hand's 21 landmarks (x, y; y down; any consistent units) into a gesture or ``none``.

    ``min_score``: a prediction below it is reported as ``none`` (the model also has ``none`` as a class);
    default: the threshold chosen by leave-one-person-out cross-validation at training (the bundle's JSON).
    """

    def __init__(self, model: str | Path | None = None, *, min_score: float | None = None, threads: int = 1) -> None:
        path = Path(model) if model else bundles_dir() / DEFAULT_MODEL
        self.model: OnnxModel = load_model(path, threads=threads)
        meta_path = path.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        self.labels: list[str] = meta.get("labels", LABELS)
        if self.model.outputs[0].shape[-1] != len(self.labels) or self.model.inputs[0].shape[-1] != N_FEATURES:
            raise ModelError(f"{path}: classifier shape does not match the feature code; retrain it")
        self.min_score = float(meta.get("min_score", 0.5)) if min_score is None else min_score

    def probabilities(self, landmarks: np.ndarray) -> np.ndarray:
        """Class probabilities (N, len(labels)) for landmarks (21, 2) or (N, 21, 2)."""
        lms = np.asarray(landmarks, np.float32)
        if lms.ndim == 2:
            lms = lms[None]
        if lms.shape[1:] != (21, 2) and lms.shape[1:] != (21, 3):
            raise ValueError(f"landmarks must be (21, 2), got {lms.shape[1:]}")
        feats = features_batch(lms[..., :2])
        return self.model(feats)[0]

    def classify(self, hand_landmarks: np.ndarray) -> tuple[str, float]:
        """(gesture, score) of one hand; ``none`` for anything that is not one of the gestures."""
        return decide(self.probabilities(hand_landmarks), self.labels, self.min_score)[0]

    def classify_batch(self, landmarks: np.ndarray) -> list[tuple[str, float]]:
        return decide(self.probabilities(landmarks), self.labels, self.min_score)


def decide(probs: np.ndarray, labels: list[str], min_score: float) -> list[tuple[str, float]]:
    """Arg-max class per row; a gesture whose probability is below ``min_score`` becomes ``none`` (scored by
    the ``none`` probability). Shared by serving and the leave-one-person-out evaluation."""
    out = []
    for p in np.atleast_2d(probs):
        i = int(np.argmax(p))
        if labels[i] == "none" or p[i] >= min_score:
            out.append((labels[i], float(p[i])))
        else:
            out.append(("none", float(p[labels.index("none")]) if "none" in labels else 1 - float(p[i])))
    return out
