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


# -- the rooms the bench replays (issue 22): real motion when idle, hands that come and go when busy ---------

WALK_PERIOD_S = 8.0  # someone walks past the camera once every this many seconds...
WALK_S = 3.0         # ...taking this long to cross the frame
LIGHT_PERIOD_S = 12.0  # the light level drifts ±15 % over this period, and a lamp switches every other period
SLOT_S = 6.0         # busy room: one spoken command every SLOT_S, starting SPEECH_AT_S into its slot...
SPEECH_AT_S = 0.5
HAND_AFTER_S = 2.1   # ...and a hand coming into view this long after the speech ends, for HAND_IN_S: fusion's
HAND_IN_S = 2.0      # window is 2 s, so the hand's gestures are load on the video path, never partners or vetoes
TALK_SLOT_S = 3.0    # commands said with no hand in view (no hand timing to keep clear of): one every TALK_SLOT_S


def empty_room(seed: int = 0) -> np.ndarray:
    """The empty room of ``deploy/replay/room`` (a lit wall gradient, a red cabinet and a dark screen), with a
    fixed fine texture so that JPEG has real detail to code."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, W, dtype=np.float32)[None, :]
    y = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None]
    room = np.stack([95 + 30 * x - 10 * y, 115 + 10 * x - 5 * y, 120 - 5 * x + 10 * y], axis=-1)
    room[60:260, 40:200] = (62, 82, 160)
    room[70:230, 430:620] = (32, 32, 32)
    room = room + np.asarray(rng.normal(0, 4.0, room.shape), np.float32)
    return np.clip(room, 0, 255).astype(np.uint8)


def light_gain(t: float) -> float:
    """Lights changing: a slow drift, and a lamp switched on for the second half of every other period."""
    lamp = 0.12 if (t // (LIGHT_PERIOD_S / 2)) % 4 == 3 else 0.0
    return float(1.0 + 0.15 * np.sin(2 * np.pi * t / LIGHT_PERIOD_S) + lamp)


def add_walker(img: np.ndarray, t: float) -> None:
    """A person (dark torso and head, no hand in view) crossing the frame left to right, in place."""
    phase = t % WALK_PERIOD_S
    if phase >= WALK_S:
        return
    cx = int(-120 + (W + 240) * phase / WALK_S)
    bob = int(6 * np.sin(2 * np.pi * phase * 2))
    cv2.ellipse(img, (cx, 330 + bob), (70, 170), 0, 0, 360, (58, 52, 48), -1)
    cv2.circle(img, (cx, 130 + bob), 45, (90, 110, 150), -1)


def idle_room_frame(room: np.ndarray, i: int, fps: float) -> np.ndarray:
    """Frame ``i`` of the idle room: nobody's hand in view, but someone walks past and the lights change."""
    t = i / fps
    img = room.copy()
    add_walker(img, t)
    noise = np.random.default_rng(1000 + i).integers(-2, 3, img.shape, dtype=np.int16)
    return np.clip(img.astype(np.float32) * light_gain(t) + noise, 0, 255).astype(np.uint8)


def idle_room_frames(seconds: float, fps: float) -> Frames:
    room = empty_room()
    return Frames(int(seconds * fps), lambda i: idle_room_frame(room, i, fps))


SPEECH_LEVEL = 0.02  # a clip's speech ends at its last sample above this fraction of its peak


def _script(name: str = "demo") -> list[dict[str, float]]:
    """The utterances of bundled recording ``name`` (``demo``; ``devices``: commands of the ``devices`` sentence
    set; ``models/demo/make_demo.py``): the clip's ``start`` and ``end`` and, ``speech``, its speech's length.
    The synthesizers leave 0.1-0.4 s of silence after the last word inside a clip; the time to act is measured
    from the end of the words, not of the clip."""
    import json

    pcm = read_wav_16k(MEDIA / f"{name}.wav")
    out = []
    for u in json.loads((MEDIA / f"{name}.json").read_text())["utterances"]:
        start, end = float(u["start"]), float(u["end"])
        clip = np.abs(pcm[int(start * 16000): int(end * 16000)].astype(np.float32))
        loud = np.nonzero(clip > SPEECH_LEVEL * clip.max())[0] if len(clip) else np.zeros(0, np.int64)
        out.append({"start": start, "end": end, "speech": float(loud[-1] + 1) / 16000 if len(loud) else end - start})
    return out


def speech_spans(seconds: float, name: str = "demo", slot_s: float = SLOT_S) -> list[tuple[float, float]]:
    """(start, end) of speech (s) in :func:`busy_room_audio`: the recording's utterances in turn, one per slot
    (the end: of the words, :func:`_script`)."""
    script = _script(name)
    spans = []
    for k in range(int(seconds // slot_s) + 1):
        u = script[k % len(script)]
        start = k * slot_s + SPEECH_AT_S
        spans.append((start, start + u["speech"]))
    return [(a, b) for a, b in spans if b < seconds]


def speech_ends(seconds: float, name: str = "demo", slot_s: float = SLOT_S) -> list[float]:
    """True ends of speech (s) in :func:`busy_room_audio` of ``seconds`` (from the recording's script)."""
    return [b for _, b in speech_spans(seconds, name, slot_s)]


def busy_room_audio(seconds: float, name: str = "demo", slot_s: float = SLOT_S) -> np.ndarray:
    """Room tone with one utterance of recording ``name`` (cut at its scripted start and end) at the start of
    every slot of ``slot_s``."""
    speech = read_wav_16k(MEDIA / f"{name}.wav")
    script = _script(name)
    out = idle_audio(seconds, seed=1)
    for k, u in enumerate(script * (int(seconds // slot_s) // len(script) + 1)):
        clip = speech[int(u["start"] * 16000): int(u["end"] * 16000)]
        at = int((k * slot_s + SPEECH_AT_S) * 16000)
        if at + len(clip) > len(out):
            break
        out[at: at + len(clip)] = clip
    return out


def hand_in_view(t: float) -> bool:
    """Busy room: whether the hand is in view at ``t`` (s): from ``HAND_AFTER_S`` after its slot's speech ended,
    for ``HAND_IN_S``."""
    k = int(t // SLOT_S)
    u = _SCRIPT[k % len(_SCRIPT)]
    enters = k * SLOT_S + SPEECH_AT_S + u["end"] - u["start"] + HAND_AFTER_S
    return enters <= t < enters + HAND_IN_S


_SCRIPT = _script()


def busy_room_frames(seconds: float, fps: float, size: int = 220) -> Frames:
    """A hand that comes and goes (:func:`hand_in_view`; drifting, as :func:`busy_frames`), and the room
    without it in between, so the tracker loses it and the palm detector must find it again."""
    photos = [cv2.resize(p, (size, size), interpolation=cv2.INTER_LINEAR) for p in hand_photos()]
    room = empty_room()

    def make(i: int) -> np.ndarray:
        t = i / fps
        if hand_in_view(t):
            return hand_frame(photos[int(t // SLOT_S) % len(photos)], t)
        return idle_room_frame(room, i, fps)

    return Frames(int(seconds * fps), make)
