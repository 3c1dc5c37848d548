"""The paho-mqtt (v2 callback API) connection: birth/last-will, backoff reconnect, bounded TTL outbox.

- availability: retained ``offline`` last will, retained ``online`` birth on every connect;
- reconnect: paho's own loop with capped exponential backoff (``reconnect_min_s`` … ``reconnect_max_s``);
  the agent never dies because the broker did;
- outbox: while disconnected, messages wait in a bounded deque (oldest dropped when full); messages whose
  ``expires_at`` passed are dropped, never sent; MQTT 5 Message Expiry is set so the broker drops them too;
- subscriptions are remembered and re-made in ``on_connect``.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..config.loader import read_secret
from ..config.schema import MqttConfig
from ..intents.topics import availability_topic
from .publisher import Message

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes, bool, Any], None]


class MqttClient:
    """A resilient MQTT connection. ``publish`` never blocks and never raises for broker trouble."""

    def __init__(self, cfg: MqttConfig, site_id: str, *, client_id: str | None = None) -> None:
        self.cfg = cfg
        self.site_id = site_id
        self.availability = availability_topic(cfg.topic_prefix, site_id)
        cid = client_id or cfg.client_id or f"homeagent-{site_id}"
        self._client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=cid,
                                   protocol=paho.MQTTv5)
        self._client.will_set(self.availability, b"offline", qos=1, retain=True)
        password = read_secret(cfg.password_file, cfg.password_env)
        if cfg.username is not None:
            self._client.username_pw_set(cfg.username, password)
        if cfg.tls is not None:
            self._client.tls_set(ca_certs=str(cfg.tls.ca_file) if cfg.tls.ca_file else None,
                                 certfile=str(cfg.tls.cert_file) if cfg.tls.cert_file else None,
                                 keyfile=str(cfg.tls.key_file) if cfg.tls.key_file else None,
                                 cert_reqs=ssl.CERT_REQUIRED)
            self._client.tls_insecure_set(cfg.tls.insecure)
        self._client.reconnect_delay_set(min_delay=max(1, round(cfg.reconnect_min_s)),
                                         max_delay=max(1, round(cfg.reconnect_max_s)))
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._lock = threading.Lock()
        self._outbox: deque[Message] = deque()
        self._subs: dict[str, tuple[int, Handler]] = {}
        self.connected = threading.Event()
        self.counts = {"published": 0, "queued": 0, "dropped_stale": 0, "dropped_full": 0, "connects": 0,
                       "disconnects": 0}
        self._started = False

    # lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background; returns at once even when the broker is down."""
        self._client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        self._client.loop_start()
        self._started = True

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def stop(self, timeout: float = 2.0) -> None:
        """Publish ``offline``, flush briefly, disconnect and stop the network thread."""
        if not self._started:
            return
        if self.connected.is_set():
            info = self._client.publish(self.availability, b"offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                log.debug("offline message not confirmed: %s", exc)
        self._started = False
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()

    # callbacks (network thread) ------------------------------------------------------------------------
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s:%s refused the connection: %s", self.cfg.host, self.cfg.port, reason)
            return
        self.counts["connects"] += 1
        log.info("connected to MQTT broker %s:%s", self.cfg.host, self.cfg.port)
        client.publish(self.availability, b"online", qos=1, retain=True)
        with self._lock:
            for topic, (qos, _) in self._subs.items():
                client.subscribe(topic, qos)
            self.connected.set()
            pending = list(self._outbox)
            self._outbox.clear()
        for msg in pending:
            self._send(msg)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connected.clear()
        self.counts["disconnects"] += 1
        if self._started:
            log.warning("MQTT connection lost (%s); reconnecting with backoff", reason)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            handlers = [h for pat, (_, h) in self._subs.items() if paho.topic_matches_sub(pat, msg.topic)]
        for handler in handlers:
            try:
                handler(msg.topic, msg.payload, bool(msg.retain), msg.properties)
            except Exception:  # a handler bug must not kill the network thread
                log.exception("MQTT handler for %s failed", msg.topic)

    # API -----------------------------------------------------------------------------------------------
    def subscribe(self, topic: str, handler: Handler, qos: int = 1) -> None:
        with self._lock:
            self._subs[topic] = (qos, handler)
            connected = self.connected.is_set()
        if connected:
            self._client.subscribe(topic, qos)

    def publish(self, message: Message) -> bool:
        if message.expires_at is not None and time.time() > message.expires_at:
            self.counts["dropped_stale"] += 1
            log.warning("dropped stale message for %s (expired before sending)", message.topic)
            return False
        with self._lock:
            if not self.connected.is_set():
                if len(self._outbox) >= self.cfg.outbox_size:
                    self._outbox.popleft()
                    self.counts["dropped_full"] += 1
                self._outbox.append(message)
                self.counts["queued"] += 1
                return True
        return self._send(message)

    def _send(self, message: Message) -> bool:
        props = None
        if message.expires_at is not None:
            left = message.expires_at - time.time()
            if left <= 0:
                self.counts["dropped_stale"] += 1
                log.warning("dropped stale message for %s (expired in the outbox)", message.topic)
                return False
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = max(1, int(left))
        self._client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain,
                             properties=props)
        self.counts["published"] += 1
        return True
