"""The four systems compared by ``homeagent eval fusion``, threshold calibration and the metrics.

Every system maps one observed scenario to (action, confidence); ``action`` is an intent name,
``device_on:<device>`` for a resolved deictic command, or ``abstain``. Each system's accept threshold is
calibrated on the fit split by the same rule: the best accuracy whose false-action rate is at most ``MAX_FA``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from agent.fusion import Abstain, FusionConfig, FusionEngine, LateFusionModel
from agent.types import Intent

from .linear import Softmax
from .scenarios import ABSTAIN, Observed
from .vocab import GESTURE_INTENT, ZONES

MAX_FA = 0.005
DEICTIC = {"that_on": "device_on", "that_off": "device_off"}
CLASSES = ("music_pause", "music_play", "music_stop", "none", "that_off", "that_on", "volume_down", "volume_up")
Decision = tuple[str, float]


def eval_config() -> FusionConfig:
    """The engine configuration of the scene: its zones and deictic intents, no wake, no confirmation
    (the threshold is applied after calibration)."""
    return FusionConfig.model_validate({
        "threshold": 0.0, "wake": {"enabled": False}, "confirm": {"enabled": False},
        "gesture_intents": GESTURE_INTENT, "deictic": {k: {"intent": v} for k, v in DEICTIC.items()},
        "zones": {z: {"device": dev, "polygon": poly} for z, (dev, poly) in ZONES.items()}})


def voice_only(o: Observed) -> Decision:
    if o.speech is None:
        return ABSTAIN, 0.0
    label, p = o.speech.best()
    if label == "unknown" or label in DEICTIC:  # a deictic command has no target without a hand
        return ABSTAIN, 0.0
    return label, p


def gesture_only(o: Observed) -> Decision:
    if o.gesture is None or o.gesture.gesture not in GESTURE_INTENT:
        return ABSTAIN, 0.0
    return GESTURE_INTENT[o.gesture.gesture], o.gesture.score


LateDecision = tuple[str, float, bool]  # action, confidence, whether the fused threshold decides it


def late(model: LateFusionModel) -> Callable[[Observed], LateDecision]:
    """The engine as the daemon runs it, with no abstain threshold: (action, confidence, gated). ``gated`` is
    True for a fused decision (the engine's threshold applies to it, see :func:`gate`) and False for an
    utterance decided as voice alone (the recognizer's own decision) or a gesture decided alone (the tracker's
    stable gesture over ``gesture_alone_score``): the live engine never holds those to the fused threshold."""
    cfg = eval_config()

    def decide(o: Observed) -> LateDecision:
        eng = FusionEngine(cfg, model)
        if o.speech is not None:
            eng.push_speech(o.speech)
        if o.gesture is not None:
            eng.push_gesture(o.gesture)
        for out in eng.flush():
            if isinstance(out, Intent):
                dev = out.slots.get("device")
                alone = out.modalities == ("gesture",) or (
                    out.modalities == ("voice",) and o.speech is not None and o.speech.voice_decision is not None)
                return (f"{out.name}:{dev}" if dev else out.name), out.confidence, not alone
            if isinstance(out, Abstain):
                return ABSTAIN, 0.0, True
        return ABSTAIN, 0.0, True

    return decide


def gate(decisions: Sequence[LateDecision], threshold: float) -> list[str]:
    """The actions of the engine with abstain threshold ``threshold`` (it applies to fused decisions only)."""
    return [a if a != ABSTAIN and (not gated or c >= threshold) else ABSTAIN for a, c, gated in decisions]


def early_features(o: Observed) -> np.ndarray:
    """Concatenated raw features: pooled speech embedding, mean landmark features, reliability cues."""
    has_s, has_g = float(o.speech is not None), float(o.gesture is not None or o.gesture_feat.any())
    snr = o.speech.snr_db / 10.0 if o.speech is not None else 0.0
    size = o.gesture.hand_size / 0.2 if o.gesture is not None else 0.0
    vis = o.gesture.visibility if o.gesture is not None else 0.0
    return np.concatenate([o.speech_feat, o.gesture_feat, [has_s, snr, has_g, size, vis]])


def early(model: Softmax) -> Callable[[Observed], Decision]:
    def decide(o: Observed) -> Decision:
        p = model.proba(early_features(o))[0]
        k = int(np.argmax(p))
        name = model.labels[k]
        if name == "none":
            return ABSTAIN, 0.0
        if name in DEICTIC:
            g = o.gesture
            if g is None or g.gesture != "pointing" or g.pointing_target not in ZONES:
                return ABSTAIN, 0.0
            return f"{DEICTIC[name]}:{ZONES[g.pointing_target][0]}", float(p[k])
        return name, float(p[k])

    return decide


def early_target(o: Observed) -> int:
    t = o.scenario.truth
    if t == ABSTAIN:
        return CLASSES.index("none")
    if t.startswith("device_"):
        return CLASSES.index("that_" + t.split(":")[0][7:])
    return CLASSES.index(t)


def apply(decisions: Sequence[Decision], threshold: float) -> list[str]:
    return [a if a != ABSTAIN and c >= threshold else ABSTAIN for a, c in decisions]


def rates(actions: Sequence[str], truths: Sequence[str]) -> tuple[float, float]:
    """(accuracy, false-action rate): an action other than the intended one (or any action when the right
    answer is to abstain) is a false action."""
    n = max(len(truths), 1)
    acc = sum(a == t for a, t in zip(actions, truths, strict=True)) / n
    fa = sum(a != ABSTAIN and a != t for a, t in zip(actions, truths, strict=True)) / n
    return acc, fa


def calibrate(decisions: Sequence[Decision], truths: Sequence[str], max_fa: float = MAX_FA) -> float:
    """The threshold with the best accuracy among those whose false-action rate is <= ``max_fa``."""
    grid = sorted({0.0, *(round(c, 4) for _, c in decisions), 1.01})
    best = (-1.0, 1.01)
    for t in grid:
        acc, fa = rates(apply(decisions, t), truths)
        if fa <= max_fa and acc > best[0]:
            best = (acc, t)
    return best[1]


def calibrate_gated(decisions: Sequence[LateDecision], truths: Sequence[str], max_fa: float = MAX_FA) -> float:
    """The late-fusion threshold: the best accuracy among those whose false-action rate is at most ``max_fa``
    above the rate with no fused action at all (voice or gesture decided alone follow their own calibrated
    rules, which this threshold cannot change: their false actions are a floor, reported, not hidden)."""
    floor = rates(gate(decisions, 1.01), truths)[1]
    grid = sorted({0.0, *(round(c, 4) for _, c, g in decisions if g), 1.01})
    best = (-1.0, 1.01)
    for t in grid:
        acc, fa = rates(gate(decisions, t), truths)
        if fa <= floor + max_fa + 1e-12 and acc > best[0]:
            best = (acc, t)
    return best[1]


def calibrate_late(model: LateFusionModel, obs: Sequence[Observed],
                   max_fa: float = MAX_FA) -> tuple[LateFusionModel, float]:
    """Jointly pick the conflict scores and the abstain threshold (best accuracy at false actions <= max_fa);
    returns the model carrying them and that accuracy."""
    truths = [o.scenario.truth for o in obs]
    best: tuple[float, float, float, float] = (-1.0, 1.01, 0.6, 0.6)
    for cv in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01):
        for cg in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1.01):
            m = dataclasses.replace(model, conflict_voice=cv, conflict_gesture=cg)
            decisions = [late(m)(o) for o in obs]
            t = calibrate_gated(decisions, truths, max_fa)
            acc, _ = rates(gate(decisions, t), truths)
            if acc > best[0]:
                best = (acc, t, cv, cg)
    acc, t, cv, cg = best
    return dataclasses.replace(model, threshold=t, conflict_voice=cv, conflict_gesture=cg), acc
