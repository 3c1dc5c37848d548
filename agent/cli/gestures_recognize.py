"""``homeagent gestures recognize IMAGE_OR_VIDEO...``: hands, landmarks and gestures, one JSON line per frame."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..errors import SourceError
from ..sources.image_file import FORMATS, check_pixels, check_video_size, is_image, read_image
from ..types import Hand, VideoFrame

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


def frames(path: Path) -> Iterator[tuple[int, np.ndarray, bool]]:
    """(frame number, BGR image, is_still) for an image or every frame of a video.

    An image (by extension or by its signature) is decoded through :func:`read_image`, which bounds its
    pixels from the header; a video's frame size is checked once opened and again on every frame.
    """
    if path.suffix.lower() in IMAGE_EXT or is_image(path):
        yield 0, read_image(path), True
        return
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise SourceError(f"{path}: cannot open as an image ({FORMATS}) or a video")
        check_video_size(path, cap)
        n = 0
        while True:
            try:
                ok, img = cap.read()
            except cv2.error as exc:
                raise SourceError(f"{path}: cannot decode video frame {n}") from exc
            if not ok:
                break
            check_pixels(f"{path} frame {n}", img.shape[1], img.shape[0])
            yield n, img, False
            n += 1
    finally:
        cap.release()


def hand_json(hand: Hand, gesture: str, score: float) -> dict:
    return {"gesture": gesture, "score": round(score, 4), "box": [round(float(v), 1) for v in hand.box],
            "handedness": hand.handedness,
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in hand.landmarks]}


def run(args: argparse.Namespace) -> int:
    from ..vision.classifier import GestureClassifier
    from ..vision.hands import HandTracker

    tracker = HandTracker(threads=args.threads, max_hands=args.max_hands)
    clf = GestureClassifier()
    status = 0
    for name in args.files:
        tracker.reset()
        try:
            for n, img, still in frames(Path(name)):
                hands = tracker.process_image(img) if still else tracker.process(VideoFrame(img, time.monotonic(), n))
                out = [hand_json(h, *clf.classify(h.landmarks)) for h in hands]
                sys.stdout.write(json.dumps({"file": name, "frame": n, "hands": out}) + "\n")
        except SourceError as exc:
            print(f"homeagent: error: {exc}", file=sys.stderr)
            status = 1
    return status


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("recognize", help="find hands and gestures in images or videos",
                              description=__doc__)
    p.add_argument("files", nargs="+", metavar="IMAGE_OR_VIDEO")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-hands", type=int, default=2)
    p.set_defaults(func=run)
