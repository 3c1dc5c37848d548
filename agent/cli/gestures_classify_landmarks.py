"""``homeagent gestures classify-landmarks FILE.csv``: classify 21-point landmarks, one JSON line per row."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import numpy as np

from ..errors import SourceError

COLUMNS = [c for i in range(21) for c in (f"x{i}", f"y{i}")]


def read_rows(path: Path) -> list[np.ndarray | None]:
    """Landmarks (21, 2) per row (None where a value is missing or not a number)."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise SourceError(f"{path}: CSV header lacks columns {missing[:4]}… (need x0,y0,…,x20,y20)")
            out: list[np.ndarray | None] = []
            for row in reader:
                try:
                    vals = [float(row[c]) for c in COLUMNS]
                except (TypeError, ValueError):
                    out.append(None)
                    continue
                out.append(None if any(not math.isfinite(v) for v in vals)
                           else np.array(vals, np.float32).reshape(21, 2))
            return out
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    from ..vision.classifier import GestureClassifier

    clf = GestureClassifier(args.model)
    rows = read_rows(Path(args.file))
    valid = [i for i, r in enumerate(rows) if r is not None]
    results: dict[int, tuple[str, float]] = {}
    for start in range(0, len(valid), 512):
        idx = valid[start:start + 512]
        batch = np.stack([rows[i] for i in idx])  # type: ignore[misc]
        results.update(zip(idx, clf.classify_batch(batch), strict=False))
    out = sys.stdout
    for i in range(len(rows)):
        gesture, score = results.get(i, ("none", 0.0))
        out.write(json.dumps({"row": i, "gesture": gesture, "score": round(score, 4)}) + "\n")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("classify-landmarks", help="classify landmark rows of a CSV (x0,y0,…,x20,y20)",
                              description=__doc__)
    p.add_argument("file", metavar="FILE.csv")
    p.add_argument("--model", default=None, help="classifier ONNX (default: the committed bundle)")
    p.set_defaults(func=run)
