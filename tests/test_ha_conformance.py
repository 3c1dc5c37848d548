"""Conformance against the real Home Assistant core (pinned in tests/clients/venvs.py), started here on 127.0.0.1
with a real Mosquitto, the MQTT integration set up through its config flow, and the daemon on replay media.
Everything is read back from Home Assistant itself: its device and entity registries, its states, its device
triggers and its log (issue 19: it had accepted 0 devices and 0 entities of ours).

The first run makes Home Assistant's environment (and, where the machine has no Python >= 3.13.2, builds one from
Debian's source): a few minutes, printed; later runs reuse it from ~/.cache/homeagent/clients."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.audio.wav import read_wav_16k
from agent.config.schema import AgentConfig
from agent.daemon.agent import Agent
from agent.demo.run import MEDIA
from agent.fusion import FusionConfig, FusionEngine
from agent.mqtt.broker import LocalBroker
from agent.mqtt.client import MqttClient
from agent.mqtt.ha import HomeAssistantBridge
from agent.ota.announce import update_state_payload
from agent.ota.manager import UpdateManager
from agent.ota.store import Store
from agent.sources.wav_replay import WavReplaySource
from agent.types import GestureEvent, Intent
from agent.web.sentences import SentenceTester
from tests.clients.homeassistant import HomeAssistant
from tests.clients.venvs import HA_VERSION, ha_python
from tests.test_ota_support import Device, Keys, device, keys, store_v1_template, v1_bundle  # noqa: F401

pytestmark = pytest.mark.slow

LIGHTS = {"kitchen_light": "Kitchen light", "floor_lamp": "Floor lamp", "hall_light": "Hall light"}
# what Home Assistant says at every start on this machine, nothing to do with us
BASELINE = ("Skipping pip installation", "zlib_ng and isal are not available")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[tuple[HomeAssistant,
                                                                                                   LocalBroker]]:
    """Home Assistant with the MQTT integration on a real Mosquitto, three template lights, an area 'Hall'."""
    t0 = time.monotonic()
    done: list[str] = []
    python = ha_python(done)
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():  # type: ignore[union-attr]  # in the CI log, also on success
        for line in done:
            print(f"\nha-conformance: {line}", flush=True)
        print(f"\nha-conformance: Home Assistant {HA_VERSION} ready to start after {time.monotonic() - t0:.0f} s "
              f"({python})", flush=True)
    broker = LocalBroker().start()
    ha = HomeAssistant(python, tmp_path_factory.mktemp("homeassistant"), lights=LIGHTS)
    try:
        ha.start()
        ha.add_mqtt(broker.host, broker.port)
        [area] = ha.ws({"type": "config/area_registry/create", "name": "Hall"})
        ha.ws({"type": "config/entity_registry/update", "entity_id": "light.hall_light", "area_id": area["area_id"]})
        yield ha, broker
    finally:
        ha.stop()
        broker.stop()


def _device(ha: HomeAssistant, node: str) -> dict[str, Any] | None:
    [devices] = ha.ws({"type": "config/device_registry/list"})
    return next((d for d in devices if ["mqtt", node] in d["identifiers"]), None)


def _entities(ha: HomeAssistant, device_id: str) -> dict[str, str]:
    """unique_id -> entity_id of the device's entities."""
    [entities] = ha.ws({"type": "config/entity_registry/list"})
    return {e["unique_id"]: e["entity_id"] for e in entities if e["device_id"] == device_id}


def _our_problems(ha: HomeAssistant, *words: str) -> list[str]:
    """WARNING / ERROR lines of Home Assistant's log that are not its start-up baseline and name our topics."""
    lines = [line for line in ha.log_text().splitlines() if re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line)]
    return [line for line in lines if not any(b in line for b in BASELINE)
            and (not words or any(w in line for w in words))]


def _on(ha: HomeAssistant, entity_id: str, want: str = "on") -> bool:
    state = ha.state(entity_id)
    return state is not None and state["state"] == want


