"""Security against a real Mosquitto: password from a file, the shipped per-device ACL, TLS with a client
certificate (CA, cert and key read from files)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agent.config.schema import MqttConfig
from agent.intents.publisher import Message
from agent.mqtt.broker import LocalBroker
from agent.mqtt.client import MqttClient

ACL = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto" / "homeagent.acl"
# Mosquitto started as root drops to the "mosquitto" user, which cannot read pytest's private tmp dirs.
AS_ME = "user root\n"
USERS = {"kitchen": "pw-kitchen", "hall": "pw-hall", "homeassistant": "pw-ha"}


def _until(pred: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not pred() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(pred())


@pytest.fixture
def secured(tmp_path: Path) -> Any:
    assert shutil.which("mosquitto_passwd"), "mosquitto_passwd missing: install the Debian package mosquitto"
    pwfile = tmp_path / "passwd"
    pwfile.touch()
    for user, pw in USERS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(pwfile), user, pw], check=True, capture_output=True)
    for user, pw in USERS.items():
        (tmp_path / f"{user}.pw").write_text(pw + "\n")
    b = LocalBroker(extra_config=f"{AS_ME}allow_anonymous false\npassword_file {pwfile}\nacl_file {ACL}\n").start()
    try:
        yield b, tmp_path
    finally:
        b.stop()


def _client(b: LocalBroker, user: str | None, pwfile: Path | None, site: str) -> MqttClient:
    cfg = MqttConfig.model_validate({"host": b.host, "port": b.port, "username": user, "password_file": pwfile,
                                     "reconnect_min_s": 0.1, "reconnect_max_s": 0.3})
    return MqttClient(cfg, site, client_id=f"sec-{site}-{time.monotonic_ns()}", connect_timeout_s=1.0)


def test_password_file_and_per_device_acl(secured: Any) -> None:
    b, d = secured
    got: list[str] = []
    ha = _client(b, "homeassistant", d / "homeassistant.pw", "ha-observer")
    ha.subscribe("homeagent/#", lambda t, p, r, pr: got.append(t))
    kitchen = _client(b, "kitchen", d / "kitchen.pw", "kitchen")
    hall_cmds: list[str] = []
    hall = _client(b, "hall", d / "hall.pw", "hall")
    hall.subscribe("homeagent/hall/cmd/#", lambda t, p, r, pr: hall_cmds.append(t))
    for c in (ha, kitchen, hall):
        c.start()
    try:
        assert all(c.wait_connected(5) for c in (ha, kitchen, hall))
        time.sleep(0.2)
        kitchen.publish(Message("homeagent/hall/cmd/mute", b"{}"))  # another device's commands: denied
        kitchen.publish(Message("homeagent/kitchen/intent/lights_on", b"{}"))
        ha.publish(Message("homeagent/hall/cmd/camera", b"{}"))  # HA may command every agent
        assert _until(lambda: "homeagent/kitchen/intent/lights_on" in got and hall_cmds)
        time.sleep(0.3)
        assert hall_cmds == ["homeagent/hall/cmd/camera"]
        assert "homeagent/hall/cmd/mute" not in got
        assert "homeagent/kitchen/availability" in got  # birth allowed under its own tree
    finally:
        for c in (ha, kitchen, hall):
            c.stop()


def test_wrong_or_missing_credentials_are_refused_without_crashing(secured: Any) -> None:
    b, d = secured
    (d / "bad.pw").write_text("nope\n")
    bad = _client(b, "kitchen", d / "bad.pw", "kitchen")
    anon = _client(b, None, None, "anon")
    for c in (bad, anon):
        c.start()
    try:
        time.sleep(1.0)
        assert not bad.connected.is_set() and not anon.connected.is_set()
        assert bad._thread is not None and bad._thread.is_alive()  # still retrying with backoff
    finally:
        bad.stop()
        anon.stop()


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _cert(d: Path, name: str, subject: str, ca: bool = False, san: str | None = None) -> None:
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(d / f"{name}.key"))
    if ca:
        _openssl("req", "-x509", "-new", "-key", str(d / f"{name}.key"), "-subj", subject, "-days", "2",
                 "-out", str(d / f"{name}.crt"))
        return
    _openssl("req", "-new", "-key", str(d / f"{name}.key"), "-subj", subject, "-out", str(d / f"{name}.csr"))
    ext = d / f"{name}.ext"
    ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key"),
             "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(d / f"{name}.crt"))


def test_tls_with_client_certificate(tmp_path: Path) -> None:
    assert shutil.which("openssl"), "openssl missing: install the Debian package openssl"
    d = tmp_path
    _cert(d, "ca", "/CN=homeagent test CA", ca=True)
    _cert(d, "broker", "/CN=127.0.0.1", san="IP:127.0.0.1")
    _cert(d, "kitchen", "/CN=kitchen")
    b = LocalBroker(extra_config=f"{AS_ME}cafile {d / 'ca.crt'}\ncertfile {d / 'broker.crt'}\n"
                                 f"keyfile {d / 'broker.key'}\nrequire_certificate true\n").start()
    tls = {"ca_file": d / "ca.crt", "cert_file": d / "kitchen.crt", "key_file": d / "kitchen.key"}
    good = MqttClient(MqttConfig.model_validate({"host": b.host, "port": b.port, "tls": tls}), "kitchen",
                      client_id="tls-good")
    nocert = MqttClient(MqttConfig.model_validate({"host": b.host, "port": b.port, "tls": {"ca_file": d / "ca.crt"},
                                                   "reconnect_min_s": 0.2}), "x", client_id="tls-nocert",
                        connect_timeout_s=1.0)
    got = threading.Event()
    good.subscribe("homeagent/kitchen/availability", lambda t, p, r, pr: got.set())
    try:
        good.start()
        nocert.start()
        assert good.wait_connected(5) and got.wait(5)
        time.sleep(0.5)
        assert not nocert.connected.is_set()
    finally:
        good.stop()
        nocert.stop()
        b.stop()


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_tls_failures_are_errors_once_with_what_to_do(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A certificate from the wrong CA, a host name the certificate does not name, and a missing client
    certificate each log one ERROR naming the cause (they were DEBUG, or nothing at all), however many
    retries follow."""
    d = tmp_path
    _cert(d, "ca", "/CN=homeagent test CA", ca=True)
    _cert(d, "broker", "/CN=broker.example", san="DNS:broker.example")  # does not name 127.0.0.1
    other = d / "other"
    other.mkdir()
    _cert(other, "ca", "/CN=someone else's CA", ca=True)
    b = LocalBroker(extra_config=f"{AS_ME}cafile {d / 'ca.crt'}\ncertfile {d / 'broker.crt'}\n"
                                 f"keyfile {d / 'broker.key'}\nrequire_certificate true\n").start()
    cases = {"wrong CA": {"ca_file": other / "ca.crt"}, "host name": {"ca_file": d / "ca.crt"},
             "missing file": {"ca_file": d / "ca.crt", "cert_file": d / "nope.crt", "key_file": d / "nope.key"}}
    clients = [MqttClient(MqttConfig.model_validate({"host": b.host, "port": b.port, "tls": tls,
                                                     "reconnect_min_s": 0.05, "reconnect_max_s": 0.1}),
                          f"s{i}", client_id=f"tls-{i}", connect_timeout_s=1.0) for i, tls in enumerate(cases.values())]
    caplog.set_level(logging.INFO, logger="agent.mqtt")
    try:
        for c in clients:
            c.start()
        time.sleep(1.5)  # many retries
        assert not any(c.connected.is_set() for c in clients)
    finally:
        for c in clients:
            c.stop()
        b.stop()
    errors = _errors(caplog)
    assert sum("not signed by the CA" in e for e in errors) == 1, errors
    assert sum("does not match its certificate" in e for e in errors) == 1, errors
    assert sum("TLS file is missing" in e and "nope.crt" in e for e in errors) == 1, errors


