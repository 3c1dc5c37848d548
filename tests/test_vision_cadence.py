"""The palm detector's cadence while no hand is tracked: driven by the motion gate, cheap in a room where
someone walks past, and still quick to find a hand that comes into view."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from agent.bench import media
from agent.daemon.video_path import DetectCadence, MotionGate, VideoPath
from agent.sources.video_replay import ArrayVideoSource
from agent.types import Hand, VideoFrame
from agent.vision import GestureTracker

FPS = 15.0
FIRST_LOOK_FRAMES = 3  # a hand coming into a still room is found within this many frames
ROOM = media.empty_room()


class CountingTracker:
    """Stands in for the hand tracker: counts the frames it is given and finds no hand."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def process(self, frame: VideoFrame, focus: tuple[float, float] | None = None) -> list[Hand]:
        self.calls.append(frame.seq)
        return []


def still_room(i: int) -> np.ndarray:
    """The idle room at a time nobody walks past (sensor noise and the light's drift only)."""
    return media.idle_room_frame(ROOM, int((media.WALK_S + 0.5) * FPS) + i % 40, FPS)


def path(hands: object) -> VideoPath:
    return VideoPath(ArrayVideoSource([], FPS), hands, GestureTracker())  # type: ignore[arg-type]


def run(vp: VideoPath, images: list[np.ndarray], seq0: int = 0) -> list[list[Hand]]:
    out = []
    for k, img in enumerate(images):
        seq = seq0 + k
        vp.handle(VideoFrame(img, seq / FPS, seq))
        out.append(getattr(vp, "_tracking", False))
    return out


def test_lights_changing_are_not_motion() -> None:
    gate = MotionGate()
    gate.moved(ROOM)
    for gain in (1.15, 0.85, 1.27):  # the drift's extremes and a lamp switched on
        assert not gate.moved(np.clip(ROOM.astype(np.float32) * gain, 0, 255).astype(np.uint8)), gain


def test_someone_walking_past_is_motion_but_costs_few_detections() -> None:
    hands = CountingTracker()
    vp = path(hands)
    walk = [media.idle_room_frame(ROOM, i, FPS) for i in range(int(media.WALK_PERIOD_S * FPS))]
    run(vp, walk)
    looks_walking = [s for s in hands.calls if s < media.WALK_S * FPS]
    assert 3 <= len(looks_walking) <= 7, hands.calls  # at once, then backing off to one a second
    assert len(hands.calls) <= len(looks_walking) + 2, hands.calls  # settling, then nothing until still_s
    assert vp.stats.skipped_still > 8 * vp.stats.processed


def test_cadence_backs_off_under_motion_and_looks_again_when_it_settles() -> None:
    c = DetectCadence(first_gap_s=0.25, max_gap_s=1.0, settle_s=0.2, calm_s=1.0, still_s=5.0)
    looks = []
    for k in range(60):  # 4 s of motion at 15 fps, no hand
        t = k / FPS
        if c.look(t, True):
            c.looked(t, False)
            looks.append(round(t, 2))
    assert looks[:2] == [0.0, 0.27] and all(b - a <= 1.0 + 2 / FPS for a, b in itertools.pairwise(looks))
    t = 4.0 + 0.2
    assert c.look(t, False), "a hand may have come in and held still: look once when the motion settles"
    c.looked(t, False)
    assert not c.look(t + 1.0, False) and c.look(t + 5.01, False)
    assert c.look(t + 6.5, True), "motion after a calm is looked at at once"


@pytest.fixture(scope="module")
def tracker():  # type: ignore[no-untyped-def]
    from agent.vision import HandTracker

    return HandTracker(threads=1)


def _hand(t: float) -> np.ndarray:
    photo = cv2.resize(media.hand_photos()[0], (220, 220), interpolation=cv2.INTER_LINEAR)
    return media.hand_frame(photo, t)


def test_a_hand_coming_into_a_still_room_is_found_within_a_few_frames(tracker) -> None:  # type: ignore[no-untyped-def]
    tracker.reset()
    vp = path(tracker)
    run(vp, [still_room(i) for i in range(45)])  # 3 s: the safety net has looked once, at the start
    tracking = run(vp, [_hand(i / FPS) for i in range(10)], seq0=45)
    assert True in tracking[:FIRST_LOOK_FRAMES], tracking


def test_a_hand_coming_into_view_while_someone_walks_is_found_within_the_longest_gap(tracker) -> None:  # type: ignore[no-untyped-def]
    tracker.reset()
    vp = path(tracker)
    walking = int(2.0 * FPS)
    run(vp, [media.idle_room_frame(ROOM, i, FPS) for i in range(walking)])  # backed off to its longest gap
    tracking = run(vp, [_hand(i / FPS) for i in range(int(2 * FPS))], seq0=walking)
    limit = int(vp.cadence.max_gap_s * FPS) + 1
    assert True in tracking[:limit], tracking
