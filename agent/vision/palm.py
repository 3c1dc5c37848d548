"""Palm detector post-processing: SSD anchors, box decoding, weighted NMS, palm → hand ROI."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .geometry import Rect, rotation_from, transform_rect

INPUT_SIZE = 192


@dataclass(frozen=True)
class Palm:
    """A palm detection in image pixels: box (x0, y0, x1, y1), 7 keypoints (7, 2), score."""

    box: tuple[float, float, float, float]
    keypoints: np.ndarray
    score: float

    def hand_rect(self) -> Rect:
        """The rotated hand ROI the landmark model reads (MediaPipe: scale 2.6, shift −0.5, square)."""
        x0, y0, x1, y1 = self.box
        rot = rotation_from(self.keypoints[0], self.keypoints[2])
        base = Rect((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, rot)
        return transform_rect(base, scale=2.6, shift_y=-0.5)

    def shifted(self, dx: float, dy: float) -> Palm:
        """The same palm moved by (dx, dy) pixels: from a crop's coordinates back to the frame's."""
        x0, y0, x1, y1 = self.box
        kp = (self.keypoints + np.array([dx, dy], np.float32)).astype(np.float32)
        return Palm((x0 + dx, y0 + dy, x1 + dx, y1 + dy), kp, self.score)


@lru_cache(maxsize=1)
def anchors() -> np.ndarray:
    """(2016, 2) anchor centres in [0, 1]: 24×24×2 (stride 8) then 12×12×6 (strides 16, 16, 16)."""
    out: list[np.ndarray] = []
    for grid, per_cell in ((24, 2), (12, 6)):
        ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        centres = np.stack([(xs + 0.5) / grid, (ys + 0.5) / grid], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, min_score: float = 0.5) -> list[tuple[np.ndarray, float]]:
    """Decode raw model outputs into (values(18,) in [0,1] input coords, score) above ``min_score``."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1), -100, 100)))
    keep = np.nonzero(scores >= min_score)[0]
    if keep.size == 0:
        return []
    raw = raw_boxes.reshape(-1, 18)[keep] / INPUT_SIZE
    anc = anchors()[keep]
    vals = raw.copy()
    vals[:, 0] += anc[:, 0]
    vals[:, 1] += anc[:, 1]
    vals[:, 4::2] += anc[:, :1]
    vals[:, 5::2] += anc[:, 1:2]
    return [(vals[i], float(scores[keep[i]])) for i in range(keep.size)]


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0 = np.maximum(a[0], b[:, 0])
    y0 = np.maximum(a[1], b[:, 1])
    x1 = np.minimum(a[2], b[:, 2])
    y1 = np.minimum(a[3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.asarray(inter / np.maximum(area, 1e-9))


def weighted_nms(dets: list[tuple[np.ndarray, float]], iou_thresh: float = 0.3,
                 max_out: int = 4) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted NMS: overlapping detections are averaged, weighted by score."""
    if not dets:
        return []
    vals = np.stack([d[0] for d in dets])
    scores = np.array([d[1] for d in dets], np.float32)
    boxes = np.stack([vals[:, 0] - vals[:, 2] / 2, vals[:, 1] - vals[:, 3] / 2,
                      vals[:, 0] + vals[:, 2] / 2, vals[:, 1] + vals[:, 3] / 2], axis=1)
    order = np.argsort(-scores)
    out: list[tuple[np.ndarray, float]] = []
    while order.size and len(out) < max_out:
        best = order[0]
        ious = _iou(boxes[best], boxes[order])
        group = order[ious > iou_thresh]
        w = scores[group][:, None]
        merged = (vals[group] * w).sum(axis=0) / w.sum()
        out.append((merged, float(scores[best])))
        order = order[ious <= iou_thresh]
    return out


def to_palms(dets: list[tuple[np.ndarray, float]], scale: float, pad_x: float, pad_y: float,
             offset: tuple[float, float] = (0.0, 0.0)) -> list[Palm]:
    """Undo the letterbox (and any padding offset) into original image pixels."""
    palms = []
    for v, score in dets:
        px = (v * INPUT_SIZE)
        cx, cy = (px[0] - pad_x) / scale - offset[0], (px[1] - pad_y) / scale - offset[1]
        w, h = px[2] / scale, px[3] / scale
        kp = px[4:].reshape(7, 2).copy()
        kp[:, 0] = (kp[:, 0] - pad_x) / scale - offset[0]
        kp[:, 1] = (kp[:, 1] - pad_y) / scale - offset[1]
        palms.append(Palm((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), kp.astype(np.float32), score))
    return palms
