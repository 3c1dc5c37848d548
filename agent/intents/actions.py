"""The action map: intent + slots -> MQTT messages that really switch devices.

A YAML file (``actions.yaml`` beside this module is the default/example) holds a list of rules; every rule
that matches an intent (its name, and each ``when`` slot value) yields one message, from one of:

- ``zigbee2mqtt: {device: "{device}", payload: {state: "ON"}}`` -> ``zigbee2mqtt/<device>/set`` with JSON;
- ``zigbee2mqtt: {device: ..., step: {attribute: occupied_heating_setpoint, by: 1, min: 5, max: 30}}``: the
  absolute value from the device's last reported state (``zigbee2mqtt/<device>``, :class:`DeviceStates`) plus
  ``by``, clamped: zigbee2mqtt's converters take absolute setpoints (no ``*_step`` key exists for them);
- ``homeassistant: {component: light, object_id: "{device}", payload: "ON"}`` ->
  ``homeassistant/<component>/<object_id>/set`` (the command topic of an MQTT-discovered entity);
- ``topic: "any/{site_id}/topic"`` + ``payload:`` (a string template or a JSON object of templates);
- ``hass: {intent: HassTurnOn, slots: {name: "{device}", area: "{room}"}}`` -> Home Assistant's own intent
  handling (:mod:`.hass`, with ``home_assistant.url`` set; ignored without it). A slot whose template needs a
  slot the intent lacks is left out; ``_`` in our slot values becomes a space (``living_room`` -> "living room").

Templates use ``{slot}``, ``{intent}``, ``{site_id}`` and ``{confidence}``. :class:`ActionExecutor`
publishes through any :class:`~agent.intents.publisher.Publisher`, with the intent's deadline as
``expires_at``, and refuses stale intents (``wall_end + ttl_s`` passed).
"""

from __future__ import annotations

import json
import logging
import string
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..config.loader import safe_yaml_load
from ..errors import ConfigError, PayloadError
from ..types import Intent
from .hass import HassCall, HassIntents
from .publisher import Message, Publisher

log = logging.getLogger(__name__)

DEFAULT_ACTIONS = Path(__file__).with_name("actions.yaml")
Json = dict[str, Any] | list[Any] | str | int | float | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Strict):
    attribute: str = Field(..., min_length=1, title="Attribute",
                           description="State key to change, e.g. occupied_heating_setpoint.")
    by: float = Field(..., title="By", description="Added to the device's last reported value.")
    min: float | None = Field(None, title="Minimum", description="Lowest value sent.")
    max: float | None = Field(None, title="Maximum", description="Highest value sent.")


class Zigbee2Mqtt(_Strict):
    device: str = Field(..., min_length=1, title="Device", description="zigbee2mqtt friendly name (template).")
    payload: dict[str, Any] | None = Field(None, title="Payload",
                                           description="JSON object sent to <base>/<device>/set.")
    step: Step | None = Field(None, title="Step", description="Send the last reported value plus a step instead.")
    base_topic: str = Field("zigbee2mqtt", title="Base topic", description="zigbee2mqtt base_topic.")

    @model_validator(mode="after")
    def _payload_or_step(self) -> Zigbee2Mqtt:
        if (self.payload is None) == (self.step is None):
            raise ValueError("give exactly one of payload or step")
        return self


class DeviceStates:
    """The last state each zigbee2mqtt device reported (``zigbee2mqtt/<device>``, fed by the daemon's MQTT
    subscription), for actions that step a value. Bounded: at most ``max_devices`` devices."""

    def __init__(self, max_devices: int = 512) -> None:
        self.max_devices = max_devices
        self._states: dict[str, dict[str, Any]] = {}

    def update(self, device: str, state: dict[str, Any]) -> None:
        if device in self._states or len(self._states) < self.max_devices:
            self._states[device] = state

    def get(self, device: str) -> dict[str, Any] | None:
        return self._states.get(device)

    def names(self) -> list[str]:
        """The devices that reported a state (offered when a zone is mapped to a device on the page)."""
        return list(self._states)


