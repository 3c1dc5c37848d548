"""The page's HTTP handlers. Every request passes :meth:`Base.prepare`: the Host check, the token (beyond
loopback) and, for state-changing requests, the cross-site checks of :mod:`agent.web.auth`."""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
from typing import Any, Protocol

import tornado.iostream
import tornado.queues
import tornado.util
import tornado.web

from ..errors import ConfigError
from ..strictjson import loads as strict_loads
from .auth import COOKIE, Guard
from .deps import STATIC, Hub, WebDeps
from .zones import save_zones


class WebServer(Protocol):
    """What the handlers need of :class:`agent.web.server.WebServer`."""

    guard: Guard
    hub: Hub
    deps: WebDeps

log = logging.getLogger(__name__)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
KEEPALIVE_S = 15.0


class Base(tornado.web.RequestHandler):
    public = False  # the page and its files: no secret in them, the login form is part of the page

    def initialize(self, web: WebServer) -> None:
        self.web = web

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")

    def prepare(self) -> None:
        guard = self.web.guard
        if not guard.host_allowed(self.request.host):
            self._refuse(403, "this page answers on its loopback address only")
        why = guard.cross_site(self.request.method or "GET", self.request.headers)
        if why is not None:
            self._refuse(403, f"refused: {why}")
        if not self.public and not guard.authorized(self.request.headers, self.get_cookie(COOKIE)):
            self._refuse(401, "the token is missing or wrong")

    def _refuse(self, code: int, message: str) -> None:
        log.debug("web: %s %s refused (%d): %s", self.request.method, self.request.path, code, message)
        raise tornado.web.HTTPError(code, reason=message)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": self._reason}))

    def body(self) -> Any:
        try:
            return strict_loads(self.request.body)
        except ValueError as exc:
            raise tornado.web.HTTPError(400, reason=f"the body is not JSON ({exc})") from exc

    def json(self, data: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))


class Index(Base):
    public = True

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish((STATIC / "index.html").read_bytes())


class Static(Base, tornado.web.StaticFileHandler):
    public = True

    def initialize(self, web: WebServer, path: str) -> None:  # type: ignore[override]
        Base.initialize(self, web)
        tornado.web.StaticFileHandler.initialize(self, path)


class Login(Base):
    public = True

    def post(self) -> None:
        body = self.body()
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not self.web.guard.check_token(token):
            self._refuse(401, "wrong token")
        assert isinstance(token, str)
        self.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
        self.json({"ok": True})


class Status(Base):
    def get(self) -> None:
        d = self.web.deps
        self.json({"status": d.status(), "privacy": d.privacy.state.to_payload() if d.privacy else None,
                   "decisions": d.decisions.recent(), "token": self.web.guard.token is not None})


class Events(Base):
    """Server-sent events: ``decision`` (each new decision), ``privacy`` (switch changes), ``status``."""

    queue: tornado.queues.Queue[Any] | None = None

    async def get(self) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("X-Accel-Buffering", "no")
        d = self.web.deps
        q = self.queue = self.web.hub.subscribe()
        try:
            for record in d.decisions.recent():
                self._send("decision", record)
            if d.privacy is not None:
                self._send("privacy", d.privacy.state.to_payload())
            self._send("status", d.status())
            await self.flush()
            while True:
                try:
                    item = await q.get(timeout=datetime.timedelta(seconds=KEEPALIVE_S))
                except tornado.util.TimeoutError:
                    self.write(": keep-alive\n\n")
                else:
                    if item is None:
                        break
                    self._send(*item)
                await self.flush()
        except tornado.iostream.StreamClosedError:
            pass
        finally:
            self.web.hub.unsubscribe(q)

    def on_connection_close(self) -> None:
        if self.queue is not None:
            with contextlib.suppress(tornado.queues.QueueFull):
                self.queue.put_nowait(None)

    def _send(self, event: str, data: Any) -> None:
        self.write(f"event: {event}\ndata: {json.dumps(data)}\n\n")


class Snapshot(Base):
    def get(self) -> None:
        cam = self.web.deps.camera
        self.json(cam.snapshot() if cam is not None else {"no_camera": True})


class Zones(Base):
    def get(self) -> None:
        d = self.web.deps
        zones = {n: {"device": z.device, "polygon": [list(p) for p in z.polygon]} for n, z in d.zones().items()}
        self.json({"zones": zones, "devices": d.devices(), "editable": d.config_path is not None,
                   "config": str(d.config_path) if d.config_path else None})

    def post(self) -> None:
        d = self.web.deps
        if d.config_path is None:
            self.set_status(409)
            self.json({"ok": False, "problems": ["the daemon runs without a config file: start it with "
                                                 "'homeagent run --config FILE' to save zones"]})
            return
        body = self.body()
        try:
            zones = save_zones(d.config_path, body.get("zones") if isinstance(body, dict) else None)
        except ConfigError as exc:
            self.set_status(422)
            self.json({"ok": False, "problems": exc.problems or [str(exc)]})
            return
        d.apply_zones(zones)
        self.json({"ok": True, "zones": sorted(zones)})


class Privacy(Base):
    def post(self) -> None:
        p = self.web.deps.privacy
        body = self.body()
        if p is None or not isinstance(body, dict) or len(body) != 1:
            raise tornado.web.HTTPError(400, reason='send {"mic_muted": bool} or {"camera_off": bool}')
        [(key, value)] = body.items()
        if key not in ("mic_muted", "camera_off") or not isinstance(value, bool):
            raise tornado.web.HTTPError(400, reason='send {"mic_muted": bool} or {"camera_off": bool}')
        state = p.set_mic_muted(value) if key == "mic_muted" else p.set_camera_off(value)
        self.json(state.to_payload())


class Sentence(Base):
    def get(self) -> None:
        self.json(self.web.deps.sentences.describe())

    def post(self) -> None:
        body = self.body()
        text = body.get("sentence") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise tornado.web.HTTPError(400, reason='send {"sentence": "..."}')
        self.json(self.web.deps.sentences.test(text))


def make_app(web: WebServer) -> tornado.web.Application:
    args = {"web": web}
    return tornado.web.Application([
        (r"/", Index, args),
        (r"/static/(.*)", Static, {**args, "path": str(STATIC)}),
        (r"/api/login", Login, args),
        (r"/api/status", Status, args),
        (r"/api/events", Events, args),
        (r"/api/snapshot", Snapshot, args),
        (r"/api/zones", Zones, args),
        (r"/api/privacy", Privacy, args),
        (r"/api/sentence", Sentence, args),
    ], compress_response=False, xsrf_cookies=False, websocket_ping_interval=None)
