"""The MQTT soak: intents under traffic while the broker is SIGKILLed and restarted N times.

Two real clients (sender ``soak-tx`` with :class:`ReliablePublisher`, executor ``soak-rx`` with
:class:`IntentExecutor`) talk through a local Mosquitto that is killed (SIGKILL) and restarted each cycle; with
an external broker (which we cannot kill) both go through a :class:`TcpProxy` that cuts every connection.

Every intent ends in exactly one class:

- ``delivered``: executed (once; extra executions are counted in ``duplicates_executed``);
- ``executed_late``: executions after the intent's deadline (``wall_end + ttl_s``) — must be 0;
- ``dropped_stale``: not executed, and the broker was never up for ``grace_s`` in a row inside its TTL window
  (it died in an outage and was dropped by the sender or refused by the executor as stale);
- ``lost_within_ttl``: not executed although the broker was up for ``grace_s`` or more inside its TTL window —
  must be 0. ``grace_s`` covers reconnect backoff plus one retransmission.

A share of the intents (every ``short_every``-th) gets a TTL shorter than an outage, so the stale path runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ..config.schema import MqttConfig
from ..errors import BrokerError
from ..mqtt.broker import LocalBroker
from ..mqtt.client import MqttClient
from ..mqtt.reliable import IntentExecutor, ReliablePublisher
from ..types import Intent
from .mqtt_proxy import TcpProxy

log = logging.getLogger(__name__)

NAMES = ("lights_on", "lights_off", "volume_up", "volume_down", "stop")


@dataclass(frozen=True)
class SoakOptions:
    cycles: int = 10
    host: str | None = None  # None: start our own Mosquitto on a free loopback port
    port: int | None = None
    rate_hz: float = 40.0
    up_s: float = 1.2
    down_s: float = 0.15
    ttl_s: float = 3.0
    short_ttl_s: float = 0.3
    short_every: int = 4
    grace_s: float = 1.2
    retry_s: float = 0.3
    prefix: str = "homeagent-soak"


class _Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: dict[str, tuple[float, float]] = {}  # id -> (wall sent, deadline)
        self.executions: dict[str, list[float]] = defaultdict(list)
        self.late = 0

    def execute(self, intent: Intent) -> None:
        now = time.time()
        with self.lock:
            self.executions[intent.id].append(now)
            if now > intent.expires_at_wall():
                self.late += 1


class _Faults:
    """Own broker: SIGKILL + restart. External broker: cut connections at a proxy."""

    def __init__(self, opts: SoakOptions) -> None:
        self.broker: LocalBroker | None = None
        self.proxy: TcpProxy | None = None
        if opts.host is None:
            self.broker = LocalBroker(port=opts.port).start()
            self.host, self.port = self.broker.host, self.broker.port
        else:
            self.proxy = TcpProxy(opts.host, opts.port or 1883).start()
            self.host, self.port = self.proxy.host, self.proxy.port

    def down(self) -> None:
        if self.broker is not None:
            self.broker.kill()
        elif self.proxy is not None:
            self.proxy.refuse(True)
            self.proxy.drop()

    def up(self) -> None:
        if self.broker is not None:
            for _ in range(50):
                try:
                    self.broker.start()
                    return
                except BrokerError:
                    time.sleep(0.05)
            raise BrokerError(f"mosquitto could not be restarted on port {self.port}")
        if self.proxy is not None:
            self.proxy.refuse(False)

    def close(self) -> None:
        if self.broker is not None:
            self.broker.stop()
        if self.proxy is not None:
            self.proxy.close()


def _mqtt_cfg(opts: SoakOptions, host: str, port: int) -> MqttConfig:
    return MqttConfig.model_validate({"host": host, "port": port, "topic_prefix": opts.prefix, "keepalive_s": 5,
                                      "outbox_size": 10000, "reconnect_min_s": 0.05, "reconnect_max_s": 0.5,
                                      "intent_ttl_s": opts.ttl_s})


def _traffic(opts: SoakOptions, sender: ReliablePublisher, rec: _Recorder, stop: threading.Event) -> None:
    n = 0
    period = 1.0 / opts.rate_hz
    next_t = time.monotonic()
    while not stop.is_set():
        now = time.monotonic()
        ttl = opts.short_ttl_s if opts.short_every and n % opts.short_every == opts.short_every - 1 else opts.ttl_s
        intent = Intent.create(NAMES[n % len(NAMES)], 0.9, now - 0.5, now, site_id="soak-tx", ttl_s=ttl)
        with rec.lock:
            rec.sent[intent.id] = (time.time(), intent.expires_at_wall())
        sender.send(intent)
        n += 1
        next_t += period
        stop.wait(max(0.0, next_t - time.monotonic()))


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def run_soak(opts: SoakOptions) -> dict[str, Any]:
    """Run the soak; returns the contract counts plus ``details``."""
    faults = _Faults(opts)
    rec = _Recorder()
    up: list[tuple[float, float]] = []
    tx = rx = None
    sender = None
    stop = threading.Event()
    traffic = threading.Thread(target=lambda: _traffic(opts, sender, rec, stop), name="soak-traffic",  # type: ignore[arg-type]
                               daemon=True)
    try:
        cfg = _mqtt_cfg(opts, faults.host, faults.port)
        tx = MqttClient(cfg, "soak-tx", client_id=f"soak-tx-{time.monotonic_ns()}", connect_timeout_s=1.0,
                        ack_timeout_s=1.0)
        rx = MqttClient(cfg, "soak-rx", client_id=f"soak-rx-{time.monotonic_ns()}", connect_timeout_s=1.0,
                        ack_timeout_s=1.0)
        executor = IntentExecutor(rx, opts.prefix, rec.execute)
        sender = ReliablePublisher(tx, opts.prefix, "soak-tx", retry_s=opts.retry_s)
        rx.start()
        tx.start()
        if not (rx.wait_connected(10) and tx.wait_connected(10)):
            raise BrokerError(f"soak clients could not connect to {faults.host}:{faults.port}")
        time.sleep(0.2)  # let the subscriptions settle
        sender.start()
        up_since = time.time()
        traffic.start()
        for cycle in range(opts.cycles):
            time.sleep(opts.up_s)
            up.append((up_since, time.time()))
            faults.down()
            time.sleep(opts.down_s)
            faults.up()
            up_since = time.time()
            log.info("soak cycle %d/%d", cycle + 1, opts.cycles)
        time.sleep(opts.up_s)
        stop.set()
        traffic.join(5)
        drain_until = time.time() + max(opts.ttl_s, opts.short_ttl_s) + 1.0
        while sender.pending and time.time() < drain_until:
            time.sleep(0.05)
        time.sleep(0.3)  # late duplicates, if any, still get counted
        up.append((up_since, time.time()))
        return _summarize(opts, rec, up, tx, rx, sender, executor)
    finally:
        stop.set()
        if traffic.is_alive():
            traffic.join(5)
        if sender is not None:
            sender.stop()
        for c in (tx, rx):
            if c is not None:
                c.stop(timeout=0.5)
        faults.close()


def _summarize(opts: SoakOptions, rec: _Recorder, up: list[tuple[float, float]], tx: MqttClient,
               rx: MqttClient, sender: ReliablePublisher, executor: IntentExecutor) -> dict[str, Any]:
    delivered = dropped = lost = dups = 0
    lost_ids: list[str] = []
    with rec.lock:
        for msg_id, (sent_at, deadline) in rec.sent.items():
            execs = rec.executions.get(msg_id, [])
            if execs:
                delivered += 1
                dups += len(execs) - 1
            elif max((_overlap((sent_at, deadline), u) for u in up), default=0.0) >= opts.grace_s:
                lost += 1
                lost_ids.append(msg_id)
            else:
                dropped += 1
        late = rec.late
    if lost_ids:
        log.error("intents lost within their TTL: %s", lost_ids[:10])
    return {
        "cycles": opts.cycles, "sent": len(rec.sent), "delivered": delivered, "dropped_stale": dropped,
        "executed_late": late, "lost_within_ttl": lost, "duplicates_executed": dups,
        "details": {"sender": dict(sender.counts), "executor": dict(executor.counts),
                    "tx_client": dict(tx.counts), "rx_client": dict(rx.counts),
                    "grace_s": opts.grace_s, "ttl_s": opts.ttl_s, "short_ttl_s": opts.short_ttl_s},
    }
