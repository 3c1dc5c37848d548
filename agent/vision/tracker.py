"""Temporal gesture logic: stable static gestures (hysteresis, cool-down), swipes/wave, pointing targets.

A static gesture is reported once it has been the classifier's answer for ``stable_frames`` consecutive
frames with a score of at least ``enter_score``; it then stays active (not re-reported) until another
answer is stable for ``release_frames`` frames or the hand is gone that long, and the same gesture is not
reported again within ``cooldown_s`` of its last report. No hand → nothing fires. While pointing, a new event
is reported when the pointed-at zone changes and stays for ``stable_frames`` frames.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..types import GestureEvent, Hand
from .classifier import GestureClassifier
from .dynamic import MotionConfig, MotionDetector
from .pointing import pointing_target

log = logging.getLogger(__name__)


@dataclass
class _Run:
    label: str = "none"
    target: str | None = None
    count: int = 0
    t_start: float = 0.0
    scores: list[float] = field(default_factory=list)


def hand_size(hand: Hand) -> float:
    x0, y0, x1, y1 = hand.box
    return float(max(x1 - x0, y1 - y0))


class GestureTracker:
    """Turn per-frame hands into :class:`~agent.types.GestureEvent` s. Call :meth:`update` once per frame."""

    def __init__(self, classifier: GestureClassifier | None = None, *,
                 zones: Mapping[str, Sequence[tuple[float, float]]] | None = None,
                 stable_frames: int = 4, release_frames: int = 3, enter_score: float = 0.6,
                 cooldown_s: float = 1.5, swipe_cooldown_s: float = 0.8, pointing_max_angle_deg: float = 8.0,
                 motion: MotionConfig | None = None, enable_motion: bool = True) -> None:
        self.classifier = classifier or GestureClassifier()
        self.zones = dict(zones or {})
        self.stable_frames = stable_frames
        self.release_frames = release_frames
        self.enter_score = enter_score
        self.cooldown_s = cooldown_s
        self.swipe_cooldown_s = swipe_cooldown_s
        self.max_angle = pointing_max_angle_deg
        self.motion = MotionDetector(motion) if enable_motion else None
        self._run = _Run()
        self._active: tuple[str, str | None] | None = None
        self._other = 0
        self._last_emit: dict[str, float] = {}
        self._seen = 0
        self._frames = 0

    def reset(self) -> None:
        self._run = _Run()
        self._active = None
        self._other = 0
        if self.motion:
            self.motion.reset()

    def update(self, hands: Sequence[Hand], t_mono: float) -> list[GestureEvent]:
        """Process one frame's hands (the largest is followed); return the events that became stable."""
        self._frames = min(self._frames + 1, self.stable_frames * 2)
        if not hands:
            self._seen = max(self._seen - 1, 0)
            self._release_step()
            self._run = _Run()
            if self.motion:
                self.motion.reset()
            return []
        self._seen = min(self._seen + 1, self.stable_frames * 2)
        hand = max(hands, key=hand_size)
        size = hand_size(hand)
        events: list[GestureEvent] = []
        label, score = self.classifier.classify(hand.landmarks)
        target = pointing_target(hand.landmarks, self.zones, self.max_angle) if label == "pointing" else None
        ev = self._static(label, score, target, t_mono, size)
        if ev:
            events.append(ev)
        if self.motion:
            centre = np.asarray(hand.landmarks)[[0, 5, 9, 13, 17]].mean(axis=0)
            dyn = self.motion.update(t_mono, float(centre[0]), float(centre[1]), size)
            if dyn and t_mono - self._last_emit.get(dyn, -1e9) >= self.swipe_cooldown_s:
                self._last_emit[dyn] = t_mono
                events.append(GestureEvent(dyn, 1.0, t_mono - self.motion.cfg.window_s, t_mono, size,
                                           self._visibility()))
        return events

    def _visibility(self) -> float:
        return min(1.0, self._seen / max(self._frames, 1))

    def _release_step(self) -> None:
        self._other += 1
        if self._other >= self.release_frames:
            self._active = None

    def _static(self, label: str, score: float, target: str | None, t: float, size: float) -> GestureEvent | None:
        run = self._run
        ok = label != "none" and score >= self.enter_score
        if ok and label == run.label and target == run.target:
            run.count += 1
            run.scores.append(score)
        else:
            self._run = run = _Run(label if ok else "none", target, 1 if ok else 0, t, [score] if ok else [])
        key = (run.label, run.target)
        if self._active is not None and key[0] == self._active[0] and (key[1] == self._active[1] or not ok):
            self._other = 0
        elif self._active is not None:
            self._release_step()
        if not ok or run.count < self.stable_frames or self._active == key:
            return None
        if self._active is not None and self._active[0] == run.label and self._active[1] == run.target:
            return None
        if t - self._last_emit.get(run.label + str(run.target), -1e9) < self.cooldown_s:
            return None
        self._active = key
        self._other = 0
        self._last_emit[run.label + str(run.target)] = t
        return GestureEvent(run.label, float(np.mean(run.scores)), run.t_start, t, size, self._visibility(),
                            run.target)