def test_refused_credentials_and_acl_denials_are_errors(secured: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A wrong password, and an ACL that denies this agent's publish (MQTT 5 PUBACK reason code), are logged at
    ERROR once, naming the topic and the fix. (Mosquitto 2.0 grants every SUBSCRIBE and filters at delivery,
    so a denied subscription shows no SUBACK failure here; a broker that reports one gets the same ERROR.)"""
    b, d = secured
    (d / "bad.pw").write_text("nope\n")
    caplog.set_level(logging.INFO, logger="agent.mqtt")
    bad = _client(b, "kitchen", d / "bad.pw", "kitchen")
    kitchen = _client(b, "kitchen", d / "kitchen.pw", "kitchen")
    try:
        bad.start()
        kitchen.start()
        assert kitchen.wait_connected(5)
        for _ in range(3):
            kitchen.publish(Message("homeassistant/lock/front_door/set", b"UNLOCK", qos=1))  # not an agent's
        assert _until(lambda: sum("refused to accept a message on homeassistant/lock/front_door/set" in e
                                  for e in _errors(caplog)) >= 1)
        time.sleep(0.5)
    finally:
        bad.stop()
        kitchen.stop()
    errors = _errors(caplog)
    assert sum("refused the connection" in e and "password" in e for e in errors) == 1, errors
    assert sum("homeassistant/lock/front_door/set" in e for e in errors) == 1, errors


def test_the_shipped_acl_lets_an_agent_send_every_builtin_action(secured: Any,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """Every message of the built-in action map, published by an agent through the real Mosquitto with the
    shipped ACL, is accepted (the ACL once dropped every default action topic). A denial shows as an MQTT 5
    PUBACK failure, which the client logs at ERROR."""
    from agent.intents.actions import ActionExecutor, ActionMap, DeviceStates
    from agent.intents.publisher import MemoryPublisher
    from agent.types import Intent

    b, d = secured
    amap = ActionMap.load()
    rendered = MemoryPublisher()
    states = DeviceStates()
    states.update("kitchen_thermostat", {"occupied_heating_setpoint": 20.0})  # heat up / down step from it
    executor = ActionExecutor(amap, rendered, states=states)
    for name in sorted({r.intent for r in amap.cfg.actions}):
        executor.execute(Intent.create(name, 0.9, time.monotonic() - 1, time.monotonic(), site_id="kitchen",
                                       slots={"device": "desk_lamp"}, ttl_s=60.0))
    topics = sorted(set(rendered.topics()))
    assert len(topics) >= 5 and any(t.startswith("zigbee2mqtt/") for t in topics), topics
    caplog.set_level(logging.INFO, logger="agent.mqtt")
    kitchen = _client(b, "kitchen", d / "kitchen.pw", "kitchen")
    try:
        kitchen.start()
        assert kitchen.wait_connected(5)
        for m in rendered.messages:
            kitchen.publish(Message(m.topic, m.payload, qos=1))
        assert _until(lambda: kitchen.counts["acked"] >= len(rendered.messages))
        kitchen.publish(Message("zigbee2mqtt/bridge/request/restart", b"{}", qos=1))  # not an action: denied
        assert _until(lambda: any("refused to accept" in e for e in _errors(caplog)))
    finally:
        kitchen.stop()
    denied = [e for e in _errors(caplog) if "refused to accept" in e]
    assert len(denied) == 1 and "zigbee2mqtt/bridge/request/restart" in denied[0], denied
