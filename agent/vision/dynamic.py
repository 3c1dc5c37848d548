"""Dynamic gestures from a hand's trajectory: swipes (left/right/up/down, in image directions) and wave.

The trajectory is the palm centre in image pixels, normalized by hand size so thresholds do not depend on
distance to the camera. A swipe is a fast, straight movement of at least ``min_travel`` hand sizes within
``window_s``: no point strays more than ``max_deviation`` of the travel from the start→end line, so the arc of
a circling fingertip is not a swipe; a wave is at least ``min_reversals`` left-right reversals of ``min_amplitude`` hand
sizes within ``wave_window_s`` with less than half as much vertical movement.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

MOTIONS = ("swipe_left", "swipe_right", "swipe_up", "swipe_down", "wave")  # every event this module reports

@dataclass(frozen=True)
class MotionConfig:
    window_s: float = 0.6
    min_travel: float = 1.2
    straightness: float = 2.0
    max_deviation: float = 0.15
    wave_window_s: float = 1.6
    min_reversals: int = 3
    min_amplitude: float = 0.25
    max_gap_s: float = 0.25


class MotionDetector:
    """Feed ``(t, x, y, hand_size)`` per frame; :meth:`update` returns a dynamic gesture name or None."""

    def __init__(self, config: MotionConfig | None = None) -> None:
        self.cfg = config or MotionConfig()
        self.track: deque[tuple[float, float, float]] = deque()

    def reset(self) -> None:
        self.track.clear()

    def update(self, t: float, x: float, y: float, hand_size: float) -> str | None:
        if self.track and t - self.track[-1][0] > self.cfg.max_gap_s:
            self.track.clear()
        size = max(hand_size, 1e-6)
        self.track.append((t, x / size, y / size))
        horizon = max(self.cfg.window_s, self.cfg.wave_window_s)
        while self.track and t - self.track[0][0] > horizon:
            self.track.popleft()
        found = self._swipe(t) or self._wave(t)
        if found:
            self.track.clear()
        return found

    def _swipe(self, t: float) -> str | None:
        pts = np.array([p for p in self.track if t - p[0] <= self.cfg.window_s])
        if len(pts) < 3:
            return None
        dx, dy = pts[-1, 1] - pts[0, 1], pts[-1, 2] - pts[0, 2]
        travel = float(np.hypot(dx, dy))
        path = float(np.sum(np.hypot(np.diff(pts[:, 1]), np.diff(pts[:, 2]))))
        if travel < self.cfg.min_travel or path > 1.5 * travel:
            return None
        rel = pts[:, 1:3] - pts[0, 1:3]
        deviation = float(np.max(np.abs(rel[:, 0] * dy - rel[:, 1] * dx))) / (travel * travel)
        if deviation > self.cfg.max_deviation:
            return None
        if abs(dx) >= self.cfg.straightness * abs(dy):
            return "swipe_right" if dx > 0 else "swipe_left"
        if abs(dy) >= self.cfg.straightness * abs(dx):
            return "swipe_down" if dy > 0 else "swipe_up"
        return None

    def _wave(self, t: float) -> str | None:
        pts = np.array([p for p in self.track if t - p[0] <= self.cfg.wave_window_s])
        if len(pts) < 6:
            return None
        xs = pts[:, 1]
        reversals, direction, anchor = 0, 0, xs[0]
        for x in xs[1:]:
            step = x - anchor
            if abs(step) < self.cfg.min_amplitude:
                continue
            d = 1 if step > 0 else -1
            if direction and d != direction:
                reversals += 1
            direction, anchor = d, x
        # mostly horizontal: a circling hand also reverses in x but moves as much in y
        if reversals >= self.cfg.min_reversals and np.ptp(pts[:, 2]) < min(1.0, 0.5 * np.ptp(xs)):
            return "wave"
        return None
