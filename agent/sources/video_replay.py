"""Replay a video file or a folder of images as VideoFrames, paced at ``fps`` in real time or flat out.

Images and frames are decoded with bounded memory (:mod:`agent.sources.image_file`): a video whose frames
exceed the pixel limit is refused at :meth:`VideoReplaySource.open`; an unreadable or oversize image in a
folder (or an oversize frame in a video) is logged once and skipped, so one bad file never stops the daemon.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from ..errors import SourceError
from ..types import VideoFrame
from .base import wait_until
from .frames import jpeg_frame
from .image_file import check_pixels, check_video_size, read_image

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class VideoReplaySource:
    def __init__(self, path: str | Path, fps: float = 15.0, realtime: bool = True, loop: bool = False) -> None:
        self.path = Path(path)
        self.interval = 1.0 / fps
        self.realtime = realtime
        self.loop = loop
        self._images: list[Path] = []
        self._cap: Any = None
        self._idx = 0
        self._seq = 0
        self._t0 = 0.0
        self.exhausted = False
        self._frames_read = 0
        self._truncation_logged = False
        self._oversize_logged = False

    def open(self) -> None:
        if self.path.is_dir():
            self._images = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._images:
                raise SourceError(f"{self.path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder")
        else:
            cap = cv2.VideoCapture(str(self.path))
            if not cap.isOpened():
                raise SourceError(f"{self.path}: cannot open video file")
            try:
                check_video_size(self.path, cap)
            except SourceError:
                cap.release()
                raise
            self._cap = cap
        self._t0 = time.monotonic()
        self.exhausted = False

    def _next_image(self) -> np.ndarray | None:
        """The next decodable image or frame; bad ones are logged once and dropped (None at the end)."""
        while self._images:
            if self._idx >= len(self._images):
                if not self.loop:
                    return None
                self._idx = 0
            p = self._images[self._idx]
            try:
                img = read_image(p)
            except SourceError as exc:
                log.warning("%s; image skipped", exc)
                del self._images[self._idx]  # not retried on the next loop: logged once
                continue
            self._idx += 1
            return img
        if self._cap is None:
            return None
        return self._next_frame()

    def _next_frame(self) -> np.ndarray | None:
        """The next video frame within the pixel limit; rewinds at most once per call when looping, so a
        video with no acceptable frame ends instead of spinning."""
        rewound = False
        while True:
            try:
                ok, img = self._cap.read()
            except cv2.error as exc:
                log.warning("%s: cannot decode video frame (%s); replay ends", self.path, exc)
                return None
            if not ok:
                self._check_complete()
                if not self.loop or rewound:
                    return None
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                rewound = True
                continue
            self._frames_read += 1
            try:
                check_pixels(self.path, img.shape[1], img.shape[0])
            except SourceError as exc:
                if not self._oversize_logged:
                    log.warning("%s; frames of this size are skipped", exc)
                    self._oversize_logged = True
                continue
            return img

    def _check_complete(self) -> None:
        """At the end of the file: fewer frames than the container declares means a truncated or damaged file,
        said once (a replay that silently stops early looks like a quiet room)."""
        assert self._cap is not None
        declared = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if not self._truncation_logged and declared > 0 and self._frames_read < declared - 1:
            log.warning("%s ended after %d of its %d frames: the file is truncated or damaged", self.path,
                        self._frames_read, declared)
            self._truncation_logged = True
        self._frames_read = 0

    def read(self, timeout: float = 1.0) -> VideoFrame | None:
        if self.exhausted:
            return None
        t = self._t0 + self._seq * self.interval
        if self.realtime and wait_until(t, timeout) is None:
            return None
        img = self._next_image()
        if img is None:
            self.exhausted = True
            return None
        frame = VideoFrame(image=img, t_mono=t, seq=self._seq)
        self._seq += 1
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self.exhausted = True

    @property
    def stats(self) -> dict[str, int]:
        return {"frames": self._seq}


class FrameSequence(Protocol):
    """What ArrayVideoSource replays: a list of images, or a lazy sequence that makes them on demand."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> np.ndarray: ...


class ArrayVideoSource:
    """Frames held in memory (benchmarks, tests), paced at ``fps`` in real time or delivered flat out.

    ``loop`` starts again at the first frame; frame numbers (``seq``) keep counting across loops. A sequence
    that also has ``jpeg(i)`` (the bench's MJPEG frames) is delivered as JPEG frames, decoded on demand, as a
    camera's are.
    """

    def __init__(self, frames: FrameSequence, fps: float = 15.0, realtime: bool = True, loop: bool = False) -> None:
        self.frames = frames
        self.interval = 1.0 / fps
        self.realtime = realtime
        self.loop = loop
        self._i = 0  # frames played since open (the position is _i % len(frames))
        self._t0 = 0.0
        self.exhausted = False

    def open(self) -> None:
        self._i = 0
        self._t0 = time.monotonic()
        self.exhausted = not self.frames

    def read(self, timeout: float = 1.0) -> VideoFrame | None:
        if self.exhausted:
            return None
        n = len(self.frames)
        t = self._t0 + self._i * self.interval
        if self.realtime:
            late = wait_until(t, timeout)
            if late is None:
                return None
            # running late: skip to the freshest frame, as a live camera would
            skip = int(late / self.interval)
            self._i += max(0, skip if self.loop else min(skip, n - 1 - self._i))
            t = self._t0 + self._i * self.interval
        jpeg = getattr(self.frames, "jpeg", None)
        k = self._i % n
        frame = jpeg_frame(jpeg(k), t, self._i) if jpeg is not None else \
            VideoFrame(image=self.frames[k], t_mono=t, seq=self._i)
        self._i += 1
        self.exhausted = not self.loop and self._i >= n
        return frame

    def close(self) -> None:
        self.exhausted = True

    @property
    def stats(self) -> dict[str, int]:
        return {"frames": self._i}
