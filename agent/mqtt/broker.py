"""A local Mosquitto broker on 127.0.0.1 for ``demo``, ``bench`` and tests.

Starts the ``mosquitto`` binary on a free loopback port with a generated config (anonymous, no persistence,
loopback only), and can kill, pause and restart it on the same port for fault-injection soaks.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import BrokerError

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_mosquitto() -> str:
    path = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None)
    if path is None:
        raise BrokerError("no MQTT broker given and 'mosquitto' is not installed: install the Debian package "
                          "mosquitto (apt-get install mosquitto) or pass --mqtt-host/--mqtt-port")
    return path


class LocalBroker:
    """``with LocalBroker() as b: ... b.port``. Loopback only."""

    def __init__(self, port: int | None = None, extra_config: str = "") -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="homeagent-broker-"))
        self._conf = self._dir / "mosquitto.conf"
        self._conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"log_dest stderr\nlog_type error\nlog_type warning\n{extra_config}")
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = self._dir / "mosquitto.log"

    def start(self, timeout: float = 10.0) -> LocalBroker:
        exe = find_mosquitto()
        with open(self._log, "ab") as logf:
            self.proc = subprocess.Popen([exe, "-c", str(self._conf)], stdout=logf, stderr=logf,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError(f"mosquitto exited at start: {self._log.read_text()[-500:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout} s")

    def kill(self) -> None:
        """SIGKILL: the broker vanishes without a clean disconnect."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def pause(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        self.kill()
        for _ in range(50):  # the port may linger briefly
            try:
                self.start()
                return
            except BrokerError:
                time.sleep(0.1)
        raise BrokerError(f"mosquitto could not be restarted on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
