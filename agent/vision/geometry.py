"""Rotated rectangles, crops and letterboxing shared by the palm detector and the landmark model."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Rect:
    """A rotated rectangle in image pixels: centre, size and rotation (radians, clockwise in image space)."""

    cx: float
    cy: float
    w: float
    h: float
    rotation: float

    def corners(self) -> np.ndarray:
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        pts = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]], np.float32)
        pts *= np.array([self.w, self.h], np.float32)
        rot = np.array([[c, -s], [s, c]], np.float32)
        return pts @ rot.T + np.array([self.cx, self.cy], np.float32)


def normalize_radians(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def rotation_from(p0: np.ndarray, p1: np.ndarray, target: float = math.pi / 2) -> float:
    """Rotation that brings the vector p0→p1 (image pixels, y down) to point up."""
    return normalize_radians(target - math.atan2(-(float(p1[1]) - float(p0[1])), float(p1[0]) - float(p0[0])))


def transform_rect(rect: Rect, scale: float, shift_y: float, shift_x: float = 0.0) -> Rect:
    """MediaPipe's RectTransformation with ``square_long``: shift along the rect's axes, square, scale."""
    c, s = math.cos(rect.rotation), math.sin(rect.rotation)
    dx = rect.w * shift_x * c - rect.h * shift_y * s
    dy = rect.w * shift_x * s + rect.h * shift_y * c
    side = max(rect.w, rect.h) * scale
    return Rect(rect.cx + dx, rect.cy + dy, side, side, rect.rotation)


def crop_matrix(rect: Rect, size: int) -> np.ndarray:
    """2×3 affine matrix mapping the rotated rect onto a ``size``×``size`` crop."""
    src = rect.corners()[:3]
    dst = np.array([[0, 0], [size, 0], [size, size]], np.float32)
    return cv2.getAffineTransform(src.astype(np.float32), dst)


def crop_rect(image: np.ndarray, rect: Rect, size: int) -> np.ndarray:
    """Crop a rotated rect; outside the image the edge pixels are replicated (tight photos work too)."""
    m = crop_matrix(rect, size)
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_to_image(points: np.ndarray, rect: Rect, size: int) -> np.ndarray:
    """Map points from crop pixels back to image pixels."""
    rel = points[:, :2] / size - 0.5
    c, s = math.cos(rect.rotation), math.sin(rect.rotation)
    x = rect.cx + (rel[:, 0] * c - rel[:, 1] * s) * rect.w
    y = rect.cy + (rel[:, 0] * s + rel[:, 1] * c) * rect.h
    return np.stack([x, y], axis=1).astype(np.float32)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """Resize keeping aspect into ``size``×``size`` with black bars; returns (img, scale, pad_x, pad_y)."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    px, py = (size - nw) // 2, (size - nh) // 2
    out = np.zeros((size, size, 3), np.uint8)
    out[py:py + nh, px:px + nw] = resized
    return out, scale, float(px), float(py)


def rect_from_landmarks(lm: np.ndarray) -> Rect:
    """MediaPipe's hand-landmarks-to-rect: the ROI that tracks the hand into the next frame."""
    p1 = ((lm[6] + lm[14]) / 2 + lm[10]) / 2
    rot = rotation_from(lm[0], p1)
    idx = [0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18]
    pts = lm[idx, :2]
    c, s = math.cos(rot), math.sin(rot)
    r_inv = np.array([[c, s], [-s, c]], np.float32)  # rotate by -rot
    rp = pts @ r_inv.T
    lo, hi = rp.min(axis=0), rp.max(axis=0)
    mid = (lo + hi) / 2
    centre = mid @ np.array([[c, -s], [s, c]], np.float32).T
    base = Rect(float(centre[0]), float(centre[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]), rot)
    return transform_rect(base, scale=2.0, shift_y=-0.1)
