"""The last decisions of the agent (acted, abstained, waiting for a yes or no), for the page's live list.

An observer, not a stage: the daemon registers :meth:`DecisionLog.acted`, :meth:`DecisionLog.note` and
:meth:`DecisionLog.rejected` as listeners of fusion and the voice path, so fusion never imports the web room.
Records are small JSON-ready dicts; ``listeners`` (the page's event stream) are told of each new one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..fusion import Abstain, ConfirmRequest
from ..types import CommandScores, Intent

log = logging.getLogger(__name__)

Record = dict[str, Any]


def _plain(detail: dict[str, object]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if isinstance(v, (str, int, float, bool, list))}


def _modalities(value: object) -> list[str]:
    if isinstance(value, str):
        return [m for m in value.split("+") if m]
    if isinstance(value, (list, tuple)):
        return [str(m) for m in value]
    return []


class DecisionLog:
    """A bounded list of recent decisions, newest last; thread-safe (fusion, recognizer and page threads)."""

    def __init__(self, size: int = 50, clock: Callable[[], float] = time.time) -> None:
        self._records: deque[Record] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._seq = 0
        self.clock = clock
        self.listeners: list[Callable[[Record], None]] = []

    def recent(self) -> list[Record]:
        with self._lock:
            return list(self._records)

    def acted(self, intent: Intent) -> None:
        """The agent acted on ``intent`` (published it and ran its actions)."""
        self._add({"kind": "acted", "intent": intent.name, "slots": dict(intent.slots), "reason": "acted",
                   "modalities": list(intent.modalities), "confidence": round(intent.confidence, 4)})

    def note(self, note: Abstain | ConfirmRequest) -> None:
        """A fusion note: an abstention (with its reason) or an intent waiting for a yes or no."""
        if isinstance(note, ConfirmRequest):
            i = note.intent
            self._add({"kind": "waiting", "intent": i.name, "slots": dict(i.slots), "reason": note.reason,
                       "modalities": list(i.modalities), "confidence": round(i.confidence, 4)})
            return
        d = note.detail
        name = d.get("best", d.get("intent", d.get("voice")))
        conf = d.get("confidence")
        self._add({"kind": "abstained", "intent": str(name) if name is not None else None, "slots": {},
                   "reason": note.reason, "modalities": _modalities(d.get("modalities")),
                   "confidence": conf if isinstance(conf, (int, float)) else None, "detail": _plain(d)})

    def rejected(self, scores: CommandScores) -> None:
        """The voice path (no fusion) rejected an utterance: below its threshold."""
        name, score = scores.best()
        self._add({"kind": "abstained", "intent": name, "slots": {}, "reason": "low_confidence",
                   "modalities": ["voice"], "confidence": round(score, 4)})

    def _add(self, record: Record) -> None:
        with self._lock:
            self._seq += 1
            record = {"seq": self._seq, "time": round(self.clock(), 3), **record}
            self._records.append(record)
        for cb in list(self.listeners):
            try:
                cb(record)
            except Exception:  # the page must never disturb the agent
                log.exception("decision listener failed")
