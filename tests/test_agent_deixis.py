"""'Turn that on' while pointing at a lamp: real speech model, real hand tracking, fusion, a real broker."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from agent.app import Agent
from agent.bench import media
from agent.broker import LocalBroker
from agent.config.schema import AgentConfig, MqttConfig
from agent.fusion.config import FusionConfig
from agent.mqtt.client import MqttClient
from agent.sources.video_replay import ArrayVideoSource
from agent.sources.wav_replay import WavReplaySource
from agent.types import VideoFrame
from agent.vision import HandTracker
from agent.vision.pointing import pointing_ray


def _pointing_frame() -> np.ndarray:
    photo = next(p for p in sorted((media.MEDIA / "hands").glob("digit1_*.JPG")))
    return media.hand_frame(cv2.resize(cv2.imread(str(photo)), (220, 220)), 0.0)


def _zone_ahead_of(frame: np.ndarray, distance: float = 110.0, half: float = 45.0) -> list[tuple[float, float]]:
    """A square zone on the index finger's ray (measured with the real tracker, not assumed)."""
    tracker = HandTracker()
    hands = tracker.process(VideoFrame(frame, 0.0, 0)) and tracker.process(VideoFrame(frame, 0.0, 1))
    assert hands, "the bundled pointing photo must be tracked"
    origin, direction = pointing_ray(hands[0].landmarks)
    cx, cy = origin + direction * distance
    return [(cx - half, cy - half), (cx + half, cy - half), (cx + half, cy + half), (cx - half, cy + half)]


def test_turn_that_on_while_pointing_switches_the_lamp(broker: LocalBroker, tmp_path: Path, speak) -> None:  # type: ignore[no-untyped-def]
    frame = _pointing_frame()
    fusion = FusionConfig.model_validate({"zones": {"lamp": {"polygon": _zone_ahead_of(frame),
                                                             "device": "floor_lamp"}},
                                          "confirm": {"enabled": False}})
    cfg = AgentConfig(site_id="room", mqtt=MqttConfig(host=broker.host, port=broker.port), state_dir=tmp_path,
                      fusion=fusion)
    got: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def on(topic: str, payload: bytes, retained: bool, props: Any) -> None:
        with lock:
            got.append((topic, payload))

    listener = MqttClient(cfg.mqtt, "listener", client_id="deixis-listener")
    listener.subscribe("zigbee2mqtt/#", on)
    listener.start()
    assert listener.wait_connected(5)
    speech = speak("turn that on", "en-us+m3")
    gap = np.zeros(16000, np.int16)
    audio = np.concatenate([gap, speech, gap, gap, gap])
    seconds = len(audio) / 16000
    video = ArrayVideoSource([frame] * int(seconds * 15), fps=15, realtime=True)
    agent = Agent(cfg, audio=WavReplaySource(pcm=audio, realtime=True), video=video)
    agent.run(install_signals=False)
    time.sleep(0.5)
    listener.stop()
    sets = [(t, json.loads(p)) for t, p in got if t.endswith("/set")]
    assert ("zigbee2mqtt/floor_lamp/set", {"state": "ON"}) in sets, got


def test_conflicting_voice_and_gesture_switch_nothing(broker: LocalBroker, tmp_path: Path, speak) -> None:  # type: ignore[no-untyped-def]
    """'stop the music' while showing victory (= play): fusion abstains; no media command is sent."""
    photo = next(p for p in sorted((media.MEDIA / "hands").glob("digit2_*.JPG")))
    frame = media.hand_frame(cv2.resize(cv2.imread(str(photo)), (220, 220)), 0.0)
    cfg = AgentConfig(site_id="room", mqtt=MqttConfig(host=broker.host, port=broker.port), state_dir=tmp_path,
                      fusion=FusionConfig.model_validate({"confirm": {"enabled": False}}))
    got: list[tuple[str, bytes]] = []

    def on(topic: str, payload: bytes, retained: bool, props: Any) -> None:
        got.append((topic, payload))

    listener = MqttClient(cfg.mqtt, "listener", client_id="conflict-listener")
    listener.subscribe("media/#", on)
    listener.subscribe("homeagent/room/intent/#", on)
    listener.start()
    assert listener.wait_connected(5)
    gap = np.zeros(16000, np.int16)
    audio = np.concatenate([gap, speak("stop the music", "en-us+m3"), gap, gap, gap])
    video = ArrayVideoSource([frame] * int(len(audio) / 16000 * 15), fps=15, realtime=True)
    agent = Agent(cfg, audio=WavReplaySource(pcm=audio, realtime=True), video=video)
    agent.run(install_signals=False)
    time.sleep(0.5)
    listener.stop()
    assert agent.video is not None and agent.video.stats.events >= 1, "the victory gesture must be seen"
    assert agent.fusion is not None and agent.fusion.counts["abstain"] >= 1
    assert got == [], got
