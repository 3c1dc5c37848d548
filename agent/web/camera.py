"""The camera view of the page: the latest frame and hands, kept only while a page is watching.

``on_frame`` / ``on_hands`` are called on the video thread for every frame. They keep a reference to the latest
frame only while a page asked for a snapshot within ``watch_s`` (about once a second while the camera view is
open); otherwise, and whenever the camera privacy switch is on, nothing is kept and any kept frame is dropped.
A snapshot is one JPEG (encoded on request, bounded size) with the hands' landmarks and pointing rays.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from ..privacy import PrivacyController
from ..types import Hand, VideoFrame
from ..vision.pointing import pointing_ray, pointing_target

log = logging.getLogger(__name__)

MAX_SNAPSHOT_SIDE = 960  # larger frames are scaled down before encoding (coordinates are sent unscaled)
HANDS_FRESH_S = 0.6  # hands older than this are not drawn (the hand has gone)

Zones = Callable[[], Mapping[str, Sequence[tuple[float, float]]]]


class CameraView:
    def __init__(self, privacy: PrivacyController | None, zones: Zones, *, watch_s: float = 3.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.privacy = privacy
        self.zones = zones
        self.watch_s = watch_s
        self.clock = clock
        self._lock = threading.Lock()
        self._frame: VideoFrame | None = None
        self._hands: list[Hand] = []
        self._hands_t = -1e9
        self._watched = -1e9
        self.encoded = 0  # snapshots sent (tests check that none is made while nobody watches)

    def camera_off(self) -> bool:
        return self.privacy is not None and self.privacy.state.camera_off

    def watching(self) -> bool:
        return self.clock() - self._watched <= self.watch_s and not self.camera_off()

    def on_frame(self, frame: VideoFrame) -> None:
        if not self.watching():
            self.forget()
            return
        with self._lock:
            self._frame = frame

    def on_hands(self, frame: VideoFrame, hands: list[Hand]) -> None:
        if not self.watching():
            return
        with self._lock:
            self._hands = list(hands)
            self._hands_t = self.clock()

    def forget(self) -> None:
        """Drop whatever is kept (camera off, nobody watching)."""
        with self._lock:
            self._frame = None
            self._hands = []

    def snapshot(self) -> dict[str, Any]:
        """The latest frame as a JPEG data URL with hands and rays; ``{"camera_off": true}`` under the privacy
        switch, ``{"waiting": true}`` until the first frame after a page started watching."""
        if self.camera_off():
            self.forget()
            return {"camera_off": True}
        self._watched = self.clock()
        with self._lock:
            frame = self._frame
            hands = self._hands if self.clock() - self._hands_t <= HANDS_FRESH_S else []
        if frame is None:
            return {"waiting": True}
        h, w = frame.image.shape[:2]
        image = frame.image
        scale = min(1.0, MAX_SNAPSHOT_SIDE / max(h, w))
        if scale < 1.0:
            image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 75])
        if not ok:
            return {"waiting": True}
        self.encoded += 1
        return {"image": "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode(), "width": w,
                "height": h, "hands": [self._hand(hand) for hand in hands]}

    def _hand(self, hand: Hand) -> dict[str, Any]:
        lm = np.asarray(hand.landmarks, np.float64)[:, :2]
        origin, direction = pointing_ray(lm)
        target = pointing_target(lm, self.zones(), 8.0)
        return {"landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in lm],
                "ray": {"origin": [round(float(origin[0]), 1), round(float(origin[1]), 1)],
                        "direction": [round(float(direction[0]), 4), round(float(direction[1]), 4)]},
                "target": target}
