"""Fault injection against a real Mosquitto on 127.0.0.1: SIGKILL + restart, SIGSTOP/SIGCONT, and a TCP proxy
that stalls or drops the connection. Stale intents must never be executed, fresh ones must get through."""

from __future__ import annotations

import threading
import time
from typing import Any

from agent.bench.mqtt_proxy import TcpProxy
from agent.config.schema import MqttConfig
from agent.intents.publisher import Message
from agent.mqtt.broker import LocalBroker
from agent.mqtt.client import MqttClient
from agent.mqtt.reliable import IntentExecutor, intent_message
from agent.types import Intent


def _cfg(host: str, port: int, **kw: Any) -> MqttConfig:
    return MqttConfig.model_validate({"host": host, "port": port, "reconnect_min_s": 0.05, "reconnect_max_s": 0.3,
                                      "keepalive_s": 5, **kw})


def _client(host: str, port: int, site: str, **kw: Any) -> MqttClient:
    return MqttClient(_cfg(host, port), site, client_id=f"{site}-{time.monotonic_ns()}", connect_timeout_s=0.5,
                      **kw)


def _intent(ttl: float, name: str = "lights_on") -> Intent:
    now = time.monotonic()
    return Intent.create(name, 0.9, now - 0.3, now, site_id="tx", ttl_s=ttl)


def _until(pred: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not pred() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(pred())


class Executed:
    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, intent: Intent) -> None:
        with self.lock:
            self.ids.append(intent.id)


def test_sigkill_restart_reconnects_resubscribes_and_rebirths(broker: LocalBroker) -> None:
    got: list[bytes] = []
    rx = _client(broker.host, broker.port, "rx")
    rx.subscribe("t/#", lambda t, p, r, pr: got.append(p))
    tx = _client(broker.host, broker.port, "tx")
    avail: list[bytes] = []
    watcher = _client(broker.host, broker.port, "w")
    watcher.subscribe("homeagent/tx/availability", lambda t, p, r, pr: avail.append(p))
    for c in (rx, tx, watcher):
        c.start()
    try:
        assert all(c.wait_connected(5) for c in (rx, tx, watcher))
        assert _until(lambda: avail.count(b"online") == 1)  # the watcher's subscription is in place
        for cycle in range(3):
            broker.kill()
            assert _until(lambda: not tx.connected.is_set() and not rx.connected.is_set())
            tx.publish(Message("t/x", f"during-{cycle}".encode(), expires_at=time.time() + 30))
            broker.restart()
            assert _until(lambda: tx.connected.is_set() and rx.connected.is_set() and watcher.connected.is_set())
            time.sleep(0.2)  # subscriptions are re-made in on_connect (clean session: nothing kept by the broker)
            tx.publish(Message("t/x", f"after-{cycle}".encode()))
            assert _until(lambda c=cycle: f"after-{c}".encode() in got)
        assert tx.counts["connects"] == 4 and tx.counts["disconnects"] == 3
        assert _until(lambda: avail.count(b"online") >= 4), avail
    finally:
        for c in (rx, tx, watcher):
            c.stop()


def test_sigstop_stale_inflight_dropped_fresh_delivered_once(broker: LocalBroker) -> None:
    done = Executed()
    rx = _client(broker.host, broker.port, "rx")
    ex = IntentExecutor(rx, "homeagent", done)
    tx = _client(broker.host, broker.port, "tx", ack_timeout_s=0.4)
    rx.start()
    tx.start()
    try:
        assert rx.wait_connected(5) and tx.wait_connected(5)
        time.sleep(0.2)
        broker.pause()
        stale, fresh = _intent(0.6), _intent(30.0, "lights_off")
        tx.publish(intent_message("homeagent", stale))
        tx.publish(intent_message("homeagent", fresh))
        assert _until(lambda: not tx.connected.is_set(), 3.0)  # no PUBACK within 0.4 s: connection dropped
        time.sleep(0.8)  # the stale intent's deadline passes while the broker is frozen
        broker.resume()
        assert _until(lambda: fresh.id in done.ids, 8.0)
        time.sleep(0.5)
        assert stale.id not in done.ids
        assert done.ids.count(fresh.id) == 1
        assert tx.counts["dropped_stale"] >= 1 or ex.counts["stale"] >= 1
    finally:
        broker.resume()
        tx.stop()
        rx.stop()


def test_stalled_proxy_late_bytes_are_refused_by_the_executor(broker: LocalBroker) -> None:
    done = Executed()
    with TcpProxy(broker.host, broker.port) as proxy:
        rx = _client(broker.host, broker.port, "rx")  # the executor talks to the broker directly
        ex = IntentExecutor(rx, "homeagent", done)
        tx = _client(proxy.host, proxy.port, "tx", ack_timeout_s=5.0)
        rx.start()
        tx.start()
        try:
            assert rx.wait_connected(5) and tx.wait_connected(5)
            time.sleep(0.2)
            proxy.stall()
            late = _intent(0.5)
            tx.publish(intent_message("homeagent", late))
            time.sleep(1.0)  # bytes sit in the stalled proxy past the deadline
            proxy.resume()  # ... and then reach the broker, which forwards them: a late delivery
            assert _until(lambda: ex.counts["stale"] >= 1, 5.0), (ex.counts, tx.counts, done.ids, late.id)
            assert late.id not in done.ids
            fresh = _intent(30.0)
            tx.publish(intent_message("homeagent", fresh))
            assert _until(lambda: fresh.id in done.ids, 5.0)
        finally:
            tx.stop()
            rx.stop()


def test_proxy_drop_reconnects_and_keeps_delivering(broker: LocalBroker) -> None:
    got: list[bytes] = []
    with TcpProxy(broker.host, broker.port) as proxy:
        rx = _client(broker.host, broker.port, "rx")
        rx.subscribe("d/#", lambda t, p, r, pr: got.append(p))
        tx = _client(proxy.host, proxy.port, "tx")
        rx.start()
        tx.start()
        try:
            assert rx.wait_connected(5) and tx.wait_connected(5)
            time.sleep(0.2)
            for i in range(3):
                proxy.drop()
                tx.publish(Message("d/x", f"m{i}".encode(), expires_at=time.time() + 30))
                assert _until(lambda i=i: f"m{i}".encode() in got, 5.0)
            assert tx.counts["connects"] >= 2 and proxy.connections >= 2
        finally:
            tx.stop()
            rx.stop()
