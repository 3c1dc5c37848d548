"""The page's HTTP server: tornado on its own thread and event loop, beside the agent's threads.

Tornado (one package, no dependencies) serves long-lived server-sent-event streams on one thread, so the
live decision list is pushed to the page as it happens and no client polls for it. Daemon threads hand
events over with :meth:`WebServer.publish` (thread-safe); the server fans them out to every open stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from typing import Any

import tornado.httpserver
import tornado.netutil

from ..config.web import WebConfig
from ..privacy import PrivacyState
from .auth import Guard
from .decisions import Record
from .deps import Hub, WebDeps
from .handlers import make_app

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
STATUS_PUSH_MS = 2000


class WebServer:
    def __init__(self, cfg: WebConfig, deps: WebDeps, token: str | None) -> None:
        self.cfg = cfg
        self.deps = deps
        self.guard = Guard(token=token, loopback=cfg.loopback)
        self.hub = Hub()
        self.port = cfg.port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        host = self.cfg.host if ":" not in self.cfg.host else f"[{self.cfg.host}]"
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        """Bind (OSError when the address is taken or not ours), then serve on a thread of its own."""
        # socket.create_server closes its socket when the bind fails (tornado's bind_sockets leaves it open)
        family = socket.AF_INET6 if ":" in self.cfg.host else socket.AF_INET
        sock = socket.create_server((self.cfg.host, self.cfg.port), family=family, backlog=128)
        sock.setblocking(False)
        sockets = [sock]
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, args=(sockets,), name="web", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)
        self.deps.decisions.listeners.append(self._on_decision)
        if self.deps.privacy is not None:
            self.deps.privacy.listeners.append(self._on_privacy)
        log.info("web page on %s%s", self.url, "" if self.guard.token is None else " (token required)")

    def stop(self, timeout: float = 3.0) -> None:
        if self._on_decision in self.deps.decisions.listeners:
            self.deps.decisions.listeners.remove(self._on_decision)
        if self.deps.privacy is not None and self._on_privacy in self.deps.privacy.listeners:
            self.deps.privacy.listeners.remove(self._on_privacy)
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def publish(self, event: str, data: Any) -> None:
        """Push ``data`` as ``event`` to every open page (any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # stopping
            loop.call_soon_threadsafe(self.hub.fan_out, (event, data))

    def _on_decision(self, record: Record) -> None:
        self.publish("decision", record)

    def _on_privacy(self, state: PrivacyState) -> None:
        if state.camera_off and self.deps.camera is not None:
            self.deps.camera.forget()
        self.publish("privacy", state.to_payload())

    def _run(self, sockets: list[Any]) -> None:
        try:
            asyncio.run(self._serve(sockets))
        except Exception:  # the page must never take the agent down
            log.exception("the web page stopped")
        finally:
            self._ready.set()

    async def _serve(self, sockets: list[Any]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        app = make_app(self)
        server = tornado.httpserver.HTTPServer(app, max_body_size=MAX_BODY_BYTES, idle_connection_timeout=60,
                                               xheaders=False)
        server.add_sockets(sockets)
        ticker = asyncio.create_task(self._push_status())
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.stop()
            self.hub.fan_out(None)  # every open stream ends
            ticker.cancel()
            await asyncio.sleep(0)
            await server.close_all_connections()

    async def _push_status(self) -> None:
        """While a page is open, its status view is pushed every few seconds (a server push, not polling)."""
        while True:
            await asyncio.sleep(STATUS_PUSH_MS / 1000.0)
            if self.hub.queues:
                try:
                    self.hub.fan_out(("status", self.deps.status()))
                except Exception:
                    log.exception("status for the page failed")
