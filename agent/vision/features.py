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
N_FEATURES = 42 + 15 + 5 + 10 + 6


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


def _angle_cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


def features(lm: np.ndarray) -> np.ndarray:
    """Feature vector (N_FEATURES,) float32 of one hand."""
    q, ang, mirror = canonical(lm)
    out: list[float] = list(q.reshape(-1))
    # bending: cosine between consecutive bones of each finger (wrist→MCP, MCP→PIP, PIP→DIP, DIP→tip)
    for f in FINGERS:
        chain = [0, *f]
        bones = [q[chain[i + 1]] - q[chain[i]] for i in range(4)]
        out.extend(_angle_cos(bones[i], bones[i + 1]) for i in range(3))
    # extension: tip distance from the wrist relative to the finger's length
    for f in FINGERS:
        length = sum(np.linalg.norm(q[f[i + 1]] - q[f[i]]) for i in range(3)) + 1e-6
        out.append(float(np.linalg.norm(q[f[3]] - q[f[0]]) / length))
    # fingertip pairwise distances
    for i in range(5):
        for j in range(i + 1, 5):
            out.append(float(np.linalg.norm(q[TIPS[i]] - q[TIPS[j]])))
    # orientation in the image: palm direction and the thumb's direction (x mirrored with the hand)
    thumb = np.asarray(lm, np.float64)[4, :2] - np.asarray(lm, np.float64)[2, :2]
    thumb = thumb / (np.linalg.norm(thumb) + 1e-9)
    out.extend([np.sin(ang) * mirror, np.cos(ang), thumb[0] * mirror, thumb[1],
                float(np.linalg.norm(q[4] - q[5])), float(np.linalg.norm(q[4] - q[9]))])
    return np.asarray(out, dtype=np.float32)


def features_batch(lms: np.ndarray) -> np.ndarray:
    return np.stack([features(x) for x in lms]) if len(lms) else np.zeros((0, N_FEATURES), np.float32)
