"""Camera frames kept as JPEG and decoded lazily: the camera asks for raw MJPEG and falls back to OpenCV's
conversion when it gets none; the stall check and the motion gate use the 1/8-scale grey decode; only the
frames the hand tracker looks at are decoded in full."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from agent.bench import media
from agent.daemon.video_path import VideoPath
from agent.errors import DeviceUnavailable
from agent.sources.camera import CameraSource
from agent.sources.frames import as_jpeg, grey_thumbnail, jpeg_frame, reduce_grey
from agent.sources.video_replay import ArrayVideoSource
from agent.types import Hand, VideoFrame
from agent.vision import GestureTracker

FPS = 15.0
ROOM = media.empty_room()


def encode(img: np.ndarray) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buf.reshape(-1)


class MjpegDevice:
    """A V4L2 MJPEG camera as OpenCV shows it: raw JPEG bytes (one row) with CONVERT_RGB off, BGR with it on.
    ``ignores_raw``: a backend that always converts (CONVERT_RGB off still gives BGR)."""

    def __init__(self, images: list[np.ndarray], ignores_raw: bool = False, corrupt: set[int] | None = None) -> None:
        self.jpegs = [encode(img) for img in images]
        self.ignores_raw = ignores_raw
        self.corrupt = corrupt or set()
        self.convert_rgb = True
        self.props: dict[int, float] = {}
        self.reads = 0

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        if prop == cv2.CAP_PROP_CONVERT_RGB:
            self.convert_rgb = bool(value)
        return True

    def read(self) -> tuple[bool, np.ndarray]:
        k = self.reads % len(self.jpegs)
        self.reads += 1
        data = self.jpegs[k].copy()
        if k in self.corrupt:
            data[len(data) // 3:] = 0  # the entropy-coded data is garbage (the markers are gone)
            data[2:4] = 0
        if self.convert_rgb or self.ignores_raw:
            return True, cv2.imdecode(self.jpegs[k], cv2.IMREAD_COLOR)
        return True, data.reshape(1, -1)

    def release(self) -> None:
        pass


def frames_of(cam: CameraSource, n: int) -> list[VideoFrame]:
    cam.open()
    try:
        out: list[VideoFrame] = []
        while len(out) < n:
            f = cam.read(timeout=1.0)
            if f is not None:
                out.append(f)
        return out
    finally:
        cam.close()


def room(i: int) -> np.ndarray:
    return media.idle_room_frame(ROOM, i, FPS)


def test_a_live_mjpeg_camera_hands_over_jpeg_decoded_only_on_demand() -> None:
    device = MjpegDevice([room(i) for i in range(4)])
    cam = CameraSource(0, max_fps=200, capture_factory=lambda _dev: device)
    got = frames_of(cam, 3)
    assert device.props[cv2.CAP_PROP_FOURCC] == cv2.VideoWriter.fourcc(*"MJPG")
    assert all(f.encoded is not None and not f.decoded for f in got)
    assert grey_thumbnail(got[0]).shape == (60, 80)  # made by the camera's stall check, at 1/8 scale
    assert got[0].image.shape == (480, 640, 3) and got[0].decoded
    assert cam.stats["jpeg"] >= 3 and cam.stats["corrupt"] == 0


def test_a_capture_without_raw_mjpeg_falls_back_to_pixels() -> None:
    device = MjpegDevice([room(i) for i in range(4)], ignores_raw=True)
    got = frames_of(CameraSource(0, max_fps=200, capture_factory=lambda _dev: device), 3)
    assert device.props[cv2.CAP_PROP_CONVERT_RGB] == 1, "conversion switched back on"
    assert all(f.encoded is None and f.image.shape == (480, 640, 3) for f in got)


def test_files_and_streams_are_not_asked_for_raw_mjpeg() -> None:
    device = MjpegDevice([room(0)])
    got = frames_of(CameraSource("clip.avi", max_fps=200, capture_factory=lambda _dev: device), 1)
    assert cv2.CAP_PROP_CONVERT_RGB not in device.props and got[0].encoded is None


def test_corrupt_jpeg_frames_are_dropped_not_delivered() -> None:
    device = MjpegDevice([room(i) for i in range(4)], corrupt={1})
    cam = CameraSource(0, max_fps=200, capture_factory=lambda _dev: device)
    got = frames_of(cam, 4)
    assert all(f.image.shape == (480, 640, 3) for f in got)
    assert cam.stats["corrupt"] >= 1


def test_a_frozen_mjpeg_camera_is_reported_from_its_thumbnails() -> None:
    device = MjpegDevice([room(0)])
    cam = CameraSource(0, max_fps=100, stale_after_s=0.3, capture_factory=lambda _dev: device)
    cam.open()
    try:
        assert cam.read(timeout=1.0) is not None
        with pytest.raises(DeviceUnavailable, match="no new frame"):
            for _ in range(20):
                cam.read(timeout=0.1)
        assert cam.stats["repeated"] > 5 and cam.stats["frames"] == 1
    finally:
        cam.close()


def test_thumbnails_of_jpeg_and_pixel_frames_agree() -> None:
    img = room(3)
    small_jpeg = grey_thumbnail(jpeg_frame(encode(img), 0.0, 0)).astype(np.float32)
    small_pixels = reduce_grey(img).astype(np.float32)
    assert small_jpeg.shape == small_pixels.shape == (60, 80)
    assert float(np.abs(small_jpeg - small_pixels).mean()) < 2.0


def test_as_jpeg_refuses_what_is_not_one_jpeg() -> None:
    data = encode(room(0))
    assert as_jpeg(data.reshape(1, -1)) is not None and as_jpeg(data) is not None
    assert as_jpeg(room(0)) is None  # pixels
    assert as_jpeg(np.zeros((1, 100), np.uint8)) is None  # raw, but no JPEG start marker
    assert as_jpeg(None) is None


def test_video_frames_are_immutable_and_need_pixels_or_bytes() -> None:
    frame = VideoFrame(room(0), 1.0, 2)
    with pytest.raises(AttributeError):
        frame.seq = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        VideoFrame(t_mono=0.0, seq=0)
    assert "seq=2" in repr(frame)


class CountingTracker:
    def __init__(self) -> None:
        self.seen: list[int] = []

    def process(self, frame: VideoFrame, focus: tuple[float, float] | None = None) -> list[Hand]:
        assert frame.image.shape == (480, 640, 3)
        self.seen.append(frame.seq)
        return []


def test_frames_the_tracker_skips_are_never_decoded_in_full() -> None:
    tracker = CountingTracker()
    vp = VideoPath(ArrayVideoSource([], FPS), tracker, GestureTracker())  # type: ignore[arg-type]
    still = int((media.WALK_S + 0.5) * FPS)  # nobody walking past: the gate sees nothing move
    frames = [jpeg_frame(encode(room(still + i % 3)), i / FPS, i) for i in range(30)]
    for f in frames:
        vp.handle(f)
    assert tracker.seen and vp.stats.skipped_still > 20
    assert [f.seq for f in frames if f.decoded] == tracker.seen


def test_an_undecodable_frame_is_skipped_not_fatal() -> None:
    class Broken:
        def decode(self, data: np.ndarray) -> np.ndarray:
            from agent.errors import SourceError

            raise SourceError("not a JPEG")

        def thumbnail(self, data: np.ndarray) -> np.ndarray:
            return reduce_grey(room(0))

    vp = VideoPath(ArrayVideoSource([], FPS), CountingTracker(), GestureTracker())  # type: ignore[arg-type]
    codec: Any = Broken()
    vp.handle(VideoFrame(t_mono=0.0, seq=0, encoded=np.zeros(10, np.uint8), codec=codec))
    assert vp.stats.undecodable == 1 and vp.stats.frames == 1
