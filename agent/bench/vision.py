"""Per-frame latency of the vision path at 640×480 on one core, and int8-vs-float landmark error.

- detection frame: palm detector + landmark model + classifier (tracking lost, e.g. the first frame);
- tracking frame: landmark model + classifier on the ROI from the previous frame's landmarks;
- int8 error: mean landmark distance of the int8 landmark model from the float one, in hand sizes, on crops
  around the hands the tracker finds in the given photos.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from ..types import VideoFrame
from ..vision.classifier import GestureClassifier
from ..vision.geometry import crop_rect, rect_from_landmarks
from ..vision.hands import LANDMARK_MODEL, LANDMARK_MODEL_FLOAT, LANDMARK_SIZE, HandTracker, _to_input

log = logging.getLogger(__name__)


def pin_to_one_core(cpu: int | None = None) -> int | None:
    """Pin this process to one CPU (Linux) and cap OpenCV to one thread; returns the CPU or None."""
    cv2.setNumThreads(1)
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    chosen = cpus[-1] if cpu is None else cpu
    os.sched_setaffinity(0, {chosen})
    return chosen


def scene(photo: Path, size: tuple[int, int] = (640, 480), hand_px: int = 220) -> np.ndarray:
    """A 640×480 frame with one hand (a real photo, scaled) on a textured background."""
    w, h = size
    rng = np.random.default_rng(0)
    bg = cv2.GaussianBlur(rng.integers(60, 200, (h, w, 3), dtype=np.uint8), (0, 0), 6)
    hand = cv2.imread(str(photo))
    if hand is None:
        raise FileNotFoundError(photo)
    hand = cv2.resize(hand, (hand_px, hand_px), interpolation=cv2.INTER_LINEAR)
    y0, x0 = (h - hand_px) // 2, (w - hand_px) // 2
    bg[y0:y0 + hand_px, x0:x0 + hand_px] = hand
    return bg


def _time(fn: Callable[[], object], n: int) -> dict[str, float]:
    fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(1000 * (time.perf_counter() - t))
    return {"median_ms": round(float(np.median(ts)), 2), "p90_ms": round(float(np.percentile(ts, 90)), 2),
            "min_ms": round(float(np.min(ts)), 2)}


def frame_latency(photo: Path, n: int = 50, landmark_model: str = LANDMARK_MODEL) -> dict[str, object]:
    tracker = HandTracker(threads=1, landmark_model=landmark_model)
    clf = GestureClassifier()
    frame = VideoFrame(scene(photo), 0.0, 0)
    found = tracker.process(frame)
    if not found:
        raise RuntimeError("bench scene: no hand detected")

    def detect() -> None:
        tracker.reset()
        for hand in tracker.process(frame):
            clf.classify(hand.landmarks)

    def track() -> None:
        hands = tracker.process(frame)
        if not hands:
            raise RuntimeError("tracking lost the hand")
        for hand in hands:
            clf.classify(hand.landmarks)

    tracker.process(frame)
    crop = _to_input(crop_rect(frame.image, rect_from_landmarks(found[0].landmarks), LANDMARK_SIZE))
    palm_in = np.zeros((1, 192, 192, 3), np.float32)
    return {
        "landmark_model": Path(str(tracker.landmark_model.path)).name,
        "gesture": clf.classify(found[0].landmarks)[0],
        "detection_frame": _time(detect, n),
        "tracking_frame": _time(track, n),
        "palm_model_only": _time(lambda: tracker.palm_model(palm_in), n),
        "landmark_model_only": _time(lambda: tracker.landmark_model(crop), n),
        "classifier_only": _time(lambda: clf.classify(found[0].landmarks), n),
    }


def int8_error(photos: Sequence[Path], int8_model: str = LANDMARK_MODEL) -> dict[str, float]:
    """Mean/95th-percentile landmark error of the int8 model vs float, in hand sizes, on real hand crops."""
    from ..runtime.session import load_model
    from ..vision.hands import _model_path

    finder = HandTracker(threads=1, landmark_model=LANDMARK_MODEL_FLOAT)
    f_model = load_model(_model_path(int8_model.replace("_int8", "")), threads=1)
    q_model = load_model(_model_path(int8_model), threads=1)
    errs = []
    for p in photos:
        img = cv2.imread(str(p))
        if img is None:
            continue
        hands = finder.process_image(img)
        if not hands:
            continue
        x = _to_input(crop_rect(img, rect_from_landmarks(hands[0].landmarks), LANDMARK_SIZE))
        f = f_model(x)[0].reshape(21, 3)[:, :2]
        q = q_model(x)[0].reshape(21, 3)[:, :2]
        size = float(np.ptp(f, axis=0).max())
        errs.append(float(np.linalg.norm(q - f, axis=1).mean()) / size)
    return {"crops": len(errs), "mean_err_hand_size": round(float(np.mean(errs)), 5) if errs else float("nan"),
            "p95_err_hand_size": round(float(np.percentile(errs, 95)), 5) if errs else float("nan")}
