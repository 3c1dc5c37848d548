"""Delivery over a real Mosquitto and a real HTTP server: announce → HA update entity → install button.

The OTA core has no paho; this test plays both the agent's MQTT glue (what the lead wires in
``agent/mqtt``) and Home Assistant, with plain paho clients.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from agent.errors import AgentError
from agent.ota.announce import PAYLOAD_INSTALL, Announcement
from agent.ota.bundle import open_bundle
from agent.ota.manager import OtaEvent, UpdateManager
from agent.ota.pack import pack
from tests.test_ota_http import Server, http
from tests.test_ota_support import Device, Keys, device, keys, model_dir, store_v1_template, v1_bundle

_FIXTURES = (device, keys, store_v1_template, v1_bundle, http)

BASE = "homeagent/test-node"
ANNOUNCE, COMMAND, STATE, EVENT = (f"{BASE}/ota/announce", f"{BASE}/update/speech/install",
                                   f"{BASE}/update/speech/state", f"{BASE}/ota/event")


def _client(broker: Any, name: str) -> paho.Client:
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=name)
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


class AgentGlue:
    """What the agent's MQTT module does for OTA: announcements in, install button in, state out."""

    def __init__(self, broker: Any, mgr: UpdateManager) -> None:
        self.mgr = mgr
        self.jobs: queue.Queue[str | None] = queue.Queue()
        self.worker = threading.Thread(target=self._work, name="ota-worker")
        self.worker.start()
        mgr.listener = self._on_event
        self.c = _client(broker, "agent")
        self.c.on_message = lambda c, u, msg: self.jobs.put_nowait(msg.topic + "\n" + msg.payload.decode("latin-1"))
        self.c.subscribe([(ANNOUNCE, 1), (COMMAND, 1)])

    def _on_event(self, ev: OtaEvent) -> None:
        self.c.publish(EVENT, json.dumps(ev.to_payload()), qos=1)
        self.c.publish(STATE, self.mgr.ha_state(), qos=1, retain=True)

    def _work(self) -> None:  # installs run here, never on paho's network thread
        while (job := self.jobs.get()) is not None:
            topic, _, payload = job.partition("\n")
            try:
                if topic == ANNOUNCE:
                    self.mgr.handle_announcement(payload.encode("latin-1"))
                elif topic == COMMAND and payload == PAYLOAD_INSTALL:
                    self.mgr.install_latest()
            except AgentError as exc:
                self.c.publish(EVENT, json.dumps({"state": "failed", "message": str(exc)}), qos=1)

    def close(self) -> None:
        self.jobs.put(None)
        self.worker.join(10)
        self.c.loop_stop()
        self.c.disconnect()


@pytest.fixture
def ha(broker: Any) -> Iterator[tuple[paho.Client, queue.Queue[tuple[str, dict[str, Any]]]]]:
    seen: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    c = _client(broker, "home-assistant")
    c.on_message = lambda cl, u, msg: seen.put((msg.topic, json.loads(msg.payload)))
    c.subscribe([(STATE, 1), (EVENT, 1)])
    yield c, seen
    c.loop_stop()
    c.disconnect()


def _wait(seen: queue.Queue[tuple[str, dict[str, Any]]], pred: Any, timeout: float = 15.0) -> list[Any]:
    got = []
    while True:
        topic, d = seen.get(timeout=timeout)
        got.append((topic, d))
        if pred(topic, d):
            return got


def _announce(http: Server, keys: Keys, tmp: Path, version: int, **extra: Any) -> bytes:
    out = tmp / f"b{version}.tar.gz"
    pack(model_dir(tmp, f"src{version}", float(version)), out, version=version, key=keys.priv(),
         human_version=f"{version}.0", release_summary="better far-field accuracy")
    http.files[out.name] = out.read_bytes()
    ann = Announcement(name="speech", version=version, human_version=f"{version}.0",
                       url=f"{http.url}/file/{out.name}", size=len(http.files[out.name]),
                       release_summary="better far-field accuracy", title="Speech commands",
                       envelope=_envelope(out), **extra)
    return json.dumps(ann.to_payload()).encode()


def _envelope(bundle: Path) -> str:
    """The signed bundle.json of a packed bundle, as a release server puts it in its announcement."""
    src = open_bundle(bundle)
    try:
        return src.envelope().decode()
    finally:
        src.close()


