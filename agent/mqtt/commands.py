"""Command topics ``<prefix>/<site>/cmd/<name>``: strict JSON, size cap, no retained, deadlines, dedup by id.

A command payload is one JSON object (UTF-8, at most :data:`MAX_COMMAND_BYTES`, no duplicate keys, no NaN)::

    {"id": "a1b2", "ts": 1764361234.5, "ttl_s": 10, ...arguments}

- ``id``: 1–64 chars ``[A-Za-z0-9_.:-]``; a second delivery of the same id (QoS 1 redelivery) is ignored;
- ``ts``: Unix time the command was issued; ``ttl_s`` (default :data:`DEFAULT_TTL_S`, at most
  :data:`MAX_TTL_S`): a command is dropped and logged once ``ts + ttl_s`` (or its MQTT 5 message-expiry,
  counted from reception) has passed — at reception and again just before it runs;
- arguments per command (:data:`SCHEMAS`); unknown or missing keys are errors.

Retained messages are never executed (a replayed "open" after a reboot is how garage doors open). Commands
run on one worker thread (a camera open or an OTA install must not stall the MQTT network thread).
"""

from __future__ import annotations

import json
import logging
import math
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import strictjson
from ..errors import PayloadError
from ..ratelog import RateLimitedLog, short
from .connection import message_expiry
from .dedup import SeenIds

log = logging.getLogger(__name__)

MAX_COMMAND_BYTES = 4096
DEFAULT_TTL_S = 10.0
MAX_TTL_S = 300.0
MAX_FUTURE_S = 30.0  # a command stamped further in the future is refused (clock skew / forged)
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_COMMON = {"id", "ts", "ttl_s"}
SCHEMAS: dict[str, dict[str, type]] = {
    "mute": {"on": bool},        # microphone muted
    "camera": {"off": bool},     # camera off
    "reload": {},                # reload the models / command set
    "ota_install": {},           # install the announced update
}


@dataclass(frozen=True)
class Command:
    name: str
    id: str
    ts: float
    ttl_s: float = DEFAULT_TTL_S
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def deadline(self) -> float:
        return self.ts + self.ttl_s

    def to_payload(self) -> dict[str, Any]:
        return {"id": self.id, "ts": self.ts, "ttl_s": self.ttl_s, **self.args}

    @classmethod
    def from_payload(cls, name: str, payload: Any) -> Command:
        return parse_command(name, json.dumps(payload).encode())


def _number(d: dict[str, Any], key: str) -> float:
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise PayloadError(f"'{key}' must be a finite number")
    return float(v)


