"""Live camera through OpenCV (index, device path, file or URL) with a frame-rate cap and stall detection.

Capture runs in its own thread because ``VideoCapture.read`` can block forever on a dead device. A camera
that blocks, or keeps returning the very same frame, is *reported* (``stalled`` in stats, a warning, and
``read`` raising :class:`DeviceUnavailable` after ``stale_after_s``) rather than trusted. ``close`` releases
the device: no frame is read until ``open`` is called again (the privacy switch relies on this).

A live camera is asked for MJPEG and for the JPEG itself, undecoded (V4L2: ``CAP_PROP_FOURCC`` MJPG and
``CAP_PROP_CONVERT_RGB`` 0; OpenCV then returns each frame as one row of bytes): frames are handed over as
:func:`~agent.sources.frames.jpeg_frame`, and the capture thread decodes only their 1/8-scale grey
thumbnail, for the stall fingerprint (which the motion gate then reuses). A camera, backend or file that
gives no JPEG that way is switched back to OpenCV's own conversion at its first frame, and its frames are
BGR pixels, as before.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from typing import Any

import cv2
import numpy as np

from ..errors import DeviceUnavailable, SourceError
from ..types import VideoFrame
from .frames import as_jpeg, grey_thumbnail, jpeg_frame

log = logging.getLogger(__name__)


MJPG = cv2.VideoWriter.fourcc(*"MJPG")


def _fingerprint(frame: VideoFrame) -> int:
    return zlib.crc32(grey_thumbnail(frame).tobytes())


def is_live_device(device: str | int) -> bool:
    """A camera index or a V4L2 device path (not a video file or a stream URL)."""
    return isinstance(device, int) or device.isdigit() or device.startswith("/dev/")


class CameraSource:
    """``raw_mjpeg``: ask the capture for undecoded MJPEG (None: for live devices only, see the module)."""

    def __init__(self, device: str | int = 0, width: int = 640, height: int = 480, max_fps: float = 15.0,
                 stale_after_s: float = 2.0, capture_factory: Any = None, raw_mjpeg: bool | None = None) -> None:
        self.device = device
        self.raw_mjpeg = is_live_device(device) if raw_mjpeg is None else raw_mjpeg
        self._raw = False  # this capture delivers JPEG bytes (decided at open and at the first frame)
        self._raw_seen = False
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
        self._counts = {"frames": 0, "repeated": 0, "stalled": 0, "reads": 0, "jpeg": 0, "corrupt": 0}
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
        if self.raw_mjpeg:  # before the size: V4L2 picks the size among the chosen format's
            cap.set(cv2.CAP_PROP_FOURCC, MJPG)
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self._raw = self.raw_mjpeg and bool(cap.set(cv2.CAP_PROP_CONVERT_RGB, 0))
        self._raw_seen = False  # a JPEG came in raw mode: later non-JPEG buffers are corrupt frames
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
            ok, buf = cap.read()
            self._counts["reads"] += 1
            t = time.monotonic()
            if not ok or buf is None:
                if isinstance(self.device, str) and not self.device.isdigit() and "://" not in self.device:
                    self.exhausted = True  # end of a video file
                    with self._cond:
                        self._cond.notify_all()
                    break
                self._stop.wait(0.05)
                continue
            frame = self._frame(cap, buf, t)
            if frame is None:
                continue
            fp = _fingerprint(frame)
            if fp == self._last_print:
                self._counts["repeated"] += 1
                continue
            self._last_print = fp
            self._last_new = t
            with self._cond:
                self._latest = frame
                self._seq += 1
                self._counts["frames"] += 1
                self._cond.notify_all()

    def _frame(self, cap: Any, buf: np.ndarray, t: float) -> VideoFrame | None:
        """The frame captured at ``t`` (JPEG bytes or pixels), or None: a corrupt JPEG, or the first frame of
        a capture that gave no JPEG in raw mode (switched back to OpenCV's conversion for the next ones)."""
        if not self._raw:
            return VideoFrame(image=buf, t_mono=t, seq=self._seq)
        data = as_jpeg(buf)
        if data is None and not self._raw_seen:
            log.info("camera %r gives no MJPEG as it is; OpenCV decodes its frames", self.device)
            self._raw = False
            cap.set(cv2.CAP_PROP_CONVERT_RGB, 1)
            return None
        self._raw_seen = True
        frame = jpeg_frame(data, t, self._seq) if data is not None else None
        try:
            if frame is not None:
                grey_thumbnail(frame)  # decoded here, so that a corrupt frame is dropped here
                self._counts["jpeg"] += 1
                return frame
        except SourceError as exc:
            log.debug("camera %r: %s", self.device, exc)
        self._counts["corrupt"] += 1
        return None

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
