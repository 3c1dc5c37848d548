"""The paho-mqtt (v2 callback API, MQTT 5) connection: birth/last-will, backoff reconnect, bounded TTL outbox.

- availability: retained ``offline`` last will, retained ``online`` birth on every connect;
- reconnect: our own network thread with capped exponential backoff (``reconnect_min_s`` … ``reconnect_max_s``,
  with jitter); the agent never dies because the broker did (frigate#814);
- **a fresh paho client and a clean MQTT session per connection**: paho re-sends unacknowledged QoS 1 messages
  after a reconnect with their original expiry, so a stale intent could arrive late. We track in-flight
  messages by mid instead; when a connection is lost, in-flight messages that are still fresh go back to the
  front of the outbox and stale ones are dropped (counted in ``dropped_stale``);
- outbox: while disconnected, messages wait in a bounded deque (oldest dropped when full); messages whose
  ``expires_at`` passed are dropped, never sent; MQTT 5 Message Expiry is set so the broker drops them too;
- dead-connection detection: no CONNACK within ``connect_timeout_s`` or an in-flight message not acknowledged
  within ``ack_timeout_s`` (a SIGSTOPped broker, a stalled proxy) resets the socket and reconnects;
- a broker that stalled would deliver whatever was written to it when it wakes up, however late (its MQTT 5
  expiry starts when it reads the message). So after ``PROBE_AFTER_S`` without an acknowledgement from the
  broker, the outbox waits for a probe (an empty QoS 1 message to ``<prefix>/<site>/probe``, which nobody
  reads) to be acknowledged before it sends anything with a deadline: one round trip after an idle spell;
- subscriptions are remembered and re-made in ``on_connect``; handlers run on the network thread.

All paho calls happen on the network thread (``publish``/``subscribe`` from other threads only enqueue), so
no paho internals are shared between threads. The network thread sleeps in ``select`` on the socket and on a
wake-up socket pair that ``publish``/``subscribe``/``stop`` write to (paho's external-loop API: ``loop_read``,
``loop_write``, ``loop_misc``), so a queued message goes out at once while an idle connection costs a wake-up
every ``tick_s`` (0.5 s) instead of the 50 polls per second a short ``loop()`` timeout needs.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from ..config.loader import read_secret
from ..config.schema import MqttConfig
from ..intents.publisher import Message
from .connection import close_sockets_of, cork, drain, expiry_properties, make_paho, reset, step
from .health import Health, explain_connect_error, explain_refusal
from .subscriptions import Handler, Subscriptions
from .topics import availability_topic

log = logging.getLogger(__name__)

PROBE_AFTER_S = 0.25  # silence from the broker after which the connection is probed before sending
COUNT_KEYS = ("published", "acked", "queued", "requeued", "dropped_stale", "dropped_full", "connects",
              "disconnects", "connect_failures")


class MqttClient:
    """A resilient MQTT connection. ``publish`` never blocks and never raises for broker trouble."""

    def __init__(self, cfg: MqttConfig, site_id: str, *, client_id: str | None = None,
                 connect_timeout_s: float = 5.0, ack_timeout_s: float | None = None,
                 max_inflight: int = 100, tick_s: float = 0.5) -> None:
        self.cfg = cfg
        self.site_id = site_id
        self.availability = availability_topic(cfg.topic_prefix, site_id)
        self.client_id = client_id or cfg.client_id or f"homeagent-{site_id}"
        self.connect_timeout_s = connect_timeout_s
        self.ack_timeout_s = ack_timeout_s if ack_timeout_s is not None else cfg.ack_timeout_s
        self.max_inflight = max_inflight
        self._tick = tick_s
        self._password = read_secret(cfg.password_file, cfg.password_env)
        self._lock = threading.Lock()
        self._outbox: deque[Message] = deque()
        self._inflight: dict[int, tuple[Message, float]] = {}
        self.subs = Subscriptions()
        self._refused = False
        self._rx: deque[tuple[str, bytes, bool, Any]] = deque()
        self.connected = threading.Event()
        self.counts = dict.fromkeys(COUNT_KEYS, 0)
        self.on_connected: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._jitter = random.Random()  # its own generator: the global one belongs to the caller (and Hypothesis)
        self._thread: threading.Thread | None = None
        self._stop_timeout = 2.0
        self._wake_r: socket.socket | None = None
        self.health = Health()
        self.probe_topic = f"{cfg.topic_prefix}/{site_id}/probe"
        self._last_ack = 0.0  # monotonic time of the broker's last acknowledgement (CONNACK, PUBACK)
        self._probe: tuple[int, float] | None = None  # (mid, sent at) of the probe awaiting its PUBACK
        self._wake_w: socket.socket | None = None

    # lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background; returns at once even when the broker is down."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.client_id}", daemon=True)
        self._thread.start()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def stop(self, timeout: float = 2.0) -> None:
        """Publish ``offline``, flush briefly, disconnect and stop the network thread."""
        if self._thread is None:
            return
        self._stop_timeout = timeout
        self._stop.set()
        self._wake()
        self._thread.join(timeout + 3.0)
        if self._thread.is_alive():
            log.warning("MQTT network thread did not stop within %.1f s", timeout + 3.0)
        else:
            for s in (self._wake_r, self._wake_w):
                if s is not None:
                    s.close()
            self._wake_r = self._wake_w = None
        self._thread = None
        self.connected.clear()

    def _wake(self) -> None:
        """Interrupt the network thread's wait (new message, subscription or stop)."""
        w = self._wake_w
        if w is not None:
            with contextlib.suppress(OSError):  # buffer full (a wake-up is already pending) or closed
                w.send(b"\0")

    # API (any thread) ----------------------------------------------------------------------------------
    def subscribe(self, topic: str, handler: Handler, qos: int = 1) -> None:
        self.subs.add(topic, handler, qos)
        self._wake()

    def unsubscribe(self, topic: str) -> None:
        self.subs.remove(topic)
        self._wake()

    def publish(self, message: Message) -> bool:
        """Queue ``message`` for sending; False when it was dropped (already stale)."""
        if message.expires_at is not None and time.time() > message.expires_at:
            self.counts["dropped_stale"] += 1
            log.warning("dropped stale message for %s (expired before sending)", message.topic)
            return False
        with self._lock:
            if not self.connected.is_set():
                if len(self._outbox) >= self.cfg.outbox_size:
                    self._outbox.popleft()
                    self.counts["dropped_full"] += 1
                self.counts["queued"] += 1
            self._outbox.append(message)
        self._wake()
        return True

    @property
    def inflight(self) -> int:
        with self._lock:
            return len(self._inflight)

    @property
    def outbox_len(self) -> int:
        with self._lock:
            return len(self._outbox)

    # network thread ------------------------------------------------------------------------------------
    def _make_paho(self) -> paho.Client:
        c = make_paho(self.cfg, self.client_id, self._password, self.availability, self.connect_timeout_s)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        return c

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        topic = self.subs.by_mid.pop(mid, "a topic of this agent")
        for reason in reasons or ():
            if getattr(reason, "is_failure", False):
                self.health.denied_topic("subscribe to", topic, reason)

    def _run(self) -> None:
        delay = self.cfg.reconnect_min_s
        while not self._stop.is_set():
            self._refused = False
            client: paho.Client | None = None
            try:
                client = self._make_paho()
                client.connect(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s, clean_start=True)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                self.counts["connect_failures"] += 1
                self.health.problem(explain_connect_error(exc, self.cfg))
                close_sockets_of(exc)
                if client is not None:
                    self._connection_lost(client)
                self._stop.wait(delay * (0.5 + self._jitter.random() / 2))
                delay = min(delay * 2, self.cfg.reconnect_max_s)
                continue
            else:
                was_connected = self._serve(client)
                if was_connected:
                    delay = self.cfg.reconnect_min_s
                    self.counts["disconnects"] += 1
                    if not self._stop.is_set():
                        log.warning("MQTT connection to %s:%s lost; reconnecting with backoff", self.cfg.host,
                                    self.cfg.port)
            self._connection_lost(client)
            if self._stop.is_set():
                break
            self._stop.wait(delay * (0.5 + self._jitter.random() / 2))
            delay = min(delay * 2, self.cfg.reconnect_max_s)

    def _serve(self, client: paho.Client) -> bool:
        """Run one connection until it fails or we stop. True when it got connected at all."""
        t0 = time.monotonic()
        was_connected = False
        while True:
            if self._stop.is_set():
                if self.connected.is_set():
                    self._graceful_close(client)
                return was_connected
            if self._step(client, self._tick) != paho.MQTT_ERR_SUCCESS:
                return was_connected
            rc = self._drain(client)
            self._dispatch()
            if rc != paho.MQTT_ERR_SUCCESS:
                return was_connected
            if self.connected.is_set():
                was_connected = True
                self.subs.sync(client)
                self._flush(client)
                oldest = self._oldest_inflight()
                if oldest is not None and time.monotonic() - oldest > self.ack_timeout_s:
                    log.warning("MQTT broker %s:%s did not acknowledge within %.1f s: connection stalled; resetting "
                                "it and reconnecting", self.cfg.host, self.cfg.port, self.ack_timeout_s)
                    reset(client.socket())  # what it still holds must never reach the broker late
                    return True
            elif was_connected or self._refused:
                return was_connected
            elif time.monotonic() - t0 > self.connect_timeout_s:
                log.warning("no CONNACK from %s:%s within %.1f s; retrying", self.cfg.host, self.cfg.port,
                            self.connect_timeout_s)
                return False

    def _step(self, client: paho.Client, timeout: float) -> paho.MQTTErrorCode:
        return step(client, self._wake_r, timeout)

    @staticmethod
    def _drain(client: paho.Client, limit: int = 64) -> paho.MQTTErrorCode:
        return drain(client, limit)

    def _graceful_close(self, client: paho.Client) -> None:
        info = client.publish(self.availability, b"offline", qos=1, retain=True)
        deadline = time.monotonic() + self._stop_timeout
        while not info.is_published() and time.monotonic() < deadline:
            if self._step(client, self._tick) != paho.MQTT_ERR_SUCCESS:
                return
        client.disconnect()
        for _ in range(3):
            if self._step(client, self._tick) != paho.MQTT_ERR_SUCCESS:
                break

    def _connection_lost(self, client: paho.Client) -> None:
        self.connected.clear()
        self._probe = None
        try:
            sock = client.socket()
            if sock is not None:
                sock.close()
        except OSError:
            pass
        now = time.time()
        with self._lock:
            pending = [m for m, _ in sorted(self._inflight.values(), key=lambda x: x[1])]
            self._inflight.clear()
            fresh = [m for m in pending if m.expires_at is None or m.expires_at > now]
            stale = len(pending) - len(fresh)
            self.counts["dropped_stale"] += stale
            self.counts["requeued"] += len(fresh)
            self._outbox.extendleft(reversed(fresh))
            while len(self._outbox) > self.cfg.outbox_size:
                self._outbox.popleft()
                self.counts["dropped_full"] += 1
        if stale:
            log.warning("dropped %d stale unacknowledged message(s) after the connection was lost", stale)

    def _oldest_inflight(self) -> float | None:
        with self._lock:
            oldest = min((t for _, t in self._inflight.values()), default=None)
            if self._probe is not None:
                oldest = self._probe[1] if oldest is None else min(oldest, self._probe[1])
            return oldest

    def _probed(self, client: paho.Client) -> bool:
        """Whether the broker answered recently enough to be sent messages with a deadline; sends a probe
        when it has been silent for ``PROBE_AFTER_S`` (its acknowledgement lets the outbox go)."""
        now = time.monotonic()
        if now - self._last_ack <= PROBE_AFTER_S:
            return True
        if self._probe is None:
            info = client.publish(self.probe_topic, b"", qos=1, retain=False, properties=expiry_properties(1))
            if info.rc == paho.MQTT_ERR_SUCCESS:
                self._probe = (info.mid, now)
        return False

    def _flush(self, client: paho.Client) -> None:
        if not self._outbox:
            return
        sock = client.socket()
        corked = cork(sock, True)  # one TCP segment for a burst (intent + its hermes copy)
        try:
            self._flush_outbox(client)
        finally:
            if corked:
                cork(sock, False)

    def _flush_outbox(self, client: paho.Client) -> None:
        with self._lock:
            timed = any(m.expires_at is not None for m in self._outbox)
        if timed and not self._probed(client):
            return
        while True:
            with self._lock:
                if not self._outbox or len(self._inflight) >= self.max_inflight:
                    return
                message = self._outbox.popleft()
            props = None
            if message.expires_at is not None:
                left = message.expires_at - time.time()
                if left <= 0:
                    self.counts["dropped_stale"] += 1
                    log.warning("dropped stale message for %s (expired in the outbox)", message.topic)
                    continue
                props = expiry_properties(left)
            info = client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain,
                                  properties=props)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                with self._lock:
                    self._outbox.appendleft(message)
                return
            self.counts["published"] += 1
            if message.qos > 0:
                with self._lock:
                    if not info.is_published():
                        self._inflight[info.mid] = (message, time.monotonic())

    # paho callbacks (network thread) -------------------------------------------------------------------
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._refused = True
            self.health.problem(explain_refusal(reason, self.cfg))
            return
        self.health.ok()
        self.counts["connects"] += 1
        self._last_ack, self._probe = time.monotonic(), None
        log.info("connected to MQTT broker %s:%s", self.cfg.host, self.cfg.port)
        client.publish(self.availability, b"online", qos=1, retain=True)
        self.subs.resubscribe_all(client)
        self.connected.set()
        for cb in list(self.on_connected):
            try:
                cb()
            except Exception:  # a listener bug must not kill the network thread
                log.exception("MQTT on_connected listener failed")

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connected.clear()

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._last_ack = time.monotonic()
        if getattr(reason, "is_failure", False):
            with self._lock:
                held = self._inflight.get(mid)
            self.health.denied_topic("accept a message on", held[0].topic if held else self.probe_topic, reason)
        if self._probe is not None and self._probe[0] == mid:
            self._probe = None
            return
        with self._lock:
            if self._inflight.pop(mid, None) is not None:
                self.counts["acked"] += 1

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self._rx.append((msg.topic, bytes(msg.payload), bool(msg.retain), msg.properties))

    def _dispatch(self) -> None:
        """Run handlers for the messages read in this tick (batched, so a burst is handled as one)."""
        while self._rx:
            self.subs.dispatch(*self._rx.popleft())
