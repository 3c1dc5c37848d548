"""``homeagent eval gestures [DATA]``: gesture accuracy, unknown-pose rejection, hand recall, latency.

DATA is the shared vision folder (``hand_landmarks/landmarks.csv``, ``sign_language_digits/``). Reports
per-class accuracy and the confusion matrix (text + PNG) of the landmark classifier, the reject rate on
unknown poses (``other:*`` rows; digit photos other than 1/2/5/9), hand-detection recall and gesture accuracy
on the digit photos (1 → pointing, 2 → victory, 5 → open palm), per-image latency, and how often swipes/wave
fire on the real fingertip trajectories (``point_history_*.csv``).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from pathlib import Path

import numpy as np

from ..errors import SourceError
from ..paths import cache_dir
from ..sources.image_file import read_image

log = logging.getLogger(__name__)

DIGITS = {"1": "pointing", "2": "victory", "5": "open_palm"}
UNKNOWN_DIGITS = {"0", "3", "4", "6", "7", "8"}


def _landmarks(data: Path, out: Path) -> dict:
    from ..bench.vision_report import confusion, confusion_png, confusion_text, per_class_accuracy
    from ..vision.classifier import LABELS, GestureClassifier
    from .gestures_classify_landmarks import read_rows

    path = data / "hand_landmarks" / "landmarks.csv"
    rows = read_rows(path)
    with open(path, newline="") as f:
        meta = list(csv.DictReader(f))
    truth = ["none" if r["label"].startswith("other") else r["label"] for r in meta]
    clf = GestureClassifier()
    lms = np.stack([r if r is not None else np.zeros((21, 2), np.float32) for r in rows])
    t = time.perf_counter()
    pred = [g for g, _ in clf.classify_batch(lms)]
    per_row_ms = 1000 * (time.perf_counter() - t) / max(len(rows), 1)
    m = confusion(truth, pred, LABELS)
    acc = per_class_accuracy(m, LABELS)
    known = {k: v for k, v in acc.items() if k != "none"}
    persons: dict[str, dict[str, float]] = {}
    for person in sorted({r["person"] for r in meta}):
        idx = [i for i, r in enumerate(meta) if r["person"] == person]
        pm = confusion([truth[i] for i in idx], [pred[i] for i in idx], LABELS)
        persons[person] = {k: round(v, 4) for k, v in per_class_accuracy(pm, LABELS).items()}
    print(f"== landmark classifier on {path} ({len(rows)} rows)")
    print(confusion_text(m, LABELS))
    confusion_png(m, LABELS, out / "confusion_landmarks.png", "landmarks.csv: truth (rows) vs predicted")
    return {"per_class_accuracy": {k: round(v, 4) for k, v in acc.items()},
            "macro_accuracy": round(float(np.mean(list(known.values()))), 4) if known else None,
            "unknown_reject_rate": round(acc["none"], 4) if "none" in acc else None,
            "per_person": persons, "classifier_ms_per_row": round(per_row_ms, 3)}


def _photos(data: Path, out: Path, limit: int | None) -> dict:
    from ..bench.vision_report import confusion, confusion_png, confusion_text, per_class_accuracy
    from ..vision.classifier import LABELS, GestureClassifier
    from ..vision.hands import HandTracker

    root = data / "sign_language_digits"
    with open(root / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if limit:
        rows = rows[:limit]
    tracker, clf = HandTracker(), GestureClassifier()
    found: dict[str, list[bool]] = {}
    truth, pred, unknown, times = [], [], [], []
    for r in rows:
        img = read_image(root / r["path"])  # bounded: SourceError for an unreadable or oversize image
        t = time.perf_counter()
        hands = tracker.process_image(img)
        gesture = clf.classify(hands[0].landmarks)[0] if hands else "none"
        times.append(time.perf_counter() - t)
        found.setdefault(r["label"], []).append(bool(hands))
        if r["label"] in DIGITS:
            truth.append(DIGITS[r["label"]])
            pred.append(gesture)
        elif r["label"] in UNKNOWN_DIGITS and hands:
            unknown.append(gesture == "none")
    m = confusion(truth, pred, LABELS)
    print(f"== digit photos 1/2/5 in {root} ({len(truth)} photos)")
    print(confusion_text(m, LABELS))
    confusion_png(m, LABELS, out / "confusion_photos.png", "digit photos 1/2/5: truth vs predicted")
    acc = per_class_accuracy(m, LABELS)
    evaluated = [found[d] for d in DIGITS if d in found]
    return {"hand_recall_125": round(float(np.mean(np.concatenate(evaluated))), 4) if evaluated else None,
            "hand_recall_all": round(float(np.mean(np.concatenate(list(found.values())))), 4),
            "gesture_accuracy_125": round(float(np.trace(m) / max(m.sum(), 1)), 4),
            "per_class_accuracy": {k: round(v, 4) for k, v in acc.items()},
            "unknown_pose_reject_rate": round(float(np.mean(unknown)), 4) if unknown else None,
            "unknown_pose_photos": len(unknown),
            "ms_per_photo_median": round(1000 * float(np.median(times)), 2),
            "ms_per_photo_p95": round(1000 * float(np.percentile(times, 95)), 2)}


def _trajectories(data: Path, hand_frac: float = 0.2, fps: float = 15.0) -> dict:
    """Dynamic gestures on the real fingertip histories (16 points, normalized to the image; labels 0 stop,
    1 clockwise, 2 counter-clockwise, 3 move). No swipe labels exist: reports how often a swipe or wave fires
    per class (for ``stop`` that is the false-trigger rate). The hand is assumed ``hand_frac`` of the width."""
    from ..vision.dynamic import MotionDetector

    path = data / "hand_landmarks" / "point_history_Kazuhito00.csv"
    if not path.is_file():
        return {}
    names = {"0": "stop", "1": "clockwise", "2": "counter_clockwise", "3": "move"}
    fired: dict[str, list[str | None]] = {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0] not in names:
                continue
            pts = np.array(row[1:33], np.float64).reshape(16, 2) * [640.0, 480.0]
            m = MotionDetector()
            hits = [g for i, (x, y) in enumerate(pts) if (g := m.update(i / fps, x, y, 640.0 * hand_frac))]
            fired.setdefault(names[row[0]], []).append(hits[0] if hits else None)
    return {k: {"rows": len(v), "fired_rate": round(sum(x is not None for x in v) / len(v), 4),
                "fired": {g: v.count(g) for g in sorted({x for x in v if x})}} for k, v in fired.items()}


def print_heldout(rep: dict) -> None:
    """The bundle's leave-one-person-out numbers (people the shipped model has seen are held out there)."""
    print(f"== held out (leave one person out; regenerate: {rep.get('command', '?')})")
    trained = rep.get("real_rows_trained_per_person", {})
    for person, accs in rep.get("landmarks_per_person", {}).items():
        rows = trained.get(person, {})
        print(f"  {person:<20}" + "  ".join(f"{k} {v:.3f}" + (f" ({rows[k]} real rows of others)" if k in rows else "")
                                             for k, v in accs.items()))
    keys = ("landmarks_macro_accuracy", "landmarks_unknown_reject_rate", "photos_125_accuracy",
            "photos_unknown_reject_rate", "min_score")
    print("  " + "  ".join(f"{k} {rep[k]}" for k in keys if k in rep))


