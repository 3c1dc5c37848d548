"""Three agents on one loopback broker hear the same utterances: exactly one acts per utterance."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from agent.config.schema import MqttConfig
from agent.errors import PayloadError
from agent.mqtt.arbitration import Arbiter, Candidate
from agent.mqtt.broker import LocalBroker
from agent.mqtt.client import MqttClient
from agent.types import Intent


def test_candidate_round_trip_and_validation() -> None:
    c = Candidate("i1", "kitchen", "lights_on", 10.0, 11.0, 0.9, 21.5)
    assert Candidate.from_payload(c.to_payload()) == c
    bad: Any
    for bad in ({**c.to_payload(), "score": float("nan")}, {**c.to_payload(), "x": 1}, [], {"v": 2}):
        with pytest.raises(PayloadError):
            Candidate.from_payload(bad)


def test_three_agents_one_action_per_utterance(broker: LocalBroker) -> None:
    cfg = MqttConfig.model_validate({"host": broker.host, "port": broker.port, "reconnect_min_s": 0.05,
                                     "reconnect_max_s": 0.3})
    sites = ["kitchen", "hall", "living"]
    actions: list[tuple[str, str]] = []
    lock = threading.Lock()
    clients, arbiters = [], []
    for site in sites:
        c = MqttClient(cfg, site, client_id=f"arb-{site}")

        def act(intent: Intent, site: str = site) -> None:
            with lock:
                actions.append((site, intent.name))

        a = Arbiter(c, "homeagent", site, act, window_s=0.3, match_s=0.5)
        clients.append(c)
        arbiters.append(a)
    for c in clients:
        c.start()
    for a in arbiters:
        a.start()
    rng = random.Random(7)
    expected: list[tuple[str, str]] = []
    try:
        assert all(c.wait_connected(5) for c in clients)
        time.sleep(0.3)
        now = time.time()
        threads = []
        for k in range(6):  # six utterances, 5 s apart in (wall-clock) utterance time
            end = now - 0.2 - 5.0 * k
            scores = {s: round(rng.uniform(0.5, 0.99), 3) for s in sites}
            expected.append((max(scores, key=lambda s: scores[s]), f"cmd{k}"))
            for site, arb in zip(sites, arbiters, strict=True):
                jitter = rng.uniform(-0.08, 0.08)  # each agent cuts the utterance slightly differently
                intent = Intent(name=f"cmd{k}", confidence=scores[site], t_start=0, t_end=0, site_id=site,
                                wall_start=end - 1.0 + jitter, wall_end=end + jitter, ttl_s=30.0)
                t = threading.Thread(target=arb.propose, args=(intent, rng.uniform(5, 30)))
                t.start()
                threads.append(t)
        for t in threads:
            t.join()
        deadline = time.monotonic() + 5
        while sum(a.counts["won"] + a.counts["lost"] for a in arbiters) < 18 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
    finally:
        for a in arbiters:
            a.stop()
        for c in clients:
            c.stop()
    assert sorted(actions, key=lambda x: x[1]) == sorted(expected, key=lambda x: x[1])
    assert sum(a.counts["won"] for a in arbiters) == 6 and sum(a.counts["lost"] for a in arbiters) == 12


def test_lone_agent_acts_without_rivals(broker: LocalBroker) -> None:
    cfg = MqttConfig.model_validate({"host": broker.host, "port": broker.port})
    c = MqttClient(cfg, "solo", client_id="arb-solo")
    acted: list[str] = []
    arb = Arbiter(c, "homeagent", "solo", lambda i: acted.append(i.id), window_s=0.1)
    c.start()
    arb.start()
    try:
        assert c.wait_connected(5)
        i = Intent.create("lights_on", 0.7, time.monotonic() - 1, time.monotonic(), site_id="solo")
        arb.propose(i)
        deadline = time.monotonic() + 3
        while not acted and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        arb.stop()
        c.stop()
    assert acted == [i.id]
