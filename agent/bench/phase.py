"""One bench phase: the daemon itself (:class:`~agent.daemon.agent.Agent`: the audio path, the video path on
an MJPEG camera, the fusion ticker, Home Assistant discovery, intents and device actions over a real broker) on
replayed media, with a second MQTT client subscribed to the device topics, as a light or a thermostat is.

Timings (each a list of milliseconds, reported as percentiles):

- ``speech_end_to_action_ms``: from the true end of speech in the replayed audio (the media's script) to the
  device action received by the subscriber: VAD endpointing, recognition, fusion's wait for the video stream,
  publishing and the broker's delivery. What a user waits for. Real time only.
- ``speech_to_publish_ms``: from the end of speech detected (the utterance queued) to the intent published.
- ``endpoint_ms``: from the end of the utterance's audio to its end detected (the VAD hangover).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config.schema import AgentConfig
from ..daemon.agent import Agent
from ..intents.publisher import Message
from ..mqtt.client import MqttClient
from ..sources.base import Source
from ..sources.video_replay import ArrayVideoSource
from ..sources.wav_replay import WavReplaySource
from ..types import Intent, VideoFrame
from .camera import MjpegCapture, mjpeg_camera
from .render import MjpegFrames
from .stats import percentiles, process_cpu_s, thread_cpu_s

ACTION_TOPICS = ("zigbee2mqtt/+/set", "homeassistant/+/+/set", "media/#")
SPEECH_MATCH_S = 1.0  # an intent's end lies within this of the true end of its utterance


@dataclass
class Timeline:
    """What happened when (monotonic seconds), recorded by listeners on the agent and the subscriber."""

    segments: list[tuple[float, float]] = field(default_factory=list)  # (segment t_end, end detected)
    published: list[tuple[Intent, float]] = field(default_factory=list)
    acted: list[tuple[Intent, set[str]]] = field(default_factory=list)
    received: list[tuple[str, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def speech_to_publish_ms(self) -> list[float]:
        out = []
        for intent, t in self.published:
            if "voice" not in intent.modalities:
                continue
            ends = [(e, d) for e, d in self.segments if intent.t_start - 0.01 <= e <= intent.t_end + 0.01]
            if ends:
                out.append((t - max(ends)[1]) * 1000.0)
        return out

    def speech_end_to_action_ms(self, t0: float, speech_ends: list[float]) -> list[float]:
        out, used = [], set()
        for intent, topics in self.acted:
            if "voice" not in intent.modalities or not topics or not speech_ends:
                continue
            end = min(speech_ends, key=lambda e: abs(t0 + e - intent.t_end))
            if abs(t0 + end - intent.t_end) > SPEECH_MATCH_S:
                continue
            hit = next((k for k, (topic, r) in enumerate(self.received)
                        if k not in used and topic in topics and r >= t0 + end), None)
            if hit is not None:
                used.add(hit)
                out.append((self.received[hit][1] - (t0 + end)) * 1000.0)
        return out


def _listen(cfg: AgentConfig, timeline: Timeline) -> MqttClient:
    def on_action(topic: str, payload: bytes, retained: bool, props: Any) -> None:
        t = time.monotonic()
        with timeline.lock:
            timeline.received.append((topic, t))

    client = MqttClient(cfg.mqtt, cfg.site_id, client_id=f"homeagent-bench-devices-{cfg.site_id}")
    for pattern in ACTION_TOPICS:
        client.subscribe(pattern, on_action)
    client.start()
    client.wait_connected(10)
    return client


def _instrument(agent: Agent, timeline: Timeline) -> None:
    agent.pipeline.on_segment.append(lambda seg, t: timeline.segments.append((seg.t_end, t)))
    agent.intents.listeners.append(lambda intent: timeline.published.append((intent, time.monotonic())))

    def acted(intent: Intent) -> None:
        topics = {m.topic for m in agent.actions.map.messages(intent, agent.device_states)}
        timeline.acted.append((intent, topics))

    agent.on_acted.append(acted)


def run_phase(name: str, audio: np.ndarray, frames: MjpegFrames, fps: float, realtime: bool, cfg: AgentConfig,
              recognizer: Any, speech_ends: list[float] | None = None) -> dict[str, Any]:
    """Run the agent on ``audio`` and ``frames`` until both end; ``speech_ends``: true ends of speech (s)."""
    timeline = Timeline()
    source = WavReplaySource(pcm=audio, realtime=realtime)
    capture: MjpegCapture | None = None
    video: Source[VideoFrame]
    if realtime:
        video, capture = mjpeg_camera(frames, fps)
    else:  # flat out: the video thread itself reads and decodes each frame
        video = ArrayVideoSource(frames, fps, realtime=False)
    listener = _listen(cfg, timeline)
    thermostat = f"zigbee2mqtt/{cfg.site_id}_thermostat"  # heat up / down step from its reported setpoint
    listener.publish(Message(thermostat, b'{"occupied_heating_setpoint": 20.5}', qos=1, retain=True))
    agent = Agent(cfg, audio=source, video=video, recognizer=recognizer)
    assert agent.video is not None
    _instrument(agent, timeline)
    seconds = len(audio) / 16000
    try:
        cpu0, t_start = process_cpu_s(), time.monotonic()
        agent.start()
        t0 = source._t0
        limit = seconds * (2 if realtime else 20) + 30
        agent.pipeline.wait_drained(limit)
        agent.video.done.wait(limit)
        wall, cpu = time.monotonic() - t_start, process_cpu_s() - cpu0
        fusion_cpu = thread_cpu_s().get("fusion", 0.0)
        if agent.fusion is not None:
            agent.fusion.flush()
        time.sleep(0.3)  # device actions follow their intents by a broker round trip
    finally:
        agent.shutdown()
        listener.publish(Message(thermostat, b"", qos=1, retain=True))
        listener.stop()
    return _report(name, agent, timeline, capture, seconds, wall, cpu, fusion_cpu, t0, speech_ends or [], realtime)


def _report(name: str, agent: Agent, tl: Timeline, capture: MjpegCapture | None, seconds: float, wall: float,
            cpu: float, fusion_cpu: float, t0: float, speech_ends: list[float], realtime: bool) -> dict[str, Any]:
    pipe, video = agent.pipeline, agent.video
    assert video is not None
    camera_cpu = capture.cpu_s if capture is not None else 0.0
    counts = getattr(video.hands, "counts", {})
    return {
        "phase": name, "input_s": round(seconds, 2), "wall_s": round(wall, 2),
        "cpu_core_s_per_s": {"audio": round(sum(pipe.thread_cpu_s.values()) / seconds, 4),
                             "video": round((sum(video.thread_cpu_s.values()) + camera_cpu) / seconds, 4),
                             "camera": round(camera_cpu / seconds, 4),
                             "fusion": round(fusion_cpu / seconds, 4),
                             "total": round(cpu / seconds, 4)},
        "speech_end_to_action_ms": percentiles(tl.speech_end_to_action_ms(t0, speech_ends) if realtime else []),
        "speech_to_publish_ms": percentiles(tl.speech_to_publish_ms()),
        "endpoint_ms": percentiles(pipe.stats.endpoint_ms),
        "frame_to_gesture_ms": percentiles(video.stats.latencies_ms),
        "intents": pipe.stats.intents, "segments": pipe.stats.segments, "actions": len(tl.received),
        "video_frames": video.stats.frames, "video_processed": video.stats.processed,
        "video_skipped_still": video.stats.skipped_still, "gesture_events": video.stats.events,
        "palm_detections": counts.get("palm", None), "zoom_detections": counts.get("zoom", None),
        "landmark_runs": counts.get("landmarks", None),
        "dropped_frames": video.stats.dropped + pipe.stats.dropped_segments,
    }


def phase_config(cfg: AgentConfig, host: str, port: int, state_dir: Path) -> AgentConfig:
    """The agent config of a phase: ``cfg`` on this broker and state folder, without the local page, and with
    fusion never letting the replayed hand veto the replayed speech. The two recordings are independent (the
    hand's gestures are load on the video path, not a partner of the commands): with the default conflict
    rule, fusion abstained on every command said while the hand showed 'victory' or 'open palm', which mean
    other intents; fusion still runs, ticks, waits for the video stream and fuses."""
    data = json.loads(cfg.model_dump_json())
    data["mqtt"].update(host=host, port=port)
    data.update(state_dir=str(state_dir), web={**data.get("web", {}), "enabled": False})
    data["fusion"].update(gesture_intents={}, conflict_gesture_score=1.0)
    return AgentConfig.model_validate(data)
