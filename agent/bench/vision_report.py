"""Confusion matrices as text and PNG (drawn with OpenCV), and per-class accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np


def confusion(truth: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    idx = {lab: i for i, lab in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), np.int64)
    for t, p in zip(truth, pred, strict=False):
        if t in idx and p in idx:
            m[idx[t], idx[p]] += 1
    return m


def per_class_accuracy(m: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    out = {}
    for i, lab in enumerate(labels):
        n = int(m[i].sum())
        if n:
            out[lab] = float(m[i, i] / n)
    return out


def confusion_text(m: np.ndarray, labels: Sequence[str]) -> str:
    short = [lab[:10] for lab in labels]
    width = max(6, *(len(s) for s in short)) + 1
    lines = ["truth \\ pred".ljust(14) + "".join(s.rjust(width) for s in short)]
    for i, lab in enumerate(short):
        if m[i].sum():
            lines.append(lab.ljust(14) + "".join(str(int(v)).rjust(width) for v in m[i]))
    return "\n".join(lines)


def confusion_png(m: np.ndarray, labels: Sequence[str], path: Path, title: str = "") -> None:
    """Row-normalized confusion matrix as a PNG: darker = more; counts in the cells."""
    n = len(labels)
    cell, left, top = 64, 120, 130
    img = np.full((top + n * cell + 20, left + n * cell + 20, 3), 255, np.uint8)
    rows = m.sum(axis=1, keepdims=True)
    frac = np.divide(m, np.maximum(rows, 1))
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, title, (10, 22), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    for i in range(n):
        cv2.putText(img, labels[i][:12], (5, top + i * cell + cell // 2 + 5), font, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        # column labels written vertically: draw on a strip and rotate
        strip = np.full((cell, top - 35, 3), 255, np.uint8)
        cv2.putText(strip, labels[i][:12], (4, cell // 2 + 5), font, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        rot = cv2.rotate(strip, cv2.ROTATE_90_COUNTERCLOCKWISE)
        img[35:top, left + i * cell:left + (i + 1) * cell] = rot
        for j in range(n):
            v = float(frac[i, j])
            shade = int(255 * (1 - v))
            x0, y0 = left + j * cell, top + i * cell
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), (255, shade, shade), -1)
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), (160, 160, 160), 1)
            if m[i, j]:
                colour = (255, 255, 255) if v > 0.5 else (0, 0, 0)
                cv2.putText(img, str(int(m[i, j])), (x0 + 6, y0 + cell // 2 + 5), font, 0.42, colour, 1,
                            cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"cannot write {path}")
