"""The built-in action map's zigbee2mqtt payloads against the real converter library (zigbee-herdsman-converters,
pinned, from npm): each key of each payload has a converter on representative devices of its kind (issue 19:
``occupied_heating_setpoint_step`` has none anywhere, so thermostats ignored heat up / down)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from agent.intents.actions import ActionExecutor, ActionMap, DeviceStates
from agent.intents.publisher import MemoryPublisher
from agent.types import Intent
from tests.clients.venvs import zhc_dir

CHECK = Path(__file__).resolve().parent / "clients" / "zhc_check.js"
THERMOSTATS = [("TRVZB", "sonoff"), ("014G2461", "danfoss"), ("SPZB0001", "eurotronic")]
LIGHTS = [("9290012573A", "philips"), ("LED1545G12", "ikea")]


def _zigbee_payloads() -> dict[str, set[str]]:
    """Payload keys sent to each zigbee2mqtt device by every rule of the built-in map."""
    states = DeviceStates()
    states.update("kitchen_thermostat", {"occupied_heating_setpoint": 20.5, "local_temperature": 19.8})
    pub = MemoryPublisher()
    executor = ActionExecutor(ActionMap.load(), pub, states=states)
    for rule in ActionMap.load().cfg.actions:
        executor.execute(Intent.create(rule.intent, 0.9, time.monotonic() - 1, time.monotonic(),
                                       site_id="kitchen", slots={"device": "desk_lamp"}, ttl_s=60.0))
    keys: dict[str, set[str]] = {}
    for m in pub.messages:
        if m.topic.startswith("zigbee2mqtt/"):
            keys.setdefault(m.topic.split("/")[1], set()).update(json.loads(m.payload))
    return keys


def test_thermostat_steps_from_its_reported_setpoint() -> None:
    states = DeviceStates()
    pub = MemoryPublisher()
    executor = ActionExecutor(ActionMap.load(), pub, states=states)

    def heat(name: str) -> list[dict[str, float]]:
        sent = executor.execute(Intent.create(name, 0.9, time.monotonic() - 1, time.monotonic(),
                                              site_id="kitchen", ttl_s=60.0))
        return [json.loads(m.payload) for m in sent if m.topic == "zigbee2mqtt/kitchen_thermostat/set"]

    assert heat("heat_up") == []  # no state reported yet: nothing sent (and the log says why)
    states.update("kitchen_thermostat", {"occupied_heating_setpoint": 20.5})
    assert heat("heat_up") == [{"occupied_heating_setpoint": 21.5}]
    states.update("kitchen_thermostat", {"occupied_heating_setpoint": 5.0})
    assert heat("heat_down") == [{"occupied_heating_setpoint": 5.0}]  # clamped at the minimum


@pytest.mark.slow
def test_every_zigbee_payload_has_a_converter_on_real_devices() -> None:
    assert shutil.which("node"), "node is required for the zigbee2mqtt converter check"
    payloads = _zigbee_payloads()
    assert set(payloads) == {"kitchen_thermostat", "desk_lamp"}, payloads
    want = [{"model": m, "file": f, "keys": sorted(payloads["kitchen_thermostat"])} for m, f in THERMOSTATS]
    want += [{"model": m, "file": f, "keys": sorted(payloads["desk_lamp"])} for m, f in LIGHTS]
    env = {**os.environ, "NODE_PATH": str(zhc_dir() / "node_modules")}
    r = subprocess.run(["node", str(CHECK), json.dumps(want)], env=env, capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout)
    assert [x["model"] for x in result] == [w["model"] for w in want]
    assert all(x.get("missing") == [] for x in result), result


def test_the_daemon_keeps_the_reported_states_it_steps_from(tmp_path: Path) -> None:
    import numpy as np

    from agent.config.schema import AgentConfig
    from agent.daemon.agent import Agent
    from agent.sources.wav_replay import WavReplaySource

    agent = Agent(AgentConfig.model_validate({"state_dir": str(tmp_path)}),
                  audio=WavReplaySource(pcm=np.zeros(1600, np.int16)))
    assert "zigbee2mqtt/+" in agent.mqtt.subs._subs  # subscribed once started
    agent._on_device_state("zigbee2mqtt/hall_thermostat", b'{"occupied_heating_setpoint": 19}', True, None)
    for junk in (b"[1]", b"{", b'{"a": NaN}', b"{" * 100_000):
        agent._on_device_state("zigbee2mqtt/hall_thermostat", junk, False, None)
    assert agent.device_states.get("hall_thermostat") == {"occupied_heating_setpoint": 19}
