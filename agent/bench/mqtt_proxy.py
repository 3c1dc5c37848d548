"""A tiny loopback TCP proxy for fault injection: forward, stall (hold bytes, keep sockets) or drop.

Used by the fault-injection tests and by the soak against an external broker (which cannot be killed).
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading

from ..mqtt.broker import free_port

log = logging.getLogger(__name__)


class TcpProxy:
    """``127.0.0.1:port`` → ``target``. ``stall()`` stops forwarding, ``resume()`` restarts it, ``drop()``
    closes every connection (new ones are accepted), ``refuse(True)`` closes new connections at once."""

    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._listener = socket.create_server((self.host, self.port))
        self._listener.settimeout(0.1)
        self._stop = threading.Event()
        self._flowing = threading.Event()
        self._flowing.set()
        self._refuse = False
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self.connections = 0

    def start(self) -> TcpProxy:
        self._spawn(self._accept_loop, "proxy-accept")
        return self

    def _spawn(self, target: object, name: str, *args: object) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        t.start()
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._refuse:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2.0)
            except OSError:
                client.close()
                continue
            self.connections += 1
            with self._lock:
                self._pairs.append((client, upstream))
            self._spawn(self._pump, "proxy-pump", client, upstream)

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        try:
            while not self._stop.is_set():
                if not self._flowing.is_set():
                    self._flowing.wait(0.05)
                    continue
                readable, _, _ = select.select([a, b], [], [], 0.05)
                if not self._flowing.is_set():  # stalled while waiting: hold the bytes
                    continue
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    peer[s].sendall(data)
        except OSError:
            return
        finally:
            self._close_pair(a, b)

    def _close_pair(self, a: socket.socket, b: socket.socket) -> None:
        with self._lock:
            self._pairs = [p for p in self._pairs if p != (a, b)]
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def refuse(self, on: bool) -> None:
        self._refuse = on

    def drop(self) -> None:
        """Cut every open connection (both directions)."""
        with self._lock:
            pairs = list(self._pairs)
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        self._flowing.set()
        self.drop()
        self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(2.0)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
