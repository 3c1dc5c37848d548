"""What the page shows and changes (handed over by the daemon) and the open event streams."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tornado.queues

from ..config.fusion import Zone
from ..privacy import PrivacyController
from .camera import CameraView
from .decisions import DecisionLog
from .sentences import SentenceTester

STATIC = Path(__file__).with_name("static")
QUEUE_SIZE = 200


@dataclass
class WebDeps:
    """What the page shows and changes, handed over by the daemon (the web room imports no daemon code)."""

    status: Callable[[], dict[str, Any]]
    decisions: DecisionLog
    sentences: SentenceTester
    zones: Callable[[], dict[str, Zone]]
    apply_zones: Callable[[dict[str, Zone]], None]
    config_path: Path | None = None
    camera: CameraView | None = None
    privacy: PrivacyController | None = None
    devices: Callable[[], list[str]] = list


Event = tuple[str, Any] | None


class Hub:
    """The open event streams (lives on the server's loop: only touched from it)."""

    def __init__(self) -> None:
        self.queues: set[tornado.queues.Queue[Event]] = set()

    def subscribe(self) -> tornado.queues.Queue[Event]:
        q: tornado.queues.Queue[Event] = tornado.queues.Queue(maxsize=QUEUE_SIZE)
        self.queues.add(q)
        return q

    def unsubscribe(self, q: tornado.queues.Queue[Event]) -> None:
        self.queues.discard(q)

    def fan_out(self, event: Event) -> None:
        for q in list(self.queues):
            with contextlib.suppress(tornado.queues.QueueFull):  # a stalled page misses events, no memory held
                q.put_nowait(event)


