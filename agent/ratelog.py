"""Logging of events that an outsider can repeat at will (invalid MQTT payloads, refused candidates): the first
of each kind at once, then at most one line per kind and interval, saying how many were left out. A flood of
hostile messages must not fill the disk or drown the lines that matter."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

SHOWN = 120  # characters of an outsider's string (a topic, a name) that reach a log line


def short(text: str, limit: int = SHOWN) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class RateLimitedLog:
    """``log(kind, level, message, *args)``: one line per ``kind`` at most every ``interval_s``."""

    def __init__(self, logger: logging.Logger, interval_s: float = 60.0, max_kinds: int = 64,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.max_kinds = max_kinds
        self.clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def log(self, kind: str, level: int, message: str, *args: object) -> bool:
        """True when the line was written, False when it was counted instead."""
        now = self.clock()
        with self._lock:
            if kind not in self._last and len(self._last) >= self.max_kinds:
                kind = "(other)"  # an outsider can invent kinds too: their number is bounded
            last = self._last.get(kind)
            if last is not None and now - last < self.interval_s:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return False
            left_out = self._suppressed.pop(kind, 0)
            self._last[kind] = now
        if left_out:
            message += f" ({left_out} more like it in the last {self.interval_s:.0f} s not logged)"
        self.logger.log(level, message, *args)
        return True
