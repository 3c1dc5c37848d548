"""Scenario gestures: tracks of real recorded hand landmarks (shared ``landmarks.csv``), degraded as the shipped
hand tracker sees a small or partly occluded hand (detection rate and landmark error measured on real hand photos
by ``tracker_noise.py``), classified frame by frame and smoothed into one :class:`GestureEvent`, with the pointing
ray cast at the scene's device zones. A hand the tracker would not find yields no event at all."""

from __future__ import annotations

import csv
import functools
import gzip
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.types import GestureEvent
from agent.vision.pointing import pointing_ray
from agent.vision.pointing import pointing_target as runtime_pointing_target

from .linear import Softmax, fit_softmax
from .vocab import CSV_LABEL, GESTURES, IMAGE_H, ZONES, landmarks_csv

STANDIN_HEAD = Path(__file__).with_name("standin_gesture.json")
TRACKER_NOISE = Path(__file__).with_name("tracker_noise.json")
SIZE_RANGE = (0.08, 0.45)  # hand height over image height: from across the room to close by
MAX_OCCLUSION = 0.4  # visibility 0.6 .. 1
POINTING_MAX_ANGLE_DEG = 8.0  # agent.vision.GestureTracker's defaults
STABLE_FRAMES = 4
ENTER_SCORE = 0.6  # a frame counts towards a stable gesture from this classifier score on (GestureTracker)
SPLITS = {"head": (0.0, 0.5), "fit": (0.5, 0.7), "test": (0.7, 1.0)}
TRACK_FRAMES = 8
TIPS = (4, 8, 12, 16, 20)
MCPS = (2, 5, 9, 13, 17)


def load_landmarks(path: Path | None = None) -> dict[str, list[np.ndarray]]:
    """Label -> list of (N, 21, 2) row blocks, one per (person, label) recording (rows in file order); ``path``
    (a CSV, or gzipped) defaults to the development data's."""
    path = path or landmarks_csv()
    opener = gzip.open if path.suffix == ".gz" else open
    groups: dict[tuple[str, str], list[list[float]]] = {}
    with opener(path, "rt", newline="") as f:
        for row in csv.DictReader(f):
            label = CSV_LABEL.get(row["label"])
            if label is None:
                continue
            pts = [float(row[f"{a}{i}"]) for i in range(21) for a in "xy"]
            groups.setdefault((row["person"], label), []).append(pts)
    out: dict[str, list[np.ndarray]] = {}
    for (_, label), rows in sorted(groups.items()):
        out.setdefault(label, []).append(np.array(rows).reshape(-1, 21, 2))
    # thumbs-down: the recorded thumbs-up turned upside down
    out["thumbs_down"] = [-b for b in out["thumbs_up"]]
    return out


def split_blocks(data: dict[str, list[np.ndarray]], split: str) -> dict[str, list[np.ndarray]]:
    a, b = SPLITS[split]
    out: dict[str, list[np.ndarray]] = {}
    for label, blocks in data.items():
        parts = [blk[int(a * len(blk)):max(int(a * len(blk)) + 1, int(b * len(blk)))] for blk in blocks]
        out[label] = [p for p in parts if len(p)]
    return out


def _shape_features(p: np.ndarray) -> np.ndarray:
    """Coordinates (scaled by the largest), fingertip-to-wrist over knuckle-to-wrist, fingertip distances."""
    p = p / (np.abs(p).reshape(*p.shape[:-2], -1).max(axis=-1)[..., None, None] + 1e-6)
    d = lambda i, j: np.linalg.norm(p[..., i, :] - p[..., j, :], axis=-1)  # noqa: E731
    ext = [d(t, 0) / (d(m, 0) + 1e-6) for t, m in zip(TIPS, MCPS, strict=True)]
    tips = [d(TIPS[i], TIPS[j]) for i in range(5) for j in range(i + 1, 5)]
    return np.concatenate([p.reshape(*p.shape[:-2], 42), np.stack(ext + tips, axis=-1)], axis=-1)


def features(lm: np.ndarray) -> np.ndarray:
    """Features of (..., 21, 2) hands: shape features as seen and after turning the hand upright (wrist ->
    middle knuckle pointing up), plus the sine and cosine of that turn."""
    p = np.asarray(lm, dtype=np.float64)
    p = p - p[..., :1, :]
    ang = np.arctan2(p[..., 9, 0], -p[..., 9, 1])
    c, s = np.cos(-ang), np.sin(-ang)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    upright = np.einsum("...ij,...kj->...ki", rot, p)
    return np.concatenate([_shape_features(p), _shape_features(upright), np.stack([np.sin(ang), np.cos(ang)], -1)],
                          axis=-1)


FEATURE_DIM = 2 * 57 + 2


