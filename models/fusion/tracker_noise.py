"""Measure how the daemon's hand tracking sees small and partly occluded hands, so the scenario set degrades
landmark tracks the way the real pipeline would (``vision.degrade``).

Photos of real hands (shared ``sign_language_digits``: ASL 1, 2 and 5 ≈ pointing, victory, open palm; about 100
people) are placed at several sizes in a 640×480 frame, a grey occluder covers a fraction of the hand from a
random side. Every frame goes through the daemon's own video path, built as ``homeagent run`` builds it
(``build_video_path`` with the default config: motion gate, detection cadence, hand tracker with its zoomed look
for small hands, the default landmark model), after 2 s of the same scene without the hand, so the hand comes
into a still view and the gate sees it move as it would a person raising a hand. Per (hand size, occluded
fraction) it records the detection rate on the first frame, the mean landmark error against the same photo seen
large and unoccluded (wrist-relative, scaled by the largest coordinate, as ``landmarks.csv``), and whether an
8-frame clip gives a hand on 4 consecutive frames. Output: ``tracker_noise.json`` beside this file.

    python -m models.fusion.tracker_noise [--per-class 20] [--no-zoom --out PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

from agent.types import Hand

from ..devdata import dev_data
from .vocab import IMAGE_H, IMAGE_W

log = logging.getLogger(__name__)

OUT = Path(__file__).with_name("tracker_noise.json")
DIGITS = {"1": "pointing", "2": "victory", "5": "open_palm"}
SIZES_PX = (32, 48, 64, 96, 128, 160, 224)
OCCLUSIONS = (0.0, 0.2, 0.4)
REFERENCE_PX = 300
CLIP_FRAMES = 8  # a held gesture at 10 fps, as the scenario tracks (vision.TRACK_FRAMES)
STABLE_FRAMES = 4  # GestureTracker reports a gesture after this many consecutive frames
SCALE_JITTER, STEP_PX, PIXEL_NOISE = 0.02, 1.5, 3.0
FPS = 10.0
RAISE = (0.9, 0.6, 0.3)  # the hand's offset below its place, in hand sizes, on the frames raising it
CALM_S = 2.0  # the scene without the hand this long before it comes in (the gate's calm_s is 1 s)


def normalized(lm: np.ndarray) -> np.ndarray:
    """Wrist-relative landmarks scaled by the largest absolute coordinate (the ``landmarks.csv`` convention)."""
    p = np.asarray(lm, np.float64)[:, :2]
    p = p - p[0]
    return np.asarray(p / (np.abs(p).max() + 1e-9))


def place(photo: np.ndarray, px: int, occlusion: float, rng: np.random.Generator, side: int | None = None,
          shift: tuple[int, int] = (0, 0), empty: bool = False, crop: bool = False) -> np.ndarray:
    """The photo at ``px`` in a 640×480 frame, its edges replicated outwards; ``empty``: the same frame without
    the hand (its square filled with the mean colour of the photo's border, which the background continues);
    ``crop``: only the scaled, occluded photo."""
    im = cv2.resize(photo, (px, px), interpolation=cv2.INTER_AREA if px < photo.shape[0] else cv2.INTER_LINEAR)
    k = round(px * occlusion)
    if k:
        im = im.copy()
        side = int(rng.integers(4)) if side is None else side
        region = (slice(0, k), slice(None)) if side == 0 else (slice(px - k, px), slice(None)) if side == 1 else \
            (slice(None), slice(0, k)) if side == 2 else (slice(None), slice(px - k, px))
        im[region] = 128
    if crop:
        return im
    x0 = int(np.clip((IMAGE_W - px) // 2 + shift[0], 0, IMAGE_W - px))
    y0 = int(np.clip((IMAGE_H - px) // 2 + shift[1], 0, IMAGE_H - px))
    frame = cv2.copyMakeBorder(im, y0, IMAGE_H - px - y0, x0, IMAGE_W - px - x0, cv2.BORDER_REPLICATE)
    if empty:
        rim = np.concatenate([im[0], im[-1], im[:, 0], im[:, -1]])
        frame[y0:y0 + px, x0:x0 + px] = rim.mean(axis=0).astype(np.uint8)
    return frame


def clip(photo: np.ndarray, px: int, occlusion: float, rng: np.random.Generator) -> list[np.ndarray]:
    """A hand raised into a still view and held, as a camera films it: the view without the hand, ``RAISE``
    frames of the hand coming up from below into place (the motion of a person raising a hand, which the
    motion gate and the cadence answer to), then ``CLIP_FRAMES`` frames of the held hand. The background stays
    put (the photo's edges replicated, as :func:`place`); over it the same photo and occluder side, its size
    jittered by ``SCALE_JITTER``, its position a random walk of ``STEP_PX`` per frame, and sensor noise of
    ``PIXEL_NOISE`` grey levels (assumed magnitudes of a hand held still at 10 fps, not measured)."""
    side, pos = int(rng.integers(4)), np.zeros(2)
    bg = place(photo, px, 0.0, rng, empty=True)
    frames = [np.clip(bg + rng.normal(0.0, PIXEL_NOISE, bg.shape), 0, 255).astype(np.uint8)]
    for k in range(-len(RAISE), CLIP_FRAMES):
        pos += rng.normal(0.0, STEP_PX, 2)
        size = max(8, round(px * (1.0 + rng.normal(0.0, SCALE_JITTER))))
        im = place(photo, size, occlusion, rng, side, crop=True)
        x0 = int(np.clip((IMAGE_W - size) // 2 + round(pos[0]), 0, IMAGE_W - size))
        y0 = int(np.clip((IMAGE_H - size) // 2 + round(pos[1]) + (RAISE[k] * px if k < 0 else 0), 0,
                         IMAGE_H - size))
        img = bg.copy()
        img[y0:y0 + size, x0:x0 + size] = im
        frames.append(np.clip(img + rng.normal(0.0, PIXEL_NOISE, img.shape), 0, 255).astype(np.uint8))
    return frames  # the view without the hand, the raise, then the held clip


def longest_run(found: list[bool]) -> int:
    best = run = 0
    for f in found:
        run = run + 1 if f else 0
        best = max(best, run)
    return best


class DaemonView:
    """The daemon's video path (as ``homeagent run`` builds it) over frames at ``FPS``: fresh per scene, with
    the scene's empty view for ``CALM_S`` first, so the gate and the cadence see a hand come into a still room."""

    def __init__(self, zoom: bool = True) -> None:
        from agent.config.schema import AgentConfig
        from agent.daemon.agent import build_video_path
        from agent.sources.video_replay import ArrayVideoSource

        cfg = AgentConfig.model_validate({"vision": {"small_hands": zoom}})
        self.path = build_video_path(cfg, ArrayVideoSource([], FPS))

    def watch(self, empty: np.ndarray, frames: list[np.ndarray]) -> list[list[Hand]]:
        """The hands the path reports on each of ``frames`` ([] on a frame its cadence skipped)."""
        from agent.daemon.video_path import VideoPath
        from agent.types import VideoFrame

        old = self.path
        old.hands.reset()  # type: ignore[attr-defined]
        old.gestures.reset()  # type: ignore[attr-defined]
        vp = VideoPath(old.source, old.hands, old.gestures)
        got: list[list[Hand]] = []
        vp.on_hands.append(lambda _f, hands: got.append(hands))
        vp.handle(VideoFrame(empty, -CALM_S, 0))
        vp.handle(VideoFrame(empty, -CALM_S / 2, 1))
        out = []
        for i, f in enumerate(frames):
            n = len(got)
            vp.handle(VideoFrame(f, i / FPS, i + 2))
            out.append(got[-1] if len(got) > n else [])
        return out


def measure(per_class: int = 20, seed: int = 0, zoom: bool = True) -> dict[str, object]:
    view = DaemonView(zoom)
    rng = np.random.default_rng(seed)
    clip_rng = np.random.default_rng([seed, 1])  # its own stream: the single-photo cells stay as measured before

    def landmarks(photo: np.ndarray, px: int, occ: float) -> np.ndarray | None:
        """A hand coming into view: its first frame, a first sighting (over the background without it, which
        stays put: the occluder is not replicated out to the frame's edges, as it would be by :func:`place`)."""
        empty = place(photo, px, 0.0, rng, empty=True)
        frame = empty.copy()
        y0, x0 = (IMAGE_H - px) // 2, (IMAGE_W - px) // 2
        frame[y0:y0 + px, x0:x0 + px] = place(photo, px, occ, rng, crop=True)
        hands = view.watch(empty, [frame])[0]
        return normalized(hands[0].landmarks) if hands else None

    def clip_seen(frames: list[np.ndarray]) -> list[bool]:  # the held frames, after the raise
        return [bool(h) for h in view.watch(frames[0], frames[1:])][len(RAISE):]

    cells: dict[tuple[int, float], list[float | None]] = {(s, o): [] for s in SIZES_PX for o in OCCLUSIONS}
    clips: dict[tuple[int, float], list[list[bool]]] = {k: [] for k in cells}
    used = 0
    for digit in DIGITS:
        files = sorted((dev_data("vision/sign_language_digits") / digit).glob("*"))
        for f in files[:: max(1, len(files) // per_class)][:per_class]:
            photo = cv2.imread(str(f))
            if photo is None:
                continue
            ref = landmarks(photo, REFERENCE_PX, 0.0)
            if ref is None:
                continue
            used += 1
            for (px, occ), errs in cells.items():
                lm = landmarks(photo, px, occ)
                errs.append(None if lm is None else float(np.abs(lm - ref).mean()))
                clips[(px, occ)].append(clip_seen(clip(photo, px, occ, clip_rng)))
    rows = []
    for (px, occ), errs in cells.items():
        seen = [e for e in errs if e is not None]
        rows.append({"hand_size": round(px / IMAGE_H, 4), "occlusion": occ, "n": len(errs),
                     "detected": round(len(seen) / max(len(errs), 1), 4),
                     "landmark_error": round(float(np.mean(seen)), 4) if seen else None,
                     "clip_detected": round(float(np.mean([longest_run(c) >= STABLE_FRAMES
                                                           for c in clips[(px, occ)]])), 4),
                     "clip_frames_detected": round(float(np.mean(clips[(px, occ)])), 4)})
        log.info("hand %3d px, occluded %.1f: detected %d/%d, landmark error %s, in clips %s (frames %s)", px, occ,
                 len(seen), len(errs), rows[-1]["landmark_error"], rows[-1]["clip_detected"],
                 rows[-1]["clip_frames_detected"])
    return {"photos": used, "source": "shared/data/vision/sign_language_digits (digits 1, 2, 5)",
            "path": "the daemon's video path (build_video_path, default config, vision.small_hands "
                    f"{str(zoom).lower()}), the hand coming into a still view after {CALM_S} s",
            "image": [IMAGE_W, IMAGE_H], "reference_px": REFERENCE_PX, "cells": rows,
            "error": "mean |landmark - reference| in wrist-relative units scaled by the largest coordinate",
            "clip": f"{CLIP_FRAMES} frames with tracking, size jitter {SCALE_JITTER}, step {STEP_PX} px, "
                    f"pixel noise {PIXEL_NOISE}; clip_detected: a hand on {STABLE_FRAMES} consecutive frames"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--no-zoom", action="store_true", help="vision.small_hands false (the full-frame look only)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    args.out.write_text(json.dumps(measure(args.per_class, zoom=not args.no_zoom), indent=1) + "\n")
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
