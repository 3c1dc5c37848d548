"""Runs the pure :class:`~agent.fusion.FusionEngine` in the live agent: a lock around it (speech arrives on
the recognizer thread, gestures on the video thread) and a ticker thread that calls ``step(now)``. The audio
and video paths also report how far their streams have been processed (``progress``), so the engine waits for
a lagging stream in stream time rather than for a fixed wall-clock delay.

Outputs are dispatched to listeners: intents to ``on_intent`` (publish + actions), abstentions and confirm
requests to ``on_note`` (logged and reported over MQTT by the caller).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ..config.fusion import Zone
from ..fusion import Abstain, ConfirmRequest, FusionEngine
from ..intents.publisher import Message, Publisher
from ..mqtt.topics import fusion_topic
from ..types import CommandScores, GestureEvent, Intent

log = logging.getLogger(__name__)


class FusionRunner:
    def __init__(self, engine: FusionEngine, *, tick_s: float = 0.05,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.tick_s = tick_s
        self.clock = clock
        self.on_intent: list[Callable[[Intent], None]] = []
        self.on_note: list[Callable[[Any], None]] = []
        self.counts = {"intents": 0, "abstain": 0, "confirm_requests": 0}
        self.heartbeats: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()  # a decision may be due before the next tick: step now
        self._thread: threading.Thread | None = None

    def push_speech(self, scores: CommandScores) -> None:
        with self._lock:
            self.engine.push_speech(scores)
        self._wake.set()  # its wait may be over already (the video caught up while it was recognized)

    def push_gesture(self, event: GestureEvent) -> None:
        with self._lock:
            self.engine.push_gesture(event)

    def voice_activity(self, active: bool, t: float) -> None:
        with self._lock:
            self.engine.voice_activity(active, t)

    def hands_in_view(self, present: bool, t: float) -> None:
        with self._lock:
            self.engine.hands_in_view(present, t)

    def progress(self, modality: str, t: float | None) -> None:
        """How far the ``voice`` or ``gesture`` stream has been processed (see ``FusionEngine.progress``)."""
        with self._lock:
            self.engine.progress(modality, t)
            due = modality == "gesture" and self.engine.speech_waiting
        if due:  # speech waits for the video to reach its end + wait: this frame may be the one
            self._wake.set()

    def set_zones(self, zones: dict[str, Zone]) -> None:
        """Pointing zones changed (saved from the page): the next decisions map pointing through them."""
        with self._lock:
            cfg = self.engine.cfg
            self.engine.cfg = cfg.model_copy(update={"zones": zones})

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fusion", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None

    def tick(self, now: float | None = None) -> None:
        with self._lock:
            outputs = self.engine.step(self.clock() if now is None else now)
        self._dispatch(outputs)

    def flush(self) -> None:
        """Decide everything still waiting (end of a replay)."""
        with self._lock:
            outputs = self.engine.flush()
        self._dispatch(outputs)

    def _run(self) -> None:
        """Step every ``tick_s``, and at once when speech arrives or the video moves on while speech waits, so
        a decision is made when it is due rather than up to a tick later (on this thread, as every other)."""
        while not self._stop.is_set():
            self._wake.wait(self.tick_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.heartbeats["fusion"] = self.clock()
            try:
                self.tick()
            except Exception:  # a fusion bug must not stop the agent; it is logged with its traceback
                log.exception("fusion step failed")

    def report_to(self, publisher: Publisher, prefix: str, site_id: str) -> None:
        """Publish every abstention and confirm request as a report on ``<prefix>/<site>/fusion/abstain`` and
        ``.../fusion/confirm`` (JSON, QoS 1, not retained): a conflict is reported, never acted on."""
        def publish(note: Any) -> None:
            kind, payload = note_report(note, site_id)
            publisher.publish(Message(fusion_topic(prefix, site_id, kind), json.dumps(payload).encode(), qos=1,
                                      retain=False))

        self.on_note.append(publish)

    def _dispatch(self, outputs: list[Any]) -> None:
        for out in outputs:
            if isinstance(out, Intent):
                self.counts["intents"] += 1
                for cb in self.on_intent:
                    cb(out)
            else:
                key = "abstain" if isinstance(out, Abstain) else "confirm_requests"
                self.counts[key] += 1
                if isinstance(out, Abstain):
                    d = out.detail
                    log.info("decided: abstained (%s): %s at %s from %s", out.reason, d.get("best", d.get("intent")),
                             d.get("confidence", "-"), d.get("modalities", "-"))
                elif isinstance(out, ConfirmRequest):
                    i = out.intent
                    log.info("decided: waiting for a yes or no (%s): %s at %.2f from %s, until %.1f", out.reason,
                             i.name, i.confidence, "+".join(i.modalities), out.deadline)
                for note in self.on_note:
                    note(out)


def note_report(note: Abstain | ConfirmRequest, site_id: str) -> tuple[str, dict[str, Any]]:
    """(``abstain`` | ``confirm``, JSON-ready report) of one fusion note."""
    if isinstance(note, ConfirmRequest):
        i = note.intent
        return "confirm", {"siteId": site_id, "intent": i.name, "slots": dict(i.slots), "reason": note.reason,
                           "modalities": list(i.modalities), "confidence": round(i.confidence, 4), "id": i.id,
                           "t_start": i.t_start, "t_end": i.t_end, "deadline": note.deadline}
    return "abstain", {"siteId": site_id, "reason": note.reason, "t_start": note.t_start, "t_end": note.t_end,
                       "detail": {k: v for k, v in note.detail.items() if isinstance(v, (str, int, float, list))}}
