"""The intent executor's guards (retained, malformed, stale, duplicate, out-of-range TTL) and the sender's
expiry, without a broker (the client is never started: publishes only queue)."""

from __future__ import annotations

import json
import time

from agent.config.schema import MqttConfig
from agent.mqtt.client import MqttClient
from agent.mqtt.dedup import SeenIds
from agent.mqtt.reliable import IntentExecutor, ReliablePublisher, ack_topic
from agent.types import Intent


def _intent(ttl: float = 5.0, **kw: object) -> Intent:
    now = time.monotonic()
    return Intent.create("lights_on", 0.9, now - 0.5, now, site_id="tx", ttl_s=ttl, **kw)


def test_executor_guards() -> None:
    client = MqttClient(MqttConfig(), "rx")
    done: list[str] = []
    ex = IntentExecutor(client, "homeagent", lambda i: done.append(i.id))
    topic = "homeagent/tx/intent/lights_on"
    fresh = _intent()
    body = json.dumps(fresh.to_payload()).encode()
    assert ex.handle(topic, body, retained=True, props=None) == "retained"
    assert ex.handle(topic, b"{", retained=False, props=None) == "invalid"
    assert ex.handle(topic, b"x" * 70_000, retained=False, props=None) == "invalid"
    assert ex.handle(topic, body, retained=False, props=None) == "executed"
    assert ex.handle(topic, body, retained=False, props=None) == "duplicate"
    stale = Intent.create("lights_on", 0.9, time.monotonic() - 9, time.monotonic() - 8, site_id="tx", ttl_s=5)
    assert ex.handle(topic, json.dumps(stale.to_payload()).encode(), retained=False, props=None) == "stale"
    forever = _intent(ttl=1e9)
    assert ex.handle(topic, json.dumps(forever.to_payload()).encode(), retained=False, props=None) == "invalid"
    assert done == [fresh.id]
    acks = [json.loads(m.payload) for m in client._outbox if m.topic == ack_topic("homeagent", "tx")]
    assert [a["status"] for a in acks] == ["executed", "duplicate", "stale"]


def test_sender_expires_unacknowledged_intents_and_stops_on_ack() -> None:
    client = MqttClient(MqttConfig(), "tx")
    outcomes: dict[str, str] = {}
    sender = ReliablePublisher(client, "homeagent", "tx", retry_s=0.01, on_outcome=outcomes.__setitem__)
    short, acked = _intent(ttl=0.05), _intent(ttl=30)
    sender.send(short)
    sender.send(acked)
    sender._on_ack("homeagent/tx/intent_ack", json.dumps({"id": acked.id, "status": "executed"}).encode(), False,
                   None)
    time.sleep(0.1)
    sender.tick()
    assert outcomes == {acked.id: "executed", short.id: "expired"} and sender.pending == 0


def test_seen_ids_forget_after_horizon_and_capacity() -> None:
    seen = SeenIds(capacity=3, horizon_s=10)
    assert seen.first_time("a", now=0) and not seen.first_time("a", now=5)
    assert seen.first_time("a", now=11)  # forgotten after the horizon
    for k in "bcd":
        seen.first_time(k, now=12)
    assert len(seen) == 3
