"""The assembled agent: audio + video paths, fusion, privacy switches and Home Assistant topics on a real broker."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from agent.bench import media
from agent.config.schema import AgentConfig, MqttConfig
from agent.daemon.agent import Agent
from agent.mqtt.broker import LocalBroker
from agent.mqtt.client import MqttClient
from agent.privacy import PrivacyState, PrivacyStore
from agent.sources.video_replay import ArrayVideoSource
from agent.sources.wav_replay import WavReplaySource


class CountingVideo(ArrayVideoSource):
    """A real in-memory video source that counts how often it is opened and how many frames it delivered."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.opens = 0
        self.reads = 0

    def open(self) -> None:
        self.opens += 1
        super().open()

    def read(self, timeout: float = 1.0):  # type: ignore[no-untyped-def]
        frame = super().read(timeout)
        self.reads += frame is not None
        return frame


def _listen(broker: LocalBroker, topic: str) -> tuple[MqttClient, list[tuple[str, bytes]]]:
    got: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def on(t: str, p: bytes, retained: bool, props: Any) -> None:
        with lock:
            got.append((t, p))

    c = MqttClient(MqttConfig(host=broker.host, port=broker.port), "listener", client_id="t-listener")
    c.subscribe(topic, on)
    c.start()
    assert c.wait_connected(5)
    return c, got


def _cfg(broker: LocalBroker, tmp: Path) -> AgentConfig:
    return AgentConfig(site_id="room", mqtt=MqttConfig(host=broker.host, port=broker.port), state_dir=tmp)


def test_gestures_from_video_reach_home_assistant(broker: LocalBroker, tmp_path: Path) -> None:
    listener, got = _listen(broker, "homeagent/room/#")
    video = CountingVideo(media.busy_frames(5, 15), fps=15, realtime=True)
    audio = WavReplaySource(pcm=np.zeros(16000 * 5, np.int16), realtime=True)
    agent = Agent(_cfg(broker, tmp_path), audio=audio, video=video)
    agent.run(install_signals=False)
    time.sleep(0.3)
    listener.stop()
    topics = {t for t, _ in got}
    assert "homeagent/room/availability" in topics
    gestures = [json.loads(p)["event_type"] for t, p in got if t.endswith("/gesture")]
    assert gestures, f"no gesture event in {sorted(topics)}"
    assert set(gestures) <= {"pointing", "victory", "open_palm", "swipe_left", "swipe_right", "swipe_up",
                             "swipe_down", "wave", "none", "fist", "ok", "thumbs_up", "thumbs_down"}
    assert agent.video is not None and agent.video.stats.processed > 0


def test_persisted_camera_off_never_reads_a_frame(broker: LocalBroker, tmp_path: Path) -> None:
    PrivacyStore(tmp_path).save(PrivacyState(camera_off=True))
    video = CountingVideo(media.busy_frames(20, 15), fps=15, realtime=True)
    audio = WavReplaySource(pcm=np.zeros(16000 * 20, np.int16), realtime=True)
    agent = Agent(_cfg(broker, tmp_path), audio=audio, video=video)
    t = threading.Thread(target=agent.run, kwargs={"install_signals": False})
    t.start()
    try:
        time.sleep(1.0)
        assert video.opens == 0 and video.reads == 0
        agent.privacy.set_camera_off(False)
        time.sleep(0.8)
        assert video.opens == 1 and video.reads > 3
        agent.privacy.set_camera_off(True)
        time.sleep(0.3)
        reads = video.reads
        time.sleep(0.8)
        assert video.reads == reads, "a frame was read while the camera was off"
        assert PrivacyStore(tmp_path).load().camera_off
    finally:
        agent.stop()
        t.join(5)
    assert not t.is_alive()


def test_muted_microphone_produces_no_intent(broker: LocalBroker, tmp_path: Path) -> None:
    PrivacyStore(tmp_path).save(PrivacyState(mic_muted=True))
    speech = media.busy_audio(6)
    agent = Agent(_cfg(broker, tmp_path), audio=WavReplaySource(pcm=speech, realtime=False))
    t = threading.Thread(target=agent.run, kwargs={"install_signals": False})
    t.start()
    time.sleep(1.0)
    assert agent.pipeline.stats.segments == 0 and agent.pipeline.stats.intents == 0
    agent.privacy.set_mic_muted(False)  # opens the source again: the replay speaks its commands
    deadline = time.monotonic() + 15
    while agent.pipeline.stats.intents == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    agent.stop()
    t.join(5)
    assert agent.pipeline.stats.intents >= 1