def parse_command(name: str, raw: bytes) -> Command:
    """Validate one command payload; raises :class:`PayloadError` naming the problem (never anything else)."""
    schema = SCHEMAS.get(name)
    if schema is None:
        raise PayloadError(f"unknown command {name!r} (known: {', '.join(SCHEMAS)})")
    if len(raw) > MAX_COMMAND_BYTES:
        raise PayloadError(f"command is {len(raw)} bytes (limit {MAX_COMMAND_BYTES})")
    try:
        d = strictjson.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise PayloadError(f"command is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(d, dict):
        raise PayloadError("command must be a JSON object")
    missing = {"id", "ts"} - d.keys() | (set(schema) - d.keys())
    unknown = d.keys() - _COMMON - set(schema)
    if missing or unknown:
        raise PayloadError(f"command {name!r}: missing {sorted(missing)}, unknown {sorted(unknown)}")
    if not isinstance(d["id"], str) or not _ID.match(d["id"]):
        raise PayloadError("'id' must be 1-64 characters of [A-Za-z0-9_.:-]")
    ts = _number(d, "ts")
    ttl = _number(d, "ttl_s") if "ttl_s" in d else DEFAULT_TTL_S
    if not 0 < ttl <= MAX_TTL_S:
        raise PayloadError(f"'ttl_s' must be in (0, {MAX_TTL_S:g}]")
    args = {}
    for key, kind in schema.items():
        if type(d[key]) is not kind:
            raise PayloadError(f"'{key}' must be {kind.__name__}")
        args[key] = d[key]
    return Command(name=name, id=d["id"], ts=ts, ttl_s=ttl, args=args)


Executor = Callable[[Command], object]


class CommandRouter:
    """Subscribes to ``<prefix>/<site>/cmd/+`` and runs ``handlers[name](command)`` on a worker thread."""

    def __init__(self, prefix: str, site_id: str, handlers: Mapping[str, Executor], *, seen: SeenIds | None = None,
                 clock: Callable[[], float] = time.time, queue_size: int = 32) -> None:
        self.base = f"{prefix}/{site_id}/cmd"
        self.handlers = dict(handlers)
        self.seen = seen or SeenIds(horizon_s=MAX_TTL_S + MAX_FUTURE_S)
        self.clock = clock
        self._ratelog = RateLimitedLog(log)  # anyone on the broker can send these: never one line each
        self.counts = {k: 0 for k in ("accepted", "executed", "retained", "invalid", "stale", "duplicate",
                                      "unhandled", "overflow", "failed")}
        self._queue: queue.Queue[tuple[Command, float] | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None

    def topic(self, name: str) -> str:
        return f"{self.base}/{name}"

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mqtt-commands", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:
                log.warning("command queue full at stop")
            self._thread.join(timeout)
            self._thread = None

    def _drop(self, key: str, message: str, *args: Any) -> str:
        self.counts[key] += 1
        self._ratelog.log(key, logging.WARNING, "command dropped (%s): " + message, key,
                          *(short(a) if isinstance(a, str) else a for a in args))
        return key

    def handle(self, topic: str, payload: bytes, retained: bool, props: Any = None) -> str:
        """Validate, check deadline and id, then queue for execution. Returns the outcome."""
        name = topic.rsplit("/", 1)[-1]
        if retained:
            return self._drop("retained", "retained message on %s is never executed", topic)
        try:
            cmd = parse_command(name, payload)
        except PayloadError as exc:
            return self._drop("invalid", "%s: %s", topic, exc)
        now = self.clock()
        deadline = cmd.deadline
        expiry = message_expiry(props)
        if expiry is not None:
            deadline = min(deadline, now + expiry)
        if now > deadline:
            return self._drop("stale", "%s id=%s is %.2f s past its deadline", name, cmd.id, now - deadline)
        if cmd.ts > now + MAX_FUTURE_S:
            return self._drop("invalid", "%s id=%s is stamped %.0f s in the future", name, cmd.id, cmd.ts - now)
        if name not in self.handlers:
            return self._drop("unhandled", "no handler for %s on this agent", name)
        if not self.seen.first_time(cmd.id):
            self.counts["duplicate"] += 1
            log.info("duplicate command %s id=%s ignored", name, cmd.id)
            return "duplicate"
        if self._thread is None:  # not started: run inline (tests, tools)
            return self._execute(cmd, deadline)
        try:
            self._queue.put_nowait((cmd, deadline))
        except queue.Full:
            return self._drop("overflow", "command queue full, %s id=%s", name, cmd.id)
        self.counts["accepted"] += 1
        return "accepted"

    def _execute(self, cmd: Command, deadline: float) -> str:
        late = self.clock() - deadline
        if late > 0:
            return self._drop("stale", "%s id=%s waited too long (%.2f s past its deadline)", cmd.name, cmd.id,
                              late)
        try:
            self.handlers[cmd.name](cmd)
        except Exception:  # a failed action is logged and counted; the worker keeps going
            self.counts["failed"] += 1
            log.exception("command %s id=%s failed", cmd.name, cmd.id)
            return "failed"
        self.counts["executed"] += 1
        log.info("command %s id=%s executed %s", cmd.name, cmd.id, cmd.args or "")
        return "executed"

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._execute(*item)
