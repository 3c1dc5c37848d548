"""Privacy switches that really stop capture, persisted across restarts.

- :class:`PrivacyState` — ``mic_muted`` / ``camera_off``; stored as JSON in ``<state_dir>/privacy.json``
  with an atomic write (``.part``, fsync, ``os.replace``, fsync of the directory).
- :class:`PrivacyController` — applies the state to the sources: "camera off" calls ``camera.close()`` (the
  device is released; no frame is read until it is turned back on), "microphone muted" calls
  ``microphone.close()`` (the input stream stops) and sets the pipeline's ``muted`` event. Listeners
  (MQTT state topics) are told after every change.

A state file that cannot be read or parsed fails *closed*: microphone muted and camera off, with an error
that says which file to fix or delete.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from .errors import AgentError, PayloadError

log = logging.getLogger(__name__)

STATE_FILE = "privacy.json"


class Switchable(Protocol):
    def open(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class PrivacyState:
    mic_muted: bool = False
    camera_off: bool = False

    def to_payload(self) -> dict[str, Any]:
        return {"mic_muted": self.mic_muted, "camera_off": self.camera_off}

    @classmethod
    def from_payload(cls, d: Any) -> PrivacyState:
        if not isinstance(d, dict) or set(d) != {"mic_muted", "camera_off"}:
            raise PayloadError("privacy state must be {\"mic_muted\": bool, \"camera_off\": bool}")
        if not all(isinstance(v, bool) for v in d.values()):
            raise PayloadError("privacy state values must be true/false")
        return cls(mic_muted=d["mic_muted"], camera_off=d["camera_off"])


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    with open(part, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(part, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PrivacyStore:
    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / STATE_FILE

    def load(self) -> PrivacyState:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return PrivacyState()
        except OSError as exc:
            log.error("cannot read %s (%s): keeping the microphone muted and the camera off", self.path, exc)
            return PrivacyState(mic_muted=True, camera_off=True)
        try:
            return PrivacyState.from_payload(json.loads(raw))
        except (ValueError, PayloadError) as exc:
            log.error("%s is corrupt (%s): keeping the microphone muted and the camera off; fix or delete it",
                      self.path, exc)
            return PrivacyState(mic_muted=True, camera_off=True)

    def save(self, state: PrivacyState) -> None:
        atomic_write(self.path, json.dumps(state.to_payload()).encode())


Listener = Callable[[PrivacyState], None]


class PrivacyController:
    """Owns the privacy state and applies it to the camera and microphone (anything with open()/close())."""

    def __init__(self, store: PrivacyStore, *, camera: Switchable | None = None,
                 microphone: Switchable | None = None, muted: threading.Event | None = None,
                 camera_off: threading.Event | None = None) -> None:
        self.store = store
        self.camera = camera
        self.microphone = microphone
        self.muted = muted
        self.camera_off = camera_off  # set before the camera closes, cleared after it reopens
        self.listeners: list[Listener] = []
        self._lock = threading.RLock()
        self._state = store.load()
        if self.muted is not None and self._state.mic_muted:
            self.muted.set()
        if self.camera_off is not None and self._state.camera_off:
            self.camera_off.set()

    @property
    def state(self) -> PrivacyState:
        return self._state

    def camera_allowed(self) -> bool:
        return not self._state.camera_off

    def apply(self) -> None:
        """Enforce the current state on the sources (call after the pipeline opened them at start-up)."""
        with self._lock:
            if self._state.camera_off and self.camera_off is not None:
                self.camera_off.set()
            if self._state.camera_off and self.camera is not None:
                _close(self.camera, "camera")
            if self._state.mic_muted:
                if self.muted is not None:
                    self.muted.set()
                if self.microphone is not None:
                    _close(self.microphone, "microphone")

    def set_camera_off(self, off: bool) -> PrivacyState:
        with self._lock:
            was_off = self._state.camera_off
            if off and self.camera_off is not None:
                self.camera_off.set()
            if off and self.camera is not None:
                _close(self.camera, "camera")  # privacy first: release the device, then persist
            new = replace(self._state, camera_off=off)
            self._commit(new)
            if was_off and not off and self.camera is not None:
                _open(self.camera, "camera")
            if not off and self.camera_off is not None:
                self.camera_off.clear()
        self._notify(new)
        return new

    def set_mic_muted(self, muted: bool) -> PrivacyState:
        with self._lock:
            was_muted = self._state.mic_muted
            if muted:
                if self.muted is not None:
                    self.muted.set()
                if self.microphone is not None:
                    _close(self.microphone, "microphone")
            new = replace(self._state, mic_muted=muted)
            self._commit(new)
            if not muted:
                if was_muted and self.microphone is not None:
                    _open(self.microphone, "microphone")
                if self.muted is not None:
                    self.muted.clear()
        self._notify(new)
        return new

    def _commit(self, new: PrivacyState) -> None:
        self._state = new
        try:
            self.store.save(new)
        except OSError as exc:  # the switch still works now; it just will not survive a restart
            log.error("cannot persist privacy state to %s: %s", self.store.path, exc)
        log.info("privacy: microphone %s, camera %s", "muted" if new.mic_muted else "on",
                 "off" if new.camera_off else "on")

    def _notify(self, state: PrivacyState) -> None:
        for cb in list(self.listeners):
            try:
                cb(state)
            except Exception:  # a broken listener must not undo a privacy switch
                log.exception("privacy listener failed")


def _close(src: Switchable, what: str) -> None:
    src.close()
    read = getattr(src, "read", None)
    if read is None:
        return
    for _ in range(1000):  # drop frames captured before the switch
        try:
            if read(0.0) is None:
                return
        except AgentError:
            return
    log.warning("%s kept delivering frames after close()", what)


def _open(src: Switchable, what: str) -> None:
    try:
        src.open()
    except AgentError as exc:
        log.error("%s could not be reopened after the privacy switch: %s", what, exc)
