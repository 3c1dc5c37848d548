"""HA device-based discovery: the payload's shape, and live announce / re-announce / removal on a real Mosquitto.

What Home Assistant itself accepts (the device, every entity, the event types, the update state, the switch round
trip, the device triggers, no warning in its log) is checked against the real Home Assistant core in
tests/test_ha_conformance.py; the schema once written here from memory is gone (it had accepted what Home
Assistant rejected: a device-level "~" and a null installed_version).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from agent.config.schema import MqttConfig
from agent.intents.publisher import Message
from agent.mqtt import discovery as d
from agent.mqtt.broker import LocalBroker
from agent.mqtt.client import MqttClient
from agent.mqtt.ha import HomeAssistantBridge
from agent.ota.announce import parse_announcement, update_state_payload
from agent.types import Intent


def _payload() -> dict[str, Any]:
    return d.discovery_payload("homeagent", "kitchen", intents=["lights_on", "lights_off"],
                               gestures=["swipe_left", "thumbs_up"], origin_url="https://example.org/homeagent")


def test_discovery_payload_shape() -> None:
    p = _payload()
    platforms = sorted(c["p"] for c in p["cmps"].values() if c["p"] != "device_automation")
    assert platforms == ["event", "event", "sensor", "sensor", "sensor", "switch", "switch", "update"]
    assert p["avty_t"] == "homeagent/kitchen/availability" and "~" not in p and "qos" not in p
    assert all(c["~"] == "homeagent/kitchen" and c["qos"] == 1 for c in p["cmps"].values())
    assert p["cmps"]["intent"]["event_types"] == ["lights_off", "lights_on"]
    triggers = {(c["type"], c["stype"]) for c in p["cmps"].values() if c["p"] == "device_automation"}
    assert triggers == {("intent", "lights_on"), ("intent", "lights_off"), ("gesture", "swipe_left"),
                        ("gesture", "thumbs_up")}
    assert d.discovery_topic("kitchen") == "homeassistant/device/homeagent_kitchen/config"
    assert json.loads(d.encode(p)) == p


def test_switch_command_template_renders_to_a_valid_command() -> None:
    from agent.mqtt.commands import parse_command

    tpl = _payload()["cmps"]["camera_off"]["cmd_tpl"]
    now = time.time()
    rendered = (tpl.replace("{{ now().timestamp() }}", repr(now))
                .replace("{{ 'true' if value == 'ON' else 'false' }}", "true"))
    cmd = parse_command("camera", rendered.encode())
    assert cmd.args == {"off": True} and abs(cmd.ts - now) < 1e-6 and cmd.id.startswith("ha-")


class Inbox:
    def __init__(self) -> None:
        self.items: list[tuple[str, bytes, bool]] = []
        self.cond = threading.Condition()

    def __call__(self, topic: str, payload: bytes, retained: bool, props: Any) -> None:
        with self.cond:
            self.items.append((topic, payload, retained))
            self.cond.notify_all()

    def wait(self, pred: Any, timeout: float = 5.0) -> list[tuple[str, bytes, bool]]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred(self.items) and time.monotonic() < deadline:
                self.cond.wait(0.05)
            return list(self.items)


class FakeOta:
    def __init__(self) -> None:
        self.installs = 0
        self.latest = "1.1"

    def ha_state(self) -> bytes:
        return update_state_payload(installed_version="1.0", latest_version=self.latest, title="speech")

    def install_latest(self) -> None:
        self.installs += 1

    def handle_announcement(self, raw: bytes) -> None:
        self.latest = parse_announcement(raw).human_version


def _cfg(b: LocalBroker) -> MqttConfig:
    return MqttConfig.model_validate({"host": b.host, "port": b.port, "reconnect_min_s": 0.05,
                                      "reconnect_max_s": 0.3})


def test_bridge_announces_reannounces_on_ha_birth_and_removes(broker: LocalBroker) -> None:
    inbox = Inbox()
    ha = MqttClient(_cfg(broker), "ha", client_id="fake-ha")
    ha.subscribe("homeassistant/device/#", inbox)
    ha.subscribe("homeagent/kitchen/#", inbox)
    ha.start()
    assert ha.wait_connected(5)
    agent = MqttClient(_cfg(broker), "kitchen", client_id="agent-kitchen")
    ota = FakeOta()
    bridge = HomeAssistantBridge(agent, "homeagent", "kitchen", intents=["lights_on"], gestures=["thumbs_up"], ota=ota)
    bridge.start()
    agent.start()
    try:
        topic = d.discovery_topic("kitchen")
        items = inbox.wait(lambda it: any(t == topic for t, _, _ in it))
        configs = [json.loads(p) for t, p, _ in items if t == topic]
        assert configs and configs[0] == bridge.discovery()
        ha.publish(Message("homeassistant/status", b"online", retain=False))
        items = inbox.wait(lambda it: sum(t == topic for t, _, _ in it) >= 2)
        assert sum(t == topic for t, _, _ in items) >= 2 and bridge.announcements >= 2
        states = {t: p for t, p, _ in items}
        assert json.loads(states["homeagent/kitchen/state/update"])["latest_version"] == "1.1"
        intent = Intent.create("lights_on", 0.87, time.monotonic() - 0.5, time.monotonic(), site_id="kitchen")
        bridge.publish_intent(intent, latency_ms=123.4)
        items = inbox.wait(lambda it: any(t.endswith("/state/last") for t, _, _ in it))
        ev = json.loads(next(p for t, p, _ in items if t.endswith("/event/intent")))
        assert ev["event_type"] in configs[0]["cmps"]["intent"]["event_types"] and ev["id"] == intent.id
        last = json.loads(next(p for t, p, _ in items if t.endswith("/state/last")))
        assert last == {"name": "lights_on", "confidence": 87.0, "latency_ms": 123.4}
        ha.publish(Message("homeagent/kitchen/cmd/ha_install", b"install"))
        deadline = time.monotonic() + 5
        while ota.installs == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ota.installs == 1
        bridge.remove()
        items = inbox.wait(lambda it: any(t == topic and p == b"" for t, p, _ in it))
        assert any(t == topic and p == b"" for t, p, _ in items)
    finally:
        bridge.stop()
        agent.stop()
        ha.stop()


def test_bridge_takes_retained_announcement_and_reports_bad_ones(broker: LocalBroker) -> None:
    ann = {"name": "speech", "version": 2, "human_version": "2.0", "url": "https://example.org/b.tar"}
    inbox = Inbox()
    ha = MqttClient(_cfg(broker), "ha", client_id="fake-ha2")
    ha.subscribe("homeagent/den/#", inbox)
    ha.start()
    assert ha.wait_connected(5)
    ha.publish(Message("homeagent/den/ota/announce", json.dumps(ann).encode(), retain=True))
    time.sleep(0.2)
    agent = MqttClient(_cfg(broker), "den", client_id="agent-den2")
    ota = FakeOta()
    bridge = HomeAssistantBridge(agent, "homeagent", "den", intents=["x"], gestures=["y"], ota=ota)
    bridge.start()
    agent.start()
    try:
        def latest(it: list[tuple[str, bytes, bool]]) -> str | None:
            states = [json.loads(p) for t, p, _ in it if t == "homeagent/den/state/update" and p]
            return states[-1]["latest_version"] if states else None

        assert inbox.wait(lambda it: latest(it) == "2.0") and latest(inbox.items) == "2.0"
        ha.publish(Message("homeagent/den/ota/announce", b'{"name": "speech", "version": NaN}', retain=True))
        items = inbox.wait(lambda it: any(t.endswith("/ota/event") for t, _, _ in it))
        event = json.loads(next(p for t, p, _ in items if t.endswith("/ota/event")))
        assert event["state"] == "failed" and ota.latest == "2.0"
    finally:
        ha.publish(Message("homeagent/den/ota/announce", b"", retain=True))
        bridge.stop()
        agent.stop()
        ha.stop()


def test_event_entities_list_every_intent_and_gesture_the_agent_publishes() -> None:
    """HA refused 'Invalid event type music_play' for fused and gesture intents, and the pointing intents and
    swipes were missing: the event types now cover whatever the agent can publish."""
    from types import SimpleNamespace

    from agent.config.schema import AgentConfig
    from agent.daemon.agent import event_types

    cfg = AgentConfig()
    intents, gestures = event_types(cfg, SimpleNamespace(labels=("lights_on", "unknown")))  # type: ignore[arg-type]
    assert {"lights_on", "music_play", "music_stop", "next", "previous", "device_on", "device_off",
            "device_dim"} <= set(intents) and "unknown" not in intents
    assert set(cfg.fusion.gesture_intents.values()) | {d.intent for d in cfg.fusion.deictic.values()} <= set(intents)
    assert {"open_palm", "thumbs_up", "swipe_left", "swipe_right", "swipe_up", "swipe_down", "wave"} <= set(gestures)
    assert "none" not in gestures


def test_unlisted_event_types_are_not_sent(caplog: Any) -> None:
    """Home Assistant refuses and logs an event type its discovery did not list ('Invalid event type turn_on',
    seen in the real-HA test): such an intent or gesture still updates the sensors but sends no event."""
    from agent.intents.publisher import MemoryPublisher
    from agent.types import GestureEvent

    caplog.set_level(logging.INFO, logger="agent.mqtt.ha")
    pub = MemoryPublisher()
    bridge = HomeAssistantBridge(pub, "homeagent", "kitchen", intents=["lights_on"],  # type: ignore[arg-type]
                                 gestures=["victory"])
    now = time.monotonic()
    bridge.publish_intent(Intent.create("turn_on", 0.9, now - 1, now, site_id="kitchen", ttl_s=30.0))
    bridge.publish_intent(Intent.create("lights_on", 0.9, now - 1, now, site_id="kitchen", ttl_s=30.0))
    bridge.publish_gesture(GestureEvent("wave", 0.9, now - 1, now))
    bridge.publish_gesture(GestureEvent("victory", 0.9, now - 1, now))
    events = [json.loads(m.payload)["event_type"] for m in pub.messages if "/event/" in m.topic]
    assert events == ["lights_on", "victory"]
    assert [json.loads(m.payload)["name"] for m in pub.messages if m.topic.endswith("/state/last")] == \
        ["turn_on", "lights_on"]
    assert "intent turn_on is not among the event types announced" in caplog.text
