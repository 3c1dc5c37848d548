"""Run the demo: replay the bundled recording through VAD → encoder → intents → MQTT broker, subscribe back,
print intents as the broker delivers them, then a summary of expected vs recognized."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..config.schema import AgentConfig, MqttConfig
from ..daemon.agent import Agent, build_recognizer
from ..errors import BrokerError
from ..intents.publisher import Message
from ..mqtt.broker import LocalBroker
from ..mqtt.client import MqttClient
from ..sources.wav_replay import WavReplaySource
from ..types import Intent

log = logging.getLogger(__name__)

MEDIA = Path(__file__).resolve().parent / "media"


@dataclass
class Delivered:
    topic: str
    intent: Intent
    received_mono: float


@dataclass
class DemoResult:
    expected: list[dict[str, Any]]
    delivered: list[Delivered]
    t0: float
    actions: list[tuple[str, bytes]]

    def matches(self) -> list[tuple[dict[str, Any], str | None]]:
        """Each scripted utterance with the intent recognized during it (None when none)."""
        out = []
        for utt in self.expected:
            got = [d.intent.name for d in self.delivered
                   if d.intent.t_start - self.t0 < utt["end"] + 0.3 and d.intent.t_end - self.t0 > utt["start"] - 0.3]
            out.append((utt, got[0] if got else None))
        return out

    def correct(self) -> int:
        return sum(1 for utt, got in self.matches() if got == utt["expect"])

    def false_intents(self) -> list[Delivered]:
        """Intents that matched no scripted command."""
        spans = [(u["start"] - 0.3, u["end"] + 0.3) for u in self.expected if u["expect"]]
        return [d for d in self.delivered if not any(
            a < d.intent.t_end - self.t0 and d.intent.t_start - self.t0 < b for a, b in spans)]


def run_demo(*, host: str | None = None, port: int | None = None, realtime: bool = False,
             audio: Path | None = None, script: Path | None = None, out: TextIO,
             timeout_s: float = 120.0) -> DemoResult:
    audio = audio or MEDIA / "demo.wav"
    script = script or MEDIA / "demo.json"
    expected = json.loads(script.read_text())["utterances"]
    broker = None
    if host is None:
        broker = LocalBroker().start()
        host, port = broker.host, broker.port
        print(f"started local Mosquitto on {host}:{port}", file=out)
    try:
        return _run(host, port or 1883, realtime, audio, expected, out, timeout_s)
    finally:
        if broker is not None:
            broker.stop()


def _run(host: str, port: int, realtime: bool, audio: Path, expected: list[dict[str, Any]], out: TextIO,
         timeout_s: float) -> DemoResult:
    state = tempfile.TemporaryDirectory(prefix="homeagent-demo-")
    cfg = AgentConfig(site_id="demo", mqtt=MqttConfig(host=host, port=port), state_dir=Path(state.name))
    delivered: list[Delivered] = []
    lock = threading.Lock()
    source = WavReplaySource([audio], realtime=realtime)
    listener = MqttClient(cfg.mqtt, "demo", client_id="homeagent-demo-listener")

    def on_message(topic: str, payload: bytes, retained: bool, props: Any) -> None:
        intent = Intent.from_payload(json.loads(payload))
        with lock:
            delivered.append(Delivered(topic, intent, time.monotonic()))
        at = intent.t_start - source_t0[0]
        print(f"  [{at:6.2f} s] {topic:38s} {intent.name:14s} confidence {intent.confidence:.2f}", file=out,
              flush=True)

    def on_action(topic: str, payload: bytes, retained: bool, props: Any) -> None:
        with lock:
            actions.append((topic, payload))
        print(f"  {'':10s} → device action {topic} {payload.decode(errors='replace')}", file=out, flush=True)

    source_t0 = [0.0]
    actions: list[tuple[str, bytes]] = []
    listener.subscribe(f"{cfg.mqtt.topic_prefix}/{cfg.site_id}/intent/#", on_message)
    for pattern in ("zigbee2mqtt/+/set", "homeassistant/+/+/set", "media/#"):
        listener.subscribe(pattern, on_action)
    listener.start()
    if not listener.wait_connected(10):
        listener.stop()
        raise BrokerError(f"cannot connect to the MQTT broker at {host}:{port}")

    recognizer = build_recognizer(cfg)
    agent = Agent(cfg, audio=source, recognizer=recognizer)
    thermostat = f"zigbee2mqtt/{cfg.site_id}_thermostat"
    print(f"replaying {audio.name} ({'real time' if realtime else 'flat out'}) through VAD → speech encoder → "
          f"MQTT; intents as delivered by the broker:", file=out, flush=True)
    try:
        # a thermostat of the demo room reports its setpoint, retained as zigbee2mqtt may: heat up / down step
        # from it (cleared again at the end)
        listener.publish(Message(thermostat, b'{"occupied_heating_setpoint": 20.5}', qos=1, retain=True))
        agent.start()
        source_t0[0] = source._t0
        agent.pipeline.wait_drained(timeout_s)
        want = agent.pipeline.stats.intents
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            with lock:
                if len(delivered) >= want:
                    break
            time.sleep(0.02)
        time.sleep(0.3)  # device actions follow their intents by a broker round trip
    finally:
        agent.shutdown()
        listener.publish(Message(thermostat, b"", qos=1, retain=True))
        listener.stop()
        state.cleanup()
    result = DemoResult(expected, list(delivered), source_t0[0], list(actions))
    _summary(result, agent, out, realtime)
    return result


def _summary(result: DemoResult, agent: Agent, out: TextIO, realtime: bool) -> None:
    print("\nsummary (expected → recognized):", file=out)
    for utt, got in result.matches():
        mark = "ok " if got == utt["expect"] else "ERR"
        print(f"  {mark} {utt['start']:6.2f} s  {utt['text']!r:38} expected {utt['expect'] or '-':13} "
              f"got {got or '-'}", file=out)
    n_cmd = sum(1 for u in result.expected if u["expect"])
    n_non = len(result.expected) - n_cmd
    ok_cmd = sum(1 for u, g in result.matches() if u["expect"] and g == u["expect"])
    ok_non = sum(1 for u, g in result.matches() if not u["expect"] and g is None)
    lat = sorted(agent.pipeline.stats.latencies_ms)
    timing = ""
    if realtime and lat:
        timing = f"; end of speech detected → published p50 {lat[len(lat) // 2]:.1f} ms, max {lat[-1]:.1f} ms"
    print(f"\ncommands recognized: {ok_cmd}/{n_cmd}; non-commands rejected: {ok_non}/{n_non}; "
          f"stray intents: {len(result.false_intents())}; device actions: {len(result.actions)}; "
          f"segments: {agent.pipeline.stats.segments}{timing}",
          file=out)
