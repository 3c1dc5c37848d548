"""A small multinomial logistic regression in numpy (deterministic full-batch gradient descent with Adam)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


@dataclass(frozen=True)
class Softmax:
    """``softmax(((x - mean) / std) @ w + b)`` over ``labels``."""

    labels: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    w: np.ndarray
    b: np.ndarray

    def proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(((np.atleast_2d(x) - self.mean) / self.std) @ self.w + self.b)

    def save(self, path: Path, **meta: object) -> None:
        path.write_text(json.dumps({"labels": list(self.labels), "mean": self.mean.round(6).tolist(),
                                    "std": self.std.round(6).tolist(), "w": self.w.round(6).tolist(),
                                    "b": self.b.round(6).tolist(), "meta": meta}))

    @classmethod
    def load(cls, path: Path) -> Softmax:
        d = json.loads(path.read_text())
        return cls(tuple(d["labels"]), np.array(d["mean"]), np.array(d["std"]), np.array(d["w"]),
                   np.array(d["b"]))


def fit_softmax(x: np.ndarray, y: np.ndarray, labels: tuple[str, ...], *, l2: float = 1e-3,
                steps: int = 600, lr: float = 0.05, class_weight: np.ndarray | None = None) -> Softmax:
    """Fit on features ``x`` (N, D) and integer targets ``y`` (N,)."""
    mean = x.mean(axis=0)
    std = x.std(axis=0) + 1e-6
    xs = (x - mean) / std
    n, d = xs.shape
    k = len(labels)
    onehot = np.eye(k)[y]
    sw = (class_weight[y] if class_weight is not None else np.ones(n))[:, None]
    sw = sw / sw.mean()
    w = np.zeros((d, k))
    b = np.zeros(k)
    mw, vw, mb, vb = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    for t in range(1, steps + 1):
        p = softmax(xs @ w + b)
        g = (p - onehot) * sw / n
        gw = xs.T @ g + l2 * w
        gb = g.sum(axis=0)
        mw, vw = 0.9 * mw + 0.1 * gw, 0.999 * vw + 0.001 * gw**2
        mb, vb = 0.9 * mb + 0.1 * gb, 0.999 * vb + 0.001 * gb**2
        c1, c2 = 1 - 0.9**t, 1 - 0.999**t
        w -= lr * (mw / c1) / (np.sqrt(vw / c2) + 1e-8)
        b -= lr * (mb / c1) / (np.sqrt(vb / c2) + 1e-8)
    return Softmax(labels, mean, std, w, b)
