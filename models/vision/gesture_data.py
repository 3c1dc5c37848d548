"""Real landmark data for the gesture classifier (build time): the landmark CSV and the digit photos."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from agent.paths import cache_dir

log = logging.getLogger(__name__)

# ASL digit photos -> gesture (1, 2, 5 are the evaluated shapes; 9 is the OK sign; the rest are unknown poses)
DIGIT_GESTURE = {"0": "none", "1": "pointing", "2": "victory", "3": "none", "4": "none", "5": "open_palm",
                 "6": "none", "7": "none", "8": "none", "9": "ok"}


def read_landmark_csv(path: Path) -> tuple[np.ndarray, list[dict[str, str]]]:
    """(N, 21, 2) landmarks from columns x0,y0..x20,y20 and the rows (for the other columns)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    lms = np.array([[[float(r[f"x{i}"]), float(r[f"y{i}"])] for i in range(21)] for r in rows], np.float32)
    return lms.reshape(-1, 21, 2), rows


def thumb_up_or_down(lm: np.ndarray) -> bool:
    """The thumb sticks out straight up or down beyond the other fingertips (a thumbs-up/down shape)."""
    from agent.vision.features import palm_size

    d = lm[4] - lm[2]
    vertical = abs(float(d[0])) < np.tan(np.deg2rad(40)) * abs(float(d[1]))
    far = np.linalg.norm(lm[4] - lm[5]) / palm_size(lm) > 0.8
    beyond = np.linalg.norm(lm[4] - lm[0]) > max(np.linalg.norm(lm[k] - lm[0]) for k in (8, 12, 16, 20))
    return bool(vertical and far and beyond)


def real_landmarks(data: Path, clean: bool = False) -> tuple[np.ndarray, list[str], list[str]]:
    """Recorded landmarks: (N, 21, 2), gesture labels (``other:*`` → ``none``), persons.

    ``clean`` drops ``fist`` rows whose thumb sticks out vertically (about 11% of one person's fists look
    exactly like thumbs-up; they would teach the classifier that thumbs-up is a fist). Used for training only.
    """
    lms, rows = read_landmark_csv(data / "hand_landmarks" / "landmarks.csv")
    labels = ["none" if r["label"].startswith("other") else r["label"] for r in rows]
    persons = [r["person"] for r in rows]
    if clean:
        keep = [not (lab == "fist" and thumb_up_or_down(lm)) for lm, lab in zip(lms, labels, strict=True)]
        log.info("training data: dropped %d thumb-out fist rows", len(keep) - sum(keep))
        lms = lms[keep]
        labels = [lab for lab, k in zip(labels, keep, strict=True) if k]
        persons = [p for p, k in zip(persons, keep, strict=True) if k]
    return lms, labels, persons


def photo_landmarks(data: Path) -> tuple[np.ndarray, list[str], list[str], list[str]]:
    """Landmarks the hand tracker finds in the digit photos (cached): (N, 21, 2), gestures, digits, speakers."""
    cache = cache_dir() / "vision" / "photo_landmarks.npz"
    if cache.is_file():
        z = np.load(cache)
        return z["lms"], list(z["gestures"]), list(z["digits"]), list(z["speakers"])
    import cv2

    from agent.vision.hands import HandTracker

    tracker = HandTracker()
    root = data / "sign_language_digits"
    with open(root / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    lms, gestures, digits, speakers = [], [], [], []
    for r in rows:
        img = cv2.imread(str(root / r["path"]))
        hands = tracker.process_image(img) if img is not None else []
        if hands:
            lms.append(hands[0].landmarks)
            gestures.append(DIGIT_GESTURE[r["label"]])
            digits.append(r["label"])
            speakers.append(r["speaker"])
    out = np.stack(lms).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, lms=out, gestures=np.array(gestures), digits=np.array(digits), speakers=np.array(speakers))
    log.info("photo landmarks: %d of %d photos have a hand", len(out), len(rows))
    return out, gestures, digits, speakers
