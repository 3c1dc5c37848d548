"""Every intent the agent can publish reaches a real rhasspy-hermes-app handler, and every captured
``hermes/intent/*`` message parses with rhasspy-hermes' own ``NluIntent`` (issue 19: all 59 captured messages
failed with ``KeyError: 'input'``, and slots were a dict instead of a list of slot objects).

The clients run from their own pinned environments (tests/clients/venvs.py) on a real local Mosquitto."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

import pytest

from agent.config.schema import MqttConfig
from agent.intents.publisher import IntentPublisher
from agent.mqtt.broker import LocalBroker
from agent.mqtt.client import MqttClient
from agent.speech.sets.commands import load_command_set
from agent.types import Intent
from agent.vision import LABELS as GESTURES
from tests.clients.venvs import client_python

CLIENTS = Path(__file__).resolve().parent / "clients"


def _intents() -> list[Intent]:
    """What the agent publishes: every label of the default command set, the pointing intents with the device
    from a zone, the gesture intents, and slots with spaces, digits and non-ASCII text."""
    names = [n for n in load_command_set("home").labels if n != "unknown"]
    names += ["device_on", "device_off", "device_dim"] + [f"gesture_{g}" for g in GESTURES if g != "none"]
    out = []
    for i, name in enumerate(dict.fromkeys(names)):
        slots = {"device": "living room lamp"} if name.startswith("device_") else {}
        if i % 5 == 0:
            slots.update({"room": "Küche", "level": "42"})
        now = time.time()
        out.append(Intent(name=name, confidence=0.875, t_start=0.0, t_end=1.0, slots=slots, site_id="kitchen",
                          modalities=("voice", "gesture") if name.startswith("device_") else ("voice",),
                          wall_start=now - 1.0, wall_end=now, ttl_s=60.0))
    return out


def _ids(payloads: list[bytes]) -> set[object]:
    return {json.loads(p).get("id") for p in list(payloads)}


@pytest.mark.slow
def test_every_intent_reaches_a_rhasspy_hermes_app_handler(broker: LocalBroker, tmp_path: Path) -> None:
    intents = _intents()
    app_py = parse_py = client_python("hermes-0.6.2-app-1.1.2")
    env = {**os.environ, "HERMES_INTENTS": ",".join(i.name for i in intents), "PYTHONUNBUFFERED": "1"}
    app = subprocess.Popen([str(app_py), str(CLIENTS / "hermes_app.py"), "--host", broker.host, "--port",
                            str(broker.port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    got: queue.Queue[dict[str, object]] = queue.Queue()
    reader = threading.Thread(target=lambda: [got.put(json.loads(line)) for line in app.stdout or ()], daemon=True)
    reader.start()
    captured: list[bytes] = []
    cfg = MqttConfig.model_validate({"host": broker.host, "port": broker.port})
    client = MqttClient(cfg, "kitchen", client_id="hermes-tx")
    client.subscribe("hermes/intent/#", lambda t, p, r, pr: captured.append(p))
    publisher = IntentPublisher(client, "homeagent", hermes=True)
    received: dict[str, dict[str, object]] = {}
    try:
        client.start()
        assert client.wait_connected(5)
        probe = intents[0]
        deadline = time.monotonic() + 30  # the app subscribes once connected: probe until it answers
        while not received and time.monotonic() < deadline:
            publisher.publish(probe)
            try:
                r = got.get(timeout=0.5)
                received[str(r["name"])] = r
            except queue.Empty:
                continue
        assert received, "the Hermes app never answered (its stderr follows the test)"
        for intent in intents[1:]:
            publisher.publish(intent)
        deadline = time.monotonic() + 20
        # our own subscriber gets the same messages on its own connection, possibly later than the app
        sent = {i.id for i in intents[1:]}
        while (len(received) < len(intents) or not sent <= _ids(captured)) and time.monotonic() < deadline:
            try:
                r = got.get(timeout=0.5)
                received[str(r["name"])] = r
            except queue.Empty:
                continue
    finally:
        client.stop()
        app.terminate()
        try:
            app.wait(5)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait(5)
        reader.join(5)
        errors = app.stderr.read() if app.stderr else ""
        for pipe in (app.stdout, app.stderr):
            if pipe is not None:
                pipe.close()
    assert "Traceback" not in errors, errors[-3000:]
    assert set(received) == {i.name for i in intents}, sorted({i.name for i in intents} - set(received))
    for intent in intents:
        r = received[intent.name]
        assert r["id"] == intent.id and r["site"] == "kitchen" and r["slots"] == intent.slots, r
        assert r["raw"] == intent.slots and abs(float(r["confidence"]) - 0.875) < 1e-6  # type: ignore[arg-type]
    assert sent <= _ids(captured), "our own subscriber missed intents the app got"
    parsed = subprocess.run([str(parse_py), str(CLIENTS / "hermes_parse.py")], input=b"\n".join(captured),
                            capture_output=True, timeout=120, check=False)
    assert parsed.returncode == 0, parsed.stderr.decode()[-2000:]
    assert int(parsed.stdout) == len(captured)
