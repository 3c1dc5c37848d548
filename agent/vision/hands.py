"""Hand detection and 21-point landmarks with onnxruntime (MediaPipe palm detector + hand landmark model).

The palm detector (float) runs only when no hand is tracked; while tracked, each frame's ROI comes from the
previous frame's landmarks and only the (int8) landmark model runs.

Small hands: the detector sees the whole frame letterboxed to 192×192, where a hand of 30–80 px in a 640×480
frame (2–4 m from the camera) is 10–25 px, and it finds almost none under ~64 px. When a full-frame look finds
nothing and the caller knows where to look (the motion gate's centre of a motion small enough for the square
below, or where a tracked hand was just lost), :meth:`HandTracker.process` runs the detector once more on a
square of :data:`ZOOM_SIDE` × the frame's height around that point (192 px of 480: the detector's own input
size, so it sees the camera's pixels, 2.5× the full-frame look). Found there, the landmark model takes the hand
over from its palm box in frame pixels, and tracking follows it as any other. At most one zoomed look per call,
none while a hand is tracked.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError
from ..paths import pretrained_dir
from ..runtime.session import OnnxModel, load_model
from ..types import Hand, VideoFrame
from .geometry import Rect, crop_rect, crop_to_image, letterbox, rect_from_landmarks
from .palm import INPUT_SIZE, Palm, decode, to_palms, weighted_nms

log = logging.getLogger(__name__)

LANDMARK_SIZE = 224
PALM_MODEL = "palm_detection_lite.onnx"
LANDMARK_MODEL = "hand_landmark_full_int8.onnx"
LANDMARK_MODEL_FLOAT = "hand_landmark_full.onnx"
LANDMARK_MODEL_LITE = "hand_landmark_lite_int8.onnx"  # config vision.landmarks: lite (Pi-class CPUs)
LANDMARK_MODEL_LITE_FLOAT = "hand_landmark_lite.onnx"


def landmark_models(setting: str) -> tuple[str, str]:
    """(int8, float) landmark model files for config ``vision.landmarks`` (``full`` or ``lite``)."""
    if setting == "lite":
        return LANDMARK_MODEL_LITE, LANDMARK_MODEL_LITE_FLOAT
    return LANDMARK_MODEL, LANDMARK_MODEL_FLOAT
STILL_PAD = 2.5  # tight hand crops: pad with replicated edges to 2.5× before palm detection
SMALL_IMAGE = 400  # frames smaller than this (pixels, longest side) also get the padded retry
ZOOM_SIDE = 0.4  # the zoomed look: a square of this fraction of the frame's height (at least INPUT_SIZE px)
ZOOM_MAX = 0.75  # ... and none when that square is more than this fraction of the frame's shorter side


def _model_path(name: str | Path) -> Path:
    p = Path(name)
    return p if p.is_absolute() or p.exists() else pretrained_dir("vision") / p


def zoom_square(shape: tuple[int, ...], centre: tuple[float, float]) -> tuple[int, int, int] | None:
    """(x0, y0, side) of the zoomed look's square around ``centre`` (pixels), kept inside the frame; None when
    the frame is too small for a zoom to see more (the padded retry of small frames covers those)."""
    h, w = shape[:2]
    side = max(INPUT_SIZE, round(ZOOM_SIDE * h))
    if side > ZOOM_MAX * min(h, w):
        return None
    x0 = int(np.clip(round(centre[0] - side / 2), 0, w - side))
    y0 = int(np.clip(round(centre[1] - side / 2), 0, h - side))
    return x0, y0, side


def _to_input(img_bgr: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(img_bgr, cv2.COLOR_BGR2RGB)
    return (rgb.astype(np.float32) / 255.0)[None]


class HandTracker:
    """Find hands and their landmarks in frames; keeps tracking state between calls of :meth:`process`.

    ``pad_factor`` > 1 pads the image with replicated edge pixels before palm detection (tight crops);
    ``zoom`` False turns the zoomed look for small hands off (config ``vision.small_hands``).
    """

    def __init__(self, threads: int = 1, *, max_hands: int = 1, palm_model: str | Path = PALM_MODEL,
                 landmark_model: str | Path = LANDMARK_MODEL, min_palm_score: float = 0.5,
                 min_presence: float = 0.5, pad_factor: float = 1.0, zoom: bool = True) -> None:
        lm_path = _model_path(landmark_model)
        # per-frame models: an arena each (see load_model)
        self.palm_model: OnnxModel = load_model(_model_path(palm_model), threads=threads, arena=True)
        self.landmark_model: OnnxModel = load_model(lm_path, threads=threads, arena=True)
        self._check_io()
        self.max_hands = max_hands
        self.min_palm_score = min_palm_score
        self.min_presence = min_presence
        self.pad_factor = pad_factor
        self.zoom = zoom
        self._tracked: list[Rect] = []
        self.counts = {"palm": 0, "landmarks": 0, "zoom": 0}  # model runs (benchmarks); zoom: of the palm runs

    def _check_io(self) -> None:
        if len(self.palm_model.outputs) != 2 or len(self.landmark_model.outputs) != 4:
            raise ModelError("vision models have unexpected outputs: rebuild with 'python -m models.vision.build'")

    def reset(self) -> None:
        """Forget tracked hands (the next frame runs the palm detector)."""
        self._tracked = []

    # -- palm detection ------------------------------------------------------------------------------------
    def detect_palms(self, image: np.ndarray, pad_factor: float | None = None) -> list[Palm]:
        """Run the palm detector on a BGR image; returns palms in image pixels, best first."""
        factor = self.pad_factor if pad_factor is None else pad_factor
        h, w = image.shape[:2]
        off = (0.0, 0.0)
        if factor > 1.0:
            px, py = round(w * (factor - 1) / 2), round(h * (factor - 1) / 2)
            image = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_REPLICATE)
            off = (float(px), float(py))
        boxed, scale, pad_x, pad_y = letterbox(image, INPUT_SIZE)
        self.counts["palm"] += 1
        raw_boxes, raw_scores = self.palm_model(_to_input(boxed))
        dets = weighted_nms(decode(raw_boxes, raw_scores, self.min_palm_score), max_out=self.max_hands)
        return to_palms(dets, scale, pad_x, pad_y, off)

    # -- landmarks -----------------------------------------------------------------------------------------
    def landmarks(self, image: np.ndarray, rect: Rect) -> Hand | None:
        """Run the landmark model on one ROI; ``None`` when the hand-presence score is too low."""
        crop = crop_rect(image, rect, LANDMARK_SIZE)
        self.counts["landmarks"] += 1
        outs = dict(zip(self.landmark_model.output_names, self.landmark_model(_to_input(crop)), strict=False))
        coords = outs["Identity"].reshape(21, 3)
        presence = float(outs["Identity_1"].reshape(-1)[0])
        if presence < self.min_presence:
            return None
        right = float(outs["Identity_2"].reshape(-1)[0])
        pts = crop_to_image(coords, rect, LANDMARK_SIZE)
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        # MediaPipe's handedness assumes a mirrored (selfie) image; report it as the model does.
        return Hand(landmarks=pts, handedness="right" if right > 0.5 else "left", score=presence,
                    box=(float(x0), float(y0), float(x1), float(y1)))

    # -- per frame -----------------------------------------------------------------------------------------
    def process(self, frame: VideoFrame, focus: tuple[float, float] | None = None) -> list[Hand]:
        """Hands in one video frame (tracking from the previous frame when possible).

        ``focus``: where something moved, as fractions of the frame's width and height, or None; used only
        when no hand is tracked and the full-frame look finds none (then one zoomed look there). A tracked hand
        lost in this frame is looked for the same way where it was."""
        image = frame.image
        hands: list[Hand] = []
        lost: tuple[float, float] | None = None
        if self._tracked:
            for rect in self._tracked:
                hand = self.landmarks(image, rect)
                if hand is not None:
                    hands.append(hand)
            lost = None if hands else (self._tracked[0].cx, self._tracked[0].cy)
        elif focus is not None:
            lost = (focus[0] * image.shape[1], focus[1] * image.shape[0])
        if not hands:
            hands = self._found(image, self.detect_palms(image))
        if not hands and max(image.shape[:2]) < SMALL_IMAGE and self.pad_factor <= 1.0:
            hands = self._found(image, self.detect_palms(image, STILL_PAD))
        if not hands and lost is not None and self.zoom:
            hands = self.detect_zoomed(image, lost)
        self._tracked = [rect_from_landmarks(h.landmarks) for h in hands[: self.max_hands]]
        return hands[: self.max_hands]

    def _found(self, image: np.ndarray, palms: list[Palm]) -> list[Hand]:
        return [h for p in palms if (h := self.landmarks(image, p.hand_rect()))]

    def detect_zoomed(self, image: np.ndarray, centre: tuple[float, float]) -> list[Hand]:
        """The zoomed look (see the module's note): palms found in a square around ``centre`` (pixels), their
        landmarks read in the whole frame; [] when the frame is too small for a zoom."""
        square = zoom_square(image.shape, centre)
        if square is None:
            return []
        x0, y0, side = square
        self.counts["zoom"] += 1
        palms = self.detect_palms(image[y0:y0 + side, x0:x0 + side], 1.0)
        return self._found(image, [p.shifted(x0, y0) for p in palms])

    def process_image(self, image: np.ndarray) -> list[Hand]:
        """Hands in one still image: no tracking; retries with edge padding for tight crops."""
        for factor in (self.pad_factor, STILL_PAD):
            hands = self._found(image, self.detect_palms(image, factor))
            if hands:
                # refine once from the landmarks (as tracking does), which centres the ROI on the whole hand
                refined = self.landmarks(image, rect_from_landmarks(hands[0].landmarks))
                return [refined or hands[0], *hands[1: self.max_hands]]
        return []