class HomeAssistant(_Strict):
    component: str = Field(..., min_length=1, title="Component", description="light, switch, cover, lock, ...")
    object_id: str = Field(..., min_length=1, title="Object id", description="Entity object id (template).")
    payload: str | dict[str, Any] = Field("ON", title="Payload", description="Command payload (template).")
    prefix: str = Field("homeassistant", title="Topic prefix", description="Command topic prefix.")


class Hass(_Strict):
    intent: str = Field(..., pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$", title="Home Assistant intent",
                        description="HassTurnOn, HassTurnOff, HassLightSet, ... (Home Assistant's built-in intents).")
    slots: dict[str, str | int | float | bool] = Field(
        {}, title="Slots", description="Home Assistant slot -> template, e.g. name: '{device}', area: '{room}'; "
                                       "left out when the intent lacks a slot its template needs.")


class ActionRule(_Strict):
    intent: str = Field(..., min_length=1, title="Intent", description="Intent name this rule reacts to.")
    when: dict[str, str] = Field({}, title="Slot match", description="Slots that must have these values.")
    zigbee2mqtt: Zigbee2Mqtt | None = Field(None, title="zigbee2mqtt", description="A zigbee2mqtt set message.")
    homeassistant: HomeAssistant | None = Field(None, title="Home Assistant",
                                                description="A Home Assistant MQTT entity command.")
    hass: Hass | None = Field(None, title="Home Assistant intent",
                              description="Hand the intent to Home Assistant's intent handling (home_assistant.url).")
    topic: str | None = Field(None, title="Topic", description="Any topic (template).")
    payload: str | dict[str, Any] | None = Field(None, title="Payload", description="Payload template.")
    qos: int = Field(1, ge=0, le=2, title="QoS", description="MQTT QoS.")
    retain: bool = Field(False, title="Retain", description="Retain the message.")

    @model_validator(mode="after")
    def _one_kind(self) -> ActionRule:
        kinds = [self.zigbee2mqtt is not None, self.homeassistant is not None, self.hass is not None,
                 self.topic is not None]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of zigbee2mqtt, homeassistant, hass or topic")
        if self.topic is not None and self.payload is None:
            raise ValueError("'topic' needs a 'payload'")
        return self


class ActionMapConfig(_Strict):
    actions: list[ActionRule] = Field(..., title="Actions", description="Rules; every matching rule fires.")


def _render(template: Json, values: dict[str, str]) -> Json:
    if isinstance(template, str):
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
        missing = fields - values.keys()
        if missing:
            raise PayloadError(f"action template {template!r} needs slot(s) {sorted(missing)}")
        return template.format_map(values)
    if isinstance(template, dict):
        return {k: _render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_render(v, values) for v in template]
    return template


def _encode(payload: Json) -> bytes:
    return payload.encode() if isinstance(payload, str) else json.dumps(payload, sort_keys=True).encode()


