"""The one-method publishing port, its in-memory twin (for tests and dry runs), and the one intent publisher."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..types import Intent
from .hermes import hermes_payload
from .topics import hermes_topic, intent_topic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    expires_at: float | None = None  # time.time() after which the message must not be sent
    created: float = field(default_factory=time.time)


class Publisher(Protocol):
    def publish(self, message: Message) -> bool:
        """Send or queue ``message``; False when it was dropped (stale or outbox full)."""
        ...


class MemoryPublisher:
    """Records messages instead of sending them; thread-safe."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    def publish(self, message: Message) -> bool:
        if message.expires_at is not None and time.time() > message.expires_at:
            return False
        with self._lock:
            self.messages.append(message)
        return True

    def topics(self) -> list[str]:
        with self._lock:
            return [m.topic for m in self.messages]


class IntentPublisher:
    """The one way an intent goes out, whichever path decided it (voice, gesture, fusion, arbitration): its site
    topic ``<prefix>/<site>/intent/<name>`` and, with ``hermes``, ``hermes/intent/<name>`` (a Hermes NluIntent),
    QoS 1, never retained, dropped once its TTL has passed. ``listeners`` see every intent published."""

    def __init__(self, publisher: Publisher, prefix: str = "homeagent", *, hermes: bool = True,
                 send: Callable[[Intent], object] | None = None) -> None:
        self.publisher = publisher
        self.prefix = prefix
        self.hermes = hermes
        self.send = send  # the site topic through an acknowledged path (mqtt.intent_acks), when given
        self.listeners: list[Callable[[Intent], None]] = []

    def publish(self, intent: Intent) -> None:
        expires = intent.expires_at_wall()
        if self.send is not None:
            self.send(intent)
        else:
            payload = json.dumps(intent.to_payload()).encode()
            self.publisher.publish(Message(intent_topic(self.prefix, intent.site_id, intent.name), payload, qos=1,
                                           retain=False, expires_at=expires))
        if self.hermes:
            self.publisher.publish(Message(hermes_topic(intent.name), json.dumps(hermes_payload(intent)).encode(),
                                           qos=1, retain=False, expires_at=expires))
        log.debug("intent %s (%.2f) %s published", intent.name, intent.confidence, intent.slots or "")
        for cb in self.listeners:
            cb(intent)
