"""Small hands (2–4 m from a 640×480 camera): found by the zoomed look where the motion gate saw something move,
which the full-frame look misses; and the zoomed look costs nothing while a hand is tracked or nothing moves."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.bench import media
from agent.daemon.video_path import MotionGate, VideoPath
from agent.sources.video_replay import ArrayVideoSource
from agent.types import VideoFrame
from agent.vision import GestureTracker, HandTracker
from agent.vision.hands import ZOOM_SIDE, zoom_square

FPS = 10.0
SMALL_PX = 48  # a hand about 3 m from the camera: ~14 px in the full-frame look's 192×192 input
AT = (470, 330)  # off-centre, where the hand comes into view
ROOM = media.empty_room()


def scene(photo: np.ndarray | None, px: int = SMALL_PX, at: tuple[int, int] = AT) -> np.ndarray:
    """The empty room with a real hand photo scaled to ``px`` pasted centred on ``at`` (None: no hand)."""
    img = ROOM.copy()
    if photo is not None:
        x0, y0 = at[0] - px // 2, at[1] - px // 2
        img[y0:y0 + px, x0:x0 + px] = cv2.resize(photo, (px, px), interpolation=cv2.INTER_AREA)
    return img


def run(tracker: HandTracker, frames: list[np.ndarray]) -> tuple[VideoPath, list[bool]]:
    """The frames through the daemon's video path (motion gate, cadence, tracker) at ``FPS``; whether each
    frame gave a hand."""
    vp = VideoPath(ArrayVideoSource([], FPS), tracker, GestureTracker())
    seen: list[bool] = []
    vp.on_hands.append(lambda _f, hands: seen.append(bool(hands)))
    for i, img in enumerate(frames):
        n = len(seen)
        vp.handle(VideoFrame(img, i / FPS, i))
        seen += [False] * (len(seen) == n)  # a frame the cadence skipped: no hand reported
    return vp, seen


@pytest.fixture(scope="module")
def photos(vision_data: Path) -> list[np.ndarray]:
    """Real photos of open palms (ASL 5) from the repo's own photos."""
    files = sorted((vision_data / "sign_language_digits" / "5").iterdir())[:4]
    return [img for f in files if (img := cv2.imread(str(f))) is not None]


@pytest.fixture(scope="module")
def zooming() -> HandTracker:
    return HandTracker(threads=1)


@pytest.fixture(scope="module")
def full_frame_only() -> HandTracker:
    return HandTracker(threads=1, zoom=False)


def entering(photo: np.ndarray) -> list[np.ndarray]:
    """A still room for 2 s (the gate's calm), then the hand comes into view and stays for 1 s."""
    return [scene(None)] * 20 + [scene(photo)] * 10


def test_a_small_real_hand_is_found_by_the_zoomed_look_not_by_the_full_frame(
        photos: list[np.ndarray], zooming: HandTracker, full_frame_only: HandTracker) -> None:
    for photo in photos:
        zooming.reset()
        full_frame_only.reset()
        _, old = run(full_frame_only, entering(photo))
        _, new = run(zooming, entering(photo))
        assert not any(old), "the full-frame look finds no 48 px hand (if it does, pick a smaller one)"
        assert new[20] and all(new[20:]), new  # found on the frame it came in, then tracked on every frame
    zooming.reset()
    hand = zooming.process(VideoFrame(scene(photos[0]), 0.0, 0), focus=(AT[0] / 640, AT[1] / 480))
    assert hand, "the landmarks are read in the whole frame, at the hand"
    x0, y0, x1, y1 = hand[0].box
    assert x0 < AT[0] < x1 and y0 < AT[1] < y1, hand[0].box


def test_no_zoomed_look_while_a_hand_is_tracked(photos: list[np.ndarray], zooming: HandTracker) -> None:
    zooming.reset()
    _, seen = run(zooming, entering(photos[0]))
    assert all(seen[20:])
    palm, zoom = zooming.counts["palm"], zooming.counts["zoom"]
    for i in range(30, 40):  # the hand stays in view, moving a little: tracked, no palm detection at all
        shifted = scene(photos[0], at=(AT[0] + 2 * (i - 30), AT[1]))
        assert zooming.process(VideoFrame(shifted, i / FPS, i), focus=(0.5, 0.5))
    assert (zooming.counts["palm"], zooming.counts["zoom"]) == (palm, zoom)


def test_no_zoomed_look_when_nothing_moves(zooming: HandTracker) -> None:
    zooming.reset()
    zoom = zooming.counts["zoom"]
    still = [media.idle_room_frame(ROOM, int((media.WALK_S + 0.5) * FPS) + i % 20, FPS) for i in range(80)]
    vp, seen = run(zooming, still)  # 8 s: the first frame and the still_s safety look run the detector
    assert not any(seen) and vp.stats.processed >= 2
    assert zooming.counts["zoom"] == zoom, "a look with nothing moving has nowhere to zoom"


def test_someone_walking_past_costs_almost_no_zoomed_looks(zooming: HandTracker) -> None:
    """A walker moves more than the zoom square holds: no one place to zoom into. Every zoomed look that does
    run is one palm detection on top of a look's own, never more."""
    zooming.reset()
    zoom, palm = zooming.counts["zoom"], zooming.counts["palm"]
    walk = [media.idle_room_frame(ROOM, i, FPS) for i in range(int(2 * media.WALK_PERIOD_S * FPS))]
    vp, seen = run(zooming, walk)
    looks = vp.stats.processed
    assert not any(seen) and looks >= 8
    assert zooming.counts["zoom"] - zoom <= 2, (zooming.counts, looks)
    assert zooming.counts["palm"] - palm == looks + zooming.counts["zoom"] - zoom


def test_the_gate_points_at_what_moved() -> None:
    gate = MotionGate()
    gate.moved(ROOM)
    assert gate.take_focus() is None  # the first frame: nothing to compare with
    assert not gate.moved(ROOM) and gate.take_focus() is None
    moved = ROOM.copy()
    moved[300:360, 440:500] = 255
    assert gate.moved(moved)
    fx, fy = gate.take_focus() or (0.0, 0.0)
    assert abs(fx * 640 - 470) < 20 and abs(fy * 480 - 330) < 20
    assert gate.take_focus() is None, "asked once per look"
    body = ROOM.copy()
    body[80:440, 250:380] = 20  # someone as tall as most of the frame
    assert gate.moved(body) and gate.take_focus() is None, "larger than the zoom square: nowhere to zoom"
    assert MotionGate().focus_extent == ZOOM_SIDE


def test_the_zoomed_square_stays_in_the_frame_and_skips_small_frames() -> None:
    assert zoom_square((480, 640, 3), (320, 240)) == (224, 144, 192)
    assert zoom_square((480, 640, 3), (5, 470)) == (0, 288, 192)
    assert zoom_square((720, 1280, 3), (640, 360))[2] == 288  # type: ignore[index]
    assert zoom_square((240, 320, 3), (160, 120)) is None  # the padded retry of small frames covers those
