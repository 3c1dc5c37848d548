"""Fit the late-fusion reliability weights and the early-fusion joint classifier on the fit split.

Late fusion: ``theta_voice``, ``theta_gesture`` and the ``none`` bias of :mod:`agent.fusion.model` minimize the
cross-entropy of the fused posterior against the intended action (a tiny logistic regression on reliability
features; numpy, deterministic). The evidence terms come from the runtime's own functions, so fitting and
serving cannot drift apart.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from agent.fusion import FusionEngine, LateFusionModel
from agent.fusion.model import (
    GESTURE_FEATURES,
    NONE,
    VOICE_FEATURES,
    candidates_for,
    gesture_evidence,
    gesture_reliability,
    voice_evidence,
    voice_reliability,
)

from .linear import Softmax, fit_softmax
from .scenarios import Observed
from .systems import CLASSES, Decision, early, early_features, early_target, eval_config
from .vocab import SNRS

log = logging.getLogger(__name__)


def _late_arrays(obs: Sequence[Observed]) -> tuple[Any, ...]:
    eng = FusionEngine(eval_config(), LateFusionModel((0.0,) * 4, (0.0,) * 4, 0.0, 0.0, {}))
    names = sorted({*CLASSES, *(c for o in obs for c in candidates_for(o.speech, eng.supported(o.gesture)))})
    k = len(names)
    n = len(obs)
    lv, lg, mask, y = np.zeros((n, k)), np.zeros((n, k)), np.zeros((n, k), bool), np.zeros(n, int)
    rv, rg = np.zeros((n, len(VOICE_FEATURES))), np.zeros((n, len(GESTURE_FEATURES)))
    hv, hg = np.zeros(n), np.zeros(n)
    for i, o in enumerate(obs):
        sup = eng.supported(o.gesture)
        cands = candidates_for(o.speech, sup)
        idx = [names.index(c) for c in cands]
        mask[i, idx] = True
        lv[i, idx] = voice_evidence(o.speech, cands)
        lg[i, idx] = gesture_evidence(o.gesture.score if o.gesture else None, sup, cands)
        if o.speech is not None:
            rv[i], hv[i] = voice_reliability(o.speech), 1.0
        if o.gesture is not None and sup:
            rg[i], hg[i] = gesture_reliability(o.gesture), 1.0
        y[i] = names.index(CLASSES[early_target(o)])
        if not mask[i, y[i]]:
            mask[i, y[i]] = True  # intended action not nameable by either modality: unreachable, kept in loss
    return lv, lg, mask, y, rv, rg, hv, hg, names.index(NONE)


def fit_late(obs: Sequence[Observed], steps: int = 1500, lr: float = 0.03, l2: float = 1e-3) -> LateFusionModel:
    lv, lg, mask, y, rv, rg, hv, hg, none = _late_arrays(obs)
    n, k = lv.shape
    onehot = np.eye(k)[y]
    params = np.concatenate([[1.0, 0, 0, 0], [1.0, 0, 0, 0], [0.0]])
    m, v = np.zeros_like(params), np.zeros_like(params)
    nv = len(VOICE_FEATURES)
    # a cleaner signal or a bigger, more visible hand may never lower a modality's weight (projected gradient)
    monotone = [VOICE_FEATURES.index("snr_db/10"), nv + GESTURE_FEATURES.index("hand_size/0.2"),
                nv + GESTURE_FEATURES.index("visibility")]
    for t in range(1, steps + 1):
        tv, tg, b = params[:nv], params[nv:-1], params[-1]
        av, ag = rv @ tv, rg @ tg
        wv, wg = np.logaddexp(0, av) * hv, np.logaddexp(0, ag) * hg
        z = wv[:, None] * lv + wg[:, None] * lg
        z[:, none] += b
        z = np.where(mask, z, -1e9)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z) * mask
        p /= p.sum(axis=1, keepdims=True)
        d = (p - onehot) / n
        gwv, gwg = (d * lv).sum(axis=1), (d * lg).sum(axis=1)
        grad = np.concatenate([(gwv * hv / (1 + np.exp(-av))) @ rv, (gwg * hg / (1 + np.exp(-ag))) @ rg,
                               [d[:, none].sum()]]) + l2 * params
        m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad**2
        params -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        params[monotone] = np.maximum(params[monotone], 0.0)
    nll = float(-np.log(p[np.arange(n), y] + 1e-12).mean())
    log.info("late fusion fit: %d examples, nll %.4f, params %s", n, nll, np.round(params, 3))
    return LateFusionModel(tuple(float(x) for x in params[:nv]), tuple(float(x) for x in params[nv:-1]),
                           float(params[-1]), 0.5, {"fit_nll": round(nll, 4), "fit_examples": n})


def _folds(n: int, k: int = 5) -> np.ndarray:
    per = len(SNRS)  # observations come base scenario by base scenario, one per SNR: fold by base scenario
    return np.array([(i // per) % k for i in range(n)])


def fit_early(obs: Sequence[Observed]) -> tuple[Softmax, list[Decision]]:
    """Joint softmax on concatenated features, L2 strength chosen on a held-out fifth of the base scenarios.
    Also returns out-of-fold decisions (5-fold by base scenario) to calibrate its threshold on."""
    x = np.stack([early_features(o) for o in obs])
    y = np.array([early_target(o) for o in obs])
    folds = _folds(len(obs))
    hold = folds == 0
    best = (-1.0, 1e-2)
    for l2 in (1e-2, 1e-1, 1.0):
        m = fit_softmax(x[~hold], y[~hold], CLASSES, l2=l2, steps=400, lr=0.03)
        acc = float((m.proba(x[hold]).argmax(axis=1) == y[hold]).mean())
        log.info("early fusion l2=%g: held-out accuracy %.3f", l2, acc)
        if acc > best[0]:
            best = (acc, l2)
    oof: list[Decision] = [("abstain", 0.0)] * len(obs)
    for f in range(5):
        m = fit_softmax(x[folds != f], y[folds != f], CLASSES, l2=best[1], steps=400, lr=0.03)
        dec = early(m)
        for i in np.nonzero(folds == f)[0]:
            oof[int(i)] = dec(obs[int(i)])
    return fit_softmax(x, y, CLASSES, l2=best[1], steps=600, lr=0.03), oof