class TrackerNoise:
    """Detection rate and landmark error of the shipped hand tracker per (hand size, occluded fraction), measured
    on real photos (``tracker_noise.json``), interpolated bilinearly and clamped to the measured range. The
    detection rate is the chance that an 8-frame clip of the held hand gives the tracker 4 consecutive frames
    with a hand (``clip_detected``): the daemon sees a gesture as video, not as one first-sighting photo."""

    def __init__(self, path: Path = TRACKER_NOISE) -> None:
        d = json.loads(path.read_text())
        cells = d["cells"]
        self.sizes = np.array(sorted({c["hand_size"] for c in cells}))
        self.occl = np.array(sorted({c["occlusion"] for c in cells}))
        self.detect = np.zeros((len(self.sizes), len(self.occl)))
        self.err = np.full((len(self.sizes), len(self.occl)), np.nan)
        for c in cells:
            i, j = int(np.searchsorted(self.sizes, c["hand_size"])), int(np.searchsorted(self.occl, c["occlusion"]))
            # a hand held in view of a camera (tracking, frame-to-frame variation) when measured, else one photo
            self.detect[i, j] = c.get("clip_detected", c["detected"])
            if c["landmark_error"] is not None and c["detected"] * c["n"] >= 5:  # too few hands: not an estimate
                self.err[i, j] = c["landmark_error"]
        for j in range(len(self.occl)):  # where (almost) nothing was detected, use the next larger size's error
            col = self.err[:, j]
            for i in range(len(col) - 2, -1, -1):
                if np.isnan(col[i]):
                    col[i] = col[i + 1]

    def _interp(self, table: np.ndarray, size: float, occlusion: float) -> float:
        s = float(np.clip(size, self.sizes[0], self.sizes[-1]))
        o = float(np.clip(occlusion, self.occl[0], self.occl[-1]))
        row = np.array([np.interp(o, self.occl, table[i]) for i in range(len(self.sizes))])
        return float(np.interp(s, self.sizes, row))

    def detected(self, size: float, occlusion: float) -> float:
        return self._interp(self.detect, size, occlusion)

    def error(self, size: float, occlusion: float) -> float:
        return self._interp(self.err, size, occlusion)


@functools.cache
def tracker_noise() -> TrackerNoise:
    return TrackerNoise()


def degrade(lm: np.ndarray, hand_size: float, visibility: float, rng: np.random.Generator) -> np.ndarray:
    """Landmark noise of the shipped tracker for this hand size and occluded fraction (1 - visibility): Gaussian
    with the measured mean absolute error (mean |N(0, s)| = 0.8 s)."""
    sigma = tracker_noise().error(hand_size, 1.0 - visibility) / math.sqrt(2.0 / math.pi)
    return np.asarray(lm + rng.standard_normal(lm.shape) * sigma)


def train_standin(blocks: dict[str, list[np.ndarray]], rng: np.random.Generator) -> Softmax:
    xs, ys = [], []
    for label, bl in blocks.items():
        rows = np.concatenate(bl)
        for _ in range(3):
            size = rng.uniform(*SIZE_RANGE, len(rows))
            vis = rng.uniform(1.0 - MAX_OCCLUSION, 1.0)
            xs.append(features(np.stack([degrade(r, float(s), vis, rng) for r, s in zip(rows, size, strict=True)])))
            ys += [GESTURES.index(label)] * len(rows)
    y = np.array(ys)
    counts = np.bincount(y, minlength=len(GESTURES)).astype(float)
    cw = counts.sum() / (len(counts) * np.maximum(counts, 1))
    return fit_softmax(np.concatenate(xs), y, GESTURES, l2=1e-3, steps=500, class_weight=cw)


@dataclass(frozen=True)
class Track:
    """A degraded landmark track and where it is in the image."""

    frames: np.ndarray  # (T, 21, 2) wrist-relative, normalized
    hand_size: float
    visibility: float
    position: tuple[float, float]
    aim: float  # rotation (radians) that points the index finger at the intended zone
    detected: bool = True  # False: the tracker would not find this hand (too small or too occluded)


def aim_at(hand: np.ndarray, size: float, pos: tuple[float, float], zone: list[tuple[float, float]]) -> float:
    """Rotation (radians, about the wrist at ``pos``) that makes the runtime's finger ray — from the fingertip,
    along the finger — pass through the zone's centre (the ray starts at the tip, not the wrist: aiming the
    wrist-to-centre line misses small or far zones by the finger's sideways offset)."""
    centre = np.mean(zone, axis=0)
    tip, v = pointing_ray(hand)
    a = np.linspace(-math.pi, math.pi, 3600, endpoint=False)  # every 0.1 degree: the tip moves with the turn
    c, s = np.cos(a), np.sin(a)
    origin = np.stack([c * tip[0] - s * tip[1], s * tip[0] + c * tip[1]], -1) * (size * IMAGE_H) + np.array(pos)
    ray = np.stack([c * v[0] - s * v[1], s * v[0] + c * v[1]], -1)
    to = centre - origin
    cos_err = (ray * to).sum(-1) / (np.linalg.norm(to, axis=-1) + 1e-9)
    return float(a[int(np.argmax(cos_err))])


