"""The action map: YAML rules -> zigbee2mqtt / Home Assistant / template messages; stale intents refused."""

from __future__ import annotations

import json

import pytest

from agent.errors import ConfigError
from agent.intents.actions import ActionExecutor, ActionMap
from agent.intents.publisher import MemoryPublisher
from agent.types import Intent
from agent.vision.zones import hit_zone, point_in_polygon, ray_distance

NOW = 1_800_000_000.0


def intent(name: str, slots: dict[str, str] | None = None, wall_end: float = NOW, ttl: float = 5.0) -> Intent:
    return Intent(name=name, confidence=0.9, t_start=1.0, t_end=2.0, slots=slots or {}, site_id="kitchen",
                  wall_start=wall_end - 1.0, wall_end=wall_end, ttl_s=ttl)


def test_default_map_switches_a_zigbee_device_with_deadline() -> None:
    pub = MemoryPublisher()
    ex = ActionExecutor(ActionMap.load(), pub, clock=lambda: NOW + 1.0)
    [m] = ex.execute(intent("device_on", {"device": "floor_lamp"}))
    assert m.topic == "zigbee2mqtt/floor_lamp/set"
    assert json.loads(m.payload) == {"state": "ON"}
    assert m.expires_at == NOW + 5.0
    assert pub.topics() == ["zigbee2mqtt/floor_lamp/set"]


def test_home_assistant_and_template_rules() -> None:
    amap = ActionMap.from_yaml("""
actions:
  - intent: lights_on
    homeassistant: {component: light, object_id: "{site_id}_ceiling", payload: "ON"}
  - intent: lights_on
    when: {room: den}
    topic: "custom/{room}/{intent}"
    payload: {level: "{confidence}", who: "{site_id}"}
""")
    msgs = amap.messages(intent("lights_on"))
    assert [m.topic for m in msgs] == ["homeassistant/light/kitchen_ceiling/set"]
    assert msgs[0].payload == b"ON"
    msgs = amap.messages(intent("lights_on", {"room": "den"}))
    assert [m.topic for m in msgs] == ["homeassistant/light/kitchen_ceiling/set", "custom/den/lights_on"]
    assert json.loads(msgs[1].payload) == {"level": "0.900", "who": "kitchen"}


def test_stale_intent_is_refused() -> None:
    pub = MemoryPublisher()
    ex = ActionExecutor(ActionMap.load(), pub, clock=lambda: NOW + 6.0)
    assert ex.execute(intent("device_on", {"device": "x"})) == []
    assert pub.messages == [] and ex.counts["stale"] == 1


def test_missing_slot_skips_the_rule_and_unmapped_intent_does_nothing() -> None:
    pub = MemoryPublisher()
    ex = ActionExecutor(ActionMap.load(), pub, clock=lambda: NOW)
    assert ex.execute(intent("device_on")) == []
    assert ex.execute(intent("make_coffee")) == []
    assert pub.messages == [] and ex.counts["unmapped"] == 2


def test_wildcards_in_a_rendered_topic_are_refused() -> None:
    amap = ActionMap.from_yaml('actions:\n  - intent: a\n    zigbee2mqtt: {device: "{device}", payload: {s: 1}}\n')
    assert amap.messages(intent("a", {"device": "lamp/#"})) == []


def test_invalid_map_names_the_line() -> None:
    with pytest.raises(ConfigError) as err:
        ActionMap.from_yaml("actions:\n  - intent: a\n    topic: x\n  - intent: b\n    zigbe2mqtt: {}\n")
    text = "\n".join(err.value.problems)
    assert "<actions>:2:" in text  # topic without payload
    assert "<actions>:5:" in text and "zigbe2mqtt" in text
    with pytest.raises(ConfigError):
        ActionMap.from_yaml("actions: [")


def test_zone_geometry() -> None:
    square = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
    assert point_in_polygon((5, 5), square) and not point_in_polygon((15, 5), square)
    assert ray_distance((-5, 5), (1, 0), square) == pytest.approx(5.0)
    assert ray_distance((-5, 5), (-1, 0), square) is None
    zones = {"near": square, "far": [(30.0, 0.0), (40.0, 0.0), (40.0, 10.0), (30.0, 10.0)]}
    assert hit_zone((-5, 5), (1, 0), zones) == "near"
    assert hit_zone((20, 5), (1, 0), zones) == "far"
    assert hit_zone((20, 5), (0, 1), zones) is None
