"""The bench's camera: a real :class:`~agent.sources.camera.CameraSource` (capture thread, frame-rate cap,
freshest-frame hand-over, stall fingerprint) on a stand-in for ``cv2.VideoCapture`` that replays MJPEG frames.

:class:`MjpegCapture` blocks in ``read`` until the next frame is due at ``fps``, as a camera does, then hands
over that frame as OpenCV's V4L2 backend does for an MJPG camera: with ``CAP_PROP_CONVERT_RGB`` off (what the
camera source asks for), the JPEG's bytes as one row, copied out of the driver's buffer; with it on, decoded
to BGR. Whatever decoding the source then does is measured where a daemon pays for it.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from ..sources.camera import CameraSource
from .render import MjpegFrames

DEVICE = "bench-mjpeg"  # a name, not an index: CameraSource ends a finite replay when the capture runs out


class MjpegCapture:
    """``frames`` at ``fps`` from the first ``read``; ``loop`` starts again after the last one.
    ``cpu_s``: CPU time of the thread that reads, as of its latest read (capture decoding included)."""

    def __init__(self, frames: MjpegFrames, fps: float, loop: bool = False) -> None:
        self.frames = frames
        self.interval = 1.0 / fps
        self.loop = loop
        self.cpu_s = 0.0
        self.convert_rgb = True
        self.fourcc = cv2.VideoWriter.fourcc(*"MJPG")
        self._i = 0
        self._t0: float | None = None
        self._open = True
        self._closed = threading.Event()

    def isOpened(self) -> bool:
        return self._open

    def set(self, prop: int, value: float) -> bool:
        if prop == cv2.CAP_PROP_CONVERT_RGB:
            self.convert_rgb = bool(value)
        return prop in (cv2.CAP_PROP_CONVERT_RGB, cv2.CAP_PROP_FOURCC, cv2.CAP_PROP_FRAME_WIDTH,
                        cv2.CAP_PROP_FRAME_HEIGHT)

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_CONVERT_RGB:
            return float(self.convert_rgb)
        return float(self.fourcc) if prop == cv2.CAP_PROP_FOURCC else 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        self.cpu_s = time.thread_time()
        if not self._open or (self._i >= len(self.frames) and not self.loop):
            return False, None
        now = time.monotonic()
        self._t0 = now if self._t0 is None else self._t0
        due = self._t0 + self._i * self.interval
        if due > now and self._closed.wait(due - now):
            return False, None
        if due < now - self.interval:  # the reader fell behind: the camera's older frames are gone
            self._i += int((now - due) / self.interval)
            if self._i >= len(self.frames) and not self.loop:
                return False, None
        k = self._i % len(self.frames)
        image = self.frames[k] if self.convert_rgb else self.frames.jpeg(k).reshape(1, -1).copy()
        self._i += 1
        self.cpu_s = time.thread_time()
        return True, image

    def release(self) -> None:
        self._open = False
        self._closed.set()


def mjpeg_camera(frames: MjpegFrames, fps: float, loop: bool = False) -> tuple[CameraSource, MjpegCapture]:
    """A camera source at ``fps`` on ``frames``, and its capture (for its CPU time)."""
    capture = MjpegCapture(frames, fps, loop)
    source = CameraSource(DEVICE, max_fps=fps, stale_after_s=5.0, capture_factory=lambda _dev: capture,
                          raw_mjpeg=True)
    return source, capture
