"""Home Assistant MQTT discovery, device-based: one retained config on ``homeassistant/device/<id>/config``.

The payload uses HA's abbreviations: ``dev`` (device: ``ids``, ``name``, ``mf``, ``mdl``, ``sw``), ``o``
(origin: ``name``, ``sw``, ``url``), ``cmps`` (components keyed by object id, each with ``p`` = platform and
``unique_id``, ``~``: the base topic, which HA expands only inside a component, so every component carries
its own, and ``qos``, which HA reads per component only) and ``avty_t`` (availability, tied to the last will:
``online``/``offline``, shared by every component; an absolute topic, since ``~`` is not expanded at the device
level).

Entities: event ``intent`` (voice intents), event ``gesture``, sensors ``last_intent``, ``confidence`` and
``latency`` (one retained JSON state, split by value templates), switches ``mic_muted`` and ``camera_off``
(commands are wrapped by ``cmd_tpl`` into the strict JSON of :mod:`.commands`, with HA's clock as ``ts``) and
``update`` (the model bundle: JSON state with installed/latest version, install button).

Removal: an empty retained payload on the config topic (HA deletes the device and its entities).
"""

from __future__ import annotations

import json
from typing import Any

from .. import __version__

DISCOVERY_PREFIX = "homeassistant"
HA_STATUS_TOPIC = f"{DISCOVERY_PREFIX}/status"
UPDATE_INSTALL_PAYLOAD = "install"


def node_id(site_id: str) -> str:
    return f"homeagent_{site_id}"  # HA allows [A-Za-z0-9_-] in node ids, like our site ids


def discovery_topic(site_id: str) -> str:
    return f"{DISCOVERY_PREFIX}/device/{node_id(site_id)}/config"


def base_topic(prefix: str, site_id: str) -> str:
    return f"{prefix}/{site_id}"


# Topics under the base topic ``~`` (kept here so the bridge and the discovery agree).
T_AVAILABILITY = "availability"
T_INTENT_EVENT = "event/intent"
T_GESTURE_EVENT = "event/gesture"
T_LAST = "state/last"
T_MUTE_STATE = "state/mute"
T_CAMERA_STATE = "state/camera"
T_UPDATE_STATE = "state/update"
T_MUTE_CMD = "cmd/mute"
T_CAMERA_CMD = "cmd/camera"
T_UPDATE_CMD = "cmd/ha_install"
T_OTA_ANNOUNCE = "ota/announce"  # in, retained, from the release server (agent.ota.announce)
T_OTA_EVENT = "ota/event"


def _switch_template(arg: str, on_means: str) -> str:
    """HA renders this on its side: ``value`` is ``ON``/``OFF``; ``ts``/``id`` come from HA's clock."""
    return ("{\"id\":\"ha-{{ now().timestamp() }}\",\"ts\":{{ now().timestamp() }},\"ttl_s\":10,"
            f"\"{arg}\":{{{{ 'true' if value == '{on_means}' else 'false' }}}}}}")


def discovery_payload(prefix: str, site_id: str, *, intents: list[str], gestures: list[str],
                      sw_version: str = __version__, model: str = "homeagent voice+vision agent",
                      origin_url: str | None = None, with_update: bool = True) -> dict[str, Any]:
    nid = node_id(site_id)
    cmps: dict[str, dict[str, Any]] = {
        "intent": {"p": "event", "unique_id": f"{nid}_intent", "name": "Voice intent",
                   "stat_t": f"~/{T_INTENT_EVENT}", "event_types": sorted(set(intents)) or ["unknown"],
                   "ic": "mdi:account-voice"},
        "gesture": {"p": "event", "unique_id": f"{nid}_gesture", "name": "Gesture",
                    "stat_t": f"~/{T_GESTURE_EVENT}", "event_types": sorted(set(gestures)) or ["unknown"],
                    "ic": "mdi:hand-wave"},
        "last_intent": {"p": "sensor", "unique_id": f"{nid}_last_intent", "name": "Last intent",
                        "stat_t": f"~/{T_LAST}", "val_tpl": "{{ value_json.name }}", "ic": "mdi:text-recognition"},
        "confidence": {"p": "sensor", "unique_id": f"{nid}_confidence", "name": "Intent confidence",
                       "stat_t": f"~/{T_LAST}", "val_tpl": "{{ value_json.confidence }}", "unit_of_meas": "%",
                       "stat_cla": "measurement", "sug_dsp_prc": 0},
        "latency": {"p": "sensor", "unique_id": f"{nid}_latency", "name": "Intent latency",
                    "stat_t": f"~/{T_LAST}", "val_tpl": "{{ value_json.latency_ms }}", "unit_of_meas": "ms",
                    "dev_cla": "duration", "stat_cla": "measurement", "ent_cat": "diagnostic"},
        "mic_muted": {"p": "switch", "unique_id": f"{nid}_mic_muted", "name": "Microphone muted",
                      "cmd_t": f"~/{T_MUTE_CMD}", "stat_t": f"~/{T_MUTE_STATE}", "pl_on": "ON", "pl_off": "OFF",
                      "cmd_tpl": _switch_template("on", "ON"), "ic": "mdi:microphone-off", "ret": False},
        "camera_off": {"p": "switch", "unique_id": f"{nid}_camera_off", "name": "Camera off",
                       "cmd_t": f"~/{T_CAMERA_CMD}", "stat_t": f"~/{T_CAMERA_STATE}", "pl_on": "ON",
                       "pl_off": "OFF", "cmd_tpl": _switch_template("off", "ON"), "ic": "mdi:camera-off",
                       "ret": False},
    }
    if with_update:
        cmps["update"] = {"p": "update", "unique_id": f"{nid}_models_update", "name": "Models",
                          "stat_t": f"~/{T_UPDATE_STATE}", "cmd_t": f"~/{T_UPDATE_CMD}",
                          "pl_inst": UPDATE_INSTALL_PAYLOAD, "dev_cla": "firmware", "ent_cat": "config"}
    origin: dict[str, Any] = {"name": "homeagent", "sw": sw_version}
    if origin_url:
        origin["url"] = origin_url
    for kind, names, topic in (("intent", intents, T_INTENT_EVENT), ("gesture", gestures, T_GESTURE_EVENT)):
        for name in sorted(set(names)):  # device triggers: "homeagent heard X" / "gesture Y" in HA's automation UI
            cmps[f"{kind}_{name}"] = {"p": "device_automation", "atype": "trigger", "t": f"~/{topic}",
                                      "type": kind, "stype": name, "pl": name,
                                      "val_tpl": "{{ value_json.event_type }}"}
    base = base_topic(prefix, site_id)
    for c in cmps.values():
        c["~"] = base
        c["qos"] = 1
    return {
        "dev": {"ids": [nid], "name": f"homeagent {site_id}", "mf": "homeagent", "mdl": model, "sw": sw_version},
        "o": origin,
        "avty_t": f"{base}/{T_AVAILABILITY}",
        "pl_avail": "online",
        "pl_not_avail": "offline",
        "cmps": cmps,
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def switch_state(on: bool) -> bytes:
    return b"ON" if on else b"OFF"
