"""Three agents on one loopback broker hear the same utterances: exactly one acts per utterance."""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

import pytest

from agent.config.schema import MqttConfig
from agent.errors import PayloadError
from agent.intents.publisher import Message
from agent.mqtt.arbitration import Arbiter, Candidate, candidate_topic
from agent.mqtt.broker import LocalBroker
from agent.mqtt.client import MqttClient
from agent.types import Intent

KEY = b"0123456789abcdef0123456789abcdef"  # the per-home secret of these tests' agents


def test_candidate_round_trip_and_validation() -> None:
    c = Candidate("i1", "kitchen", "lights_on", 10.0, 11.0, 0.9, 21.5)
    assert Candidate.from_payload(c.to_payload()) == c
    assert Candidate.from_payload(c.to_payload(KEY), KEY, now=20.0) == c
    bad: Any
    for bad in ({**c.to_payload(), "score": float("nan")}, {**c.to_payload(), "x": 1}, [], {"v": 2},
                {**c.to_payload(), "score": 1e308}, {**c.to_payload(), "snr_db": 1e308},
                {**c.to_payload(), "wall_start": -1e308}):
        with pytest.raises(PayloadError):
            Candidate.from_payload(bad)
    with pytest.raises(PayloadError, match="MAC"):
        Candidate.from_payload({**c.to_payload(KEY), "score": 0.99}, KEY)  # changed after signing
    with pytest.raises(PayloadError, match="MAC"):
        Candidate.from_payload(c.to_payload(b"another home's secret key"), KEY)
    with pytest.raises(PayloadError, match="near the present"):
        Candidate.from_payload(c.to_payload(KEY), KEY, now=1000.0)


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

        a = Arbiter(c, "homeagent", site, act, key=KEY, window_s=0.3, match_s=0.5)
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
    arb = Arbiter(c, "homeagent", "solo", lambda i: acted.append(i.id), key=KEY, window_s=0.1)
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


FORGED = (b'{"v":1,"id":"x","site":"zz","name":"x","wall_start":-1e308,"wall_end":1e308,"score":1e308,'
          b'"snr_db":1e308}')


def test_forged_candidates_silence_nobody(broker: LocalBroker) -> None:
    """The attack of issue 20: a forged candidate with absurd values, repeated, once silenced every agent. Now
    unsigned, mis-signed, out-of-bounds, deeply nested and other-site candidates are all ignored."""
    cfg = MqttConfig.model_validate({"host": broker.host, "port": broker.port})
    c = MqttClient(cfg, "solo", client_id="arb-solo")
    attacker = MqttClient(cfg, "zz", client_id="arb-attacker")
    acted: list[str] = []
    arb = Arbiter(c, "homeagent", "solo", lambda i: acted.append(i.id), key=KEY, window_s=0.2)
    for cl in (c, attacker):
        cl.start()
    arb.start()
    try:
        assert c.wait_connected(5) and attacker.wait_connected(5)
        now = time.time()
        other_site = Candidate("y", "hall", "x", now - 1, now, 1.0, 99.0).to_payload(KEY)
        attacks = [FORGED, b"[" * 50000 + b"]" * 50000, b'{"v":1,"score":1' + b"0" * 400 + b"}",
                   json.dumps({**Candidate("z", "zz", "x", now - 1, now, 1.0, 99.0).to_payload(),
                               "mac": "0" * 64}).encode(),
                   json.dumps(other_site).encode()]  # a valid candidate of 'hall' sent on zz's topic
        for payload in attacks:
            attacker.publish(Message(candidate_topic("homeagent", "zz"), payload, qos=1))
        time.sleep(0.5)
        i = Intent.create("lights_on", 0.7, time.monotonic() - 1, time.monotonic(), site_id="solo")
        arb.propose(i)
        deadline = time.monotonic() + 3
        while not acted and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        arb.stop()
        for cl in (c, attacker):
            cl.stop()
    assert acted == [i.id]
    assert arb.counts["invalid"] == len(attacks) and arb.counts["lost"] == 0