def test_daemon_on_replay_media_in_home_assistant(home: tuple[HomeAssistant, LocalBroker], tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    ha, broker = home
    token = tmp_path / "ha_token"
    token.write_text(ha.token + "\n")
    cfg = AgentConfig.model_validate({
        "site_id": "hall", "state_dir": str(tmp_path), "mqtt": {"host": broker.host, "port": broker.port},
        "home_assistant": {"url": ha.url, "token_file": str(token)}, "web": {"enabled": False}})
    speech = read_wav_16k(MEDIA / "demo.wav")[: int(4.2 * 16000)]  # "turn on the lights", nothing after
    audio = np.concatenate([speech, np.zeros(120 * 16000, np.int16)])
    agent = Agent(cfg, audio=WavReplaySource(pcm=audio, realtime=True))
    runner = threading.Thread(target=agent.run, kwargs={"install_signals": False}, name="agent")
    with caplog.at_level(logging.INFO, logger="agent.intents.hass"):
        runner.start()
        try:
            _check_home_assistant(ha, agent)
        finally:
            agent.stop()
            runner.join(10)
    assert not runner.is_alive()
    assert "matched no entity" in caplog.text  # the name that matched nothing, in one line
    [nothing] = [r for r in caplog.records if "matched no entity" in r.getMessage()]
    assert "no entity or alias is named 'garden gnome'" in nothing.getMessage(), nothing.getMessage()
    assert _our_problems(ha) == [], "Home Assistant logged problems"


def _check_home_assistant(ha: HomeAssistant, agent: Agent) -> None:
    bridge = agent.bridge
    assert bridge is not None
    dev = ha.wait("our device in the device registry", lambda: _device(ha, "homeagent_hall"))
    cmps = bridge.discovery()["cmps"]
    want = {c["unique_id"] for c in cmps.values() if c["p"] != "device_automation"}
    ids = ha.wait("every entity in the entity registry", lambda: (lambda e: e if set(e) == want else None)(
        _entities(ha, dev["id"])))
    assert set(ids) == want

    # voice, through the real recognizer on the demo recording: "turn on the lights" -> HassTurnOn in area hall
    ha.wait("the hall light switched on by voice", lambda: _on(ha, "light.hall_light"), timeout=30)

    # the privacy switches, both ways, from Home Assistant's side
    for uid, read in (("homeagent_hall_mic_muted", lambda: agent.privacy.state.mic_muted),
                      ("homeagent_hall_camera_off", lambda: agent.privacy.state.camera_off)):
        for service, want_on in (("turn_on", True), ("turn_off", False)):
            ha.rest("POST", f"/api/services/switch/{service}", {"entity_id": ids[uid]})
            ha.wait(f"{uid} {service} reaching the agent", lambda r=read, w=want_on: r() == w)
            ha.wait(f"{uid} state back in Home Assistant",
                    lambda u=uid, w=want_on: _on(ha, ids[u], "on" if w else "off"))

    # every intent and gesture the agent can publish, fused and pointing ones included, as events
    assert {"device_on", "device_off", "device_dim", "music_play", "previous", "next"} <= set(bridge.intents)
    assert {"swipe_left", "swipe_right", "pointing", "victory"} <= set(bridge.gestures)
    for name in bridge.intents:
        slots = {"device": "floor_lamp"} if name.startswith("device_") else {}
        _deliver(ha, ids["homeagent_hall_intent"], name, partial(_intent_event, bridge, name, slots))
    for name in bridge.gestures:
        target = "lamp" if name == "pointing" else None
        _deliver(ha, ids["homeagent_hall_gesture"], name, partial(_gesture_event, bridge, name, target))

    # device triggers: "homeagent heard X" and "gesture Y" in the automation editor
    [triggers] = ha.ws({"type": "device_automation/trigger/list", "device_id": dev["id"]})
    got = {(t["type"], t["subtype"]) for t in triggers if t["domain"] == "mqtt"}
    assert got == {("intent", i) for i in bridge.intents} | {("gesture", g) for g in bridge.gestures}

    # "turn on the kitchen light", as the devices set reads it, switches the light by name; pointing at the
    # floor lamp's zone switches it; a name Home Assistant does not know is said in one line
    heard = SentenceTester("devices").test("turn on the kitchen light")
    assert (heard["intent"], heard["slots"]) == ("turn_on", {"device": "light", "room": "kitchen"}), heard
    now = time.monotonic()
    agent.decided(Intent.create("turn_on", 0.9, now - 1, now, site_id="hall", slots=heard["slots"], ttl_s=30.0))
    ha.wait("the kitchen light switched on by its name", lambda: _on(ha, "light.kitchen_light"))
    agent.decided(Intent.create("device_on", 0.9, now - 1, now, site_id="hall", slots={"device": "floor_lamp"},
                                ttl_s=30.0, modalities=("voice", "gesture")))
    ha.wait("the floor lamp switched on by pointing", lambda: _on(ha, "light.floor_lamp"))
    agent.decided(Intent.create("device_off", 0.9, now - 1, now, site_id="hall", slots={"device": "floor_lamp"},
                                ttl_s=30.0, modalities=("voice", "gesture")))
    ha.wait("the floor lamp switched off by pointing", lambda: _on(ha, "light.floor_lamp", "off"))
    # a gesture alone: a fist, mapped to lights_off (fusion.gesture_intents), decided by the fusion engine with no
    # speech around it, switches the hall light (on by voice) off through the same intent hand-off; the microphone
    # is muted first, from Home Assistant, so the replayed voice (which restarts on every unmute) stays quiet
    ha.rest("POST", "/api/services/switch/turn_on", {"entity_id": ids["homeagent_hall_mic_muted"]})
    ha.wait("the microphone muted", lambda: agent.privacy.state.mic_muted)
    ha.wait("the hall light on, by voice", lambda: _on(ha, "light.hall_light"))
    engine = FusionEngine(FusionConfig.model_validate({"gesture_intents": {"fist": "lights_off"}}), site_id="hall",
                          wall_offset=time.time() - time.monotonic())
    t = time.monotonic()
    engine.push_gesture(GestureEvent("fist", 0.95, t - 0.6, t, hand_size=0.2, visibility=1.0))
    [by_hand] = [o for o in engine.flush() if isinstance(o, Intent)]
    assert (by_hand.name, by_hand.modalities) == ("lights_off", ("gesture",)), by_hand
    agent.decided(by_hand)
    ha.wait("the hall light switched off by a gesture", lambda: _on(ha, "light.hall_light", "off"))
    assert agent.hass is not None
    before = agent.hass.counts["no_match"]
    agent.decided(Intent.create("turn_on", 0.9, now - 1, now, site_id="hall", slots={"device": "garden_gnome"},
                                ttl_s=30.0))
    ha.wait("the unknown name answered", lambda: agent.hass is not None and agent.hass.counts["no_match"] > before)


def _intent_event(bridge: HomeAssistantBridge, name: str, slots: dict[str, str]) -> None:
    now = time.monotonic()
    bridge.publish_intent(Intent.create(name, 0.9, now - 1, now, site_id="hall", slots=slots, ttl_s=30.0,
                                        modalities=("voice", "gesture")))


def _gesture_event(bridge: HomeAssistantBridge, name: str, target: str | None) -> None:
    now = time.monotonic()
    bridge.publish_gesture(GestureEvent(name, 0.9, now - 0.5, now, pointing_target=target))


def _deliver(ha: HomeAssistant, entity_id: str, name: str, publish: Callable[[], None]) -> None:
    """Publish until the event entity shows ``name``: the daemon's own events (the replay starts again when the
    microphone is unmuted, and says "turn on the lights" once more) may land on the entity in between."""
    for _ in range(5):
        publish()
        try:
            ha.wait(f"event {name} on {entity_id}", lambda: _event(ha, entity_id) == name, timeout=4.0)
            return
        except AssertionError:
            continue
    raise AssertionError(f"Home Assistant never showed event {name} on {entity_id}: {ha.log_tail()}")


def _event(ha: HomeAssistant, entity_id: str) -> str | None:
    state = ha.state(entity_id)
    return None if state is None else state["attributes"].get("event_type")


class _Ota:
    """A real UpdateManager over a real store; ``newer`` makes a newer version announced (as a signed announcement
    would), so that the install button is offered; the button is counted."""

    def __init__(self, manager: UpdateManager) -> None:
        self.manager = manager
        self.installs = 0
        self.newer: str | None = None

    def ha_state(self) -> bytes:
        if self.newer is None:
            return self.manager.ha_state()
        state = json.loads(self.manager.ha_state())
        return update_state_payload(installed_version=state["installed_version"], latest_version=self.newer,
                                    title=state["title"], release_summary="a newer command set")

    def install_latest(self) -> Any:
        self.installs += 1

    def handle_announcement(self, raw: bytes) -> Any:
        return self.manager.handle_announcement(raw)


def test_update_entity_with_no_bundle_and_with_one(home: tuple[HomeAssistant, LocalBroker], tmp_path: Path,
                                                   device: Device, keys: Keys) -> None:  # noqa: F811
    ha, broker = home
    cases = {"fresh": UpdateManager(Store(tmp_path / "empty"), [keys.pub()], isolate_selftest=False),
             "updated": device.manager}
    cfg = AgentConfig.model_validate({"mqtt": {"host": broker.host, "port": broker.port}}).mqtt
    for site, manager in cases.items():
        client = MqttClient(cfg, site, client_id=f"update-{site}")
        ota = _Ota(manager)
        bridge = HomeAssistantBridge(client, "homeagent", site, intents=["lights_on"], gestures=["victory"], ota=ota)
        bridge.start()
        client.start()
        try:
            _check_update(ha, bridge, ota, f"homeagent_{site}", "built-in" if site == "fresh" else "1.0")
        finally:
            bridge.remove()
            bridge.stop()
            client.stop()
        ha.wait(f"device of {site} removed", lambda n=f"homeagent_{site}": _device(ha, n) is None)
    assert _our_problems(ha) == [], "Home Assistant logged problems"


def _check_update(ha: HomeAssistant, bridge: HomeAssistantBridge, ota: _Ota, node: str, installed: str) -> None:
    dev = ha.wait(f"device {node}", lambda: _device(ha, node))
    entity = ha.wait("its update entity", lambda: _entities(ha, dev["id"]).get(f"{node}_models_update"))

    def state(want: str) -> Any:
        got = ha.state(entity)
        return got if got and got["state"] == want else None

    now = ha.wait("the update state", lambda: state("off"))
    assert now["attributes"]["installed_version"] == installed, now
    ota.newer = "2.0"
    bridge.publish_update_state()
    now = ha.wait("an update offered", lambda: state("on"))
    assert (now["attributes"]["installed_version"], now["attributes"]["latest_version"]) == (installed, "2.0"), now
    ha.rest("POST", "/api/services/update/install", {"entity_id": entity})
    ha.wait("the install button reaching the agent", lambda: ota.installs == 1)
