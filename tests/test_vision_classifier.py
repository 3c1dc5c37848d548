"""Gesture classifier internals: invariant features, the none threshold, the shipped bundle against its held-out
report, and the dev-data goals of issue 6."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from agent.vision.classifier import LABELS, GestureClassifier, decide
from agent.vision.features import N_FEATURES, features

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "models" / "bundles" / "gestures"


def _rows(vision_data: Path) -> tuple[np.ndarray, list[str], list[str]]:
    with open(vision_data / "hand_landmarks" / "landmarks.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    lms = np.array([[[float(r[f"x{i}"]), float(r[f"y{i}"])] for i in range(21)] for r in rows], np.float32)
    labels = ["none" if r["label"].startswith("other") else r["label"] for r in rows]
    return lms, labels, [r["person"] for r in rows]


def _orientation_free(f: np.ndarray) -> np.ndarray:
    # drop palm and thumb direction and the thumb's reach above / below the hand (the last two)
    return np.delete(f, [*range(N_FEATURES - 8, N_FEATURES - 4), N_FEATURES - 2, N_FEATURES - 1])


def test_features_ignore_position_scale_rotation_and_handedness(vision_data: Path) -> None:
    lms, labels, _ = _rows(vision_data)
    rng = np.random.default_rng(0)
    for lm in lms[rng.choice(len(lms), 20, replace=False)]:
        base = features(lm)
        assert base.shape == (N_FEATURES,) and np.all(np.isfinite(base))
        a = rng.uniform(-np.pi, np.pi)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        moved = (lm @ rot.T) * rng.uniform(50, 500) + rng.uniform(-300, 300, 2)
        mirrored = lm * np.array([-1.0, 1.0])
        np.testing.assert_allclose(_orientation_free(features(moved)), _orientation_free(base), atol=2e-4)
        np.testing.assert_allclose(features(mirrored), base, atol=2e-4)  # a left hand reads as the right one
    # the orientation part does change: a thumbs-up turned half round is a different input
    up = lms[labels.index("thumbs_up")]
    assert not np.allclose(features(-up)[-8:-4], features(up)[-8:-4], atol=0.1)
    assert features(up)[-2] > 0.3 > features(-up)[-2] and features(-up)[-1] > 0.3  # thumb tip well above the fist


def test_decide_applies_the_none_threshold() -> None:
    p = np.zeros((3, len(LABELS)), np.float32)
    p[0, LABELS.index("fist")], p[0, LABELS.index("none")] = 0.9, 0.1
    p[1, LABELS.index("fist")], p[1, LABELS.index("none")], p[1, 0] = 0.45, 0.3, 0.25
    p[2, LABELS.index("none")], p[2, 0] = 0.6, 0.4
    assert decide(p, LABELS, 0.5) == [("fist", pytest.approx(0.9)), ("none", pytest.approx(0.3)),
                                      ("none", pytest.approx(0.6))]
    assert decide(p, LABELS, 0.0)[1] == ("fist", pytest.approx(0.45))


def test_bundle_matches_its_heldout_report(vision_data: Path) -> None:
    meta = json.loads((BUNDLE / "gesture_classifier.json").read_text())
    report = json.loads((BUNDLE / "heldout_report.json").read_text())
    assert meta["n_features"] == N_FEATURES and meta["labels"] == LABELS
    assert meta["min_score"] == report["min_score"] == GestureClassifier().min_score
    _, _, persons = _rows(vision_data)
    assert set(report["landmarks_per_person"]) == set(persons)
    assert report["command"] == "python -m models.vision.train_gestures --eval"
    # what each fold trained on: real rows of the held-out person's classes from the other people only
    _, labels, _ = _rows(vision_data)
    trained = report["real_rows_trained_per_person"]
    assert set(trained) == set(persons)
    for person, per_class in trained.items():
        assert set(per_class) == {lab for lab, p in zip(labels, persons, strict=True) if p == person}
        for lab, n in per_class.items():
            assert 0 <= n <= sum(1 for t, p in zip(labels, persons, strict=True) if t == lab and p != person)
    assert trained["kinivi"]["ok"] == 0  # nobody else recorded ok: that fold learned it from synthetic hands only


def test_dev_data_goals(vision_data: Path) -> None:
    """Issue 6 on the dev recordings (which the shipped model has seen; the held-out numbers are in the report):
    known classes >= 97% macro accuracy, unknown poses rejected >= 80%."""
    lms, labels, _ = _rows(vision_data)
    pred = [g for g, _ in GestureClassifier().classify_batch(lms)]
    acc = {lab: float(np.mean([p == lab for p, t in zip(pred, labels, strict=True) if t == lab]))
           for lab in set(labels)}
    assert np.mean([v for k, v in acc.items() if k != "none"]) >= 0.97, acc
    assert acc["none"] >= 0.8, acc


def test_eval_gestures_prints_heldout_numbers(tmp_path: Path, vision_data: Path) -> None:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "agent", "eval", "gestures", str(vision_data), "--limit", "12",
                        "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=240, check=True)
    assert "== held out (leave one person out; regenerate: python -m models.vision.train_gestures --eval)" in r.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    held = report["training_heldout"]
    assert set(held["landmarks_per_person"]) >= {"Kazuhito00", "kinivi"}
    assert 0.0 <= held["landmarks_macro_accuracy"] <= 1.0 and 0.0 <= held["photos_125_accuracy"] <= 1.0
    assert report["trajectories"]["stop"]["fired_rate"] == 0.0
    assert (tmp_path / "confusion_landmarks.png").is_file() and (tmp_path / "confusion_photos.png").is_file()
