"""The notify/watchdog logic against a real datagram NOTIFY_SOCKET."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.daemon.systemd import Notifier, Watchdog, watchdog_interval


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(2.0)
    yield s, path
    s.close()


def _drain(s: socket.socket, timeout: float = 0.2) -> list[str]:
    """Everything that arrives within ``timeout`` seconds."""
    out = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            out.append(s.recv(4096).decode())
        except TimeoutError:
            break
    return out


def test_ready_status_stopping(notify_socket: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch) -> None:
    s, path = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    n = Notifier()
    assert n.enabled and n.ready("listening")
    assert s.recv(4096) == b"READY=1\nSTATUS=listening"
    n.stopping()
    assert s.recv(4096) == b"STOPPING=1"
    n.close()


def test_no_socket_is_a_noop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = Notifier()
    assert not n.enabled and not n.ready()


def test_watchdog_interval_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 2.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert watchdog_interval() is None


def test_watchdog_pings_only_while_loops_progress(notify_socket: tuple[socket.socket, str]) -> None:
    s, path = notify_socket
    beats = {"audio": time.monotonic(), "recognizer": time.monotonic()}
    hung = threading.Event()
    stop = threading.Event()

    def loops() -> None:  # the audio loop always beats; the recognizer only while not hung
        while not stop.wait(0.02):
            beats["audio"] = time.monotonic()
            if not hung.is_set():
                beats["recognizer"] = time.monotonic()

    t = threading.Thread(target=loops)
    t.start()
    n = Notifier(path)
    wd = Watchdog(n, lambda: dict(beats), interval_s=0.05, stall_s=0.3)
    wd.start()
    try:
        time.sleep(0.4)
        assert len([m for m in _drain(s) if m == "WATCHDOG=1"]) >= 4
        hung.set()
        time.sleep(0.45)
        _drain(s, 0.01)
        assert _drain(s, 0.3) == []
        assert wd.stalled == ["recognizer"]
        hung.clear()
        time.sleep(0.15)
        assert "WATCHDOG=1" in _drain(s)
    finally:
        stop.set()
        t.join()
        wd.stop()
        n.close()
