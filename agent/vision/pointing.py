"""Pointing: the index-finger ray in image coordinates and the configured zone it hits.

Zones are polygons in camera-image pixels, ``{"lamp": [(x, y), ...], ...}``. The ray starts at the index tip
and runs along the finger (least-squares direction through MCP, PIP, DIP and tip). A zone is hit when the ray
crosses its polygon (or starts inside it); the nearest hit wins. With ``max_angle_deg`` > 0 a ray that misses
every polygon still selects the zone whose nearest vertex or centre lies within that angle of the ray.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from .zones import ray_distance

Zones = Mapping[str, Sequence[tuple[float, float]]]


def pointing_ray(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(origin (2,), unit direction (2,)) of the index finger, in the landmarks' image coordinates."""
    pts = np.asarray(landmarks, np.float64)[[5, 6, 7, 8], :2]
    centred = pts - pts.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    d = vt[0]
    if np.dot(d, pts[3] - pts[0]) < 0:
        d = -d
    return pts[3].copy(), d / (np.linalg.norm(d) + 1e-12)


def zone_hit(origin: np.ndarray, direction: np.ndarray, zones: Zones, max_angle_deg: float = 0.0) -> str | None:
    """Name of the zone the ray hits first, or None."""
    hits = []
    for name, poly in zones.items():
        dist = ray_distance((float(origin[0]), float(origin[1])), (float(direction[0]), float(direction[1])),
                            [(float(x), float(y)) for x, y in poly])
        if dist is not None:
            hits.append((dist, name))
    if hits:
        return min(hits)[1]
    if max_angle_deg <= 0:
        return None
    best: tuple[float, str] | None = None
    for name, poly in zones.items():
        pts = np.asarray(poly, np.float64)
        for p in [*pts, pts.mean(axis=0)]:
            v = p - origin
            ang = math.degrees(math.acos(np.clip(np.dot(v, direction) / (np.linalg.norm(v) + 1e-12), -1, 1)))
            if ang <= max_angle_deg and (best is None or ang < best[0]):
                best = (ang, name)
    return best[1] if best else None


def pointing_target(landmarks: np.ndarray, zones: Zones, max_angle_deg: float = 0.0) -> str | None:
    """The zone the index finger of these landmarks points at, or None."""
    if not zones:
        return None
    origin, direction = pointing_ray(landmarks)
    return zone_hit(origin, direction, zones, max_angle_deg)
