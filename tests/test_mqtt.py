from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np

from agent.config.schema import MqttConfig
from agent.intents.publisher import IntentPublisher, Message
from agent.mqtt.broker import LocalBroker
from agent.mqtt.client import MqttClient
from agent.types import CommandScores, Intent


class Inbox:
    def __init__(self) -> None:
        self.items: list[tuple[str, bytes, bool]] = []
        self.cond = threading.Condition()

    def __call__(self, topic: str, payload: bytes, retained: bool, props: Any) -> None:
        with self.cond:
            self.items.append((topic, payload, retained))
            self.cond.notify_all()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[tuple[str, bytes, bool]]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.items) < n and time.monotonic() < deadline:
                self.cond.wait(0.05)
            return list(self.items)


def _client(broker: LocalBroker, site: str = "t", **kw: Any) -> MqttClient:
    return MqttClient(MqttConfig(host=broker.host, port=broker.port, reconnect_min_s=0.5, reconnect_max_s=1,
                                 **kw), site, client_id=f"c-{site}-{time.monotonic_ns()}")


def _listen(broker: LocalBroker, topic: str) -> tuple[MqttClient, Inbox]:
    inbox = Inbox()
    c = _client(broker, "listener")
    c.subscribe(topic, inbox)
    c.start()
    assert c.wait_connected(5)
    time.sleep(0.1)
    return c, inbox


class NullRecognizer:
    def recognize(self, pcm: np.ndarray, t_start: float = 0.0, t_end: float = 0.0) -> CommandScores:
        return CommandScores(("unknown",), (1.0,), t_start, t_end)

    def decide(self, scores: CommandScores) -> tuple[str | None, float]:
        return None, 0.0


def test_intent_published_to_site_and_hermes_topics_not_retained(broker: LocalBroker) -> None:
    listener, inbox = _listen(broker, "#")
    pub = _client(broker, "kitchen")
    pub.start()
    assert pub.wait_connected(5)
    intents = IntentPublisher(pub, "homeagent", hermes=True)
    intent = Intent.create("lights_on", 0.9, time.monotonic() - 1, time.monotonic(), site_id="kitchen")
    intents.publish(intent)
    items = inbox.wait_for(4)
    pub.stop()
    listener.stop()
    by_topic = {t: (p, r) for t, p, r in items}
    assert by_topic["homeagent/kitchen/availability"][0] == b"online"
    payload, retained = by_topic["homeagent/kitchen/intent/lights_on"]
    assert not retained and Intent.from_payload(json.loads(payload)) == intent
    hermes, retained = by_topic["hermes/intent/lights_on"]
    assert not retained  # its format is checked against rhasspy-hermes itself: tests/test_hermes_conformance.py
    assert json.loads(hermes)["intent"]["intentName"] == "lights_on" and json.loads(hermes)["id"] == intent.id


