"""systemd integration without extra dependencies: sd_notify over the ``NOTIFY_SOCKET`` datagram socket.

``Notifier.ready()`` sends ``READY=1`` once the agent is running; :class:`Watchdog` sends ``WATCHDOG=1`` at half
the ``WATCHDOG_USEC`` interval **only while every monitored loop made progress recently** — a hung
pipeline thread stops the pings, and systemd restarts the service (``Restart=on-failure``).
Outside systemd (no ``NOTIFY_SOCKET``) every call is a cheap no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self._sock: socket.socket | None = None
        if self.address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.setblocking(False)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, state: str) -> bool:
        if self._sock is None or not self.address:
            return False
        addr = self.address
        if addr.startswith("@"):  # abstract namespace
            addr = "\0" + addr[1:]
        try:
            self._sock.sendto(state.encode(), addr)
            return True
        except OSError as exc:
            log.warning("sd_notify(%s) failed: %s", state.split("\n")[0], exc)
            return False

    def ready(self, status: str = "running") -> bool:
        return self.notify(f"READY=1\nSTATUS={status}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval() -> float | None:
    """Seconds between pings (half of ``WATCHDOG_USEC``), or None when systemd asked for no watchdog."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.05, int(usec) / 2e6)
    except ValueError:
        return None


class Watchdog:
    """Pings systemd while ``progress()`` returns the times of every loop's last progress within ``stall_s``."""

    def __init__(self, notifier: Notifier, progress: Callable[[], dict[str, float]], interval_s: float,
                 stall_s: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.notifier = notifier
        self.progress = progress
        self.interval_s = interval_s
        self.stall_s = stall_s if stall_s is not None else max(2.0, 3 * interval_s)
        self.clock = clock
        self.pings = 0
        self.stalled: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def healthy(self) -> bool:
        now = self.clock()
        beats = self.progress()
        self.stalled = sorted(name for name, t in beats.items() if now - t > self.stall_s)
        return not self.stalled

    def tick(self) -> bool:
        """One check; pings when healthy. Returns whether it pinged."""
        if self.healthy():
            if self.notifier.notify("WATCHDOG=1"):
                self.pings += 1
            return True
        log.error("watchdog: no progress in %s for %.1f s; not pinging systemd", ", ".join(self.stalled),
                  self.stall_s)
        return False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
