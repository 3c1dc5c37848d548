"""Decision rules compared by :mod:`models.speech.measure.proxy`, and their threshold calibration.

A rule maps the heads' logits ``(H, N, L)`` (``unknown`` last, index ``unk``) to a predicted command per row and
a score; a row is accepted when its score ≥ the threshold (``-inf`` scores: never). All probability-based
rules use the mean of the heads' softmax, as the shipped ONNX ensembles do.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

Rule = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def softmax(z: np.ndarray, temp: float = 1.0) -> np.ndarray:
    e = np.exp((z - z.max(-1, keepdims=True)) / temp)
    return np.asarray(e / e.sum(-1, keepdims=True))


def mean_probs(z: np.ndarray, temp: float = 1.0) -> np.ndarray:
    return np.asarray(softmax(z, temp).mean(0))


def unknown_scaled(p: np.ndarray, w: float) -> np.ndarray:
    """Probabilities with the unknown (last) class multiplied by ``w`` and renormalized (a prior shift)."""
    q = p.copy()
    q[..., -1] *= w
    return np.asarray(q / q.sum(-1, keepdims=True))


def _argmax_rule(p: np.ndarray, unk: int) -> tuple[np.ndarray, np.ndarray]:
    pred = p.argmax(1)
    return pred, np.where(pred == unk, -np.inf, p.max(1))


def current(z: np.ndarray, unk: int, temp: float = 1.0, w: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The shipped rule: argmax over all labels incl. unknown, score = its probability (``w`` < 1: the unknown
    probability scaled by ``w`` first; ``temp``: softmax temperature)."""
    p = mean_probs(z, temp)
    return _argmax_rule(unknown_scaled(p, w) if w != 1.0 else p, unk)


def cmd_prob(z: np.ndarray, unk: int) -> tuple[np.ndarray, np.ndarray]:
    """Best command (unknown excluded from the argmax), score = its probability."""
    p = mean_probs(z)
    pred = p[:, :unk].argmax(1)
    return pred, p[np.arange(len(p)), pred]


def cmd_softmax(z: np.ndarray, unk: int) -> tuple[np.ndarray, np.ndarray]:
    """Softmax over the command logits only (unknown ignored)."""
    p = mean_probs(z[..., :unk])
    pred = p.argmax(1)
    return pred, p.max(1)


def margin_unknown(z: np.ndarray, unk: int) -> tuple[np.ndarray, np.ndarray]:
    p = mean_probs(z)
    pred = p[:, :unk].argmax(1)
    return pred, p[np.arange(len(p)), pred] - p[:, unk]


def log_ratio_unknown(z: np.ndarray, unk: int) -> tuple[np.ndarray, np.ndarray]:
    p = np.clip(mean_probs(z), 1e-9, 1.0)
    pred = p[:, :unk].argmax(1)
    return pred, np.log(p[np.arange(len(p)), pred]) - np.log(p[:, unk])


def margin_second(z: np.ndarray, unk: int) -> tuple[np.ndarray, np.ndarray]:
    """Best command's probability minus the next best label's (unknown included)."""
    p = mean_probs(z)
    pred = p[:, :unk].argmax(1)
    best = p[np.arange(len(p)), pred]
    rest = p.copy()
    rest[np.arange(len(p)), pred] = -1.0
    return pred, best - rest.max(1)


def max_logit(z: np.ndarray, unk: int) -> tuple[np.ndarray, np.ndarray]:
    m = z.mean(0)
    pred = m[:, :unk].argmax(1)
    return pred, m[np.arange(len(m)), pred] - m[:, unk]


def energy(z: np.ndarray, unk: int) -> tuple[np.ndarray, np.ndarray]:
    """log Σ exp(command logits) minus the unknown logit (mean over heads); best command by logit."""
    c = z[..., :unk]
    mx = c.max(-1, keepdims=True)
    lse = (mx[..., 0] + np.log(np.exp(c - mx).sum(-1))) - z[..., unk]
    return c.mean(0).argmax(1), lse.mean(0)


def agree(z: np.ndarray, unk: int) -> tuple[np.ndarray, np.ndarray]:
    """The current rule, but only when every head's argmax is the same command."""
    pred, score = current(z, unk)
    heads = z.argmax(-1)
    return pred, np.where((heads == heads[:1]).all(0), score, -np.inf)


RULES: dict[str, Rule] = {
    "current": current,
    "temp2": partial(current, temp=2.0),
    "unk_x0.5": partial(current, w=0.5),
    "unk_x0.25": partial(current, w=0.25),
    "unk_x0.1": partial(current, w=0.1),
    "cmd_prob": cmd_prob,
    "cmd_softmax": cmd_softmax,
    "margin_unk": margin_unknown,
    "logratio_unk": log_ratio_unknown,
    "margin_2nd": margin_second,
    "maxlogit_unk": max_logit,
    "energy": energy,
    "agree": agree,
}


def lowest_threshold(scores: np.ndarray, max_rate: float) -> float:
    """The lowest threshold t with mean(scores ≥ t) ≤ ``max_rate``."""
    if not len(scores):
        return -np.inf
    s = np.sort(scores)[::-1]
    k = int(np.floor(max_rate * len(s)))
    return -np.inf if k >= len(s) else float(np.nextafter(s[k], np.inf))


def calibrate(pred: np.ndarray, score: np.ndarray, y: np.ndarray, unk: int, noise: np.ndarray,
              near: np.ndarray, noise_windows: np.ndarray, max_fa: float = 0.05,
              max_noise_fa: float = 0.01) -> float:
    """The shipped calibration rule for any score: the lowest threshold with held-out synthetic unknown speech
    (near-misses aside) accepted ≤ ``max_fa``, noise rows ≤ ``max_noise_fa`` and no noise window accepted."""
    speech = (y == unk) & ~noise & ~near
    t = max(lowest_threshold(score[speech], max_fa), lowest_threshold(score[noise], max_noise_fa),
            lowest_threshold(noise_windows, 0.0))
    return float(t)


def score_rule(name: str, z: np.ndarray, unk: int) -> tuple[np.ndarray, np.ndarray]:
    return RULES[name](z, unk)
