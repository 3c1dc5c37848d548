"""HA device-based discovery: payloads checked against the schema Home Assistant documents, and live
announce / re-announce / removal on a real Mosquitto.

The schema below is written from Home Assistant's MQTT discovery documentation (device-based discovery,
abbreviations, and the event / sensor / switch / update platforms) from memory, not fetched from HA's source:
field names (abbreviated), types, required keys and allowed enum values.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from agent.config.schema import MqttConfig
from agent.intents.publisher import Message
from agent.mqtt import discovery as d
from agent.mqtt.broker import LocalBroker
from agent.mqtt.client import MqttClient
from agent.mqtt.ha import HomeAssistantBridge
from agent.ota.announce import parse_announcement, update_state_payload
from agent.types import Intent

STR, BOOL, INT, LIST = "str", "bool", "int", "list[str]"

DEVICE = {"ids": (LIST, STR), "cns": ("list",), "name": (STR,), "mf": (STR,), "mdl": (STR,), "mdl_id": (STR,),
          "sw": (STR,), "hw": (STR,), "sn": (STR,), "sa": (STR,), "cu": (STR,), "via_device": (STR,)}
ORIGIN = {"name": (STR,), "sw": (STR,), "url": (STR,)}
# What real Home Assistant 2026.2.3 accepts at the device level, as its rejections showed (issue 19): "~" there is
# "extra keys not allowed @ data['~']" (HA expands ~ only inside a component) and a device-level "qos" is
# silently ignored, so both belong to each component. (A conformance test against HA core itself is still to come.)
SHARED = {"avty_t": (STR,), "pl_avail": (STR,), "pl_not_avail": (STR,), "avty_mode": (STR,), "stat_t": (STR,),
          "cmd_t": (STR,), "enc": (STR,)}
COMMON = {"p": (STR,), "~": (STR,), "unique_id": (STR,), "uniq_id": (STR,), "name": (STR,), "ic": (STR,),
          "obj_id": (STR,),
          "ent_cat": (STR,), "en": (BOOL,), "avty_t": (STR,), "json_attr_t": (STR,), "json_attr_tpl": (STR,),
          "qos": (INT,), "val_tpl": (STR,), "ent_pic": (STR,)}
PLATFORMS: dict[str, dict[str, Any]] = {
    "event": {"keys": {"stat_t": (STR,), "event_types": (LIST,), "dev_cla": (STR,)},
              "required": {"stat_t", "event_types"}, "dev_cla": {"button", "doorbell", "motion"},
              "ent_cat": {"diagnostic"}},
    "sensor": {"keys": {"stat_t": (STR,), "unit_of_meas": (STR,), "dev_cla": (STR,), "stat_cla": (STR,),
                        "sug_dsp_prc": (INT,), "exp_aft": (INT,), "frc_upd": (BOOL,), "lrst_t": (STR,)},
               "required": {"stat_t"}, "stat_cla": {"measurement", "total", "total_increasing"},
               "dev_cla": {"duration", "temperature", "humidity", "signal_strength", "timestamp"},
               "ent_cat": {"diagnostic"}},
    "switch": {"keys": {"cmd_t": (STR,), "stat_t": (STR,), "pl_on": (STR,), "pl_off": (STR,), "stat_on": (STR,),
                        "stat_off": (STR,), "cmd_tpl": (STR,), "ret": (BOOL,), "opt": (BOOL,), "dev_cla": (STR,)},
               "required": {"cmd_t"}, "dev_cla": {"outlet", "switch"}, "ent_cat": {"config", "diagnostic"}},
    "device_automation": {"keys": {"atype": (STR,), "t": (STR,), "type": (STR,), "stype": (STR,), "pl": (STR,)},
                          "required": {"atype", "t", "type", "stype"}, "no_unique_id": True},
    "update": {"keys": {"stat_t": (STR,), "cmd_t": (STR,), "pl_inst": (STR,), "l_ver_t": (STR,),
                        "l_ver_tpl": (STR,), "dev_cla": (STR,), "title": (STR,), "rel_u": (STR,), "rel_s": (STR,),
                        "ret": (BOOL,)},
               "required": set(), "dev_cla": {"firmware"}, "ent_cat": {"config", "diagnostic"}},
}


def _type_ok(value: Any, kinds: tuple[str, ...]) -> bool:
    for k in kinds:
        if k == STR and isinstance(value, str):
            return True
        if k == BOOL and isinstance(value, bool):
            return True
        if k == INT and isinstance(value, int) and not isinstance(value, bool):
            return True
        if k == LIST and isinstance(value, list) and value and all(isinstance(x, str) for x in value):
            return True
        if k == "list" and isinstance(value, list):
            return True
    return False


def validate_device_discovery(p: dict[str, Any]) -> list[str]:
    """Problems with a device-based discovery payload (empty = accepted)."""
    errs: list[str] = []

    def check(where: str, obj: dict[str, Any], spec: Mapping[str, tuple[str, ...]]) -> None:
        for k, v in obj.items():
            if k not in spec:
                errs.append(f"{where}: unknown key {k!r}")
            elif not _type_ok(v, spec[k]):
                errs.append(f"{where}.{k}: wrong type {type(v).__name__}")

    for req in ("dev", "o", "cmps"):
        if req not in p:
            errs.append(f"missing {req!r}")
    check("top", {k: v for k, v in p.items() if k not in ("dev", "o", "cmps")}, SHARED)
    dev, origin, cmps = p.get("dev", {}), p.get("o", {}), p.get("cmps", {})
    check("dev", dev, DEVICE)
    if not ({"ids", "cns"} & dev.keys()):
        errs.append("dev needs ids or cns")
    check("o", origin, ORIGIN)
    if "name" not in origin:
        errs.append("o.name is required")
    if not isinstance(cmps, dict) or not cmps:
        errs.append("cmps must be a non-empty object")
        return errs
    uids = set()
    for oid, c in cmps.items():
        tilde = "~" in c
        plat = PLATFORMS.get(c.get("p", ""))
        if plat is None:
            errs.append(f"cmps.{oid}: unknown platform {c.get('p')!r}")
            continue
        check(f"cmps.{oid}", c, {**COMMON, **plat["keys"]})
        uid = c.get("unique_id", c.get("uniq_id"))
        if not uid and not plat.get("no_unique_id"):
            errs.append(f"cmps.{oid}: unique_id is required with device discovery")
        uids.add(uid or oid)
        missing = plat["required"] - c.keys() - {k for k in plat["required"] if k in p}
        if missing:
            errs.append(f"cmps.{oid}: missing {sorted(missing)}")
        for enum in ("dev_cla", "stat_cla", "ent_cat"):
            if enum in c and enum in plat and c[enum] not in plat[enum]:
                errs.append(f"cmps.{oid}.{enum}: {c[enum]!r} not allowed for {c['p']}")
        for k, v in c.items():
            if (k.endswith("_t") or k == "t") and isinstance(v, str):
                if "+" in v or "#" in v:
                    errs.append(f"cmps.{oid}.{k}: wildcard in topic")
                if "~" in v and not tilde:
                    errs.append(f"cmps.{oid}.{k}: uses ~ without a base topic")
    if len(uids) != len(cmps):
        errs.append("unique_id values must be unique")
    return errs


def _payload() -> dict[str, Any]:
    return d.discovery_payload("homeagent", "kitchen", intents=["lights_on", "lights_off"],
                               gestures=["swipe_left", "thumbs_up"], origin_url="https://example.org/homeagent")


def test_discovery_payload_matches_documented_schema() -> None:
    p = _payload()
    assert validate_device_discovery(p) == []
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


def test_validator_rejects_broken_payloads() -> None:
    p = _payload()
    p["cmps"]["intent"].pop("event_types")
    p["cmps"]["mic_muted"]["ret"] = "no"
    p["cmps"]["latency"]["ent_cat"] = "config"
    p["cmps"]["gesture"]["bogus"] = 1
    p["dev"].pop("ids")
    errs = "\n".join(validate_device_discovery(p))
    for needle in ("event_types", "ret", "ent_cat", "bogus", "ids or cns"):
        assert needle in errs


def test_switch_command_template_renders_to_a_valid_command() -> None:
    from agent.mqtt.commands import parse_command

    tpl = _payload()["cmps"]["camera_off"]["cmd_tpl"]
    now = time.time()
    rendered = (tpl.replace("{{ now().timestamp() }}", repr(now))
                .replace("{{ 'true' if value == 'ON' else 'false' }}", "true"))
    cmd = parse_command("camera", rendered.encode())
    assert cmd.args == {"off": True} and abs(cmd.ts - now) < 1e-6 and cmd.id.startswith("ha-")


@pytest.mark.parametrize("kw", [{"installed_version": "1.0", "latest_version": "1.1", "title": "speech"},
                                {"installed_version": None, "latest_version": None, "title": "m", "in_progress": True,
                                 "update_percentage": 40, "release_url": "https://x"}])
def test_update_state_json_matches_update_entity(kw: dict[str, Any]) -> None:
    s = json.loads(update_state_payload(**kw))
    allowed = {"installed_version": (str, type(None)), "latest_version": (str, type(None)), "title": (str,),
               "release_summary": (str,), "release_url": (str,), "in_progress": (bool,),
               "update_percentage": (int, float, type(None)), "entity_picture": (str,)}
    for k, v in s.items():
        assert k in allowed and isinstance(v, allowed[k]), k
    assert len(s.get("release_summary", "")) <= 255


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
        assert configs and validate_device_discovery(configs[0]) == []
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
