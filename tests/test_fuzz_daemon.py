"""The running daemon under a flood of hostile MQTT payloads on every topic it subscribes to: no traceback, a
bounded log, and intents keep flowing (issue 20: a 100k-message fuzz once produced 615 tracebacks and a 57 MB
log, and an intent waited 25 s in the outbox)."""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import paho.mqtt.client as paho
import pytest

from agent.audio.wav import read_wav_16k
from agent.config.schema import AgentConfig
from agent.daemon.agent import Agent
from agent.demo.run import MEDIA
from agent.mqtt.broker import LocalBroker
from agent.ota.manifest import generate_keypair
from agent.sources.wav_replay import WavReplaySource

N_PAYLOADS = int(os.environ.get("HOMEAGENT_DAEMON_FUZZ", "100000"))
SITE = "fz"


def _templates(now: float) -> dict[str, list[bytes]]:
    """Valid-looking payloads per topic, which the fuzzer then mutates (and sometimes sends as they are).
    Commands are harmless ones (mute off, camera on): a valid mutation must not silence the agent."""
    cmd = {"id": "c1", "ts": now}
    return {
        f"homeagent/{SITE}/cmd/mute": [json.dumps({**cmd, "on": False}).encode()],
        f"homeagent/{SITE}/cmd/camera": [json.dumps({**cmd, "off": False}).encode()],
        f"homeagent/{SITE}/cmd/ota_install": [json.dumps(cmd).encode()],
        f"homeagent/{SITE}/cmd/ha_install": [b"install", b"x"],
        f"homeagent/{SITE}/cmd/" + "n" * 300: [b"{}"],
        "homeassistant/status": [b"online", b"offline"],
        f"homeagent/{SITE}/ota/announce": [json.dumps({"name": "speech", "version": 2, "human_version": "2",
                                                       "url": "https://x/b.tgz", "envelope": "{}"}).encode()],
        "homeagent/zz/arbitration": [json.dumps({"v": 1, "id": "x", "site": "zz", "name": "x",
                                                 "wall_start": now - 1, "wall_end": now, "score": 1.0,
                                                 "snr_db": 30.0, "mac": "0" * 64}).encode()],
    }


def _mutate(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(0, 4)):
        op = rng.random()
        if op < 0.3 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op < 0.5:
            data[rng.randrange(len(data) + 1):rng.randrange(len(data) + 1)] = b""
        elif op < 0.7:
            data.insert(rng.randrange(len(data) + 1), rng.choice(b'{}[]",:0123456789eE-+.\\ntfu'))
        elif op < 0.85:
            data += rng.choice([b"[" * 3000, b"9" * 500, b'"' + b"a" * 5000 + b'"', b"\xff\xfe"])
        else:
            data = bytearray(rng.randbytes(rng.randint(0, 64)))
    return bytes(data)


@pytest.fixture
def roomy_broker() -> Iterator[LocalBroker]:
    """A broker that queues QoS 1 messages without limit for a slow subscriber (its default drops past 1,000
    queued messages, so how many payloads reach the daemon would depend on the machine's load)."""
    b = LocalBroker(extra_config="max_queued_messages 0\nmax_queued_bytes 0\n").start()
    try:
        yield b
    finally:
        b.stop()


@pytest.mark.slow
def test_daemon_survives_a_flood_of_hostile_payloads(roomy_broker: LocalBroker, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    broker = roomy_broker
    generate_keypair(tmp_path / "ota")
    (tmp_path / "arbitration_key").write_text("a-per-home-secret-of-this-test-run\n")
    cfg = AgentConfig.model_validate({
        "site_id": SITE, "state_dir": str(tmp_path / "state"),
        "mqtt": {"host": broker.host, "port": broker.port, "arbitration_window_s": 0.1,
                 "arbitration_key_file": str(tmp_path / "arbitration_key")},
        "ota": {"public_key_file": str(tmp_path / "ota" / "public.pem")}})
    audio = read_wav_16k(MEDIA / "demo.wav")
    agent = Agent(cfg, audio=WavReplaySource(pcm=np.asarray(audio), realtime=True, loop=True))
    intents: list[float] = []
    watcher = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="fuzz-watch")
    watcher.on_message = lambda c, u, m: intents.append(time.monotonic())
    fuzzer = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="fuzz-tx", protocol=paho.MQTTv5)
    caplog.set_level(logging.INFO)
    runner = threading.Thread(target=agent.run, kwargs={"install_signals": False})
    runner.start()
    try:
        watcher.connect(broker.host, broker.port)
        watcher.subscribe(f"homeagent/{SITE}/intent/#", qos=1)
        watcher.loop_start()
        fuzzer.connect(broker.host, broker.port)
        fuzzer.loop_start()
        assert agent.mqtt.wait_connected(10)
        rng = random.Random(2026)
        templates = _templates(time.time())
        topics = list(templates)
        t0 = time.monotonic()
        countable = 0  # payloads on topics whose handling is counted (commands, candidates)
        for i in range(N_PAYLOADS):
            topic = topics[i % len(topics)]
            raw = rng.choice(templates[topic])
            payload = raw if rng.random() < 0.05 else _mutate(rng, raw)
            fuzzer.publish(topic, payload, qos=0, retain=rng.random() < 0.02)
            countable += ("/cmd/" in topic and not topic.endswith("/ha_install")) or "/arbitration" in topic
            if i % 2000 == 1999:
                time.sleep(0.05)  # let the loopback socket drain; the flood lasts tens of seconds
        flood = (t0, time.monotonic())

        def seen_now() -> int:
            assert agent.bridge is not None and agent.arbiter is not None
            return sum(agent.bridge.commands.counts.values()) + agent.arbiter.counts["invalid"]

        last, still = -1, time.monotonic()  # drain: until what the daemon has handled stops growing
        while time.monotonic() - still < 1.5 and time.monotonic() - flood[1] < 30:
            if seen_now() != last:
                last, still = seen_now(), time.monotonic()
            time.sleep(0.25)
    finally:
        agent.stop()
        runner.join(10)
        fuzzer.loop_stop()
        fuzzer.disconnect()
        watcher.loop_stop()
        watcher.disconnect()
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert not tracebacks, [r.getMessage() for r in tracebacks[:5]]
    handled = agent.bridge.commands.counts if agent.bridge is not None else {}
    seen = sum(handled.values()) + agent.arbiter.counts["invalid"]  # type: ignore[union-attr]
    # QoS 0: the broker sheds what a busy subscriber cannot take (85 % arrived on an idle machine, 24 % on one
    # running a second heavy job); the point is that thousands of hostile payloads reach every handler, which
    # does not depend on the machine's load
    assert seen >= 5000 and handled["invalid"] >= 2000, (seen, countable, handled)
    during = [t for t in intents if flood[0] <= t <= flood[1] + 3.0]
    assert len(during) >= max(1, int((flood[1] - flood[0]) / 15)), (len(during), flood[1] - flood[0])
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("agent")]
    print(f"\nfuzz: {N_PAYLOADS} payloads over {len(_templates(0.0))} topics in {flood[1] - flood[0]:.1f} s; "
          f"commands {handled}; candidates refused {agent.arbiter.counts['invalid']}; "  # type: ignore[union-attr]
          f"intents during the flood {len(during)}; tracebacks {len(tracebacks)}; warning+ lines {len(noisy)}")
    assert len(noisy) < 300, len(noisy)
    assert max((len(r.getMessage()) for r in caplog.records), default=0) < 2000
