"""The scenario set: a spoken command (synthesized, mixed with real noise at each SNR) and/or a hand gesture
(a degraded track of real recorded landmarks) at a time offset, with the action a person meant.

Families (shares of each split): redundant (speech and gesture say the same), deictic ("turn that on" +
pointing at a zone), voice_only (no gesture), gesture_only (no speech), conflict (speech and gesture say
different things: the right answer is to abstain), null (other speech, no gesture: abstain). Every base
scenario is replayed at every SNR with the same gesture, so SNR is the only thing that changes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.types import CommandScores, GestureEvent

from . import vision
from .audio import PAD_S, SR, estimate_snr, mix, pooled
from .vocab import GESTURE_INTENT, NEGATIVES, PHRASES, SNRS, ZONES

log = logging.getLogger(__name__)

FAMILIES = {"redundant": 0.40, "deictic": 0.25, "voice_only": 0.10, "gesture_only": 0.10, "conflict": 0.075,
            "null": 0.075}
MUSIC = ["music_stop", "music_pause", "music_play"]
T0 = 10.0
GESTURE_S = 0.8
ABSTAIN = "abstain"


@dataclass(frozen=True)
class Scenario:
    family: str
    truth: str  # intent, "device_on:<device>", or "abstain"
    speech_label: str | None
    phrase: str | None
    voice: str | None
    gesture: str  # gesture class of the landmark track ("none" = a hand doing nothing, "" = no hand)
    zone: str | None
    offset: float  # gesture start minus speech start (s)
    noise: str


def _family_counts(n: int) -> dict[str, int]:
    counts = {f: round(share * n) for f, share in FAMILIES.items()}
    counts["redundant"] += n - sum(counts.values())
    return counts


def draw_scenarios(n: int, voices: list[str], noises: list[str], rng: np.random.Generator) -> list[Scenario]:
    """``n`` base scenarios in fixed family shares."""
    out: list[Scenario] = []
    inv = {v: k for k, v in GESTURE_INTENT.items()}

    def pick(xs: list[str]) -> str:
        return xs[int(rng.integers(len(xs)))]

    for fam, count in _family_counts(n).items():
        for _ in range(count):
            voice, noise = pick(voices), pick(noises)
            off = float(pick(["-1.0", "-0.5", "0.0", "0.5", "1.0"]))
            if fam == "redundant":
                lab = pick(MUSIC)
                out.append(Scenario(fam, lab, lab, pick(PHRASES[lab]), voice, inv[lab], None, off, noise))
            elif fam == "deictic":
                lab, zone = pick(["that_on", "that_off"]), pick(sorted(ZONES))
                truth = f"device_{lab[5:]}:{ZONES[zone][0]}"
                out.append(Scenario(fam, truth, lab, pick(PHRASES[lab]), voice, "pointing", zone, off, noise))
            elif fam == "voice_only":
                lab = pick([*MUSIC, "volume_up", "volume_down"])
                out.append(Scenario(fam, lab, lab, pick(PHRASES[lab]), voice, pick(["none", ""]), None, off, noise))
            elif fam == "gesture_only":
                g = pick(sorted(GESTURE_INTENT))
                out.append(Scenario(fam, GESTURE_INTENT[g], None, None, None, g, None, 0.0, noise))
            elif fam == "conflict":
                lab = pick(MUSIC)
                g = pick([x for x in sorted(GESTURE_INTENT) if GESTURE_INTENT[x] != lab])
                out.append(Scenario(fam, ABSTAIN, lab, pick(PHRASES[lab]), voice, g, None, abs(off), noise))
            else:
                out.append(Scenario(fam, ABSTAIN, "unknown", pick(NEGATIVES), voice, pick(["none", ""]), None, off,
                                    noise))
    return out


@dataclass
class Observed:
    """What the systems see of one scenario at one SNR."""

    scenario: Scenario
    snr: float | None
    speech: CommandScores | None
    speech_feat: np.ndarray  # pooled embedding (192,), zeros without speech
    gesture: GestureEvent | None
    gesture_feat: np.ndarray  # mean landmark features, zeros without a hand
    gesture_probs: np.ndarray  # mean class probabilities, zeros without a hand


SpeechObs = list[tuple[CommandScores | None, np.ndarray]]  # per SNR: scores (None without speech), pooled embedding


def _frontend(recognizer: object) -> Any:
    """The speech frontend whose pooled embedding early fusion reads: a bundle's own, or (Whisper, which has
    none) the shared one."""
    fe = getattr(recognizer, "frontend", None)
    return fe if fe is not None else _shared_frontend()


@functools.cache
def _shared_frontend() -> Any:
    from agent.speech.frontend import SpeechFrontend

    return SpeechFrontend()


def observe_speech(scenarios: list[Scenario], recognizer: object, noises: dict[str, np.ndarray],
                   speak: Callable[[str, str], np.ndarray], seed: int) -> list[SpeechObs]:
    """Every scenario's utterance mixed at every SNR, through the recognizer (the slow part: cached by the
    caller). Each scenario has its own random stream, so the gestures can change without touching this."""
    out: list[SpeechObs] = []
    embed = getattr(recognizer, "embed", None)
    for i, sc in enumerate(scenarios):
        rng = np.random.default_rng([seed, i, 1])
        pcm = speak(sc.phrase, sc.voice) if sc.phrase and sc.voice else None
        dur = len(pcm) / SR + 2 * PAD_S if pcm is not None else 1.0
        per_snr: SpeechObs = []
        for snr in SNRS:
            scores, sfeat = None, np.zeros(192)
            if pcm is not None:
                mixed = mix(pcm, noises[sc.noise], snr, rng)
                if embed is not None:
                    sfeat = embed(mixed)
                    scores = recognizer.scores_from_features(sfeat, estimate_snr(mixed), T0, T0 + dur)  # type: ignore[attr-defined]
                else:  # a recognizer: its scores, and the same pooled embedding for early fusion
                    sfeat = pooled(_frontend(recognizer).embed(mixed))
                    scores = recognizer.recognize(mixed, T0, T0 + dur)  # type: ignore[attr-defined]
                    scores = CommandScores(scores.labels, scores.scores, T0, T0 + dur, snr_db=estimate_snr(mixed))
            per_snr.append((scores, sfeat))
        out.append(per_snr)
    return out


def observe(scenarios: list[Scenario], speech: list[SpeechObs],
            gestures: vision.StandinGestures | vision.RealGestures, blocks: dict[str, list[np.ndarray]],
            seed: int) -> list[Observed]:
    """Combine the observed speech with each scenario's hand track, classified by ``gestures``."""
    out: list[Observed] = []
    for i, sc in enumerate(scenarios):
        rng = np.random.default_rng([seed, i, 2])
        track = vision.draw_track(blocks, sc.gesture, rng, sc.zone) if sc.gesture else None
        g_t0 = T0 + sc.offset
        ev, probs = (vision.track_event(gestures, track, g_t0, g_t0 + GESTURE_S) if track is not None
                     else (None, np.zeros(len(gestures.labels))))
        seen = track is not None and track.detected
        gfeat = vision.features(track.frames).mean(axis=0) if seen and track is not None \
            else np.zeros(vision.FEATURE_DIM)
        for snr, (scores, sfeat) in zip(SNRS, speech[i], strict=True):
            out.append(Observed(sc, snr, scores, sfeat, ev, gfeat, probs))
    return out


def save_speech(path: Path, speech: list[SpeechObs]) -> None:
    rows = [[None if s is None else {"labels": list(s.labels), "scores": list(s.scores), "t": [s.t_start, s.t_end],
                                     "snr_db": s.snr_db} for s, _ in per] for per in speech]
    np.savez_compressed(path, meta=np.array(json.dumps(rows)),
                        feat=np.stack([np.stack([f for _, f in per]) for per in speech]))


def load_speech(path: Path) -> list[SpeechObs]:
    with np.load(path) as z:
        rows, feat = json.loads(str(z["meta"])), z["feat"]
    return [[(None if s is None else CommandScores(tuple(s["labels"]), tuple(s["scores"]), s["t"][0], s["t"][1],
                                                   snr_db=s["snr_db"]), feat[i, j]) for j, s in enumerate(per)]
            for i, per in enumerate(rows)]


def cache_key(*parts: object) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]
