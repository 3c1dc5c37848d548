"""``homeagent bench vision``: per-frame latency at 640×480 on one core; int8 vs float landmark error."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from ..errors import SourceError
from ..paths import models_dir


def _photos(data: Path, limit: int) -> list[Path]:
    root = data / "sign_language_digits"
    try:
        with open(root / "labels.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise SourceError(f"cannot read {root / 'labels.csv'}: pass a folder holding sign_language_digits/ "
                          f"({exc.strerror})") from exc
    step = max(1, len(rows) // max(limit, 1))
    return [root / r["path"] for r in rows[::step][:limit]]


def run(args: argparse.Namespace) -> int:
    from ..bench.vision import frame_latency, int8_error, pin_to_one_core
    from ..vision.hands import LANDMARK_MODEL, LANDMARK_MODEL_FLOAT

    cpu = pin_to_one_core(args.cpu)
    photos = _photos(Path(args.data) if args.data else models_dir() / "vision" / "data", args.photos)
    hand_photo = next(p for p in photos if p.parent.name == "5") if any(p.parent.name == "5" for p in photos) \
        else photos[0]
    report: dict[str, object] = {"cpu": cpu, "frame": "640x480, one hand", "iterations": args.n,
                                 "int8": frame_latency(hand_photo, args.n, args.landmark_model or LANDMARK_MODEL)}
    if args.float:
        float_model = args.landmark_model.replace("_int8", "") if args.landmark_model else LANDMARK_MODEL_FLOAT
        report["float"] = frame_latency(hand_photo, args.n, float_model)
    report["int8_vs_float_landmarks"] = int8_error(photos, args.landmark_model or LANDMARK_MODEL)
    print(json.dumps(report, indent=1))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("vision", help="vision latency per frame (640x480, one core) and int8 error",
                              description=__doc__)
    p.add_argument("data", nargs="?", default=None,
                   help="folder holding sign_language_digits/ (default: the calibration photos in models/vision/data)")
    p.add_argument("-n", type=int, default=50, help="timed iterations per measurement")
    p.add_argument("--photos", type=int, default=150, help="photos for the int8-vs-float landmark error")
    p.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the last allowed one)")
    p.add_argument("--landmark-model", default=None,
                   help="int8 landmark model file in models/pretrained/vision (default: the tracker's)")
    p.add_argument("--no-float", dest="float", action="store_false", help="skip the float-model latency")
    p.set_defaults(func=run)