def run(args: argparse.Namespace) -> int:
    if args.data is None:
        raise SourceError("eval gestures needs a vision data folder holding hand_landmarks/landmarks.csv and "
                          "sign_language_digits/ (the project's development recordings, not shipped with the "
                          "package); pass it: homeagent eval gestures DATA")
    data = Path(args.data)
    out = Path(args.out) if args.out else cache_dir() / "eval" / "gestures"
    if not (data / "hand_landmarks").is_dir() or not (data / "sign_language_digits").is_dir():
        raise SourceError(f"{data} lacks hand_landmarks/ or sign_language_digits/: pass a vision data folder")
    report = {"landmarks": _landmarks(data, out), "photos": _photos(data, out, args.limit),
              "trajectories": _trajectories(data)}
    heldout = Path(__file__).resolve().parents[2] / "models" / "bundles" / "gestures" / "heldout_report.json"
    if heldout.is_file():
        report["training_heldout"] = json.loads(heldout.read_text())
        print_heldout(report["training_heldout"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    print(f"confusion matrices and report.json written to {out}/")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("gestures", help="evaluate hand detection and gesture classification",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="?", default=None,
                   help="vision data folder (hand_landmarks/landmarks.csv, sign_language_digits/)")
    p.add_argument("--out", default=None,
                   help="folder for the PNG confusion matrices and report.json "
                        "(default: ~/.cache/homeagent/eval/gestures)")
    p.add_argument("--limit", type=int, default=None, help="only the first N photos (quick check)")
    p.set_defaults(func=run)
