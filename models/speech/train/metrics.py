"""Held-out evaluation of a trained head and threshold calibration (synthetic validation voices only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agent.runtime.session import load_model


def decide(probs: np.ndarray, threshold: float, unk: int) -> np.ndarray:
    """Decisions per row: the argmax label, or ``unk`` when it is unknown or below the threshold."""
    pred = probs.argmax(1)
    ok = (pred != unk) & (probs.max(1) >= threshold)
    return np.where(ok, pred, unk)


def _acc(a: np.ndarray, b: np.ndarray) -> float:
    return round(float((a == b).mean()), 4) if len(a) else float("nan")


def confusion(y: np.ndarray, d: np.ndarray, labels: list[str]) -> list[list[int]]:
    n = len(labels)
    m = np.zeros((n, n), dtype=int)
    np.add.at(m, (y, d), 1)
    return m.tolist()


def summarize(tmp: Path, x: np.ndarray, y: np.ndarray, data: dict[str, np.ndarray],
              labels: list[str]) -> dict[str, object]:
    va = data["val"]
    fl = load_model(tmp / "head.float.onnx")
    q8 = load_model(tmp / "head.onnx")
    xv = x[va].astype(np.float32)
    pf = np.concatenate([fl(xv[i:i + 256])[0] for i in range(0, len(xv), 256)])
    pq = np.concatenate([q8(xv[i:i + 256])[0] for i in range(0, len(xv), 256)])
    yv = y[va]
    clean = data["strength"][va] == 0.0
    voices = data["voice"][va]
    rep: dict[str, object] = {
        "val_argmax_acc_float": _acc(pf.argmax(1), yv),
        "val_argmax_acc_int8": _acc(pq.argmax(1), yv),
        "val_argmax_acc_int8_clean": _acc(pq[clean].argmax(1), yv[clean]),
        "val_argmax_acc_int8_augmented": _acc(pq[~clean].argmax(1), yv[~clean]),
        "int8_float_argmax_agreement": _acc(pq.argmax(1), pf.argmax(1)),
        "int8_float_max_abs_prob_diff": round(float(np.abs(pq - pf).max()), 4),
        "val_argmax_acc_int8_by_voice": {str(v): _acc(pq[voices == v].argmax(1), yv[voices == v])
                                         for v in sorted(set(voices.tolist()))},
        "head_bytes_float": (tmp / "head.float.onnx").stat().st_size,
        "head_bytes_int8": (tmp / "head.onnx").stat().st_size,
        "_val_probs": pq,
    }
    return rep


def calibrate_threshold(probs: np.ndarray, y: np.ndarray, labels: list[str],
                        fa_weight: float = 3.0) -> tuple[float, dict[str, object]]:
    """Pick the threshold maximizing (commands correctly accepted) − fa_weight × (unknowns accepted)."""
    unk = len(labels) - 1
    pos = y != unk
    best = (-1e9, 0.5)
    for t in np.arange(0.30, 0.991, 0.01):
        d = decide(probs, float(t), unk)
        score = float((d[pos] == y[pos]).mean()) - fa_weight * float((d[~pos] != unk).mean())
        if score > best[0] + 1e-9:
            best = (score, float(t))
    t = round(best[1], 2)
    d = decide(probs, t, unk)
    return t, {
        "value": t,
        "val_decision_acc": _acc(d, y),
        "val_command_correct_accept": _acc(d[pos], y[pos]),
        "val_unknown_false_accept": round(float((d[~pos] != unk).mean()), 4),
        "val_unknown_rows": int((~pos).sum()),
        "val_command_rows": int(pos.sum()),
        "confusion_labels": labels,
        "confusion": confusion(y, d, labels),
    }


def calibrate_threshold_fa(probs: np.ndarray, y: np.ndarray, labels: list[str], noise: np.ndarray,
                           max_fa: float = 0.02, near: np.ndarray | None = None,
                           max_noise_fa: float = 0.01,
                           hard_noise: np.ndarray | None = None) -> tuple[float, dict[str, object]]:
    """The lowest threshold at which held-out synthetic unknown *speech* is accepted at most ``max_fa`` of the
    time and noise-only rows at most ``max_noise_fa``. Rows marked ``near`` (near-miss words, which sound like a
    command) are left out of the speech target — they measure confusion, not false wakes — but reported.
    ``hard_noise``: probabilities of windows slid over long noise recordings, none of which may be accepted.

    Unlike :func:`calibrate_threshold` it does not trade commands for unknowns on synthetic voices — real
    voices score lower than synthetic ones, and a threshold tuned for synthetic accuracy rejects real commands.
    """
    unk = len(labels) - 1
    pos = y != unk
    near = np.zeros(len(y), bool) if near is None else near
    speech = ~pos & ~noise & ~near
    t = 0.95
    for cand in np.arange(0.20, 0.951, 0.01):
        d = decide(probs, float(cand), unk)
        fa_noise = float((d[noise] != unk).mean()) if noise.any() else 0.0
        hard_ok = hard_noise is None or not (decide(hard_noise, float(cand), unk) != unk).any()
        if float((d[speech] != unk).mean()) <= max_fa and fa_noise <= max_noise_fa and hard_ok:
            t = float(cand)
            break
    t = round(t, 2)
    d = decide(probs, t, unk)
    _, rep = calibrate_threshold(probs, y, labels)

    def fa(mask: np.ndarray) -> float | None:
        return round(float((d[mask] != unk).mean()), 4) if mask.any() else None

    rep.update({
        "rule": f"lowest threshold with held-out unknown speech false accepts <= {max_fa} (near-misses aside), "
                f"noise rows <= {max_noise_fa} and no window of the noise recordings accepted",
        "value": t,
        "val_decision_acc": _acc(d, y),
        "val_command_correct_accept": _acc(d[pos], y[pos]),
        "val_unknown_false_accept": fa(~pos),
        "val_unknown_speech_false_accept": fa(speech),
        "val_near_miss_false_accept": fa(~pos & near),
        "val_noise_false_accept": fa(noise),
        "noise_windows": 0 if hard_noise is None else len(hard_noise),
        "noise_windows_accepted": 0 if hard_noise is None else int((decide(hard_noise, t, unk) != unk).sum()),
        "confusion": confusion(y, d, labels),
    })
    return t, rep