def draw_track(blocks: dict[str, list[np.ndarray]], label: str, rng: np.random.Generator,
               target_zone: str | None, size: float | None = None, visibility: float | None = None) -> Track:
    """A random window of recorded frames, degraded for a random (or the given) hand size and visibility,
    placed in the lower image and turned so its index finger aims at ``target_zone``; found by the tracker with
    the measured detection rate."""
    bl = blocks[label]
    blk = bl[int(rng.integers(len(bl)))]
    start = int(rng.integers(len(blk)))
    clean = np.take(blk, range(start, start + TRACK_FRAMES), axis=0, mode="wrap")
    size = float(rng.uniform(*SIZE_RANGE)) if size is None else size
    vis = float(rng.uniform(1.0 - MAX_OCCLUSION, 1.0)) if visibility is None else visibility
    pos = (float(rng.uniform(80, 560)), float(rng.uniform(360, 450)))
    aim = 0.0 if target_zone is None else aim_at(clean.mean(axis=0), size, pos, ZONES[target_zone][1])
    frames = np.stack([degrade(f, size, vis, rng) for f in clean])
    detected = bool(rng.random() < tracker_noise().detected(size, 1.0 - vis))
    return Track(frames, size, vis, pos, aim, detected)


def frame_targets(track: Track) -> list[str | None]:
    """The zone each frame's finger ray hits, as ``agent.vision.GestureTracker`` computes it (the runtime's ray
    and angle tolerance on the hand placed and turned in the image), or None."""
    c, s = math.cos(track.aim), math.sin(track.aim)
    rot = np.array([[c, -s], [s, c]])
    zones = {name: poly for name, (_, poly) in ZONES.items()}
    px = track.frames @ rot.T * (track.hand_size * IMAGE_H) + np.array(track.position)
    return [runtime_pointing_target(p, zones, POINTING_MAX_ANGLE_DEG) for p in px]


class StandinGestures:
    """Frame probabilities from the stand-in softmax."""

    def __init__(self, head: Softmax) -> None:
        self.head = head
        self.labels = head.labels
        self.name = "stand-in (models/fusion)"

    def frame_probs(self, frames: np.ndarray) -> np.ndarray:
        return self.head.proba(features(frames))


class RealGestures:
    """Frame probabilities from ``agent.vision.classifier.GestureClassifier`` (the shipped ONNX model)."""

    def __init__(self) -> None:
        from agent.vision.classifier import GestureClassifier

        self.clf = GestureClassifier()
        self.labels = tuple(self.clf.labels)
        self.name = "agent.vision GestureClassifier (trained on all of landmarks.csv, test rows included)"
        if set(self.labels) != set(GESTURES):
            raise ValueError(f"gesture classifier labels {self.labels} differ from {GESTURES}")

    def frame_probs(self, frames: np.ndarray) -> np.ndarray:
        p = np.asarray(self.clf.probabilities(frames))
        return p[:, [self.labels.index(g) for g in GESTURES]]


def track_event(model: StandinGestures | RealGestures, track: Track, t_start: float,
                t_end: float) -> tuple[GestureEvent | None, np.ndarray]:
    """(event, mean class probabilities in ``GESTURES`` order; zeros when the hand is not found). The event is
    what ``agent.vision.GestureTracker`` (the daemon's defaults) would report: the first run of
    ``STABLE_FRAMES`` consecutive frames whose arg-max class is the same gesture (not ``none``) with a score of
    at least ``ENTER_SCORE`` and, for pointing, the same zone; its score is the run's mean, its span from the
    run's first frame to the frame that made it stable. None when no run gets stable (or no hand is found).
    (Before, the arg-max of the track's mean probabilities was an event at any score, and a pointing event's
    zone was checked on its own: hands the tracker would never report took part in fusion.)"""
    if not track.detected:
        return None, np.zeros(len(GESTURES))
    probs = model.frame_probs(track.frames)
    if isinstance(model, StandinGestures):
        probs = probs[:, [model.labels.index(g) for g in GESTURES]]
    dt = (t_end - t_start) / len(probs)
    targets: list[str | None] = frame_targets(track)
    run: tuple[tuple[str, str | None] | None, int, list[float]] = (None, 0, [])
    for i, p in enumerate(probs):
        k = int(np.argmax(p))
        ok = GESTURES[k] != "none" and float(p[k]) >= ENTER_SCORE
        key = (GESTURES[k], targets[i] if GESTURES[k] == "pointing" else None) if ok else None
        run = (key, run[1] + 1, [*run[2], float(p[k])]) if ok and key == run[0] else (key, 1, [float(p[k])])
        if run[0] is not None and run[1] >= STABLE_FRAMES:
            gesture, target = run[0]
            return GestureEvent(gesture, float(np.mean(run[2])), t_start + (i + 1 - run[1]) * dt,
                                t_start + (i + 1) * dt, hand_size=track.hand_size, visibility=track.visibility,
                                pointing_target=target), probs.mean(axis=0)
    return None, probs.mean(axis=0)
