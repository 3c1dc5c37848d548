"""int8 against float, interleaved and warm: both models loaded and warmed up in one process, then timed in
alternating passes (the order flips every round), so that both see the same machine load, caches and clocks.
Times are CPU seconds of the timing thread (the sessions run on it, one intra-op thread).

Landmarks are timed per frame of the busy room and split by what the tracker did: frames it tracked from the
previous one (the landmark model only) and frames where it had to detect (palm detector, then landmarks).
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from ..types import VideoFrame

ROUNDS = 3


def _speech(rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    from ..demo.run import MEDIA
    from ..speech.frontend import SpeechFrontend
    from ..speech.load import load_bundle
    from . import media

    script = json.loads((MEDIA / "demo.json").read_text())["utterances"]
    audio = media.read_wav_16k(MEDIA / "demo.wav")
    clips = [(audio[int(u["start"] * 16000) - 3200: int(u["end"] * 16000) + 3200], u["expect"]) for u in script]
    recs = {kind: load_bundle("home", frontend=SpeechFrontend(int8=kind == "int8")) for kind in ("int8", "float")}
    times = dict.fromkeys(recs, 0.0)
    correct = dict.fromkeys(recs, 0)
    for r in range(rounds + 1):  # round 0 warms up
        for kind in (("int8", "float") if r % 2 else ("float", "int8")):
            rec = recs[kind]
            t = time.thread_time()
            ok = sum(rec.decide(rec.recognize(pcm))[0] == expect for pcm, expect in clips)
            if r:
                times[kind] += time.thread_time() - t
                correct[kind] += ok
    return times, {k: correct[k] / (rounds * len(clips)) for k in recs}


def _landmark_pass(tracker: Any, frames: list[np.ndarray]) -> tuple[list[Any], float, float, int, int]:
    """(results, CPU s on tracking frames, on detection frames, tracking frames, detection frames)."""
    tracker.reset()
    res, track_s, detect_s, n_track, n_detect = [], 0.0, 0.0, 0, 0
    for i, f in enumerate(frames):
        tracking = bool(tracker._tracked)
        t = time.thread_time()
        res.append(tracker.process(VideoFrame(f, 0.0, i)))
        dt = time.thread_time() - t
        if tracking:
            track_s, n_track = track_s + dt, n_track + 1
        else:
            detect_s, n_detect = detect_s + dt, n_detect + 1
    return res, track_s, detect_s, n_track, n_detect


def _landmarks(trackers: dict[str, Any], frames: list[np.ndarray],
               rounds: int) -> tuple[dict[str, Any], dict[str, float]]:
    acc = {k: [0.0, 0.0, 0, 0] for k in trackers}
    last: dict[str, list[Any]] = {}
    for r in range(rounds + 1):
        for kind in (("int8", "float") if r % 2 else ("float", "int8")):
            res, *sums = _landmark_pass(trackers[kind], frames)
            last[kind] = res
            if r:
                acc[kind] = [a + b for a, b in zip(acc[kind], sums, strict=True)]
    errs = []
    for a, b in zip(last["int8"], last["float"], strict=True):
        if a and b:
            size = float(np.ptp(b[0].landmarks, axis=0).max())
            errs.append(float(np.linalg.norm(a[0].landmarks - b[0].landmarks, axis=1).mean()) / max(size, 1.0))
    out: dict[str, Any] = {f"hands_found_{k}": sum(bool(x) for x in last[k]) for k in trackers}
    for k, (ts, ds, nt, nd) in acc.items():
        out[f"landmark_tracking_ms_{k}"] = round(1000 * ts / max(nt, 1), 3)
        out[f"landmark_detection_ms_{k}"] = round(1000 * ds / max(nd, 1), 3)
    out["landmark_speedup_tracking"] = round(out["landmark_tracking_ms_float"]
                                             / max(out["landmark_tracking_ms_int8"], 1e-9), 3)
    out["landmark_speedup_detection"] = round(out["landmark_detection_ms_float"]
                                              / max(out["landmark_detection_ms_int8"], 1e-9), 3)
    out["landmark_mean_err_hand_size"] = round(float(np.mean(errs)), 5) if errs else None
    total = {k: acc[k][0] + acc[k][1] for k in trackers}
    out["landmark_speedup"] = round(total["float"] / max(total["int8"], 1e-9), 3)
    return out, total


def int8_vs_float(hands_int8: Any, frames: list[np.ndarray], float_landmarks: str = "",
                  rounds: int = ROUNDS) -> dict[str, Any]:
    """Speed ratios and accuracy differences of the int8 models against their float originals."""
    from ..vision import HandTracker
    from ..vision.hands import LANDMARK_MODEL_FLOAT

    speech_s, speech_acc = _speech(rounds)
    trackers = {"int8": hands_int8,
                "float": HandTracker(threads=1, landmark_model=float_landmarks or LANDMARK_MODEL_FLOAT)}
    lm, lm_s = _landmarks(trackers, frames, rounds)
    out: dict[str, Any] = {"interleaved_rounds": rounds, "speech_accuracy_int8": round(speech_acc["int8"], 4),
                           "speech_accuracy_float": round(speech_acc["float"], 4), **lm}
    out["speech_speedup"] = round(speech_s["float"] / speech_s["int8"], 3)
    out["speech_accuracy_diff_points"] = round(100 * (speech_acc["float"] - speech_acc["int8"]), 2)
    out["int8_speedup"] = round((speech_s["float"] + lm_s["float"]) / (speech_s["int8"] + lm_s["int8"]), 3)
    return out
