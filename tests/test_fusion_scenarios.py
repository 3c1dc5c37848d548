"""The daemon in a room with a camera, end to end: synthesized speech and real hand photos replayed in real time
through the shipped models, fusion, the action map and a real Mosquitto. Each scenario asserts what was acted
on (or why not) and how long after the end of the words the device action was published.

Issue 21: with a camera showing a hand in neutral poses the daemon acted on 1 of 11 voice commands; with no
camera, 11 of 11. (The pointing-with-one-zone and conflict cases are in test_fusion_agent.py.)"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from agent.bench import media
from agent.config.fusion import FusionConfig
from agent.config.schema import AgentConfig, MqttConfig
from agent.daemon.agent import Agent
from agent.mqtt.broker import LocalBroker
from agent.sources.video_replay import ArrayVideoSource
from agent.sources.wav_replay import WavReplaySource
from tests.test_fusion_agent import FPS, SR, _listen, _photo_frame, _zone_ahead_of

PHOTOS = Path(__file__).resolve().parents[1] / "models" / "vision" / "data" / "sign_language_digits"
LATENCY_S = 3.0  # end of the words -> device action, including the wait for the gesture stream and endpointing


def _neutral_frames(n: int, digit: str) -> list[np.ndarray]:
    """A real person's hand held in a non-command pose (an ASL digit) the whole time."""
    photo = cv2.imread(str(sorted((PHOTOS / digit).glob("*.JPG"))[0]))
    assert photo is not None
    return [media.hand_frame(cv2.resize(photo, (220, 220)), 0.0)] * n


def _room(n: int) -> list[np.ndarray]:
    return [media.room_frame(np.random.default_rng(i % 7)) for i in range(n)]


def _scene(speech: list[tuple[float, np.ndarray]], total_s: float, frames: list[np.ndarray]) -> tuple[Any, Any]:
    audio = np.zeros(int(total_s * SR), np.int16)
    for at, pcm in speech:
        a = int(at * SR)
        audio[a:a + len(pcm)] = pcm[: len(audio) - a]
    return WavReplaySource(pcm=audio, realtime=True), ArrayVideoSource(frames, fps=FPS, realtime=True)


def _run(broker: LocalBroker, tmp_path: Path, audio: Any, video: Any, **fusion: Any) -> tuple[Agent, list[Any]]:
    cfg = AgentConfig(site_id="room", mqtt=MqttConfig(host=broker.host, port=broker.port), state_dir=tmp_path,
                      fusion=FusionConfig.model_validate(fusion))
    items: list[tuple[str, bytes, float]] = []  # (topic, payload, seconds after the replay started)
    agent = Agent(cfg, audio=audio, video=video)
    t0 = [time.time()]
    listener, _ = _listen(cfg, f"scenario-{time.monotonic_ns()}", [])
    for pattern in ("media/#", "zigbee2mqtt/+/set", "homeassistant/+/+/set", "homeagent/room/#"):
        listener.subscribe(pattern, lambda t, p, r, pr: items.append((t, p, time.time() - t0[0])))
    time.sleep(0.3)
    try:
        t0[0] = time.time()
        agent.run(install_signals=False)
        time.sleep(0.5)
    finally:
        listener.stop()
    return agent, [i for i in items if not i[0].endswith("/availability")]


def _acted(items: list[Any]) -> list[str]:
    return [t.rsplit("/", 1)[1] for t, _, _ in items if t.startswith("homeagent/room/intent/")]


def _latency(items: list[Any], intent: str, words_end_s: float) -> float:
    """Seconds from the end of the words to the intent's arrival at a subscriber."""
    return min(at for t, _, at in items if t.endswith(f"/intent/{intent}")) - words_end_s


@pytest.mark.slow
@pytest.mark.parametrize("scene", ["no hand", "0", "3", "7", "9"])
def test_voice_commands_act_whether_or_not_a_hand_is_in_view(broker: LocalBroker, tmp_path: Path, speak: Any,
                                                            scene: str) -> None:
    """No hand, or a hand held in a neutral pose (ASL 0, 3, 7, 9 from real people): every command acts."""
    commands = [("turn on the lights", "lights_on"), ("play some music", "music_play"),
                ("close the blinds", "blinds_close")]
    speech = [(1.0 + 3.5 * i, speak(text, "en-us+m3")) for i, (text, _) in enumerate(commands)]
    total = 1.0 + 3.5 * len(commands) + 2.0
    n = int(total * FPS)
    audio, video = _scene(speech, total, _room(n) if scene == "no hand" else _neutral_frames(n, scene))
    agent, items = _run(broker, tmp_path, audio, video)
    assert _acted(items) == [name for _, name in commands], items
    assert agent.video is not None and agent.video.stats.frames > n // 2
    for (at, pcm), (_, name) in zip(speech, commands, strict=True):
        assert _latency(items, name, at + len(pcm) / SR) < LATENCY_S, (name, items)
    reports = [t for t, _, _ in items if "/fusion/" in t]
    assert reports == [], reports  # nothing waited for confirmation, nothing was abstained


