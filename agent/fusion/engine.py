"""The late-fusion engine: a pure, deterministic state machine over one monotonic clock.

Feed it speech hypotheses (:meth:`FusionEngine.push_speech`), gesture events (:meth:`push_gesture`) and voice
activity (:meth:`voice_activity`); call :meth:`step` with the current time; it returns :class:`Intent`,
:class:`Abstain` and :class:`ConfirmRequest` records. No I/O, no threads, no clock reads: time is injected,
intent ids are derived from their content, and the wall clock is ``t + wall_offset``.

Waiting for the other modality is done in *stream time*: a live agent reports with :meth:`progress` how far
each stream has been processed (every event that ends before that time has been pushed), and an utterance is
decided only once the gesture stream has reached its end + ``wait_s`` (and a gesture once the speech stream
has), so a video thread or a VAD that lags the wall clock under load cannot make the engine decide early. A
stream that never reported progress is taken to be up to date (offline use); one that lags the clock by more
than ``max_lag_s`` is not waited for any longer.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass, field

import numpy as np

from ..config.fusion import FusionConfig
from ..types import CommandScores, GestureEvent, Intent
from .model import (
    NONE,
    UNKNOWN,
    LateFusionModel,
    candidates_for,
    gesture_evidence,
    gesture_reliability,
    voice_evidence,
    voice_reliability,
)

log = logging.getLogger(__name__)

POINTING = "pointing"


@dataclass(frozen=True)
class Abstain:
    """The engine decided not to act. ``reason``: low_confidence | conflict | no_target | cancelled |
    confirm_timeout | superseded."""

    reason: str
    t_start: float
    t_end: float
    detail: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ConfirmRequest:
    """``intent`` waits for yes / thumbs-up (act) or no / thumbs-down (drop) until ``deadline``. ``reason``:
    sensitive (a configured sensitive intent) | doubtful (fused confidence under ``confirm.below``)."""

    intent: Intent
    deadline: float
    reason: str = "sensitive"


Output = Intent | Abstain | ConfirmRequest


def gap(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    """Seconds between two spans (0 when they overlap)."""
    return max(0.0, b_start - a_end, a_start - b_end)


class FusionEngine:
    """Aligns speech and gestures in time windows and fuses them with a :class:`LateFusionModel`."""

    def __init__(self, cfg: FusionConfig | None = None, model: LateFusionModel | None = None, *,
                 site_id: str = "default", wall_offset: float = 0.0) -> None:
        self.cfg = cfg or FusionConfig.model_validate({})
        self.model = model or LateFusionModel.load(self.cfg.weights)
        self.threshold = self.cfg.threshold if self.cfg.threshold is not None else self.model.threshold
        cv, cg = self.cfg.conflict_voice_score, self.cfg.conflict_gesture_score
        self.conflict_voice = cv if cv is not None else self.model.conflict_voice
        self.conflict_gesture = cg if cg is not None else self.model.conflict_gesture
        self.site_id = site_id
        self.wall_offset = wall_offset
        self._speech: list[CommandScores] = []
        self._gestures: list[GestureEvent] = []
        self._wakes: list[GestureEvent] = []
        self._speech_active_since: float | None = None
        self._progress: dict[str, float | None] = {}
        self._hand_seen: float | None = None  # when the camera last saw a hand ...
        self._hands_known = False  # ... once hand presence is reported at all
        self._pending: ConfirmRequest | None = None
        self._seq = 0

    # input ---------------------------------------------------------------------------------------------
    def push_speech(self, scores: CommandScores) -> None:
        self._speech.append(scores)
        self._speech.sort(key=lambda s: (s.t_end, s.t_start))

    @property
    def speech_waiting(self) -> bool:
        """Whether an utterance waits for its decision (the runner steps as soon as the video moves on)."""
        return bool(self._speech)

    def push_gesture(self, event: GestureEvent) -> None:
        self._gestures.append(event)
        self._gestures.sort(key=lambda g: (g.t_end, g.t_start, g.gesture))
        if self.is_wake(event):
            self._wakes.append(event)

    def voice_activity(self, active: bool, t: float) -> None:
        """VAD state: while speech is in progress, lone gestures wait for the utterance."""
        self._speech_active_since = t if active else None

    def hands_in_view(self, present: bool, t: float) -> None:
        """Whether the camera sees a hand at ``t``: an utterance spoken with no hand in view, and none since, is
        decided after ``no_hand_wait_s`` instead of ``wait_s`` (a gesture would need a hand to appear first)."""
        self._hands_known = True
        if present:
            self._hand_seen = t

    def _wait_for(self, s: CommandScores) -> float:
        """How long after its end an utterance waits for a gesture partner (stream time)."""
        if not self._hands_known or (self._hand_seen is not None and self._hand_seen >= s.t_start - self.cfg.window_s):
            return self.cfg.wait_s
        if s.best()[0] in self.cfg.deictic or self._gestures:  # a pointing to wait for, or a partner to fuse
            return self.cfg.wait_s
        return min(self.cfg.no_hand_wait_s, self.cfg.wait_s)

    def progress(self, modality: str, t: float | None) -> None:
        """The ``modality`` stream (``voice`` or ``gesture``) has been processed up to ``t``: every event of it
        that ends (for speech: starts) before ``t`` has been pushed. ``None``: the stream is not running (muted,
        camera off, ended): nothing is waited for."""
        self._progress[modality] = t

    def stream_time(self, modality: str, now: float) -> float:
        """How far the engine may assume ``modality`` has been seen at ``now`` (never past ``now``)."""
        if modality not in self._progress:
            return now
        t = self._progress[modality]
        if t is None:
            return now
        return min(now, max(t, now - self.cfg.max_lag_s))

    # classification of gestures ------------------------------------------------------------------------
    def is_wake(self, g: GestureEvent) -> bool:
        w = self.cfg.wake
        return w.enabled and (g.gesture in w.gestures or
                              (g.gesture == POINTING and g.pointing_target in w.pointing_targets))

    def supported(self, g: GestureEvent | None) -> list[str]:
        """Intents a gesture speaks for on its own."""
        if g is None:
            return []
        if g.gesture == POINTING and g.pointing_target not in self.cfg.wake.pointing_targets:
            return sorted(self.cfg.deictic)
        name = self.cfg.gesture_intents.get(g.gesture)
        return [name] if name else []

    def _partner_only(self, g: GestureEvent) -> bool:
        """Pointing at a device zone, or a wake gesture without a direct intent: no action of its own."""
        return not self._is_yes_no(g) and (g.gesture == POINTING or not self.supported(g))

    def _is_yes_no(self, g: GestureEvent) -> bool:
        c = self.cfg.confirm
        return g.gesture in c.yes_gestures or g.gesture in c.no_gestures

    # main loop -----------------------------------------------------------------------------------------
    def step(self, now: float) -> list[Output]:
        """Decide every event whose wait is over at ``now``."""
        out: list[Output] = []
        if self._pending is not None and now > self._pending.deadline:
            p, self._pending = self._pending, None
            out.append(Abstain("confirm_timeout", p.intent.t_start, p.intent.t_end, {"intent": p.intent.name}))
        seen_gestures = self.stream_time("gesture", now)
        for s in [s for s in self._speech if seen_gestures >= s.t_end + self._wait_for(s)]:
            log.debug("speech %.2f-%.2f decided at %.2f, gestures seen to %.2f, waiting: %s", s.t_start, s.t_end,
                      now, seen_gestures, [(g.gesture, round(g.t_start, 2), round(g.t_end, 2)) for g in self._gestures])
            self._speech.remove(s)
            out.extend(self._decide_speech(s))
        for g in [g for g in self._gestures if self._gesture_ready(g, now)]:
            log.debug("gesture %s %.2f-%.2f decided alone at %.2f, voice seen to %.2f", g.gesture, g.t_start, g.t_end,
                      now, self.stream_time("voice", now))
            self._gestures.remove(g)
            out.extend(self._decide_gesture(g))
        horizon = now - self.cfg.window_s - self.cfg.wake.window_s
        self._wakes = [w for w in self._wakes if w.t_end >= horizon]
        return out

    def flush(self) -> list[Output]:
        """Decide everything still waiting (end of a replay)."""
        self._speech_active_since = None
        return self.step(math.inf)

    def _gesture_ready(self, g: GestureEvent, now: float) -> bool:
        delay = self.cfg.wait_s
        if self.is_wake(g) and self.supported(g):
            delay = max(delay, self.cfg.wake.direct_delay_s)
        if self._partner_only(g):
            delay = self.cfg.window_s  # it does nothing alone: it stays a partner for speech the whole window
        if self.stream_time("voice", now) < g.t_end + delay:
            return False
        if self._speech_active_since is not None and self._speech_active_since <= g.t_end + self.cfg.window_s:
            return False
        return not any(gap(s.t_start, s.t_end, g.t_start, g.t_end) <= self.cfg.window_s for s in self._speech)

    # decisions -----------------------------------------------------------------------------------------
    def _decide_speech(self, s: CommandScores) -> list[Output]:
        label, score = s.best()
        c = self.cfg.confirm
        if self._pending is not None and score >= c.min_score and (label in c.yes_intents or label in c.no_intents):
            return self._resolve(label in c.yes_intents)
        partners = [g for g in self._gestures if gap(s.t_start, s.t_end, g.t_start, g.t_end) <= self.cfg.window_s
                    and not self._is_yes_no(g)]
        evidence = max((g for g in partners if self.supported(g)), key=lambda g: (g.score, g.t_end), default=None)
        pointing = max((g for g in partners if g.gesture == POINTING and g.pointing_target is not None
                        and g.pointing_target not in self.cfg.wake.pointing_targets),
                       key=lambda g: (g.score, g.t_end), default=None)
        awake = any(w.t_start <= s.t_start + 0.5 and s.t_start <= w.t_end + self.cfg.wake.window_s
                    for w in self._wakes)
        if evidence is None and pointing is None and s.voice_decision is not None:
            return self._voice_alone(s, s.voice_decision)
        for g in (evidence, pointing):
            if g is not None and g in self._gestures:
                self._gestures.remove(g)
        boost_only = evidence is not None and self.is_wake(evidence) and evidence.t_start < s.t_start
        if boost_only and evidence is not None and s.best()[0] not in self.supported(evidence):
            evidence = None  # a wake gesture before other speech only wakes; it is no vote for its own intent
        return self._fuse(s, evidence, pointing, awake=awake, boost_only=boost_only)

    def _voice_alone(self, s: CommandScores, decision: tuple[str | None, float]) -> list[Output]:
        """An utterance with no gesture partner: the recognizer's own decision, as the voice-only agent takes it
        (whatever else the camera sees), except that a deictic intent needs a target and a sensitive one asks."""
        name, conf = decision
        detail: dict[str, object] = {"best": name or UNKNOWN, "confidence": round(conf, 4), "modalities": "voice"}
        if name is None:
            return [Abstain("low_confidence", s.t_start, s.t_end, detail)]
        slots = dict(s.slots)
        sensitive = name in self.cfg.confirm.sensitive_intents
        if name in self.cfg.deictic:
            return [Abstain("no_target", s.t_start, s.t_end, detail)]
        intent = self._intent(name, conf, s.t_start, s.t_end, slots, ("voice",))
        return self._ask(intent, "sensitive") if self.cfg.confirm.enabled and sensitive else [intent]

    def _ask(self, intent: Intent, reason: str) -> list[Output]:
        """Hold ``intent`` for a yes / no (word or gesture); a request still open is superseded."""
        out: list[Output] = []
        if self._pending is not None:
            p = self._pending
            out.append(Abstain("superseded", p.intent.t_start, p.intent.t_end, {"intent": p.intent.name}))
        self._pending = ConfirmRequest(intent, intent.t_end + self.cfg.confirm.window_s, reason)
        out.append(self._pending)
        return out

    def _decide_gesture(self, g: GestureEvent) -> list[Output]:
        c = self.cfg.confirm
        if self._is_yes_no(g):
            if self._pending is not None and g.score >= c.min_score:
                return self._resolve(g.gesture in c.yes_gestures)
            return []
        if not self.supported(g) or g.gesture == POINTING:
            return []  # a lone pointing gesture (or a wake-only gesture) does nothing
        return self._gesture_alone(g)

    def _gesture_alone(self, g: GestureEvent) -> list[Output]:
        """A stable command gesture with no speech around it: decided on its own, as the gesture tracker reported
        it (it has passed the classifier's threshold and its stability time), like voice alone."""
        name = self.supported(g)[0]
        detail: dict[str, object] = {"best": name, "confidence": round(g.score, 4), "modalities": "gesture"}
        if g.score < self.cfg.gesture_alone_score:
            return [Abstain("low_confidence", g.t_start, g.t_end, detail)]
        intent = self._intent(name, g.score, g.t_start, g.t_end, {}, ("gesture",))
        sensitive = name in self.cfg.confirm.sensitive_intents
        return self._ask(intent, "sensitive") if self.cfg.confirm.enabled and sensitive else [intent]

    def _resolve(self, yes: bool) -> list[Output]:
        p, self._pending = self._pending, None
        assert p is not None
        if yes:
            return [p.intent]
        return [Abstain("cancelled", p.intent.t_start, p.intent.t_end, {"intent": p.intent.name})]

    def fuse_scores(self, s: CommandScores | None, g: GestureEvent | None, *,
                    boost_only: bool = False) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """Candidates and the fused, voice-only and gesture-only posteriors (pure)."""
        sup = self.supported(g)
        cands = candidates_for(s, sup)
        lv = voice_evidence(s, cands)
        lg = gesture_evidence(g.score if g is not None else None, sup, cands, boost_only=boost_only)
        wv, wg = self.model.weights(voice_reliability(s) if s is not None else None,
                                    gesture_reliability(g, self.cfg.image_height) if g is not None and sup else None)
        return (cands, self.model.posterior(cands, lv, lg, wv, wg), self.model.posterior(cands, lv, lg, wv, 0.0),
                self.model.posterior(cands, lv, lg, 0.0, wg))

    def _fuse(self, s: CommandScores | None, g: GestureEvent | None, pointing: GestureEvent | None, *,
              awake: bool, boost_only: bool) -> list[Output]:
        spans = [e for e in (s, g, pointing) if e is not None]
        t0, t1 = min(e.t_start for e in spans), max(e.t_end for e in spans)
        cands, post, _, _ = self.fuse_scores(s, g, boost_only=boost_only)
        k = int(np.argmax(post))
        name, conf = cands[k], float(post[k])
        used = "+".join(m for m, e in (("voice", s), ("gesture", g or pointing)) if e is not None)
        detail: dict[str, object] = {"best": name, "confidence": round(conf, 4), "modalities": used}
        c = self.cfg.confirm
        threshold = min(self.threshold, self.cfg.wake.threshold) if awake else self.threshold
        ask_from = min(threshold, c.ask_from) if c.enabled else threshold  # doubtful intents are asked, not dropped
        sup = self.supported(g)
        if name != NONE and s is not None and g is not None and sup and not boost_only:
            contra = self._contradiction(name, s, g, sup)
            if contra is not None:
                detail.update(contra)
                log.info("conflict: %s", contra)
                return [Abstain("conflict", t0, t1, detail)]
        if name == NONE or conf < ask_from:
            return [Abstain("low_confidence", t0, t1, detail)] if s is not None or sup else []
        slots = dict(s.slots) if s is not None else {}
        sensitive = name in self.cfg.confirm.sensitive_intents
        if name in self.cfg.deictic:
            device = self._target(pointing if pointing is not None else g)
            if device is None:
                return [Abstain("no_target", t0, t1, detail)]
            slots["device"] = device
            sensitive = sensitive or self.cfg.deictic[name].sensitive
            name = self.cfg.deictic[name].intent
        modalities = tuple(m for m, e in (("voice", s), ("gesture", g or pointing)) if e is not None)
        intent = self._intent(name, conf, t0, t1, slots, modalities)
        if c.enabled and (sensitive or conf < max(threshold, c.below)):
            return self._ask(intent, "sensitive" if sensitive else "doubtful")
        return [intent]

    def _contradiction(self, name: str, s: CommandScores, g: GestureEvent,
                       sup: list[str]) -> dict[str, object] | None:
        """Never act against a modality that is sure of something else: the speech's own top intent (at least
        ``conflict_voice``) or the gesture's intents (score at least ``conflict_gesture``) disagree with the
        fused winner ``name``."""
        v_label, v_p = s.best()
        if v_label not in (UNKNOWN, name) and v_p >= self.conflict_voice:
            return {"voice": v_label, "voice_score": round(v_p, 4), "gesture": g.gesture, "gesture_intents": sup}
        if name not in sup and g.score >= self.conflict_gesture:
            return {"voice": v_label, "gesture": g.gesture, "gesture_score": round(g.score, 4),
                    "gesture_intents": sup}
        return None

    def _target(self, g: GestureEvent | None) -> str | None:
        if g is None or g.gesture != POINTING or g.pointing_target is None:
            return None
        z = self.cfg.zones.get(g.pointing_target)
        if z is not None:
            return z.device
        return g.pointing_target if not self.cfg.zones else None

    def _intent(self, name: str, conf: float, t0: float, t1: float, slots: dict[str, str],
                modalities: tuple[str, ...]) -> Intent:
        self._seq += 1
        key = f"{self.site_id}|{name}|{t0:.4f}|{t1:.4f}|{self._seq}"
        return Intent(name=name, confidence=conf, t_start=t0, t_end=t1, slots=slots, modalities=modalities,
                      site_id=self.site_id, wall_start=t0 + self.wall_offset, wall_end=t1 + self.wall_offset,
                      ttl_s=self.cfg.ttl_s, id=hashlib.sha1(key.encode()).hexdigest()[:32])
