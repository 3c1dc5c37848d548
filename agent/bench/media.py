"""Bench media generated from the bundled files: an idle room (no one in view, room noise) and a busy one
(a hand moving in front of the camera, spoken commands). Frames are 640×480 BGR.

Hand photos: three Sign-Language-Digits images (Apache-2.0, see NOTICE), scaled and padded with replicated
edge pixels into a 640×480 frame; the hand drifts across the frame so tracking has real work.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ..audio.wav import read_wav_16k

MEDIA = Path(__file__).resolve().parents[1] / "demo" / "media"
W, H = 640, 480


def hand_photos() -> list[np.ndarray]:
    paths = sorted((MEDIA / "hands").glob("*.JPG"))
    return [img for p in paths if (img := cv2.imread(str(p))) is not None]


class Frames:
    """A lazy sequence of generated frames (a list of 640×480 frames would weigh ~1 MB each)."""

    def __init__(self, n: int, make: Callable[[int], np.ndarray]) -> None:
        self.n = n
        self.make = make

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.make(i)


def hand_frame(hand: np.ndarray, t: float) -> np.ndarray:
    """A square hand photo placed at a position drifting with time ``t`` (s), edges replicated."""
    size = hand.shape[0]
    cx = int((W - size) / 2 + 120 * np.sin(2 * np.pi * t / 6.0))
    cy = int((H - size) / 2 + 60 * np.sin(2 * np.pi * t / 4.0))
    return cv2.copyMakeBorder(hand, cy, H - size - cy, cx, W - size - cx, cv2.BORDER_REPLICATE)


def room_frame(rng: np.random.Generator) -> np.ndarray:
    """A still room: a fixed gradient with a little sensor noise."""
    base = np.linspace(60, 160, W, dtype=np.float32)[None, :, None].repeat(H, 0).repeat(3, 2)
    return np.clip(base + rng.normal(0, 2.0, base.shape), 0, 255).astype(np.uint8)


def busy_frames(seconds: float, fps: float, size: int = 220) -> Frames:
    photos = [cv2.resize(p, (size, size), interpolation=cv2.INTER_LINEAR) for p in hand_photos()]
    return Frames(int(seconds * fps), lambda i: hand_frame(photos[(i // int(fps * 2)) % len(photos)], i / fps))


IDLE_DISTINCT = 4  # the idle room's frames repeat after this many


def idle_frames(seconds: float, fps: float, seed: int = 0) -> Frames:
    rng = np.random.default_rng(seed)
    base = room_frame(rng)
    noise = [np.clip(base.astype(np.int16) + rng.integers(-2, 3, base.shape), 0, 255).astype(np.uint8)
             for _ in range(IDLE_DISTINCT)]
    return Frames(int(seconds * fps), lambda i: noise[i % len(noise)])


def busy_audio(seconds: float) -> np.ndarray:
    speech = read_wav_16k(MEDIA / "demo.wav")
    return np.resize(speech, int(seconds * 16000))


def idle_audio(seconds: float, seed: int = 0) -> np.ndarray:
    """Quiet room tone: low-passed noise at about -55 dBFS."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, int(seconds * 16000))
    smooth = np.convolve(x, np.ones(8) / 8, mode="same")
    return (smooth * 60).astype(np.int16)
