"""Helpers of the web page's tests: a headless chromium driven through chromedriver, free ports, HTTP calls,
and cue-driven replay sources (silence / a still scene until the test cues the next event)."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from agent.sources.base import wait_until
from agent.types import AudioFrame, VideoFrame

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SR = 16000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, decoded JSON body) of one request; POST when ``body`` is given."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, _decode(r.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, _decode(exc.read())


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode(errors="replace")


def chrome() -> Any:
    """A headless chromium (Debian's ``chromium`` and ``chromium-driver``); a missing browser fails the test."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        raise RuntimeError("the web page's browser tests need Debian's chromium and chromium-driver: run "
                           "'bash tools/bootstrap.sh --dev' (or apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                "--disable-gpu", "--no-first-run", "--disable-extensions", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=opts)


def screenshot(browser: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class CueAudio:
    """A live-like audio source: quiet room noise in real time, and a cued utterance when the test asks."""

    def __init__(self, block: int = 512) -> None:
        self.block = block
        self.exhausted = False  # never: it runs until the agent stops
        self._pending = np.zeros(0, np.int16)
        self._lock = threading.Lock()
        self._rng = np.random.default_rng(3)
        self._open = False
        self._n = 0
        self._t0 = 0.0

    def cue(self, pcm: np.ndarray, lead_s: float = 0.3) -> None:
        with self._lock:
            self._pending = np.concatenate([self._pending, np.zeros(int(lead_s * SR), np.int16),
                                            pcm.astype(np.int16)])

    def open(self) -> None:
        self._open = True
        self._t0 = time.monotonic() - self._n * self.block / SR

    def read(self, timeout: float = 1.0) -> AudioFrame | None:
        if not self._open:
            return None
        t = self._t0 + self._n * self.block / SR
        if wait_until(t + self.block / SR, timeout) is None:
            return None
        with self._lock:
            chunk, self._pending = self._pending[:self.block], self._pending[self.block:]
        pcm = np.zeros(self.block, np.int16)
        pcm[:len(chunk)] = chunk
        pcm = np.clip(pcm + self._rng.normal(0, 20, self.block), -32768, 32767).astype(np.int16)
        self._n += 1
        return AudioFrame(pcm=pcm, sample_rate=SR, t_mono=t, seq=self._n - 1)

    def close(self) -> None:
        self._open = False

    @property
    def stats(self) -> dict[str, int]:
        return {"frames": self._n, "overflows": 0}


class CueVideo:
    """A live-like camera: one scene at ``fps``; :meth:`blank` shows an empty frame for a while (the hand leaves
    and comes back, so the tracker reports its gesture anew)."""

    def __init__(self, scene: np.ndarray, fps: float = 15.0) -> None:
        self.scene = scene
        self.empty = np.full_like(scene, 90)
        self.interval = 1.0 / fps
        self.exhausted = False
        self._blank_until = 0.0
        self._open = False
        self._i = 0
        self._t0 = 0.0

    def blank(self, seconds: float) -> None:
        self._blank_until = time.monotonic() + seconds

    def open(self) -> None:
        self._open = True
        self._t0 = time.monotonic()
        self._i = 0

    def read(self, timeout: float = 1.0) -> VideoFrame | None:
        if not self._open:
            return None
        t = self._t0 + self._i * self.interval
        late = wait_until(t, timeout)
        if late is None:
            return None
        self._i += 1 + int(late / self.interval)
        t = self._t0 + (self._i - 1) * self.interval
        image = self.empty if time.monotonic() < self._blank_until else self.scene
        return VideoFrame(image=image, t_mono=t, seq=self._i - 1)

    def close(self) -> None:
        self._open = False

    @property
    def stats(self) -> dict[str, int]:
        return {"frames": self._i}