class ActionMap:
    """Rules loaded from YAML; :meth:`messages` turns an intent into MQTT messages (pure)."""

    def __init__(self, cfg: ActionMapConfig) -> None:
        self.cfg = cfg

    @classmethod
    def from_yaml(cls, text: str, file: str = "<actions>") -> ActionMap:
        data, root = safe_yaml_load(text, file)  # bounded size/depth/nodes, duplicate keys refused
        try:
            return cls(ActionMapConfig.model_validate(data))
        except ValidationError as exc:
            problems = [f"{file}:{_line(root, e['loc'])}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                        for e in exc.errors()]
            raise ConfigError(f"{file}: invalid action map:\n" + "\n".join(problems), problems) from exc

    @classmethod
    def load(cls, path: Path | None = None) -> ActionMap:
        p = path or DEFAULT_ACTIONS
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read the action map ({exc})") from exc
        return cls.from_yaml(text, str(p))

    def _rules(self, intent: Intent) -> list[ActionRule]:
        return [r for r in self.cfg.actions
                if r.intent == intent.name and all(intent.slots.get(k) == v for k, v in r.when.items())]

    def hass_calls(self, intent: Intent) -> list[HassCall]:
        """Home Assistant intents for every ``hass`` rule matching ``intent`` (pure)."""
        values = {k: v.replace("_", " ") for k, v in _values(intent).items()}
        out = []
        for rule in self._rules(intent):
            if rule.hass is not None:
                slots = {}
                for key, template in rule.hass.slots.items():
                    try:
                        slots[key] = _render(template, values)
                    except PayloadError:
                        continue  # an optional slot: the intent has no value for it
                out.append(HassCall(rule.hass.intent, slots, intent.name, intent.expires_at_wall()))
        return out

    def messages(self, intent: Intent, states: DeviceStates | None = None) -> list[Message]:
        """Messages for every rule matching ``intent``; a rule whose template lacks a slot, or that steps a value
        no state is known for yet, is skipped (and says why)."""
        values = _values(intent)
        out: list[Message] = []
        for rule in self._rules(intent):
            if rule.hass is not None:
                continue
            try:
                out.append(self._message(rule, values, intent.expires_at_wall(), states))
            except PayloadError as exc:
                log.warning("intent %s: rule skipped: %s", intent.name, exc)
        return out

    @staticmethod
    def _message(rule: ActionRule, values: dict[str, str], expires: float, states: DeviceStates | None) -> Message:
        if rule.zigbee2mqtt is not None:
            z = rule.zigbee2mqtt
            device = str(_render(z.device, values))
            topic = f"{z.base_topic}/{device}/set"
            payload = _encode(_render(z.payload, values) if z.step is None else _stepped(z.step, device, states))
        elif rule.homeassistant is not None:
            h = rule.homeassistant
            topic = f"{h.prefix}/{h.component}/{_render(h.object_id, values)}/set"
            payload = _encode(_render(h.payload, values))
        else:
            topic = str(_render(rule.topic, values))
            payload = _encode(_render(rule.payload, values))
        if any(c in topic for c in "+#") or not topic:
            raise PayloadError(f"rendered topic {topic!r} is not a valid publish topic")
        return Message(topic, payload, qos=rule.qos, retain=rule.retain, expires_at=expires)


def _values(intent: Intent) -> dict[str, str]:
    return {**intent.slots, "intent": intent.name, "site_id": intent.site_id, "confidence": f"{intent.confidence:.3f}"}


def _stepped(step: Step, device: str, states: DeviceStates | None) -> dict[str, float]:
    state = states.get(device) if states is not None else None
    current = state.get(step.attribute) if state is not None else None
    if isinstance(current, bool) or not isinstance(current, int | float):
        raise PayloadError(f"no {step.attribute} of zigbee2mqtt device {device!r} known yet (it reports it on "
                           f"zigbee2mqtt/{device} once it is paired and awake): cannot step it")
    value = float(current) + step.by
    if step.min is not None:
        value = max(step.min, value)
    if step.max is not None:
        value = min(step.max, value)
    return {step.attribute: round(value, 2)}


def _line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    node, line = root, (root.start_mark.line + 1 if root is not None else 1)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    node, line = value, key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
    return line


class ActionExecutor:
    """Publishes the mapped messages of each intent; subscribes to nothing."""

    def __init__(self, action_map: ActionMap, publisher: Publisher, *,
                 clock: Callable[[], float] = time.time, states: DeviceStates | None = None,
                 hass: HassIntents | None = None) -> None:
        self.map = action_map
        self.publisher = publisher
        self.hass = hass  # Home Assistant's intent handling; without it the map's hass rules are ignored
        self.states = states
        self.clock = clock
        self.counts = {"executed": 0, "stale": 0, "unmapped": 0, "dropped": 0}

    def execute(self, intent: Intent) -> list[Message]:
        """Publish ``intent``'s actions; returns the messages accepted by the publisher."""
        if self.clock() > intent.expires_at_wall():
            self.counts["stale"] += 1
            log.warning("intent %s (%s) is stale: not acting", intent.name, intent.id)
            return []
        msgs = self.map.messages(intent, self.states)
        calls = []
        if self.hass is not None:
            calls = self.map.hass_calls(intent)
            for call in calls:
                self.hass.submit(call)
        if not msgs and not calls:
            self.counts["unmapped"] += 1
            log.info("intent %s %s: no action mapped", intent.name, intent.slots)
            return []
        sent = [m for m in msgs if self.publisher.publish(m)]
        self.counts["executed"] += 1
        self.counts["dropped"] += len(msgs) - len(sent)
        log.debug("intent %s %s -> %s", intent.name, intent.slots, [m.topic for m in sent])
        return sent
