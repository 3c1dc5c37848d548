"""Command topics: strict schema, size cap, retained ignored, deadlines (local and MQTT 5 expiry), dedup,
and 10,000+ fuzzed payloads that must never raise anything but PayloadError."""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.config.schema import MqttConfig
from agent.errors import PayloadError
from agent.intents.publisher import Message
from agent.mqtt.broker import LocalBroker
from agent.mqtt.client import MqttClient
from agent.mqtt.commands import MAX_COMMAND_BYTES, SCHEMAS, Command, CommandRouter, parse_command

OUTCOMES = {"executed", "accepted", "retained", "invalid", "stale", "duplicate", "unhandled", "overflow", "failed"}
FUZZ = {"n": 0}


def _cmd(**kw: Any) -> bytes:
    d = {"id": "c1", "ts": time.time(), "on": True}
    d.update(kw)
    return json.dumps({k: v for k, v in d.items() if v is not ...}).encode()


def _router(executed: list[Command], clock: Any = time.time) -> CommandRouter:
    handlers = {name: executed.append for name in SCHEMAS}
    return CommandRouter("homeagent", "k", handlers, clock=clock)


def test_valid_command_round_trips() -> None:
    cmd = parse_command("mute", _cmd(ttl_s=5))
    assert cmd.args == {"on": True} and cmd.ttl_s == 5
    assert Command.from_payload("mute", cmd.to_payload()) == cmd


@pytest.mark.parametrize("raw, why", [
    (b"\xff\xfe", "UTF-8"), (b"[1]", "object"), (b'{"id":"a","id":"b","ts":1,"on":true}', "duplicate"),
    (_cmd(on=1), "bool"), (_cmd(on=...), "missing"), (_cmd(extra=1), "unknown"), (_cmd(id=""), "id"),
    (_cmd(id="a/b"), "id"), (_cmd(ts="now"), "ts"), (_cmd(ts=True), "ts"), (_cmd(ttl_s=0), "ttl_s"),
    (_cmd(ttl_s=1e9), "ttl_s"), (b'{"id":"a","ts":NaN,"on":true}', "NaN"),
    (b"[" * 5000, "bytes"), (b'{"id":"a","ts":1,"on":true,"x":"' + b"y" * MAX_COMMAND_BYTES + b'"}', "bytes"),
])
def test_invalid_commands_are_rejected_with_a_reason(raw: bytes, why: str) -> None:
    with pytest.raises(PayloadError, match=why):
        parse_command("mute", raw)


def test_deep_nesting_under_the_cap_is_a_payload_error() -> None:
    with pytest.raises(PayloadError):
        parse_command("mute", b"[" * 4000)


def test_router_retained_stale_expiry_duplicate() -> None:
    executed: list[Command] = []
    r = _router(executed)
    topic = "homeagent/k/cmd/mute"
    assert r.handle(topic, _cmd(id="r1"), retained=True) == "retained"
    assert r.handle(topic, _cmd(id="s1", ts=time.time() - 11), retained=False) == "stale"  # default TTL 10 s
    assert r.handle(topic, _cmd(id="s2", ts=time.time() - 3, ttl_s=2), retained=False) == "stale"
    assert r.handle(topic, _cmd(id="f1", ts=time.time() + 3600), retained=False) == "invalid"
    assert r.handle(topic, _cmd(id="ok"), retained=False) == "executed"
    assert r.handle(topic, _cmd(id="ok"), retained=False) == "duplicate"  # QoS 1 redelivery
    assert r.handle("homeagent/k/cmd/nope", _cmd(id="u1"), retained=False) == "invalid"
    assert [c.id for c in executed] == ["ok"]
    assert r.counts["stale"] == 2 and r.counts["duplicate"] == 1 and r.counts["retained"] == 1


def test_router_checks_the_deadline_again_before_running() -> None:
    executed: list[Command] = []
    now = [1000.0]
    r = _router(executed, clock=lambda: now[0])
    gate = threading.Event()
    def slow(c: Command) -> None:
        gate.wait(5)
        executed.append(c)

    r.handlers["camera"] = slow
    r.start()
    try:
        assert r.handle("homeagent/k/cmd/camera", json.dumps({"id": "a", "ts": 1000.0, "off": True}).encode(),
                        False) == "accepted"
        assert r.handle("homeagent/k/cmd/mute", _cmd(id="b", ts=1000.0, ttl_s=1), False) == "accepted"
        now[0] = 1002.0  # the mute command waits behind the camera one and goes stale
        gate.set()
    finally:
        r.stop()
    assert [c.id for c in executed] == ["a"] and r.counts["stale"] == 1


def test_mqtt5_message_expiry_shortens_the_deadline() -> None:
    executed: list[Command] = []
    now = [1000.0]
    r = _router(executed, clock=lambda: now[0])
    r.start()
    gate = threading.Event()
    r.handlers["camera"] = lambda c: gate.wait(5)
    try:
        r.handle("homeagent/k/cmd/camera", json.dumps({"id": "x", "ts": 1000.0, "off": True}).encode(), False)
        props = SimpleNamespace(MessageExpiryInterval=1)  # broker says: 1 s left
        assert r.handle("homeagent/k/cmd/mute", _cmd(id="y", ts=1000.0, ttl_s=60), False, props) == "accepted"
        now[0] = 1001.5
        gate.set()
    finally:
        r.stop()
    assert r.counts["stale"] == 1 and executed == []


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                     lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=8), kids, max_size=6),
                     max_leaves=20)
