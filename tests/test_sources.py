from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from agent.errors import DeviceUnavailable, SourceError
from agent.sources.camera import CameraSource
from agent.sources.video_replay import VideoReplaySource
from agent.sources.wav_replay import WavReplaySource


def test_wav_replay_real_time_pacing_and_stamps() -> None:
    pcm = np.zeros(16000 // 2, np.int16)  # 0.5 s
    src = WavReplaySource(pcm=pcm, block_ms=20, realtime=True)
    t_start = time.monotonic()
    src.open()
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    elapsed = time.monotonic() - t_start
    assert len(frames) == 25
    assert 0.45 < elapsed < 0.9
    stamps = [f.t_mono for f in frames]
    assert np.allclose(np.diff(stamps), 0.02)
    assert src.exhausted


def test_wav_replay_flat_out_is_fast() -> None:
    src = WavReplaySource(pcm=np.zeros(16000 * 10, np.int16), block_ms=20, realtime=False)
    t = time.monotonic()
    src.open()
    n = 0
    while src.read() is not None:
        n += 1
    assert n == 500 and time.monotonic() - t < 1.0


def _video(path: Path, n: int = 10, same: bool = False) -> None:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15, (64, 48))
    for i in range(n):
        img = np.full((48, 64, 3), 0 if same else i * 20, np.uint8)
        w.write(img)
    w.release()


def test_video_file_replay_and_image_folder(tmp_path: Path) -> None:
    v = tmp_path / "v.avi"
    _video(v)
    src = VideoReplaySource(v, fps=100, realtime=True)
    src.open()
    frames = []
    while (f := src.read()) is not None:
        frames.append(f)
    src.close()
    assert len(frames) == 10 and frames[0].image.shape == (48, 64, 3)
    assert all(b.t_mono > a.t_mono for a, b in itertools.pairwise(frames))
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((20, 30, 3), i * 50, np.uint8))
    (folder / "bad.jpg").write_bytes(b"junk")
    src2 = VideoReplaySource(folder, realtime=False)
    src2.open()
    got = [f for f in iter(lambda: src2.read(), None)]
    assert len(got) == 3
    with pytest.raises(SourceError):
        VideoReplaySource(tmp_path / "nothing.avi").open()


def test_camera_from_file_reads_new_frames(tmp_path: Path) -> None:
    v = tmp_path / "v.avi"
    _video(v, n=5)
    cam = CameraSource(str(v), max_fps=200, stale_after_s=1.0)
    cam.open()
    frames = []
    while (f := cam.read(timeout=1.0)) is not None:
        frames.append(f)
    cam.close()
    assert 1 <= len(frames) <= 5
    assert not cam.is_open


class FrozenCapture:
    """A capture device that keeps returning the very same image (a real failure mode of USB cameras)."""

    def __init__(self, *_: Any) -> None:
        self.image = np.full((48, 64, 3), 77, np.uint8)
        self.reads = 0

    def isOpened(self) -> bool:
        return True

    def set(self, *_: Any) -> bool:
        return True

    def read(self) -> tuple[bool, np.ndarray]:
        self.reads += 1
        return True, self.image

    def release(self) -> None:
        pass


def test_frozen_camera_is_reported_not_trusted() -> None:
    cam = CameraSource(0, max_fps=100, stale_after_s=0.3, capture_factory=FrozenCapture)
    cam.open()
    first = cam.read(timeout=1.0)
    assert first is not None
    with pytest.raises(DeviceUnavailable, match="no new frame"):
        for _ in range(20):
            cam.read(timeout=0.1)
    stats = cam.stats
    cam.close()
    assert stats["repeated"] > 5 and stats["frames"] == 1


def test_unopenable_camera() -> None:
    cam = CameraSource("/dev/video-does-not-exist")
    with pytest.raises(DeviceUnavailable, match="cannot open camera"):
        cam.open()


def test_array_source_loops_with_increasing_frame_numbers() -> None:
    from agent.sources.video_replay import ArrayVideoSource

    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(3)]
    src = ArrayVideoSource(frames, fps=1000, realtime=False, loop=True)
    src.open()
    got = [src.read() for _ in range(7)]
    assert all(f is not None for f in got)
    assert [f.seq for f in got if f] == list(range(7))
    assert [int(f.image[0, 0, 0]) for f in got if f] == [0, 1, 2, 0, 1, 2, 0]
    once = ArrayVideoSource(frames, realtime=False)
    once.open()
    assert [once.read() is not None for _ in range(4)] == [True, True, True, False]
