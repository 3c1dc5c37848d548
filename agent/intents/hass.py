"""Home Assistant's own intent handling: an intent of ours becomes ``HassTurnOn``, ``HassTurnOff``,
``HassLightSet`` (or any intent Home Assistant knows) on its REST API, ``POST <url>/api/intent/handle``,
authenticated with a long-lived access token. Home Assistant finds the entity by its name or alias, and area, by
itself: nothing about this agent is written in its YAML (the ``intent`` integration is part of its
``default_config``).

The action map's ``hass`` rules say which intent to send with which slots (:mod:`.actions`); :class:`HassIntents`
sends them off the deciding thread, one at a time, drops those whose intent went stale while queued, and says in
one line why a name matched no entity, in Home Assistant's own words. A ``name`` with an ``area`` is tried as
given, then as one name, ``"<area> <name>"`` (an entity called "Kitchen light" with no area set).
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import strictjson
from ..errors import PayloadError

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 256 * 1024  # Home Assistant's answer names the entities it switched: small
Transport = Callable[[str, dict[str, Any]], Any]  # (path, JSON body) -> decoded JSON answer; raises PayloadError


@dataclass(frozen=True)
class HassCall:
    """One intent for Home Assistant: its name (``HassTurnOn``), slots (``{"name": "kitchen light"}``), the
    intent of ours it comes from, and the wall-clock time after which it must not be sent."""

    intent: str
    slots: dict[str, Any]
    source: str = ""
    expires_at: float = float("inf")


@dataclass(frozen=True)
class HassResult:
    ok: bool
    entities: tuple[str, ...] = ()  # entity ids Home Assistant acted on
    reason: str = ""  # why not, when not ok
    slots: dict[str, Any] = field(default_factory=dict)  # the slots of the last try


def candidates(slots: dict[str, Any]) -> list[dict[str, Any]]:
    """The slot sets tried in turn: as given, then name and area as one name."""
    out = [dict(slots)]
    name, area = slots.get("name"), slots.get("area")
    if isinstance(name, str) and isinstance(area, str) and name and area:
        joined = {k: v for k, v in slots.items() if k != "area"}
        joined["name"] = f"{area} {name}"
        out.append(joined)
    return out


def parse_answer(answer: Any) -> tuple[tuple[str, ...], str]:
    """(entity ids acted on, Home Assistant's words) from its intent response (``IntentResponse.as_dict``)."""
    if not isinstance(answer, dict):
        raise PayloadError("Home Assistant's intent answer is not a JSON object")
    data = _object(answer.get("data"))
    done = data.get("success")
    targets = done if isinstance(done, list) else []
    ids = tuple(str(t.get("id")) for t in targets
                if isinstance(t, dict) and t.get("id") and t.get("type", "entity") == "entity")
    plain = _object(_object(answer.get("speech")).get("plain"))
    words = str(plain.get("speech") or data.get("code") or answer.get("response_type") or "")
    return ids, words


REASONS = {  # Home Assistant's MatchFailedReason -> what it means here
    "NAME": "no entity or alias is named {name!r}",
    "AREA": "nothing named {name!r} is in area {area!r}",
    "INVALID_AREA": "Home Assistant has no area named {missing!r}",
    "FLOOR": "nothing matching is on floor {floor!r}",
    "INVALID_FLOOR": "Home Assistant has no floor named {missing!r}",
    "DOMAIN": "no {domain} entity matches",
    "DEVICE_CLASS": "no entity of that device class matches",
    "FEATURE": "the matching entity cannot do that",
    "STATE": "no matching entity is in a state this applies to",
    "ASSISTANT": "the matching entity is not exposed to assistants",
    "DUPLICATE_NAME": "several entities are named {missing!r}",
    "MULTIPLE_TARGETS": "several entities match where one is needed",
}


def why(said: str, slots: dict[str, Any]) -> str:
    """Home Assistant's reason for a failed match in a few words (its answer carries the repr of its
    ``MatchFailedError``); other answers are kept as said, shortened."""
    m = re.search(r"no_match_reason=<MatchFailedReason\.(\w+)", said)
    if m is None or m.group(1) not in REASONS:
        return said if len(said) <= 200 else said[:197] + "..."
    missing = re.search(r"no_match_name='([^']*)'", said)
    values = {k: slots.get(k) for k in ("name", "area", "floor", "domain")}
    return f"{REASONS[m.group(1)].format(**values, missing=missing.group(1) if missing else None)} ({m.group(1)})"


class HttpTransport:
    """``POST`` JSON to Home Assistant with the bearer token; the answer is read bounded and parsed strictly."""

    def __init__(self, url: str, token: str, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self.timeout_s = timeout_s

    def __call__(self, path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST", headers={
            "Authorization": f"Bearer {self._token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            hint = {401: ": the access token was refused (home_assistant.token_file)",
                    404: ": no intent API there (is the 'intent' integration loaded? it is in default_config)"}
            raise PayloadError(f"Home Assistant answered HTTP {exc.code}{hint.get(exc.code, '')}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PayloadError(f"Home Assistant at {self.url} is unreachable ({reason})") from exc
        if len(raw) > MAX_RESPONSE_BYTES:
            raise PayloadError(f"Home Assistant's answer is larger than {MAX_RESPONSE_BYTES} bytes")
        try:
            return strictjson.loads(raw)
        except ValueError as exc:
            raise PayloadError(f"Home Assistant's answer is not JSON ({exc})") from exc


class HassIntents:
    """Sends :class:`HassCall` s to Home Assistant on one worker thread (bounded queue); ``listeners`` see each
    call with its result."""

    def __init__(self, transport: Transport, *, max_queue: int = 16,
                 clock: Callable[[], float] = time.time) -> None:
        self.transport = transport
        self.clock = clock
        self.listeners: list[Callable[[HassCall, HassResult], None]] = []
        self.counts = {"ok": 0, "no_match": 0, "failed": 0, "stale": 0, "dropped": 0}
        self._queue: queue.Queue[HassCall | None] = queue.Queue(max_queue)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hass-intents", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            while True:  # make room for the stop mark: what is still queued is dropped
                try:
                    self._queue.put_nowait(None)
                    break
                except queue.Full:
                    self._drain_one()
            self._thread.join(timeout)
            self._thread = None

    def submit(self, call: HassCall) -> bool:
        """Queue ``call``; False when the queue is full (Home Assistant is slow or unreachable)."""
        try:
            self._queue.put_nowait(call)
            return True
        except queue.Full:
            self.counts["dropped"] += 1
            log.warning("home assistant: %s dropped, %d requests already waiting", call.intent, self._queue.qsize())
            return False

    def handle(self, call: HassCall) -> HassResult:
        """Send ``call`` now (trying each slot set of :func:`candidates`) and log the outcome in one line."""
        if self.clock() > call.expires_at:
            self.counts["stale"] += 1
            log.warning("home assistant: %s for %s is stale: not sent", call.intent, call.source)
            return HassResult(False, reason="stale")
        result = HassResult(False, slots=call.slots)
        words: list[str] = []
        for slots in candidates(call.slots):
            try:
                ids, said = parse_answer(self.transport("/api/intent/handle", {"name": call.intent, "data": slots}))
            except PayloadError as exc:
                self.counts["failed"] += 1
                log.warning("home assistant: %s %s failed: %s", call.intent, _show(slots), exc)
                return HassResult(False, reason=str(exc), slots=slots)
            if ids:
                self.counts["ok"] += 1
                log.info("home assistant: %s %s (from %s) acted on %s", call.intent, _show(slots), call.source,
                         ", ".join(ids))
                return HassResult(True, ids, slots=slots)
            reason = why(said, slots) if said else "nothing done"
            words.append(f"{_show(slots)}: {reason}")
            result = HassResult(False, reason=reason, slots=slots)
        self.counts["no_match"] += 1
        log.warning("home assistant: %s (from %s) matched no entity: %s", call.intent, call.source, "; ".join(words))
        return result

    def _run(self) -> None:
        while True:
            call = self._queue.get()
            if call is None:
                return
            result = self.handle(call)
            for cb in self.listeners:
                cb(call, result)

    def _drain_one(self) -> None:
        try:
            if self._queue.get_nowait() is not None:
                self.counts["dropped"] += 1
        except queue.Empty:
            pass


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _show(slots: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in slots.items()) + "}"
