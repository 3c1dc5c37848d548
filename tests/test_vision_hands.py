"""Hand tracking on real photos and on frames with no hand (no phantom gestures)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.types import VideoFrame


@pytest.fixture(scope="module")
def tracker():  # type: ignore[no-untyped-def]
    from agent.vision import HandTracker

    return HandTracker(threads=1)


@pytest.fixture(scope="module")
def classifier():  # type: ignore[no-untyped-def]
    from agent.vision import GestureClassifier

    return GestureClassifier()


@pytest.mark.parametrize(("digit", "gesture"), [("1", "pointing"), ("2", "victory"), ("5", "open_palm")])
def test_digit_photo_detected_and_classified(tracker, classifier, vision_data: Path, digit: str,
                                             gesture: str) -> None:
    photos = sorted((vision_data / "sign_language_digits" / digit).iterdir())[:3]
    for photo in photos:
        img = cv2.imread(str(photo))
        hands = tracker.process_image(img)
        assert hands, photo
        h = hands[0]
        assert h.landmarks.shape == (21, 2)
        x0, y0, x1, y1 = h.box
        assert -20 < x0 < x1 < 120 and -20 < y0 < y1 < 120
        assert classifier.classify(h.landmarks)[0] == gesture, photo


def test_small_photo_in_a_large_frame_is_tracked(tracker, digit_photo: Path) -> None:
    """A hand photo pasted into a 640×480 frame: detected, then tracked from the landmarks."""
    frame = np.full((480, 640, 3), 200, np.uint8)
    hand = cv2.resize(cv2.imread(str(digit_photo)), (200, 200))
    frame[140:340, 220:420] = hand
    tracker.reset()
    results = [tracker.process(VideoFrame(frame, float(i) / 15, i)) for i in range(3)]
    assert all(len(r) == 1 for r in results)
    lm = results[-1][0].landmarks
    assert 200 < lm[:, 0].mean() < 440 and 120 < lm[:, 1].mean() < 360


def test_no_hand_no_gesture(tracker, classifier) -> None:
    from agent.vision import GestureTracker

    rng = np.random.default_rng(0)
    gestures = GestureTracker(classifier)
    tracker.reset()
    events = []
    for i in range(20):
        noise = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        img = np.full((480, 640, 3), 90 + i, np.uint8) if i % 2 else noise
        hands = tracker.process(VideoFrame(img, i / 15, i))
        assert hands == []
        events += gestures.update(hands, i / 15)
    assert events == []


def test_lite_landmark_model_selected_by_config_tracks_and_classifies(classifier, vision_data: Path) -> None:
    from agent.config.schema import AgentConfig
    from agent.daemon.agent import build_video_path
    from agent.sources.video_replay import ArrayVideoSource

    cfg = AgentConfig.model_validate({"vision": {"landmarks": "lite"}})
    path = build_video_path(cfg, ArrayVideoSource([], 15.0, False))
    tracker = path.hands
    assert Path(tracker.landmark_model.path).name == "hand_landmark_lite_int8.onnx"  # type: ignore[attr-defined]
    for digit, gesture in (("1", "pointing"), ("2", "victory"), ("5", "open_palm")):
        photo = sorted((vision_data / "sign_language_digits" / digit).iterdir())[0]
        hands = tracker.process_image(cv2.imread(str(photo)))  # type: ignore[attr-defined]
        assert hands and classifier.classify(hands[0].landmarks)[0] == gesture, photo
