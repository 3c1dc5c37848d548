"""Intents handed to Home Assistant's own intent handling (agent.intents.hass): the action map's ``hass`` rules,
the worker, and the HTTP transport against a local server. The real Home Assistant is in test_ha_conformance.py."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from agent.config.schema import AgentConfig, HomeAssistantConfig
from agent.daemon.agent import build_hass
from agent.errors import ConfigError, PayloadError
from agent.intents.actions import ActionExecutor, ActionMap
from agent.intents.hass import HassCall, HassIntents, HttpTransport, candidates, parse_answer
from agent.intents.publisher import MemoryPublisher
from agent.types import Intent

DONE = {"response_type": "action_done", "speech": {"plain": {"speech": "Turned on the light"}},
        "data": {"targets": [], "success": [{"name": "Kitchen light", "type": "entity", "id": "light.kitchen"}],
                 "failed": []}}
NO_MATCH = {"response_type": "action_done", "speech": {"plain": {"speech": "No entity named light in area kitchen"}},
            "data": {"targets": [], "success": [], "failed": []}}


def _intent(name: str, **slots: str) -> Intent:
    now = time.time()
    return Intent(name=name, confidence=0.9, t_start=0.0, t_end=1.0, slots=slots, site_id="kitchen",
                  wall_start=now - 1, wall_end=now, ttl_s=30.0)


class FakeHass:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers  # name slot -> answer; anything else: no match
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, path: str, body: dict[str, Any]) -> Any:
        self.calls.append((path, body))
        return self.answers.get(body["data"].get("name", ""), NO_MATCH)


def test_default_map_names_the_entity_from_our_slots() -> None:
    amap = ActionMap.load()
    [call] = amap.hass_calls(_intent("turn_on", room="living_room", device="lamp"))
    assert (call.intent, call.slots, call.source) == ("HassTurnOn", {"name": "lamp", "area": "living room"}, "turn_on")
    [call] = amap.hass_calls(_intent("turn_off", device="fan"))  # no room: the area slot is left out
    assert (call.intent, call.slots) == ("HassTurnOff", {"name": "fan"})
    [call] = amap.hass_calls(_intent("device_on", device="floor_lamp"))  # pointing: the zone's device
    assert call.slots == {"name": "floor lamp"}
    [call] = amap.hass_calls(_intent("device_dim", device="floor_lamp"))
    assert (call.intent, call.slots) == ("HassLightSet", {"name": "floor lamp", "brightness": 30})
    [call] = amap.hass_calls(_intent("lights_on"))
    assert call.slots == {"domain": "light", "area": "kitchen"}
    assert amap.hass_calls(_intent("music_play")) == []
    # the MQTT side does not see hass rules
    assert all("/api/" not in m.topic for m in amap.messages(_intent("turn_on", device="lamp")))


def test_a_rule_has_exactly_one_kind() -> None:
    with pytest.raises(ConfigError, match="exactly one of"):
        ActionMap.from_yaml("actions:\n  - intent: x\n    hass: {intent: HassTurnOn}\n    topic: a\n    payload: b\n")
    with pytest.raises(ConfigError, match=r"hass\.intent"):
        ActionMap.from_yaml("actions:\n  - intent: x\n    hass: {intent: 'Hass Turn On'}\n")


def test_name_and_area_then_one_name() -> None:
    assert candidates({"name": "light", "area": "kitchen"}) == [{"name": "light", "area": "kitchen"},
                                                                 {"name": "kitchen light"}]
    assert candidates({"name": "light"}) == [{"name": "light"}]
    fake = FakeHass({"kitchen light": DONE})
    result = HassIntents(fake).handle(HassCall("HassTurnOn", {"name": "light", "area": "kitchen"}, "turn_on"))
    assert result.ok and result.entities == ("light.kitchen",) and result.slots == {"name": "kitchen light"}
    assert [b for _, b in fake.calls] == [{"name": "HassTurnOn", "data": {"name": "light", "area": "kitchen"}},
                                          {"name": "HassTurnOn", "data": {"name": "kitchen light"}}]
    assert {p for p, _ in fake.calls} == {"/api/intent/handle"}


def test_no_match_is_said_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    hass = HassIntents(FakeHass({}))
    with caplog.at_level(logging.INFO, logger="agent.intents.hass"):
        result = hass.handle(HassCall("HassTurnOn", {"name": "sofa", "area": "garage"}, "turn_on"))
    assert not result.ok and hass.counts["no_match"] == 1
    [line] = [r for r in caplog.records if r.name == "agent.intents.hass"]
    assert line.levelno == logging.WARNING
    text = line.getMessage()
    assert "HassTurnOn (from turn_on) matched no entity" in text
    assert "name='sofa', area='garage'" in text and "name='garage sofa'" in text
    assert "No entity named light in area kitchen" in text  # Home Assistant's own words


def test_stale_calls_are_not_sent_and_the_queue_is_bounded() -> None:
    fake = FakeHass({"lamp": DONE})
    hass = HassIntents(fake, max_queue=2)
    assert not hass.handle(HassCall("HassTurnOn", {"name": "lamp"}, "device_on", expires_at=time.time() - 1)).ok
    assert fake.calls == [] and hass.counts["stale"] == 1
    assert hass.submit(HassCall("HassTurnOn", {"name": "lamp"})) and hass.submit(HassCall("HassTurnOn", {}))
    assert not hass.submit(HassCall("HassTurnOn", {})) and hass.counts["dropped"] == 1
    hass.start()
    hass.stop()  # what is still queued may be dropped; the worker ends


def test_executor_hands_calls_to_the_worker() -> None:
    fake = FakeHass({"floor lamp": DONE})
    hass = HassIntents(fake)
    seen: list[Any] = []
    done = threading.Event()

    def listen(call: HassCall, result: Any) -> None:
        seen.append((call, result))
        done.set()

    hass.listeners.append(listen)
    pub = MemoryPublisher()
    ex = ActionExecutor(ActionMap.load(), pub, hass=hass)
    hass.start()
    try:
        sent = ex.execute(_intent("device_on", device="floor_lamp"))
        assert done.wait(5)
    finally:
        hass.stop()
    assert [m.topic for m in sent] == ["zigbee2mqtt/floor_lamp/set"]  # the MQTT rule still fires
    [(call, result)] = seen
    assert call.slots == {"name": "floor lamp"} and result.entities == ("light.kitchen",)
    # without home_assistant.url the hass rules are ignored
    assert ActionExecutor(ActionMap.load(), pub).execute(_intent("turn_on", device="lamp")) == []


def test_parse_answer_takes_what_home_assistant_says() -> None:
    assert parse_answer(DONE) == (("light.kitchen",), "Turned on the light")
    assert parse_answer({"response_type": "error", "data": {"code": "no_valid_targets"}}) == ((), "no_valid_targets")
    with pytest.raises(PayloadError):
        parse_answer([1, 2])


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None, Any]]] = []
    status = 200
    body = json.dumps(DONE).encode()

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Handler.seen.append((self.path, self.headers.get("Authorization"), json.loads(self.rfile.read(length))))
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Any:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    _Handler.seen, _Handler.status, _Handler.body = [], 200, json.dumps(DONE).encode()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def test_http_transport_sends_the_token_and_reads_the_answer(server: str) -> None:
    result = HassIntents(HttpTransport(server + "/", "s3cret")).handle(HassCall("HassTurnOn", {"name": "x"}))
    assert result.ok
    assert _Handler.seen == [("/api/intent/handle", "Bearer s3cret", {"name": "HassTurnOn", "data": {"name": "x"}})]


@pytest.mark.parametrize(("status", "body", "words"), [
    (401, b"401: Unauthorized", "access token was refused"),
    (404, b"404: Not Found", "is the 'intent' integration loaded"),
    (200, b"{\"a\": 1, \"a\": 2}", "not JSON"),
    (200, b"[" * 10 + b" " * (300 * 1024), "larger than"),
])
def test_http_transport_errors_say_what_to_do(server: str, status: int, body: bytes, words: str) -> None:
    _Handler.status, _Handler.body = status, body
    with pytest.raises(PayloadError, match=words):
        HttpTransport(server, "t")("/api/intent/handle", {})


def test_unreachable_home_assistant_is_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    from agent.mqtt.broker import free_port

    hass = HassIntents(HttpTransport(f"http://127.0.0.1:{free_port()}", "t", timeout_s=1.0))
    with caplog.at_level(logging.WARNING, logger="agent.intents.hass"):
        assert not hass.handle(HassCall("HassTurnOn", {"name": "lamp"})).ok
    assert "unreachable" in caplog.text and hass.counts["failed"] == 1


def test_config_needs_a_token_and_reads_it_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="token_file or token_env"):
        HomeAssistantConfig(url="http://ha.local:8123")
    with pytest.raises(ValidationError, match="http:// or https://"):
        HomeAssistantConfig(url="ha.local", token_env="T")
    assert build_hass(HomeAssistantConfig()) is None
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    (tmp_path / "ha_token").write_text("abc\n")
    cfg = AgentConfig.model_validate({"home_assistant": {"url": "http://ha.local:8123/", "token_file": "ha_token"}})
    hass = build_hass(cfg.home_assistant)
    assert hass is not None and isinstance(hass.transport, HttpTransport)
    assert hass.transport.url == "http://ha.local:8123" and hass.transport._token == "abc"
    with pytest.raises(ConfigError, match=r"home_assistant\.token_env: environment variable NOPE_TOKEN is not set"):
        build_hass(HomeAssistantConfig(url="http://ha.local", token_env="NOPE_TOKEN"))
    (tmp_path / "empty").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        build_hass(HomeAssistantConfig(url="http://ha.local", token_file=Path("empty")))


def test_check_config_finds_a_missing_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.daemon.preflight import preflight

    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg = AgentConfig.model_validate({"home_assistant": {"url": "http://ha.local:8123",
                                                         "token_file": str(tmp_path / "nope")}})
    assert any(f.key == "home_assistant.token_file" and "long-lived token" in f.message for f in preflight(cfg))
    cfg = AgentConfig.model_validate({"home_assistant": {"url": "http://ha.local:8123", "token_env": "NOPE_TOKEN"}})
    assert any(f.key == "home_assistant.token_env" for f in preflight(cfg))
