"""The synthetic hand model (build time) against the geometry of real hands, and the vectorized features."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agent.vision.features import N_FEATURES, canonical, features, features_batch
from models.vision import handmodel as hm
from models.vision.gesture_data import real_landmarks


def _canon(lms: np.ndarray) -> np.ndarray:
    return np.stack([canonical(x)[0] for x in lms])


def _poses(label: str, n: int, seed: int = 0) -> np.ndarray:
    r = np.random.default_rng(seed)
    return np.stack([hm.sample(label, r) for _ in range(n)])


def test_palm_layout_matches_real_hands(vision_data: Path) -> None:
    """Knuckle row width over palm length (wrist → middle knuckle) of synthetic hands overlaps the real one: the old
    model's palm was 0.44 wide against 0.66-0.81 on real hands."""
    lms, _, _ = real_landmarks(vision_data)
    real = _canon(lms)
    synth = _canon(np.concatenate([_poses(lab, 60) for lab in ("open_palm", "fist", "pointing", "victory")]))

    def width(q: np.ndarray) -> np.ndarray:
        return np.linalg.norm(q[:, 5] - q[:, 17], axis=1) / np.linalg.norm(q[:, 9], axis=1)

    assert 0.5 < np.median(width(synth)) < 0.8 < np.median(width(real)) + 0.1


def test_open_fingers_fan_out_and_folded_fingers_curl_tight() -> None:
    q = _canon(_poses("open_palm", 200))

    def direction(a: int, b: int) -> np.ndarray:  # degrees toward the thumb side (+x) from straight up (-y)
        d = q[:, b] - q[:, a]
        return np.degrees(np.arctan2(d[:, 0], -d[:, 1]))

    index, pinky = direction(5, 8), direction(17, 20)
    assert np.median(index - pinky) > 15  # index and pinky diverge (they used to converge)
    f = _canon(_poses("fist", 200))
    tip_to_knuckle = np.linalg.norm(f[:, 12] - f[:, 9], axis=1)
    assert np.median(tip_to_knuckle) < 0.6  # real fists: ~0.33 palm sizes


def test_fist_thumb_rests_on_the_index() -> None:
    f = _canon(_poses("fist", 300))
    assert np.median(np.linalg.norm(f[:, 4] - f[:, 6], axis=1)) < 0.4  # real fists: 0.26


def test_batch_features_equal_single_hand_features() -> None:
    lms = np.concatenate([_poses("ok", 5), _poses("thumbs_up", 5)])
    batch = features_batch(lms)
    assert batch.shape == (10, N_FEATURES) and batch.dtype == np.float32
    np.testing.assert_allclose(batch, np.stack([features(x) for x in lms]), atol=1e-6)
    assert features_batch(np.zeros((0, 21, 2))).shape == (0, N_FEATURES)
