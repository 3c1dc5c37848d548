"""End-to-end intent delivery: a retransmitting sender and a guarded executor that acknowledges.

QoS 1 only covers one hop: a broker SIGKILLed after its PUBACK loses the message, and a subscriber that was
reconnecting misses it. So the sender keeps each intent until the executor acknowledges it (or its deadline
passes: then it is dropped as stale, never sent late), and retransmits it every ``retry_s`` while connected.
The executor refuses retained and stale intents (``wall_end + ttl_s``, carried in the payload, checked
locally because paho/brokers may deliver an old QoS 1 message late), deduplicates by id, and acknowledges
every intent it has decided on so the sender stops.

Topics: intents on ``<prefix>/<site>/intent/<name>``, acks on ``<prefix>/<site>/intent_ack``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import PayloadError
from ..intents.publisher import Message
from ..intents.topics import intent_topic
from ..types import Intent
from .client import MqttClient
from .dedup import SeenIds

log = logging.getLogger(__name__)

MAX_INTENT_BYTES = 64 * 1024
MAX_TTL_S = 300.0  # the config's upper bound for mqtt.intent_ttl_s
MAX_FUTURE_S = 30.0  # clock skew tolerated between agents


def ack_topic(prefix: str, site_id: str) -> str:
    return f"{prefix}/{site_id}/intent_ack"


def intent_message(prefix: str, intent: Intent) -> Message:
    return Message(intent_topic(prefix, intent.site_id, intent.name), json.dumps(intent.to_payload()).encode(),
                   qos=1, retain=False, expires_at=intent.expires_at_wall())


@dataclass
class _Pending:
    message: Message
    deadline: float
    last_sent: float


class ReliablePublisher:
    """Sends intents until acknowledged or stale. ``on_outcome(id, outcome)``: acked status or ``expired``."""

    def __init__(self, client: MqttClient, prefix: str, site_id: str, *, retry_s: float = 0.5,
                 on_outcome: Callable[[str, str], None] | None = None) -> None:
        self.client = client
        self.prefix = prefix
        self.retry_s = retry_s
        self.on_outcome = on_outcome
        self.counts = {"sent": 0, "retransmits": 0, "acked": 0, "expired": 0}
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        client.subscribe(ack_topic(prefix, site_id), self._on_ack)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mqtt-reliable", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None

    def send(self, intent: Intent) -> bool:
        msg = intent_message(self.prefix, intent)
        with self._lock:
            self._pending[intent.id] = _Pending(msg, intent.expires_at_wall(), time.monotonic())
        self.counts["sent"] += 1
        return self.client.publish(msg)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _on_ack(self, topic: str, payload: bytes, retained: bool, props: Any) -> None:
        if retained or len(payload) > 1024:
            return
        try:
            d = json.loads(payload)
            msg_id, status = d["id"], d["status"]
        except (ValueError, KeyError, TypeError):
            log.debug("ignored malformed ack on %s", topic)
            return
        with self._lock:
            found = self._pending.pop(msg_id, None) if isinstance(msg_id, str) else None
        if found is not None:
            self.counts["acked"] += 1
            self._outcome(msg_id, str(status))

    def _outcome(self, msg_id: str, outcome: str) -> None:
        if self.on_outcome is not None:
            self.on_outcome(msg_id, outcome)

    def _run(self) -> None:
        while not self._stop.wait(min(0.1, self.retry_s / 2)):
            self.tick()

    def tick(self) -> None:
        """Expire stale intents, retransmit unacknowledged fresh ones (while connected)."""
        now, mono = time.time(), time.monotonic()
        connected = self.client.connected.is_set()
        expired: list[str] = []
        resend: list[Message] = []
        with self._lock:
            for msg_id, p in list(self._pending.items()):
                if now >= p.deadline:
                    del self._pending[msg_id]
                    expired.append(msg_id)
                elif connected and mono - p.last_sent >= self.retry_s:
                    p.last_sent = mono
                    resend.append(p.message)
        for msg_id in expired:
            self.counts["expired"] += 1
            log.info("intent %s not acknowledged before its deadline: dropped as stale", msg_id)
            self._outcome(msg_id, "expired")
        for m in resend:
            self.counts["retransmits"] += 1
            self.client.publish(m)


class IntentExecutor:
    """Subscribes to intents and runs ``execute(intent)`` at most once per id, never after the deadline."""

    def __init__(self, client: MqttClient, prefix: str, execute: Callable[[Intent], None], *,
                 topic: str | None = None, seen: SeenIds | None = None, ack: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.prefix = prefix
        self.execute = execute
        self.ack = ack
        self.seen = seen or SeenIds(horizon_s=MAX_TTL_S + MAX_FUTURE_S + 60.0)
        self.clock = clock
        self.counts = {"executed": 0, "stale": 0, "duplicate": 0, "retained": 0, "invalid": 0}
        self._lock = threading.Lock()
        client.subscribe(topic or f"{prefix}/+/intent/+", self.handle)

    def handle(self, topic: str, payload: bytes, retained: bool, props: Any) -> str:
        """Decide on one message; returns the outcome (also counted)."""
        if retained:
            return self._count("retained", f"retained intent on {topic} ignored (never replay commands)")
        if len(payload) > MAX_INTENT_BYTES:
            return self._count("invalid", f"oversized intent on {topic} ({len(payload)} bytes) ignored")
        try:
            intent = Intent.from_payload(json.loads(payload))
        except (ValueError, PayloadError) as exc:
            return self._count("invalid", f"malformed intent on {topic}: {exc}")
        if not 0 < intent.ttl_s <= MAX_TTL_S or intent.wall_end > self.clock() + MAX_FUTURE_S:
            return self._count("invalid", f"intent {intent.id} on {topic}: TTL {intent.ttl_s:g} s or end time "
                               "out of range (would outlive the duplicate memory)")
        with self._lock:  # decide and execute atomically: no second execution of the same id
            late_by = self.clock() - intent.expires_at_wall()
            if late_by > 0:
                outcome = self._count("stale", f"intent {intent.id} ({intent.name}) is {late_by:.2f} s past its "
                                      "deadline: refused")
            elif not self.seen.first_time(intent.id):
                outcome = self._count("duplicate", None)
            else:
                self.counts["executed"] += 1
                outcome = "executed"
                try:
                    self.execute(intent)
                except Exception:  # the action failed; it was still decided, so it is not retried
                    log.exception("executing intent %s failed", intent.id)
        if self.ack:
            body = json.dumps({"id": intent.id, "status": outcome}).encode()
            self.client.publish(Message(ack_topic(self.prefix, intent.site_id), body, qos=1, retain=False,
                                        expires_at=intent.expires_at_wall() + 5.0))
        return outcome

    def _count(self, key: str, warning: str | None) -> str:
        self.counts[key] += 1
        if warning:
            log.warning("%s", warning)
        return key