@pytest.mark.slow
def test_an_unrelated_gesture_earlier_neither_blocks_nor_joins_the_voice_command(
        broker: LocalBroker, tmp_path: Path, speak: Any) -> None:
    """Victory (= play music) shown for a second, then 'close the blinds' 3 s later: both act, each alone."""
    total = 8.0
    n = int(total * FPS)
    frames = [_photo_frame("digit2_*.JPG")] * int(1.2 * FPS) + _room(n - int(1.2 * FPS))
    audio, video = _scene([(4.0, speak("close the blinds", "en-us+m3"))], total, frames)
    _, items = _run(broker, tmp_path, audio, video)
    assert sorted(_acted(items)) == ["blinds_close", "music_play"], items


@pytest.mark.slow
def test_redundant_voice_and_gesture_act_once_from_both(broker: LocalBroker, tmp_path: Path, speak: Any) -> None:
    """'stop the music' while showing an open palm (= stop): one intent, from voice and gesture."""
    total = 6.0
    words = speak("stop the music", "en-us+m3")
    audio, video = _scene([(1.0, words)], total, [_photo_frame("digit5_*.JPG")] * int(total * FPS))
    _, items = _run(broker, tmp_path, audio, video)
    intents = [p for t, p, _ in items if t == "homeagent/room/intent/music_stop"]
    assert _acted(items) == ["music_stop"] and len(intents) == 1, items
    assert b'"modalities": ["voice", "gesture"]' in intents[0]
    assert _latency(items, "music_stop", 1.0 + len(words) / SR) < LATENCY_S


@pytest.mark.slow
def test_turn_that_on_picks_the_pointed_zone_among_three(broker: LocalBroker, tmp_path: Path, speak: Any) -> None:
    frame = _photo_frame("digit1_*.JPG")
    target = _zone_ahead_of(frame)
    elsewhere = {"tv": [(0, 0), (120, 0), (120, 90), (0, 90)], "fan": [(520, 390), (639, 390), (639, 479),
                                                                       (520, 479)]}
    zones = {"lamp": {"polygon": target, "device": "floor_lamp"},
             **{name: {"polygon": poly, "device": f"{name}_plug"} for name, poly in elsewhere.items()}}
    total = 6.0
    audio, video = _scene([(1.0, speak("turn that on", "en-us+m3"))], total, [frame] * int(total * FPS))
    _, items = _run(broker, tmp_path, audio, video, zones=zones, confirm={"enabled": False})
    sets = [t for t, _, _ in items if t.endswith("/set")]
    assert sets == ["zigbee2mqtt/floor_lamp/set"], items


@pytest.mark.slow
def test_a_gesture_alone_acts(broker: LocalBroker, tmp_path: Path) -> None:
    total = 5.0
    audio, video = _scene([], total, _room(FPS) + [_photo_frame("digit5_*.JPG")] * int((total - 1) * FPS))
    _, items = _run(broker, tmp_path, audio, video)
    assert _acted(items) == ["music_stop"], items
    [(_, payload, _)] = [i for i in items if i[0] == "homeagent/room/intent/music_stop"]
    assert b'"modalities": ["gesture"]' in payload, payload


@pytest.mark.slow
def test_a_sensitive_intent_asks_and_a_spoken_yes_confirms(broker: LocalBroker, tmp_path: Path,
                                                          speak: Any) -> None:
    """With heating marked sensitive and a camera on, 'make it warmer' waits for a yes: asked on the confirm
    topic with its reason, and the spoken 'yes' acts."""
    total = 9.0
    speech = [(1.0, speak("make it warmer", "en-us+m3")), (4.0, speak("yes please", "en-us+m3"))]
    audio, video = _scene(speech, total, _room(int(total * FPS)))
    _, items = _run(broker, tmp_path, audio, video, confirm={"sensitive_intents": ["heat_up"]})
    confirms = [p for t, p, _ in items if t == "homeagent/room/fusion/confirm"]
    assert len(confirms) == 1 and b'"reason": "sensitive"' in confirms[0], items
    assert _acted(items) == ["heat_up"], items
