"""Bench media generated from the bundled files: an idle room (no one in view, room noise) and a busy one
(a hand moving in front of the camera, spoken commands). Frames are 640×480 BGR.

Hand photos: three Sign-Language-Digits images (Apache-2.0, see NOTICE), scaled and padded with replicated
edge pixels into a 640×480 frame; the hand drifts across the frame so tracking has real work.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..audio.wav import read_wav_16k

MEDIA = Path(__file__).resolve().parents[1] / "demo" / "media"
W, H = 640, 480


def hand_photos() -> list[np.ndarray]:
    paths = sorted((MEDIA / "hands").glob("*.JPG"))
    return [img for p in paths if (img := cv2.imread(str(p))) is not None]


def hand_frame(photo: np.ndarray, t: float, size: int = 220) -> np.ndarray:
    """The photo scaled to ``size`` px, placed at a position drifting with time ``t`` (s)."""
    hand = cv2.resize(photo, (size, size), interpolation=cv2.INTER_LINEAR)
    cx = int((W - size) / 2 + 120 * np.sin(2 * np.pi * t / 6.0))
    cy = int((H - size) / 2 + 60 * np.sin(2 * np.pi * t / 4.0))
    return cv2.copyMakeBorder(hand, cy, H - size - cy, cx, W - size - cx, cv2.BORDER_REPLICATE)


def room_frame(rng: np.random.Generator) -> np.ndarray:
    """A still room: a fixed gradient with a little sensor noise."""
    base = np.linspace(60, 160, W, dtype=np.float32)[None, :, None].repeat(H, 0).repeat(3, 2)
    return np.clip(base + rng.normal(0, 2.0, base.shape), 0, 255).astype(np.uint8)


def busy_frames(seconds: float, fps: float) -> list[np.ndarray]:
    photos = hand_photos()
    n = int(seconds * fps)
    return [hand_frame(photos[(i // int(fps * 2)) % len(photos)], i / fps) for i in range(n)]


def idle_frames(seconds: float, fps: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [room_frame(rng) for _ in range(int(seconds * fps))]


def busy_audio(seconds: float) -> np.ndarray:
    speech = read_wav_16k(MEDIA / "demo.wav")
    return np.resize(speech, int(seconds * 16000))


def idle_audio(seconds: float, seed: int = 0) -> np.ndarray:
    """Quiet room tone: low-passed noise at about -55 dBFS."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, int(seconds * 16000))
    smooth = np.convolve(x, np.ones(8) / 8, mode="same")
    return (smooth * 60).astype(np.int16)
