"""A broker that stalls (SIGSTOP) never gets an intent or a device action after its deadline: the stall is
noticed within ``mqtt.ack_timeout_s``, the stalled connection is reset (so the broker cannot read what was
written to it once it resumes), and only messages still fresh are sent on the next connection."""

from __future__ import annotations

import threading
import time

import pytest

from agent.config.schema import MqttConfig
from agent.intents.publisher import Message
from agent.mqtt.broker import LocalBroker
from agent.mqtt.client import MqttClient


@pytest.mark.slow
def test_broker_sigstop_sends_nothing_late(broker: LocalBroker) -> None:
    cfg = MqttConfig.model_validate({"host": broker.host, "port": broker.port, "reconnect_min_s": 0.05,
                                     "reconnect_max_s": 0.5, "ack_timeout_s": 1.0})
    arrivals: list[tuple[float, float]] = []  # (deadline, arrival) as the subscriber saw them
    lock = threading.Lock()
    listener = MqttClient(cfg, "listener", client_id="stall-listener")

    def got(topic: str, payload: bytes, retained: bool, props: object) -> None:
        with lock:
            arrivals.append((float(payload.decode()), time.time()))

    listener.subscribe("stall/#", got)
    sender = MqttClient(cfg, "sender", client_id="stall-sender")
    listener.start()
    sender.start()
    try:
        assert listener.wait_connected(5) and sender.wait_connected(5)
        stalled_until = 0.0
        sent = 0
        t_end = time.monotonic() + 14.0
        while time.monotonic() < t_end:
            if sent == 3:
                broker.pause()
                time.sleep(0.2)  # stopped for sure: a message the broker read before it stopped is not the case
                stalled_until = time.monotonic() + 8.0
            if stalled_until and time.monotonic() > stalled_until:
                broker.resume()
                stalled_until = 0.0
            deadline = time.time() + 1.5
            sender.publish(Message(f"stall/{sent}", f"{deadline:.6f}".encode(), qos=1, expires_at=deadline))
            sent += 1
            time.sleep(0.5)
        time.sleep(2.0)
    finally:
        broker.resume()
        sender.stop()
        listener.stop()
    late = [(d, a) for d, a in arrivals if a > d + 0.05]  # 50 ms for the subscriber's own delivery
    assert len(arrivals) >= 10, arrivals
    assert not late, [round(a - d, 2) for d, a in late]
    assert sender.counts["disconnects"] >= 1