def test_availability_birth_graceful_offline_and_last_will(broker: LocalBroker) -> None:
    listener, inbox = _listen(broker, "homeagent/+/availability")
    c = _client(broker, "a1")
    c.start()
    assert c.wait_connected(5)
    c.stop()
    code = ("import time,sys; sys.path.insert(0, '.');"
            "from agent.mqtt.client import MqttClient; from agent.config.schema import MqttConfig;"
            f"c = MqttClient(MqttConfig(host='127.0.0.1', port={broker.port}, keepalive_s=5), 'a2');"
            "c.start(); c.wait_connected(5); print('up', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"up"
        time.sleep(0.2)
        proc.kill()
        proc.wait()
        items = inbox.wait_for(5, timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    listener.stop()
    seq = [(t.split("/")[1], p) for t, p, _ in items if "/listener/" not in t]
    assert seq[:2] == [("a1", b"online"), ("a1", b"offline")]
    assert ("a2", b"online") in seq and seq[-1] == ("a2", b"offline"), seq  # the last will


def test_outage_outbox_delivers_fresh_drops_stale_and_bounds_size(broker: LocalBroker) -> None:
    pub = _client(broker, "p", outbox_size=3)
    pub.start()
    assert pub.wait_connected(5)
    broker.kill()
    deadline = time.monotonic() + 5
    while pub.connected.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pub.connected.is_set()
    now = time.time()
    assert pub.publish(Message("x/stale", b"s", expires_at=now + 0.3))
    for i in range(4):
        pub.publish(Message(f"x/fresh{i}", b"f", expires_at=now + 60))
    assert pub.counts["dropped_full"] == 2  # the stale one and fresh0 were pushed out of a 3-slot outbox
    time.sleep(0.5)
    broker.restart()
    listener, inbox = _listen(broker, "x/#")
    assert pub.wait_connected(10)
    items = inbox.wait_for(3, timeout=5)
    topics = sorted(t for t, _, _ in items)
    pub.stop()
    listener.stop()
    assert topics == ["x/fresh1", "x/fresh2", "x/fresh3"]


def test_stale_message_in_outbox_is_not_sent(broker: LocalBroker) -> None:
    # the publisher retries only every 3 s, so the listener below is subscribed before it flushes its outbox
    # (with the usual 0.5 s backoff it sometimes reconnected first and the fresh message went to nobody)
    pub = MqttClient(MqttConfig(host=broker.host, port=broker.port, reconnect_min_s=3, reconnect_max_s=3), "p2",
                     client_id=f"c-p2-{time.monotonic_ns()}")
    pub.start()
    assert pub.wait_connected(5)
    broker.kill()
    while pub.connected.is_set():
        time.sleep(0.02)
    pub.publish(Message("y/stale", b"s", expires_at=time.time() + 0.2))
    pub.publish(Message("y/fresh", b"f", expires_at=time.time() + 60))
    time.sleep(0.4)
    broker.restart()
    listener, inbox = _listen(broker, "y/#")
    assert pub.wait_connected(10)
    items = inbox.wait_for(2, timeout=2)
    pub.stop()
    listener.stop()
    assert [t for t, _, _ in items] == ["y/fresh"]
    assert pub.counts["dropped_stale"] == 1


def test_client_survives_broker_absence_and_connects_later() -> None:
    b = LocalBroker()
    c = MqttClient(MqttConfig(host=b.host, port=b.port, reconnect_min_s=0.5, reconnect_max_s=1), "late")
    c.start()
    time.sleep(0.5)
    assert not c.connected.is_set()
    b.start()
    try:
        assert c.wait_connected(10)
    finally:
        c.stop()
        b.stop()


def test_network_thread_wakes_for_publish_subscribe_and_stop(broker: LocalBroker) -> None:
    """The network thread sleeps up to ``tick_s`` between socket events; a publish, a new subscription or a stop
    from another thread must interrupt that sleep instead of waiting for the next tick."""
    listener, inbox = _listen(broker, "wake/#")
    c = MqttClient(MqttConfig(host=broker.host, port=broker.port), "w", client_id=f"wake-{time.monotonic_ns()}",
                   tick_s=30.0)
    c.start()
    try:
        assert c.wait_connected(5)
        time.sleep(0.3)  # the thread is now asleep in select with a 30 s timeout
        c.publish(Message("wake/a", b"1", qos=1))
        got = inbox.wait_for(1, timeout=5.0)
        assert [t for t, _, _ in got] == ["wake/a"], "a queued message waited for the 30 s tick"

        sub_inbox = Inbox()
        c.subscribe("wake/b", sub_inbox)
        deadline = time.monotonic() + 5.0
        while not sub_inbox.items and time.monotonic() < deadline:  # the SUBSCRIBE goes out without a tick
            listener.publish(Message("wake/b", b"2", qos=1))
            sub_inbox.wait_for(1, timeout=0.2)
        assert sub_inbox.items, "the subscription was not made before the 30 s tick"
    finally:
        t0 = time.monotonic()
        c.stop()
        stop_s = time.monotonic() - t0
        listener.stop()
    assert stop_s < 10.0, f"stop() waited {stop_s:.1f} s for the tick"
