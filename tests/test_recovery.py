"""Unplugged devices: the agent keeps running, says what happened, and picks the device up when it returns."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from agent.config.schema import AgentConfig
from agent.daemon.audio_path import Pipeline
from agent.daemon.video_path import VideoPath
from agent.errors import DeviceUnavailable
from agent.intents.publisher import MemoryPublisher
from agent.sources.camera import CameraSource
from agent.sources.wav_replay import WavReplaySource
from agent.types import CommandScores, GestureEvent, Hand
from agent.vision import HandTracker


class PluggedInLater(WavReplaySource):
    """A microphone that is unplugged for the first ``absent`` open attempts (what a real unplug looks like to
    the agent: PortAudio refusing to open the device)."""

    def __init__(self, absent: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.absent = absent
        self.attempts = 0

    def open(self) -> None:
        self.attempts += 1
        if self.attempts <= self.absent:
            raise DeviceUnavailable("cannot open microphone 'USB': device unplugged")
        super().open()


class Rejecting:
    def recognize(self, pcm: np.ndarray, t_start: float = 0.0, t_end: float = 0.0) -> CommandScores:
        return CommandScores(("unknown",), (1.0,), t_start, t_end)

    def decide(self, scores: CommandScores) -> tuple[str | None, float]:
        return None, 0.0


def test_microphone_unplugged_at_start_is_retried(speak, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    pcm = np.concatenate([np.zeros(8000, np.int16), speak("turn on the lights"), np.zeros(16000, np.int16)])
    src = PluggedInLater(2, pcm=pcm, realtime=False)
    pipe = Pipeline.from_config(AgentConfig(), src, Rejecting(), MemoryPublisher())
    pipe.retry_s = 0.05
    pipe.start()
    try:
        assert pipe.wait_drained(10)
    finally:
        pipe.stop()
    assert src.attempts == 3
    assert pipe.stats.segments == 1, "the utterance after the device came back was heard"
    assert "unplugged" in caplog.text


class Events:
    def __init__(self) -> None:
        self.updates = 0

    def update(self, hands: list[Hand], t_mono: float) -> list[GestureEvent]:
        self.updates += 1
        return []


def test_camera_unplugged_at_start_is_retried(tmp_path: Path) -> None:
    video = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15, (64, 48))
    for i in range(10):
        w.write(np.full((48, 64, 3), i * 20, np.uint8))
    w.release()
    attempts = []

    def capture(dev: Any) -> cv2.VideoCapture:  # the device node appears on the third attempt
        attempts.append(dev)
        return cv2.VideoCapture(str(video) if len(attempts) >= 3 else "/dev/video-unplugged")

    cam = CameraSource(str(video), max_fps=100, capture_factory=capture)
    events = Events()
    path = VideoPath(cam, HandTracker(), events)
    path.retry_s = 0.05
    path.start()
    deadline = time.monotonic() + 10
    while not path.done.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    path.stop()
    assert len(attempts) == 3
    assert path.stats.frames >= 1 and events.updates >= 1


def test_camera_that_fails_to_reopen_after_privacy_switch_is_retried(tmp_path: Path) -> None:
    from agent.privacy import PrivacyController, PrivacyStore

    video = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15, (64, 48))
    for i in range(200):
        w.write(np.full((48, 64, 3), (i * 7) % 255, np.uint8))
    w.release()
    opens: list[int] = []

    def capture(dev: Any) -> cv2.VideoCapture:  # the second open (after "camera on") fails: device busy
        opens.append(1)
        return cv2.VideoCapture("/dev/video-busy" if len(opens) == 2 else str(video))

    cam = CameraSource(str(video), max_fps=60, capture_factory=capture)
    events = Events()
    path = VideoPath(cam, HandTracker(), events)
    path.retry_s = 0.05
    privacy = PrivacyController(PrivacyStore(tmp_path), camera=cam, camera_off=path.paused)
    path.start()
    try:
        time.sleep(0.3)
        privacy.set_camera_off(True)
        frames_off = path.stats.frames
        time.sleep(0.3)
        assert path.stats.frames == frames_off
        privacy.set_camera_off(False)  # reopening fails once; the video path retries by itself
        deadline = time.monotonic() + 5
        while path.stats.frames <= frames_off and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        path.stop()
    assert len(opens) >= 3
    assert path.stats.frames > frames_off


class UnpluggedForGood(WavReplaySource):
    """A microphone that delivers a little audio, is pulled out and never comes back."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.reads = 0
        self.opened = 0

    def open(self) -> None:
        self.opened += 1
        if self.opened > 1:
            raise DeviceUnavailable("cannot open microphone 'USB': device unplugged")
        super().open()

    def read(self, timeout: float = 1.0) -> Any:
        self.reads += 1
        if self.reads > 5:
            raise DeviceUnavailable("microphone 'USB' stopped delivering audio")
        return super().read(timeout)


def _run_agent(broker: Any, tmp_path: Path, **kw: Any) -> tuple[int, float]:
    import threading

    from agent.daemon.agent import Agent

    cfg = AgentConfig.model_validate({"site_id": "lost", "state_dir": str(tmp_path), "source_retry_s": 1.0,
                                      "mqtt": {"host": broker.host, "port": broker.port}})
    agent = Agent(cfg, **kw)
    agent.pipeline.retry_s = 0.1
    if agent.video is not None:
        agent.video.retry_s = 0.1
    rc: list[int] = []
    t0 = time.monotonic()
    runner = threading.Thread(target=lambda: rc.append(agent.run(install_signals=False)))
    runner.start()
    runner.join(20)
    if runner.is_alive():
        agent.stop()
        runner.join(5)
    return (rc[0] if rc else -1), time.monotonic() - t0


def test_a_microphone_that_never_comes_back_ends_the_daemon_with_an_error(
        broker: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """It used to exit 0, so systemd's Restart=on-failure never restarted it."""
    mic = UnpluggedForGood(pcm=np.zeros(16000 * 60, np.int16), realtime=True)
    rc, took = _run_agent(broker, tmp_path, audio=mic)
    assert rc == 1 and took < 10, (rc, took)
    assert "audio source stayed unavailable for 1 s" in caplog.text and "restarts the agent" in caplog.text


def test_a_looping_replay_whose_files_vanish_ends_the_daemon_with_an_error(
        broker: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A deleted replay folder with loop: true logged 985 lines in a second, then a RecursionError killed the
    video thread while the daemon ran on blind."""
    from agent.sources.video_replay import VideoReplaySource

    folder = tmp_path / "room"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    video = VideoReplaySource(folder, fps=30, realtime=True, loop=True)
    import shutil
    import threading

    threading.Timer(1.0, shutil.rmtree, args=(folder,)).start()
    rc, took = _run_agent(broker, tmp_path, audio=WavReplaySource(pcm=np.zeros(16000 * 60, np.int16)),
                          video=video)
    assert rc == 1 and took < 15, (rc, took)
    assert "ran out of readable frames" in caplog.text
    assert caplog.text.count("image skipped") <= 3
