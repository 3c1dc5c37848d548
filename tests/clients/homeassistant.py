"""A real Home Assistant core on 127.0.0.1 for the conformance test: its own config folder, the MQTT integration set
up through its config flow (the way a user does it in the UI), an owner made through onboarding, and a
long-lived access token from its websocket API. Queried only through its public
APIs (REST and websocket) and its log."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tornado.websocket import websocket_connect

from agent.mqtt.broker import free_port

USER, PASSWORD = "homeagent-test", "homeagent-test-password"

# The test's home: lights are template lights over input booleans, written here as a user would; nothing in it
# names the agent (its device and entities come from MQTT discovery, its intents through the intent API).
CONFIG = """
homeassistant:
  name: homeagent conformance
  latitude: 52.5
  longitude: 13.4
  elevation: 30
  unit_system: metric
  time_zone: UTC
  country: DE
  language: en
  currency: EUR
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
config:
intent:
device_automation:
logger:
  default: info
input_boolean:
{booleans}
template:
  - light:
{lights}
"""
LIGHT = """      - name: {name}
        unique_id: {uid}
        state: "{{{{ is_state('input_boolean.{uid}_power', 'on') }}}}"
        level: "{{{{ states('input_number.{uid}_level') | int(0) }}}}"
        turn_on: {{action: input_boolean.turn_on, target: {{entity_id: input_boolean.{uid}_power}}}}
        turn_off: {{action: input_boolean.turn_off, target: {{entity_id: input_boolean.{uid}_power}}}}
        set_level:
          - action: input_boolean.turn_on
            target: {{entity_id: input_boolean.{uid}_power}}
"""


class HomeAssistant:
    """``with HomeAssistant(python, folder, lights={"kitchen_light": "Kitchen light"}) as ha:`` ..."""

    def __init__(self, python: Path, folder: Path, *, lights: dict[str, str]) -> None:
        self.python = python
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = folder / "home-assistant.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""
        booleans = "".join(f"  {uid}_power:\n    name: {uid} power\n" for uid in lights)
        body = "".join(LIGHT.format(name=name, uid=uid) for uid, name in lights.items())
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "configuration.yaml").write_text(CONFIG.format(port=self.port, booleans=booleans, lights=body))

    # lifecycle -----------------------------------------------------------------------------------------------
    def start(self, timeout: float = 180.0) -> HomeAssistant:
        with open(self.folder / "stdout.log", "ab") as out:
            self.proc = subprocess.Popen(
                [str(self.python), "-m", "homeassistant", "--config", str(self.folder), "--skip-pip",
                 "--log-file", str(self.log_file)], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Home Assistant exited ({self.proc.returncode}): {self.log_tail()}")
            try:
                if self.rest("GET", "/api/onboarding", auth=False):
                    break
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Home Assistant did not answer within {timeout:.0f} s: {self.log_tail()}")
            time.sleep(0.5)
        self.token = self._login()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> HomeAssistant:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # public APIs -----------------------------------------------------------------------------------------------
    def rest(self, method: str, path: str, body: Any = None, *, auth: bool = True, form: bool = False) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        data = None
        if body is not None:
            data = (urllib.parse.urlencode(body) if form else json.dumps(body)).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded" if form else "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def ws(self, *commands: dict[str, Any]) -> list[Any]:
        """Run websocket commands in turn; the result of each (``success`` asserted)."""
        return asyncio.run(self._ws(list(commands)))

    async def _ws(self, commands: list[dict[str, Any]]) -> list[Any]:
        conn = await websocket_connect(self.url.replace("http", "ws", 1) + "/api/websocket")
        try:
            assert json.loads(str(await conn.read_message()))["type"] == "auth_required"
            await conn.write_message(json.dumps({"type": "auth", "access_token": self.token}))
            ok = json.loads(str(await conn.read_message()))
            assert ok["type"] == "auth_ok", ok
            out = []
            for i, cmd in enumerate(commands, 1):
                await conn.write_message(json.dumps({"id": i, **cmd}))
                while True:
                    msg = json.loads(str(await asyncio.wait_for(conn.read_message(), 30)))
                    if msg.get("id") == i and msg.get("type") == "result":
                        break
                assert msg["success"], (cmd, msg)
                out.append(msg["result"])
            return out
        finally:
            conn.close()  # and wait for the close handshake, so that the socket is really closed
            while await asyncio.wait_for(conn.read_message(), 10) is not None:
                pass

    def state(self, entity_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.rest("GET", f"/api/states/{entity_id}"))
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404:
                return None
            raise

    def wait(self, what: str, check: Any, timeout: float = 20.0) -> Any:
        """Poll ``check()`` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            got = check()
            if got:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"Home Assistant: {what} not within {timeout:.0f} s; log: {self.log_tail()}")
            time.sleep(0.2)

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.is_file() else ""

    def log_tail(self, n: int = 3000) -> str:
        return self.log_text()[-n:]

    # set-up through the public flows ---------------------------------------------------------------------------
    def _login(self) -> str:
        """The owner, made by onboarding as in the browser; then a long-lived token of that owner."""
        client = self.url + "/"
        owner = self.rest("POST", "/api/onboarding/users", {"client_id": client, "name": "Owner", "username": USER,
                                                            "password": PASSWORD, "language": "en"}, auth=False)
        tokens = self.rest("POST", "/auth/token", {"grant_type": "authorization_code", "code": owner["auth_code"],
                                                   "client_id": client}, auth=False, form=True)
        self.token = tokens["access_token"]
        [long_lived] = self.ws({"type": "auth/long_lived_access_token", "client_name": "homeagent conformance",
                                "lifespan": 1})
        return str(long_lived)

    def add_mqtt(self, host: str, port: int, timeout: float = 30.0) -> str:
        """The MQTT integration, set up as in the UI (its config flow); returns the config entry id once loaded."""
        flow = self.rest("POST", "/api/config/config_entries/flow", {"handler": "mqtt", "show_advanced_options":
                                                                     False})
        while flow.get("type") == "form":
            answer = {"broker": host, "port": port} if flow.get("step_id") == "broker" else {}
            flow = self.rest("POST", f"/api/config/config_entries/flow/{flow['flow_id']}", answer)
        assert flow.get("type") == "create_entry", flow
        entry_id = str(flow["result"]["entry_id"])

        def loaded() -> bool:
            entries = self.rest("GET", "/api/config/config_entries/entry")
            return any(e["entry_id"] == entry_id and e["state"] == "loaded" for e in entries)

        self.wait("the MQTT config entry loaded", loaded, timeout)
        return entry_id
