"""The one-method publishing interface and its in-memory twin (for tests and dry runs)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    expires_at: float | None = None  # time.time() after which the message must not be sent
    created: float = field(default_factory=time.time)


class Publisher(Protocol):
    def publish(self, message: Message) -> bool:
        """Send or queue ``message``; False when it was dropped (stale or outbox full)."""
        ...


class MemoryPublisher:
    """Records messages instead of sending them; thread-safe."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    def publish(self, message: Message) -> bool:
        if message.expires_at is not None and time.time() > message.expires_at:
            return False
        with self._lock:
            self.messages.append(message)
        return True

    def topics(self) -> list[str]:
        with self._lock:
            return [m.topic for m in self.messages]
