"""Vision: hand detection and landmarks (ONNX), gesture classification, temporal gestures and pointing.

Public API (used by the pipeline and fusion)::

    HandTracker(threads=1).process(frame) -> list[Hand]
    GestureClassifier().classify(landmarks (21, 2)) -> (gesture, score)
    GestureTracker(zones=...).update(hands, t_mono) -> list[GestureEvent]
    pointing.pointing_target(landmarks, zones) -> zone name | None
"""

from __future__ import annotations

from . import pointing
from .classifier import LABELS, GestureClassifier
from .dynamic import MotionConfig, MotionDetector
from .hands import HandTracker
from .tracker import GestureTracker

__all__ = ["LABELS", "GestureClassifier", "GestureTracker", "HandTracker", "MotionConfig", "MotionDetector",
           "pointing"]
