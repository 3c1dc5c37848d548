"""Dynamic gestures on real fingertip trajectories: circles and still hands are not swipes or waves."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from agent.vision.dynamic import MotionDetector

CLASSES = {"0": "stop", "1": "clockwise", "2": "counter_clockwise", "3": "move"}


def _fire_rates(vision_data: Path, hand_px: float, fps: float = 15.0) -> dict[str, float]:
    """Fraction of point-history rows (16 fingertip points, normalized to the image) on which anything fires."""
    path = vision_data / "hand_landmarks" / "point_history_Kazuhito00.csv"
    fired: dict[str, list[bool]] = {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0] not in CLASSES:
                continue
            pts = np.array(row[1:33], np.float64).reshape(16, 2) * [640.0, 480.0]
            m = MotionDetector()
            hit = any(m.update(i / fps, x, y, hand_px) for i, (x, y) in enumerate(pts))
            fired.setdefault(CLASSES[row[0]], []).append(hit)
    return {k: float(np.mean(v)) for k, v in fired.items()}


@pytest.mark.parametrize("hand_px", [64.0, 128.0])
def test_circling_and_still_fingertips_do_not_fire(vision_data: Path, hand_px: float) -> None:
    rates = _fire_rates(vision_data, hand_px)
    assert rates["stop"] == 0.0
    assert rates["clockwise"] < 0.02 and rates["counter_clockwise"] < 0.02, rates
    assert rates["move"] > 0.02, rates  # real straight movements still do


def test_arc_is_not_a_swipe_but_a_line_is() -> None:
    def run(points: list[tuple[float, float]]) -> list[str]:
        m = MotionDetector()
        return [g for i, (x, y) in enumerate(points) if (g := m.update(i / 15, x, y, 100.0))]

    arc = [(300 + 100 * np.cos(a), 300 - 100 * np.sin(a)) for a in np.linspace(0, np.pi * 0.75, 9)]
    assert run(arc) == []
    assert run([(100 + 20 * i, 200 + 2 * i) for i in range(9)]) == ["swipe_right"]


def test_circle_is_not_a_wave() -> None:
    m = MotionDetector()
    pts = [(300 + 40 * np.cos(i / 2.2), 200 + 40 * np.sin(i / 2.2)) for i in range(30)]
    assert [g for i, (x, y) in enumerate(pts) if (g := m.update(i / 15, x, y, 100.0)) == "wave"] == []
