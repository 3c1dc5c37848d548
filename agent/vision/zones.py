"""Pointing-ray geometry: which configured zone (a polygon in camera-image pixels) a ray hits first.

Pure functions on plain floats, shared by the vision pointing code, the fusion scenario builder and tests
(one module, importing nothing of the agent, so vision and fusion need not import each other).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Point = tuple[float, float]


def point_in_polygon(p: Point, polygon: Sequence[Point]) -> bool:
    """Even-odd rule; points on an edge may fall either way."""
    x, y = p
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            xc = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if xc > x:
                inside = not inside
    return inside


def _ray_segment(o: Point, d: Point, a: Point, b: Point) -> float | None:
    """Distance along the unit ray ``o + t d`` (t >= 0) to segment ``ab``, or None."""
    ex, ey = b[0] - a[0], b[1] - a[1]
    den = d[0] * ey - d[1] * ex
    if abs(den) < 1e-12:
        return None
    wx, wy = a[0] - o[0], a[1] - o[1]
    t = (wx * ey - wy * ex) / den
    u = (wx * d[1] - wy * d[0]) / den
    if t >= 0.0 and 0.0 <= u <= 1.0:
        return t
    return None


def ray_distance(origin: Point, direction: Point, polygon: Sequence[Point]) -> float | None:
    """Distance from ``origin`` along ``direction`` to ``polygon`` (0 when inside), or None if missed."""
    norm = math.hypot(direction[0], direction[1])
    if norm < 1e-9:
        return None
    if point_in_polygon(origin, polygon):
        return 0.0
    d = (direction[0] / norm, direction[1] / norm)
    best: float | None = None
    n = len(polygon)
    for i in range(n):
        t = _ray_segment(origin, d, polygon[i], polygon[(i + 1) % n])
        if t is not None and (best is None or t < best):
            best = t
    return best


def hit_zone(origin: Point, direction: Point, zones: Mapping[str, Sequence[Point]],
             max_distance: float = math.inf) -> str | None:
    """Name of the zone the ray hits first (ties broken by name), or None."""
    hits: list[tuple[float, str]] = []
    for name, poly in zones.items():
        t = ray_distance(origin, direction, poly)
        if t is not None and t <= max_distance:
            hits.append((t, name))
    return min(hits)[1] if hits else None


def pointing_ray(landmarks: Sequence[Sequence[float]]) -> tuple[Point, Point]:
    """Origin (index fingertip) and direction (index MCP -> tip, landmarks 5 -> 8) of a 21-point hand."""
    base, tip = landmarks[5], landmarks[8]
    return (float(tip[0]), float(tip[1])), (float(tip[0]) - float(base[0]), float(tip[1]) - float(base[1]))
