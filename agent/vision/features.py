"""Geometric hand-pose features shared by training (``models/vision``) and serving.

Input: 21 landmarks (x, y) in any consistent frame with y pointing down (pixels or normalized).
The features are invariant to position and scale; finger shape is described in a frame rotated so the palm
points up and mirrored so the thumb side is on the right (handedness and palm/back view normalized). The
hand's orientation in the image is kept separately (palm direction and thumb direction), which is what tells
thumbs-up from thumbs-down.
"""

from __future__ import annotations

import numpy as np

FINGERS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
TIPS = (4, 8, 12, 16, 20)
N_FEATURES = 42 + 15 + 5 + 10 + 6 + 2
NON_THUMB = np.array([0, *range(5, 21)])


def palm_size(lm: np.ndarray) -> float:
    """A scale that barely changes with finger pose: mean of wrist→index/middle/pinky MCP and index→pinky MCP."""
    d = [np.linalg.norm(lm[i] - lm[0]) for i in (5, 9, 17)] + [np.linalg.norm(lm[5] - lm[17])]
    return float(max(np.mean(d), 1e-6))


def canonical(lm: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Landmarks centred on the wrist, scaled by palm size, palm pointing up (−y), thumb side at +x.

    Returns (points (21, 2), palm angle in the image (radians, 0 = up), mirror sign (+1 or −1)).
    """
    p = np.asarray(lm, dtype=np.float64)[:, :2]
    p = (p - p[0]) / palm_size(p)
    v = p[9]
    ang = float(np.arctan2(v[0], -v[1]))  # 0 when the palm points up in the image
    c, s = np.cos(ang), np.sin(ang)
    rot = np.array([[c, s], [-s, c]])
    q = p @ rot.T
    mirror = 1.0 if q[5, 0] >= q[17, 0] else -1.0
    q[:, 0] *= mirror
    return q, ang, mirror


CHAINS = np.array([[0, *f] for f in FINGERS])  # (5, 5): wrist and the finger's four points
TIP_A, TIP_B = (np.array(TIPS)[i] for i in np.triu_indices(5, 1))
SPAN_A, SPAN_B = np.array([5, 9, 17, 5]), np.array([0, 0, 0, 17])


def _norm(v: np.ndarray) -> np.ndarray:
    return np.sqrt((v * v).sum(axis=-1))


def features_batch(lms: np.ndarray) -> np.ndarray:
    """Feature vectors (N, N_FEATURES) float32 of hands (N, 21, 2), vectorized (no loop over hands or points).

    Canonical points (42: centred on the wrist, scaled by palm size, palm up, thumb side at +x); the cosine between
    consecutive bones of each finger from the wrist (15); each finger's tip→base distance over its length (5);
    fingertip pairwise distances (10); orientation in the image: palm direction, thumb direction (x mirrored with
    the hand) and thumb tip to index / middle knuckle (6); how far the thumb tip sticks out above / below every
    point of the rest of the hand, in palm sizes (2: what tells a thumbs-up from a fist with the thumb on top).
    """
    raw = np.asarray(lms, np.float64)[..., :2]
    n = len(raw)
    out = np.empty((n, N_FEATURES), np.float32)
    if n == 0:
        return out
    p = raw - raw[:, :1]
    spans = p[:, SPAN_A] - p[:, SPAN_B]  # wrist→index/middle/pinky knuckle, index→pinky knuckle
    size = np.maximum(_norm(spans).mean(axis=1), 1e-6)
    p /= size[:, None, None]
    ang = np.arctan2(p[:, 9, 0], -p[:, 9, 1])
    c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
    q = np.empty_like(p)
    q[..., 0] = c * p[..., 0] + s * p[..., 1]
    q[..., 1] = c * p[..., 1] - s * p[..., 0]
    mirror = np.where(q[:, 5, 0] >= q[:, 17, 0], 1.0, -1.0)
    q[..., 0] *= mirror[:, None]
    bones = q[:, CHAINS[:, 1:]] - q[:, CHAINS[:, :-1]]  # (N, 5, 4, 2)
    blen = _norm(bones)
    out[:, :42] = q.reshape(n, 42)
    out[:, 42:57] = ((bones[:, :, :-1] * bones[:, :, 1:]).sum(axis=3)
                     / (blen[:, :, :-1] * blen[:, :, 1:] + 1e-9)).reshape(n, 15)
    out[:, 57:62] = _norm(q[:, CHAINS[:, 4]] - q[:, CHAINS[:, 1]]) / (blen[:, :, 1:].sum(axis=2) + 1e-6)
    out[:, 62:72] = _norm(q[:, TIP_A] - q[:, TIP_B])
    thumb = raw[:, 4] - raw[:, 2]
    thumb /= _norm(thumb)[:, None] + 1e-9
    out[:, 72] = np.sin(ang) * mirror
    out[:, 73] = np.cos(ang)
    out[:, 74] = thumb[:, 0] * mirror
    out[:, 75] = thumb[:, 1]
    out[:, 76:78] = _norm(q[:, 4:5] - q[:, [5, 9]])
    rest_y = raw[:, NON_THUMB, 1]
    out[:, 78] = (rest_y.min(axis=1) - raw[:, 4, 1]) / size
    out[:, 79] = (raw[:, 4, 1] - rest_y.max(axis=1)) / size
    np.clip(out[:, 78:80], -2.0, 2.0, out=out[:, 78:80])
    return out


def features(lm: np.ndarray) -> np.ndarray:
    """Feature vector (N_FEATURES,) float32 of one hand."""
    return features_batch(np.asarray(lm)[None])[0]
