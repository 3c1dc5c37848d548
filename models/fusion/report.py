"""The eval table (text and JSON) and the plot (PNG, drawn with OpenCV)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import cv2
import numpy as np

SYSTEMS = ("voice_only", "gesture_only", "early", "late")
COLORS = {"voice_only": (200, 120, 30), "gesture_only": (40, 160, 40), "early": (160, 60, 170),
          "late": (30, 30, 220), "late_false_actions": (0, 140, 255)}


def snr_name(snr: float | None) -> str:
    return "clean" if snr is None else f"{snr:g} dB"


def table(rows: list[dict[str, Any]]) -> str:
    head = f"{'SNR':>8} | {'voice':>6} {'gesture':>7} {'early':>6} {'late':>6} | {'late FA':>7} {'early FA':>8} " \
           f"{'voice FA':>8} {'gest FA':>7} | {'n':>4}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{snr_name(r['snr_db']):>8} | {r['voice_only']:6.3f} {r['gesture_only']:7.3f} "
                     f"{r['early']:6.3f} {r['late']:6.3f} | {r['late_false_actions']:7.3f} "
                     f"{r['early_false_actions']:8.3f} {r['voice_only_false_actions']:8.3f} "
                     f"{r['gesture_only_false_actions']:7.3f} | {r['n']:4d}")
    if rows and "late_false_actions_alone" in rows[0]:  # the part no fused threshold can remove
        lines += ["", "late FA of voice or a gesture decided alone (no fused threshold applies): " + ", ".join(
            f"{snr_name(r['snr_db'])} {r['late_false_actions_alone']:.3f}" for r in rows)]
    families = [f for f in rows[0].get("late_by_family", {})] if rows else []
    if families:  # late fusion per scenario family
        lines += ["", f"{'late by':>8} | " + " ".join(f"{f:>12}" for f in families), "-" * (11 + 13 * len(families))]
        for r in rows:
            lines.append(f"{snr_name(r['snr_db']):>8} | " + " ".join(f"{r['late_by_family'][f]:12.3f}"
                                                                      for f in families))
    if rows and "voice_only_family" in rows[0]:  # issue 21: a camera must not make voice commands worse
        lines += ["", f"{'voice-only family':>17} | {'late':>6} {'voice':>6} {'no camera':>9}"]
        for r in rows:
            v = r["voice_only_family"]
            lines.append(f"{snr_name(r['snr_db']):>17} | {v['late']:6.3f} {v['voice_only']:6.3f} {v['no_camera']:9.3f}")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path, title: str = "homeagent fusion: accuracy by SNR") -> None:
    w, h, left, right, top, bottom = 900, 560, 80, 220, 50, 70
    img = np.full((h, w, 3), 255, np.uint8)
    pw, ph = w - left - right, h - top - bottom
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(img, title, (left, 30), font, 0.7, (0, 0, 0), 2, cv2.LINE_AA)
    for i in range(11):
        y = top + ph - int(ph * i / 10)
        cv2.line(img, (left, y), (left + pw, y), (225, 225, 225), 1)
        cv2.putText(img, f"{i / 10:.1f}", (left - 45, y + 5), font, 0.45, (60, 60, 60), 1, cv2.LINE_AA)
    n = len(rows)
    xs = [left + int(pw * (i + 0.5) / n) for i in range(n)]
    for x, r in zip(xs, rows, strict=True):
        cv2.putText(img, snr_name(r["snr_db"]), (x - 25, top + ph + 25), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "SNR", (left + pw // 2 - 15, h - 15), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (left + pw, top + ph), (0, 0, 0), 1)
    for j, key in enumerate((*SYSTEMS, "late_false_actions")):
        pts = [(x, top + ph - int(ph * float(r[key]))) for x, r in zip(xs, rows, strict=True)]
        thick = 3 if key == "late" else 2
        for a, b in itertools.pairwise(pts):
            cv2.line(img, a, b, COLORS[key], thick, cv2.LINE_AA)
        for p in pts:
            cv2.circle(img, p, 5, COLORS[key], -1, cv2.LINE_AA)
        ly = top + 20 + 28 * j
        cv2.line(img, (left + pw + 15, ly), (left + pw + 45, ly), COLORS[key], thick, cv2.LINE_AA)
        label = "late: false actions" if key == "late_false_actions" else f"{key.replace('_', '-')}: accuracy"
        cv2.putText(img, label, (left + pw + 52, ly + 5), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"cannot write {path}")
