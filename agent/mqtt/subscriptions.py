"""The subscriptions of one MQTT client: remembered across connections, synced on the network thread, and the
handlers of each received message."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from .connection import topic_matches

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes, bool, Any], object]


class Subscriptions:
    """Thread-safe: :meth:`add` / :meth:`remove` from any thread, the rest on the network thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, tuple[int, Handler]] = {}
        self._new: list[str] = []
        self._dropped: list[str] = []
        self.by_mid: dict[int, str] = {}  # SUBSCRIBE packet id -> its topic, to name a refused one

    def add(self, topic: str, handler: Handler, qos: int) -> None:
        with self._lock:
            self._subs[topic] = (qos, handler)
            self._new.append(topic)

    def remove(self, topic: str) -> None:
        with self._lock:
            if self._subs.pop(topic, None) is not None:
                self._dropped.append(topic)

    def _subscribe(self, client: paho.Client, topic: str, qos: int) -> None:
        _, mid = client.subscribe(topic, qos)
        if mid is not None and len(self.by_mid) < 1000:
            self.by_mid[mid] = topic

    def resubscribe_all(self, client: paho.Client) -> None:
        """On a new connection (a clean session): every remembered subscription again."""
        with self._lock:
            subs = [(t, q) for t, (q, _) in self._subs.items()]
            self._new.clear()
            self._dropped.clear()
        for topic, qos in subs:
            self._subscribe(client, topic, qos)

    def sync(self, client: paho.Client) -> None:
        """Send the subscriptions added or removed since the last call."""
        with self._lock:
            if not self._new and not self._dropped:
                return
            new = [(t, self._subs[t][0]) for t in dict.fromkeys(self._new) if t in self._subs]
            dropped = list(self._dropped)
            self._new.clear()
            self._dropped.clear()
        for topic, qos in new:
            self._subscribe(client, topic, qos)
        for topic in dropped:
            client.unsubscribe(topic)

    def dispatch(self, topic: str, payload: bytes, retained: bool, props: Any) -> None:
        """Run every handler whose pattern matches ``topic``; a handler's bug is logged, never raised."""
        with self._lock:
            handlers = [h for pat, (_, h) in self._subs.items() if topic_matches(pat, topic)]
        for handler in handlers:
            try:
                handler(topic, payload, retained, props)
            except Exception:  # a handler bug must not kill the network thread
                log.exception("MQTT handler for %s failed", topic[:120])
