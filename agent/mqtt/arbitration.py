"""Multi-device arbitration: several agents hear one utterance, exactly one of them acts.

Each agent that recognizes an intent publishes a *candidate* (utterance wall-clock span, score, SNR) on its own
topic ``<prefix>/<site>/arbitration`` (the broker's ACL lets an agent write only its own; every agent reads
``<prefix>/+/arbitration``) and waits ``window_s``. A candidate steers other agents, so it is authenticated:
an HMAC-SHA256 over its fields with a per-home key that every agent reads from a credentials file
(``mqtt.arbitration_key_file``); a candidate without a valid MAC, for another site than its topic's, or with a
field out of bounds (a span not near now, a score outside 0-1) is ignored. Candidates whose utterance spans
overlap (within ``match_s``) are the same utterance, whatever intent each agent heard. After the window every
agent ranks the candidates it knows by ``(score, snr_db, site_id)`` — a total order, so all agents that saw
the same candidates agree — and only the best one acts (``on_win``). The window must exceed the broker's
delivery delay (loopback: milliseconds; a LAN: tens of ms; default 0.3 s).

Limits: two people speaking at the same moment in different rooms count as one utterance (only the best
acts); an agent whose candidate arrives after the others' windows closed may act a second time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import strictjson
from ..errors import PayloadError
from ..intents.publisher import Message
from ..ratelog import RateLimitedLog, short
from ..types import Intent
from .client import MqttClient

log = logging.getLogger(__name__)

MAX_CANDIDATE_BYTES = 2048
MIN_KEY_BYTES = 16
MAX_AGE_S = 60.0  # a candidate's utterance ended at most this long ago ...
MAX_AHEAD_S = 5.0  # ... or this far ahead of our clock (clock skew between agents)
MAX_SPAN_S = 60.0
SNR_RANGE = (-50.0, 150.0)


def candidate_topic(prefix: str, site_id: str) -> str:
    return f"{prefix}/{site_id}/arbitration"


def candidates_filter(prefix: str) -> str:
    return f"{prefix}/+/arbitration"


def mac(key: bytes, fields: dict[str, Any]) -> str:
    """HMAC-SHA256 (hex) of a candidate's fields in canonical JSON (sorted keys, no spaces)."""
    body = json.dumps({k: v for k, v in fields.items() if k != "mac"}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Candidate:
    id: str
    site: str
    name: str
    wall_start: float
    wall_end: float
    score: float
    snr_db: float

    def rank(self) -> tuple[float, float, str]:
        return (round(self.score, 4), round(self.snr_db, 2), self.site)

    def same_utterance(self, other: Candidate, match_s: float) -> bool:
        return other.wall_start <= self.wall_end + match_s and other.wall_end >= self.wall_start - match_s

    def to_payload(self, key: bytes | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {"v": 1, "id": self.id, "site": self.site, "name": self.name,
                             "wall_start": self.wall_start, "wall_end": self.wall_end, "score": self.score,
                             "snr_db": self.snr_db}
        if key is not None:
            d["mac"] = mac(key, d)
        return d

    @classmethod
    def from_payload(cls, d: Any, key: bytes | None = None, now: float | None = None) -> Candidate:
        """Validate a candidate: with ``key`` its MAC, with ``now`` that its utterance is recent."""
        keys = {"v", "id", "site", "name", "wall_start", "wall_end", "score", "snr_db"} | ({"mac"} if key else set())
        if not isinstance(d, dict) or d.get("v") != 1 or set(d) != keys:
            raise PayloadError("arbitration candidate: wrong version or keys")
        if key is not None and not (isinstance(d["mac"], str)
                                    and hmac.compare_digest(d["mac"], mac(key, d))):
            raise PayloadError("arbitration candidate: bad MAC (not from an agent of this home)")
        for k in ("id", "site", "name"):
            if not isinstance(d[k], str) or not 0 < len(d[k]) <= 128:
                raise PayloadError(f"arbitration candidate: '{k}' must be a short string")
        nums = {}
        for k in ("wall_start", "wall_end", "score", "snr_db"):
            v = d[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise PayloadError(f"arbitration candidate: '{k}' must be a finite number")
            nums[k] = float(v)
        cand = cls(id=d["id"], site=d["site"], name=d["name"], **nums)
        cand.check_bounds(now)
        return cand

    def check_bounds(self, now: float | None) -> None:
        if not 0.0 <= self.score <= 1.0 or not SNR_RANGE[0] <= self.snr_db <= SNR_RANGE[1]:
            raise PayloadError("arbitration candidate: score or snr_db out of range")
        if not 0.0 <= self.wall_end - self.wall_start <= MAX_SPAN_S:
            raise PayloadError("arbitration candidate: utterance span out of range")
        if now is not None and not now - MAX_AGE_S <= self.wall_end <= now + MAX_AHEAD_S:
            raise PayloadError("arbitration candidate: utterance not near the present")


class Arbiter:
    """``propose(intent, snr_db)``; ``on_win(intent)`` runs on this agent only if its candidate is the best."""

    def __init__(self, client: MqttClient, prefix: str, site_id: str, on_win: Callable[[Intent], None], *,
                 key: bytes, window_s: float = 0.3, match_s: float = 0.5, keep_s: float = 30.0) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise PayloadError(f"the arbitration key must be at least {MIN_KEY_BYTES} bytes (a per-home secret, "
                               "e.g. 'openssl rand -hex 32')")
        self.client = client
        self.key = key
        self.topic = candidate_topic(prefix, site_id)
        self.site_id = site_id
        self.on_win = on_win
        self.window_s = window_s
        self.match_s = match_s
        self.keep_s = keep_s
        self.counts = {"proposed": 0, "won": 0, "lost": 0, "stale": 0, "invalid": 0}
        self._ratelog = RateLimitedLog(log)
        self._seen: list[tuple[float, Candidate]] = []  # (received at, candidate) from other agents
        self._pending: list[tuple[float, Intent, Candidate]] = []  # (decide at, intent, own candidate)
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        client.subscribe(candidates_filter(prefix), self._on_candidate)

    def start(self) -> None:
        with self._cond:
            self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"arbiter-{self.site_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None

    def propose(self, intent: Intent, snr_db: float = 30.0) -> Candidate:
        cand = Candidate(id=intent.id, site=self.site_id, name=intent.name, wall_start=intent.wall_start,
                         wall_end=intent.wall_end, score=float(intent.confidence), snr_db=float(snr_db))
        self.client.publish(Message(self.topic, json.dumps(cand.to_payload(self.key)).encode(), qos=1, retain=False,
                                    expires_at=time.time() + self.window_s + 1.0))
        with self._cond:
            self._pending.append((time.monotonic() + self.window_s, intent, cand))
            self.counts["proposed"] += 1
            self._cond.notify_all()
        return cand

    def _on_candidate(self, topic: str, payload: bytes, retained: bool, props: Any) -> None:
        if retained or len(payload) > MAX_CANDIDATE_BYTES:
            self.counts["invalid"] += 1
            return
        try:
            cand = Candidate.from_payload(strictjson.loads(payload), self.key, time.time())
            if cand.site != topic.split("/")[-2]:
                raise PayloadError("arbitration candidate: its site is not its topic's")
        except (ValueError, PayloadError) as exc:
            self.counts["invalid"] += 1
            self._ratelog.log(type(exc).__name__, logging.WARNING, "ignored arbitration candidate on %s: %s",
                              short(topic), short(str(exc), 200))
            return
        if cand.site == self.site_id:
            return
        with self._cond:
            self._seen.append((time.monotonic(), cand))

    def _run(self) -> None:
        with self._cond:
            while not self._stop:
                now = time.monotonic()
                due = [p for p in self._pending if p[0] <= now]
                self._pending = [p for p in self._pending if p[0] > now]
                self._seen = [(t, c) for t, c in self._seen if now - t <= self.keep_s]
                decisions = [(intent, self._wins(cand)) for _, intent, cand in due]
                if decisions:
                    self._cond.release()
                    try:
                        self._act(decisions)
                    finally:
                        self._cond.acquire()
                    continue
                wait = min((p[0] for p in self._pending), default=now + 1.0) - now
                self._cond.wait(max(0.001, wait))

    def _wins(self, own: Candidate) -> bool:
        rivals = [c for _, c in self._seen if own.same_utterance(c, self.match_s)]
        best = max(rivals, key=Candidate.rank, default=None)
        return best is None or own.rank() > best.rank()

    def _act(self, decisions: list[tuple[Intent, bool]]) -> None:
        for intent, won in decisions:
            if not won:
                self.counts["lost"] += 1
                log.info("arbitration: another agent heard %s better; not acting", intent.name)
                continue
            if time.time() > intent.expires_at_wall():
                self.counts["stale"] += 1
                log.warning("arbitration: intent %s went stale while deciding", intent.id)
                continue
            self.counts["won"] += 1
            try:
                self.on_win(intent)
            except Exception:  # the action failed; arbitration goes on for the next utterance
                log.exception("acting on intent %s failed", intent.id)
