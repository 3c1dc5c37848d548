"""Bounded memory of recently seen message ids (QoS 1 redelivery and retransmissions are deduplicated)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class SeenIds:
    """Remembers ids for ``horizon_s`` seconds, at most ``capacity`` of them (oldest forgotten first).

    ``first_time(id)`` is True exactly once per id within the horizon. The horizon should exceed the longest
    TTL a message may carry: after its deadline a message is refused as stale anyway.
    """

    def __init__(self, capacity: int = 4096, horizon_s: float = 600.0) -> None:
        self.capacity = capacity
        self.horizon_s = horizon_s
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, msg_id: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._seen:
                oldest_id, t = next(iter(self._seen.items()))
                if now - t <= self.horizon_s and len(self._seen) < self.capacity:
                    break
                del self._seen[oldest_id]
            if msg_id in self._seen:
                return False
            self._seen[msg_id] = now
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)