_near = st.fixed_dictionaries({"id": st.one_of(st.text(max_size=70), st.integers()),
                               "ts": st.one_of(st.floats(), st.integers(), st.text(max_size=3),
                                               st.just(time.time())),
                               }, optional={"ttl_s": st.one_of(st.floats(), st.integers(), st.none()),
                                            "on": _json, "off": _json, "x": _json})
# Hypothesis examples per fuzz test: HOMEAGENT_FUZZ_EXAMPLES=4000 gives 10,000+ (about 90 s on a busy 2-core
# box); the default keeps the suite fast and the mutation fuzzer below adds 12,000 cheap payloads.
N_EXAMPLES = int(os.environ.get("HOMEAGENT_FUZZ_EXAMPLES", "300"))
FUZZ_SETTINGS = settings(max_examples=N_EXAMPLES, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck))


@FUZZ_SETTINGS
@given(name=st.sampled_from([*SCHEMAS, "bogus", ""]), raw=st.binary(max_size=300))
def test_fuzz_raw_bytes(name: str, raw: bytes) -> None:
    FUZZ["n"] += 1
    with contextlib.suppress(PayloadError):
        parse_command(name, raw)


@FUZZ_SETTINGS
@given(name=st.sampled_from(list(SCHEMAS)), d=st.one_of(_json, _near))
def test_fuzz_json_structures(name: str, d: Any) -> None:
    FUZZ["n"] += 1
    raw = json.dumps(d).encode()
    try:
        cmd = parse_command(name, raw)
    except PayloadError:
        return
    assert set(cmd.args) == set(SCHEMAS[name]) and 0 < cmd.ttl_s <= 300


@settings(max_examples=max(1, N_EXAMPLES * 5 // 8), deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from([*SCHEMAS, "x", "a/b"]), payload=st.one_of(st.binary(max_size=200), _near.map(
    lambda d: json.dumps(d).encode())), retained=st.booleans())
def test_fuzz_router_never_raises(name: str, payload: bytes, retained: bool) -> None:
    FUZZ["n"] += 1
    r = _router([])
    assert r.handle(f"homeagent/k/cmd/{name}", payload, retained) in OUTCOMES


def _mutate(rng: random.Random, raw: bytes) -> bytes:
    b = bytearray(raw)
    for _ in range(rng.randint(1, 6)):
        op = rng.random()
        i = rng.randrange(len(b) + 1)
        if op < 0.3 and b:
            b[min(i, len(b) - 1)] = rng.randrange(256)
        elif op < 0.5:
            b[i:i] = bytes(rng.choice([b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"NaN", b"1e999", b"-0",
                                       b"true", b"null", b"\\ud800", b"\xc3", b"\x00"]))
        elif op < 0.7 and b:
            del b[i:i + rng.randint(1, 8)]
        else:
            j = rng.randrange(len(b) + 1)
            b[i:i] = b[j:j + rng.randint(1, 20)]
    return bytes(b)


def test_mutation_fuzz_12000_payloads() -> None:
    rng = random.Random(2026)
    seeds = [_cmd(), _cmd(id="x" * 64, ttl_s=300), json.dumps({"id": "a", "ts": 1, "off": False}).encode(),
             json.dumps({"id": "r", "ts": time.time()}).encode()]
    r = _router([])
    outcomes: dict[str, int] = {}
    for _n in range(12_000):
        raw = _mutate(rng, rng.choice(seeds))
        name = rng.choice([*SCHEMAS, "bogus"])
        with contextlib.suppress(PayloadError):
            parse_command(name, raw)
        out = r.handle(f"homeagent/k/cmd/{name}", raw, retained=rng.random() < 0.1)
        assert out in OUTCOMES
        outcomes[out] = outcomes.get(out, 0) + 1
        FUZZ["n"] += 1
    print(f"mutation fuzz outcomes: {outcomes}")
    assert outcomes.get("invalid", 0) > 1000


def test_fuzz_count_reached() -> None:
    """Runs after the fuzz tests of this module (pytest keeps file order)."""
    print(f"fuzzed command payloads: {FUZZ['n']}")
    assert FUZZ["n"] >= 10_000


def test_retained_and_duplicate_commands_over_a_real_broker(broker: LocalBroker) -> None:
    cfg = MqttConfig.model_validate({"host": broker.host, "port": broker.port, "reconnect_min_s": 0.05,
                                     "reconnect_max_s": 0.3})
    sender = MqttClient(cfg, "ctl", client_id="ctl")
    sender.start()
    assert sender.wait_connected(5)
    sender.publish(Message("homeagent/k/cmd/mute", _cmd(id="old"), retain=True))  # a replay trap
    time.sleep(0.3)
    executed: list[Command] = []
    router = _router(executed)
    agent = MqttClient(cfg, "k", client_id="agent-k")
    agent.subscribe("homeagent/k/cmd/+", router.handle)
    agent.start()
    try:
        assert agent.wait_connected(5)
        time.sleep(0.3)
        for _ in range(3):
            sender.publish(Message("homeagent/k/cmd/mute", _cmd(id="dup", on=False)))
        deadline = time.monotonic() + 5
        while router.counts["duplicate"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        agent.stop()
        sender.publish(Message("homeagent/k/cmd/mute", b"", retain=True))
        sender.stop()
    assert [(c.id, c.args) for c in executed] == [("dup", {"on": False})]
    assert router.counts["retained"] == 1 and router.counts["duplicate"] == 2
