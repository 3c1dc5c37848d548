"""Gesture logic: classifier on landmarks, stability/cool-down, swipes and wave, pointing zones, CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent.types import Hand
from agent.vision.dynamic import MotionDetector
from agent.vision.pointing import pointing_ray, pointing_target, zone_hit

REPO = Path(__file__).resolve().parents[1]






def _pointing_hand(direction: tuple[float, float] = (1.0, 0.0), origin: tuple[float, float] = (100, 300)) -> np.ndarray:
    lm = np.zeros((21, 2), np.float32) + np.asarray(origin, np.float32)
    d = np.asarray(direction, np.float32) / np.linalg.norm(direction)
    for k, idx in enumerate((5, 6, 7, 8)):
        lm[idx] = np.asarray(origin) + d * (40 + 25 * k)
    return lm


def test_pointing_ray_hits_the_zone_it_points_at() -> None:
    zones = {"lamp": [(400, 250), (460, 250), (460, 350), (400, 350)],
             "tv": [(150, 20), (250, 20), (250, 80), (150, 80)]}
    lm = _pointing_hand((1.0, 0.0))
    origin, d = pointing_ray(lm)
    assert np.allclose(d, [1, 0], atol=1e-6)
    assert pointing_target(lm, zones) == "lamp"
    assert pointing_target(_pointing_hand((0.3, -1.0)), zones) == "tv"
    assert pointing_target(_pointing_hand((-1.0, 0.0)), zones) is None
    # nearest zone wins when the ray crosses two
    zones["near"] = [(250, 280), (270, 280), (270, 320), (250, 320)]
    assert zone_hit(origin, d, zones) == "near"


class FakeClassifier:
    def __init__(self, answers: list[tuple[str, float]]) -> None:
        self.answers = iter(answers)

    def classify(self, landmarks: np.ndarray) -> tuple[str, float]:
        return next(self.answers)


def _hand(x: float = 300.0, y: float = 240.0, lm: np.ndarray | None = None) -> Hand:
    if lm is None:
        lm = np.random.default_rng(0).normal(0, 20, (21, 2)).astype(np.float32) + np.array([x, y], np.float32)
    return Hand(landmarks=lm, handedness="right", score=0.99, box=(x - 50, y - 50, x + 50, y + 50))


def test_stable_gesture_fires_once_with_cooldown() -> None:
    from agent.vision import GestureTracker

    answers = [("fist", 0.9)] * 10 + [("open_palm", 0.9)] * 2 + [("fist", 0.9)] * 6
    gt = GestureTracker(FakeClassifier(answers), stable_frames=4, cooldown_s=5.0, enable_motion=False)  # type: ignore[arg-type]
    fired = []
    for i in range(len(answers)):
        fired += [(i, e.gesture) for e in gt.update([_hand()], i * 0.1)]
    assert fired == [(3, "fist")]  # not re-fired while held, nor after a flicker within the cool-down


def test_flicker_does_not_fire() -> None:
    from agent.vision import GestureTracker

    answers = [("fist", 0.9), ("none", 0.9), ("fist", 0.9), ("ok", 0.9), ("fist", 0.4)] * 4
    gt = GestureTracker(FakeClassifier(answers), stable_frames=3, enable_motion=False)  # type: ignore[arg-type]
    assert not [e for i in range(len(answers)) for e in gt.update([_hand()], i * 0.1)]


def test_pointing_event_names_the_zone() -> None:
    from agent.vision import GestureTracker

    zones = {"lamp": [(400, 250), (460, 250), (460, 350), (400, 350)]}
    gt = GestureTracker(FakeClassifier([("pointing", 0.95)] * 6), zones=zones, stable_frames=3,
                        enable_motion=False)  # type: ignore[arg-type]
    events = [e for i in range(6) for e in gt.update([_hand(lm=_pointing_hand())], i * 0.1)]
    assert [(e.gesture, e.pointing_target) for e in events] == [("pointing", "lamp")]


def test_swipes_and_wave_from_trajectories() -> None:
    def run(points: list[tuple[float, float]], dt: float = 1 / 15) -> list[str]:
        m = MotionDetector()
        return [g for i, (x, y) in enumerate(points) if (g := m.update(i * dt, x, y, 100.0))]

    assert run([(100 + 20 * i, 200) for i in range(9)]) == ["swipe_right"]
    assert run([(400 - 20 * i, 200) for i in range(9)]) == ["swipe_left"]
    assert run([(300, 400 - 20 * i) for i in range(9)]) == ["swipe_up"]
    assert run([(300, 100 + 20 * i) for i in range(9)]) == ["swipe_down"]
    assert run([(300 + 60 * np.sin(i / 2.2), 200) for i in range(30)]) == ["wave"]
    assert run([(300 + np.random.default_rng(i).normal(0, 3), 200) for i in range(40)]) == []


def test_point_history_stop_rows_are_not_swipes(vision_data: Path) -> None:
    """Real fingertip trajectories (normalized to the image) of a hand held still: no swipe."""
    path = vision_data / "hand_landmarks" / "point_history_Kazuhito00.csv"
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r and r[0] == "0"][:200]
    fired = 0
    for r in rows:
        pts = np.array(r[1:33], np.float64).reshape(16, 2) * [640, 480]
        m = MotionDetector()
        fired += any(m.update(i / 15, x, y, 120.0) for i, (x, y) in enumerate(pts))
    assert fired / len(rows) < 0.02


def _cli(*args: str) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "agent", *args], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_classify_landmarks_cli(tmp_path: Path, vision_data: Path) -> None:
    src = vision_data / "hand_landmarks" / "landmarks.csv"
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))
    pick = [next(r for r in rows if r["label"] == lab) for lab in ("open_palm", "victory", "ok")]
    dst = tmp_path / "lm.csv"
    cols = [c for i in range(21) for c in (f"x{i}", f"y{i}")]
    with open(dst, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label", *cols])
        for r in pick:
            w.writerow([r["label"], *[float(r[c]) * 300 + 320 for c in cols]])  # pixels this time
        w.writerow(["broken", *["nan"] * len(cols)])
    res = _cli("gestures", "classify-landmarks", str(dst))
    assert [r["row"] for r in res] == [0, 1, 2, 3]
    assert [r["gesture"] for r in res] == ["open_palm", "victory", "ok", "none"]
    assert all(0.0 <= r["score"] <= 1.0 for r in res)


def test_recognize_cli_on_photo_and_blank(tmp_path: Path, digit_photo: Path) -> None:
    import cv2

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 160, 3), 128, np.uint8))
    res = _cli("gestures", "recognize", str(digit_photo), str(blank))
    assert res[0]["file"] == str(digit_photo) and res[0]["frame"] == 0
    hand = res[0]["hands"][0]
    assert hand["gesture"] == "pointing" and len(hand["landmarks"]) == 21 and len(hand["box"]) == 4
    assert res[1]["hands"] == []


def test_real_landmark_rows_fire_once_and_thumbs_turn_down(vision_data: Path) -> None:
    from agent.vision import GestureClassifier, GestureTracker

    src = vision_data / "hand_landmarks" / "landmarks.csv"
    with open(src, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["label"] in ("victory", "thumbs_up")]
    clf = GestureClassifier()
    vic = [np.array([[float(r[f"x{i}"]), float(r[f"y{i}"])] for i in range(21)]) * 200 + 300
           for r in rows if r["label"] == "victory"][:12]
    gt = GestureTracker(clf, stable_frames=4)
    events = [e for i, lm in enumerate(vic) for e in gt.update([_hand(lm=lm.astype(np.float32))], i / 15)]
    assert [e.gesture for e in events] == ["victory"]
    assert events[0].t_end - events[0].t_start == pytest.approx(3 / 15)
    up = next(np.array([[float(r[f"x{i}"]), float(r[f"y{i}"])] for i in range(21)])
              for r in rows if r["label"] == "thumbs_up")
    assert clf.classify(up)[0] == "thumbs_up"
    assert clf.classify(-up)[0] == "thumbs_down"  # the same hand turned half round
