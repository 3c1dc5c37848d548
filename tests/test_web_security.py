"""The page's access rules, over real HTTP: beyond loopback every request needs the token; state-changing
requests need the custom header and a same-origin Origin; on loopback a foreign Host (DNS rebinding) is
refused; a config that listens beyond loopback without a token file does not validate; the zone writer keeps
the rest of the config file as written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.config.fusion import Zone
from agent.config.loader import load_config, parse_config
from agent.config.web import WebConfig
from agent.errors import ConfigError
from agent.privacy import PrivacyController, PrivacyStore
from agent.web import DecisionLog, WebDeps, WebServer
from agent.web.auth import load_token
from agent.web.sentences import SentenceTester
from agent.web.zones import replace_zones, save_zones

from .web_support import free_port, http

TOKEN = "0123456789abcdef0123456789abcdef"


def _deps(tmp_path: Path, applied: list[dict[str, Zone]]) -> WebDeps:
    return WebDeps(status=lambda: {"site_id": "t"}, decisions=DecisionLog(), sentences=SentenceTester("home"),
                   zones=dict, apply_zones=applied.append, config_path=tmp_path / "config.yaml",
                   privacy=PrivacyController(PrivacyStore(tmp_path)))


@pytest.fixture
def open_server(tmp_path: Path) -> Iterator[tuple[WebServer, list[Any]]]:
    """A page listening on every interface, with a token file."""
    (tmp_path / "token").write_text(TOKEN + "\n")
    cfg = WebConfig(listen=f"0.0.0.0:{free_port()}", token_file=tmp_path / "token")
    applied: list[Any] = []
    server = WebServer(cfg, _deps(tmp_path, applied), load_token(cfg))
    server.start()
    try:
        yield server, applied
    finally:
        server.stop()


def test_beyond_loopback_every_request_needs_the_token(open_server: tuple[WebServer, list[Any]]) -> None:
    server, _ = open_server
    base = f"http://127.0.0.1:{server.port}"
    for path in ("/api/status", "/api/snapshot", "/api/zones", "/api/sentence"):
        assert http(base + path)[0] == 401, path
    assert http(base + "/api/status", headers={"Authorization": "Bearer wrong-token-wrong-token"})[0] == 401
    status, body = http(base + "/api/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and body["status"] == {"site_id": "t"}
    csrf = {"X-Homeagent": "1"}
    assert http(base + "/api/privacy", {"mic_muted": True}, csrf)[0] == 401  # no token
    assert http(base + "/api/login", {"token": "nope"}, csrf)[0] == 401
    status, page = http(base + "/")  # the page itself (its login form) is public
    assert status == 200 and 'id="login"' in page


def test_state_changes_are_refused_cross_site(open_server: tuple[WebServer, list[Any]]) -> None:
    server, _ = open_server
    base = f"http://127.0.0.1:{server.port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert http(base + "/api/privacy", {"mic_muted": True}, auth)[0] == 403  # no custom header
    evil = {**auth, "X-Homeagent": "1", "Origin": "http://evil.example"}
    assert http(base + "/api/privacy", {"mic_muted": True}, evil)[0] == 403
    other_port = {**auth, "X-Homeagent": "1", "Origin": f"http://127.0.0.1:{server.port + 1}"}
    assert http(base + "/api/privacy", {"mic_muted": True}, other_port)[0] == 403
    same = {**auth, "X-Homeagent": "1", "Origin": base}
    status, body = http(base + "/api/privacy", {"mic_muted": True}, same)
    assert status == 200 and body == {"mic_muted": True, "camera_off": False}


def test_loopback_refuses_a_foreign_host(tmp_path: Path) -> None:
    server = WebServer(WebConfig(listen=f"127.0.0.1:{free_port()}"), _deps(tmp_path, []), None)
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert http(base + "/api/status")[0] == 200
        assert http(base + "/api/status", headers={"Host": f"rebound.example:{server.port}"})[0] == 403
    finally:
        server.stop()


def test_listening_beyond_loopback_needs_a_token_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"web: listen 0.0.0.0:8780 is beyond loopback: set web.token_file"):
        parse_config("web:\n  listen: 0.0.0.0:8780\n")
    (tmp_path / "short").write_text("abc")
    with pytest.raises(ConfigError, match="shorter than 16"):
        load_token(WebConfig(listen="0.0.0.0:8780", token_file=tmp_path / "short"))
    with pytest.raises(ConfigError, match=r"web\.token_file: cannot read"):
        load_token(WebConfig(listen="0.0.0.0:8780", token_file=tmp_path / "missing"))
    assert WebConfig().listen == "127.0.0.1:8780" and WebConfig().enabled


def test_zones_are_written_into_the_file_keeping_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    text = "# my agent\nsite_id: room  # the living room\nfusion:\n  wait_s: 1.0  # keep\nmqtt:\n  port: 1883\n"
    path.write_text(text)
    zones = save_zones(path, {"lamp": {"device": "floor_lamp", "polygon": [[10, 10], [50, 10], [50, 40]]}})
    assert zones["lamp"].device == "floor_lamp"
    new = path.read_text()
    assert "# the living room" in new and "wait_s: 1.0  # keep" in new and "# my agent" in new
    assert load_config(path).fusion.zones["lamp"].polygon == [(10, 10), (50, 10), (50, 40)]
    assert (tmp_path / "config.yaml.bak").read_text() == text
    with pytest.raises(ConfigError):
        save_zones(path, {"lamp": {"device": "", "polygon": [[0, 0], [1, 1], [2, 2]]}})
    with pytest.raises(ConfigError):
        save_zones(path, {"lamp": {"device": "x", "polygon": [[0, 0], [1, 1]]}})
    assert load_config(path).fusion.zones["lamp"].device == "floor_lamp"  # a refused save changes nothing
    assert "zones: {}" in replace_zones(new, {})
