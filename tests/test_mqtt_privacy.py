"""Privacy switches are real: camera off releases the device and no frame is read until it is back on;
microphone muted stops the input stream; the state is persisted atomically and survives restarts."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from agent.config.schema import MqttConfig
from agent.errors import DeviceUnavailable
from agent.intents.publisher import Message
from agent.mqtt.broker import LocalBroker
from agent.mqtt.client import MqttClient
from agent.mqtt.ha import HomeAssistantBridge
from agent.privacy import PrivacyController, PrivacyState, PrivacyStore
from agent.sources.camera import CameraSource


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (64, 48))
    for i in range(600):  # distinct frames (the camera ignores repeats), 20 s at 30 fps
        img = np.zeros((48, 64, 3), np.uint8)
        cv2.putText(img, str(i), (2, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
        img[:, :, 1] = (i * 7) % 256
        w.write(img)
    w.release()
    return path


class CountingCapture:
    """Wraps cv2.VideoCapture: counts read() calls across every capture the camera opens."""

    reads = 0
    open_caps = 0
    lock = threading.Lock()

    def __init__(self, dev: Any) -> None:
        self.cap = cv2.VideoCapture(dev)
        with CountingCapture.lock:
            CountingCapture.open_caps += 1
        self.released = False

    def isOpened(self) -> bool:
        return bool(self.cap.isOpened())

    def set(self, prop: int, value: float) -> bool:
        return bool(self.cap.set(prop, value))

    def read(self) -> tuple[bool, Any]:
        with CountingCapture.lock:
            CountingCapture.reads += 1
        return self.cap.read()

    def release(self) -> None:
        if not self.released:
            self.released = True
            with CountingCapture.lock:
                CountingCapture.open_caps -= 1
        self.cap.release()


class FakeMic:
    def __init__(self) -> None:
        self.streaming = False
        self.opens = self.closes = 0

    def open(self) -> None:
        self.streaming = True
        self.opens += 1

    def close(self) -> None:
        self.streaming = False
        self.closes += 1

    def read(self, timeout: float) -> None:
        return None


def _wait_reads(n: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while CountingCapture.reads < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert CountingCapture.reads >= n


def test_camera_off_reads_no_frame_until_back_on(video: Path, tmp_path: Path) -> None:
    CountingCapture.reads = 0
    cam = CameraSource(str(video), max_fps=60, capture_factory=CountingCapture)
    ctl = PrivacyController(PrivacyStore(tmp_path), camera=cam)
    cam.open()
    try:
        _wait_reads(5)
        assert cam.read(1.0) is not None
        ctl.set_camera_off(True)
        frozen = CountingCapture.reads
        assert CountingCapture.open_caps == 0  # the device is released
        with pytest.raises(DeviceUnavailable, match="not open"):  # a released camera delivers nothing
            cam.read(0.2)
        time.sleep(0.6)  # ~36 frames at 60 fps would have been read
        assert CountingCapture.reads == frozen, "a frame was read while the camera was off"
        ctl.set_camera_off(False)
        _wait_reads(frozen + 5)
        assert cam.read(1.0) is not None and CountingCapture.open_caps == 1
    finally:
        cam.close()
    assert CountingCapture.open_caps == 0


def test_persisted_camera_off_keeps_camera_closed_after_restart(video: Path, tmp_path: Path) -> None:
    PrivacyController(PrivacyStore(tmp_path)).set_camera_off(True)
    assert json.loads((tmp_path / "privacy.json").read_text()) == {"mic_muted": False, "camera_off": True}
    assert not list(tmp_path.glob("*.part"))
    CountingCapture.reads = 0
    cam = CameraSource(str(video), max_fps=60, capture_factory=CountingCapture)
    ctl = PrivacyController(PrivacyStore(tmp_path), camera=cam)  # "after the restart"
    assert not ctl.camera_allowed()  # the app does not open it at all
    time.sleep(0.2)
    assert CountingCapture.reads == 0
    ctl.set_camera_off(False)
    try:
        _wait_reads(3)
    finally:
        cam.close()


def test_mute_stops_the_input_stream_and_persists(tmp_path: Path) -> None:
    mic, muted = FakeMic(), threading.Event()
    mic.open()
    seen: list[PrivacyState] = []
    ctl = PrivacyController(PrivacyStore(tmp_path), microphone=mic, muted=muted)
    ctl.listeners.append(seen.append)
    ctl.set_mic_muted(True)
    assert not mic.streaming and muted.is_set()
    ctl.set_mic_muted(True)  # idempotent: no second open/close cycle
    assert mic.opens == 1
    muted2 = threading.Event()
    ctl2 = PrivacyController(PrivacyStore(tmp_path), microphone=FakeMic(), muted=muted2)
    assert ctl2.state.mic_muted and muted2.is_set()
    ctl.set_mic_muted(False)
    assert mic.streaming and not muted.is_set() and mic.opens == 2
    assert [s.mic_muted for s in seen] == [True, True, False]


@pytest.mark.parametrize("content", [b"{not json", b'{"mic_muted": 1, "camera_off": false}', b"[]"])
def test_corrupt_state_fails_closed(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "privacy.json").write_bytes(content)
    assert PrivacyStore(tmp_path).load() == PrivacyState(mic_muted=True, camera_off=True)


def test_camera_switch_over_mqtt_releases_the_camera(broker: LocalBroker, video: Path, tmp_path: Path) -> None:
    cfg = MqttConfig.model_validate({"host": broker.host, "port": broker.port, "reconnect_min_s": 0.05,
                                     "reconnect_max_s": 0.3})
    CountingCapture.reads = 0
    cam = CameraSource(str(video), max_fps=60, capture_factory=CountingCapture)
    ctl = PrivacyController(PrivacyStore(tmp_path), camera=cam)
    agent = MqttClient(cfg, "den", client_id="agent-den")
    bridge = HomeAssistantBridge(agent, "homeagent", "den", intents=["x"], gestures=["y"], privacy=ctl)
    states: list[bytes] = []
    ha = MqttClient(cfg, "ha", client_id="ha")
    ha.subscribe("homeagent/den/state/camera", lambda t, p, r, pr: states.append(p))
    cam.open()
    bridge.start()
    agent.start()
    ha.start()
    try:
        assert agent.wait_connected(5) and ha.wait_connected(5)
        _wait_reads(3)
        body = {"id": f"ha-{time.time()}", "ts": time.time(), "ttl_s": 10, "off": True}
        ha.publish(Message("homeagent/den/cmd/camera", json.dumps(body).encode()))
        deadline = time.monotonic() + 5
        while not ctl.state.camera_off and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ctl.state.camera_off and CountingCapture.open_caps == 0
        frozen = CountingCapture.reads
        time.sleep(0.4)
        assert CountingCapture.reads == frozen
        deadline = time.monotonic() + 5
        while b"ON" not in states and time.monotonic() < deadline:
            time.sleep(0.02)
        assert states[-1] == b"ON"
    finally:
        bridge.stop()
        agent.stop()
        ha.stop()
        cam.close()
