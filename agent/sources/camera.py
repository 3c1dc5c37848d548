"""Live camera through OpenCV (index, device path, file or URL) with a frame-rate cap and stall detection.

Capture runs in its own thread because ``VideoCapture.read`` can block forever on a dead device. A camera
that blocks, or keeps returning the very same frame, is *reported* (``stalled`` in stats, a warning, and
``read`` raising :class:`DeviceUnavailable` after ``stale_after_s``) rather than trusted. ``close`` releases
the device: no frame is read until ``open`` is called again (the privacy switch relies on this).
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from typing import Any

import cv2
import numpy as np

from ..errors import DeviceUnavailable
from ..types import VideoFrame

log = logging.getLogger(__name__)


def _fingerprint(image: np.ndarray) -> int:
    small = cv2.resize(image, (32, 24), interpolation=cv2.INTER_AREA)
    return zlib.crc32(small.tobytes())


class CameraSource:
    def __init__(self, device: str | int = 0, width: int = 640, height: int = 480, max_fps: float = 15.0,
                 stale_after_s: float = 2.0, capture_factory: Any = None) -> None:
        self.device = device
        self.width, self.height = width, height
        self.min_interval = 1.0 / max_fps
        self.stale_after_s = stale_after_s
        self._factory = capture_factory or cv2.VideoCapture
        self._cap: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._latest: VideoFrame | None = None
        self._delivered_seq = -1
        self._seq = 0
        self._last_new = 0.0
        self._last_print = -1
        self._counts = {"frames": 0, "repeated": 0, "stalled": 0, "reads": 0}
        self.exhausted = False

    @property
    def is_open(self) -> bool:
        return self._cap is not None

    def open(self) -> None:
        dev: Any = int(self.device) if isinstance(self.device, str) and self.device.isdigit() else self.device
        cap = self._factory(dev)
        if not cap.isOpened():
            cap.release()
            raise DeviceUnavailable(f"cannot open camera {self.device!r}: check it is plugged in, not used by "
                                    "another program, and the user is in the 'video' group")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self._cap = cap
        self._stop.clear()
        self._last_new = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
        self._thread.start()
        log.info("camera %r open", self.device)

    def _run(self) -> None:
        next_due = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now < next_due:
                self._stop.wait(next_due - now)
                continue
            next_due = now + self.min_interval
            cap = self._cap
            if cap is None:
                break
            ok, image = cap.read()
            self._counts["reads"] += 1
            t = time.monotonic()
            if not ok or image is None:
                if isinstance(self.device, str) and not self.device.isdigit() and "://" not in self.device:
                    self.exhausted = True  # end of a video file
                    with self._cond:
                        self._cond.notify_all()
                    break
                self._stop.wait(0.05)
                continue
            fp = _fingerprint(image)
            if fp == self._last_print:
                self._counts["repeated"] += 1
                continue
            self._last_print = fp
            self._last_new = t
            with self._cond:
                self._latest = VideoFrame(image=image, t_mono=t, seq=self._seq)
                self._seq += 1
                self._counts["frames"] += 1
                self._cond.notify_all()

    def read(self, timeout: float = 1.0) -> VideoFrame | None:
        """The newest frame not yet returned (older ones are skipped: vision wants the freshest)."""
        if self._cap is None and not self.exhausted:  # not open (a failed reopen): the caller retries
            raise DeviceUnavailable(f"camera {self.device!r} is not open")
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._latest is None or self._latest.seq == self._delivered_seq:
                if self.exhausted or self._cap is None:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    if time.monotonic() - self._last_new > self.stale_after_s:
                        self._counts["stalled"] += 1
                        raise DeviceUnavailable(
                            f"camera {self.device!r} delivered no new frame for {self.stale_after_s:.1f} s "
                            "(blocked, or repeating the same image)")
                    return None
                self._cond.wait(left)
            frame = self._latest
            self._delivered_seq = frame.seq
            return frame

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            if self._thread.is_alive():
                log.warning("camera %r capture thread is blocked in read; releasing anyway", self.device)
            self._thread = None
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        with self._cond:
            self._latest = None
            self._cond.notify_all()

    @property
    def stats(self) -> dict[str, int]:
        return dict(self._counts)