def _signed(tmp: Path, keys: Keys, name: str, version: int, human: str, url: str) -> Announcement:
    out = tmp / f"{name}-{version}"
    pack(model_dir(tmp, f"src-{name}-{version}", 1.0), out, version=version, key=keys.priv(), human_version=human,
         name=name)
    return Announcement(name=name, version=version, human_version=human, url=url, envelope=_envelope(out))


def test_announce_then_install_button(broker: Any, ha: Any, http: Server, device: Device, keys: Keys,
                                      tmp_path: Path) -> None:
    client, seen = ha
    glue = AgentGlue(broker, device.manager)
    try:
        client.publish(ANNOUNCE, _announce(http, keys, tmp_path, 2), qos=1, retain=True).wait_for_publish(5)
        _wait(seen, lambda t, d: t == STATE and d["latest_version"] == "2.0")
        assert device.store.installed_version() == 1  # manual policy: nothing installed yet
        client.publish(COMMAND, PAYLOAD_INSTALL, qos=1).wait_for_publish(5)
        got = _wait(seen, lambda t, d: t == EVENT and d["state"] in ("installed", "failed"))
        states = [d["state"] for t, d in got if t == EVENT]
        assert states[-1] == "installed", got
        assert states[:5] == ["downloading", "verifying", "installing", "self-test", "switching"]
        final = _wait(seen, lambda t, d: t == STATE and not d["in_progress"])[-1][1]
        assert final == {"installed_version": "2.0", "latest_version": "2.0", "title": "Speech commands",
                         "release_summary": "better far-field accuracy", "in_progress": False}
        assert device.probe().tolist() == [[2.0, 4.0, 6.0, 8.0]]
        client.publish(ANNOUNCE, b'{"name": "speech", "version": NaN}', qos=1, retain=True)
        bad = _wait(seen, lambda t, d: t == EVENT and d["state"] == "failed")[-1][1]
        assert "strict JSON" in bad["message"] and device.store.installed_version() == 2
    finally:
        glue.close()


def test_auto_install_policy(broker: Any, ha: Any, http: Server, device: Device, keys: Keys,
                             tmp_path: Path) -> None:
    client, seen = ha
    device.manager.auto_install = True
    glue = AgentGlue(broker, device.manager)
    try:
        client.publish(ANNOUNCE, _announce(http, keys, tmp_path, 3), qos=1, retain=True).wait_for_publish(5)
        got = _wait(seen, lambda t, d: t == EVENT and d["state"] in ("installed", "failed"))
        assert got[-1][1]["state"] == "installed" and device.store.installed_version() == 3
    finally:
        glue.close()


def test_stale_or_foreign_announcement_shows_no_update(device: Device, keys: Keys, tmp_path: Path) -> None:
    stale = _signed(tmp_path, keys, "speech", 1, "0.9", "https://x/b.tgz")
    device.manager.handle_announcement(json.dumps(stale.to_payload()).encode())
    state = json.loads(device.manager.ha_state())
    assert state["latest_version"] == state["installed_version"] == "1.0"
    other = _signed(tmp_path, keys, "gestures", 9, "9", "https://x/g.tgz")
    device.manager.handle_announcement(json.dumps(other.to_payload()).encode())
    assert device.manager.latest == stale


def test_unsigned_or_forged_announcements_are_ignored(device: Device, keys: Keys, tmp_path: Path) -> None:
    """Anyone on the broker could once set Home Assistant's 'latest version': an announcement counts only
    with its bundle's manifest signed by a trusted key, naming the same bundle and versions."""
    genuine = _signed(tmp_path, keys, "speech", 5, "5.0", "https://x/b5.tgz")
    forged_key = Keys(keys.other_private, keys.public, keys.other_private)
    cases = {"unsigned": Announcement(name="speech", version=99, human_version="99", url="https://x/b.tgz"),
             "other key": _signed(tmp_path, forged_key, "speech", 98, "98", "https://x/b.tgz"),
             "lies about its version": Announcement(name="speech", version=97, human_version="97",
                                                    url="https://x/b.tgz", envelope=genuine.envelope)}
    for why, ann in cases.items():
        with pytest.raises(AgentError, match="ignored"):
            device.manager.handle_announcement(json.dumps(ann.to_payload()).encode())
        assert device.manager.latest is None, why
    assert json.loads(device.manager.ha_state())["latest_version"] == "1.0"
    device.manager.handle_announcement(json.dumps(genuine.to_payload()).encode())
    assert json.loads(device.manager.ha_state())["latest_version"] == "5.0"
