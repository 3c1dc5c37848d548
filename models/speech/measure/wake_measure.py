"""Measure a wake bundle (never tunes anything): ``python -m models.speech.measure.wake_measure [--bundle DIR]``.

- false accepts per hour on real noise (the development data's ``noise/``: every file cut into consecutive 2.5 s
  segments, each scored as an utterance; and the segments the VAD finds in it), on the Mycroft Precise clips
  labelled ``not_wake_word`` and on its other wake words (athena, computer, hey computer): real speech that is
  not the phrase;
- the hit rate on fresh clips of synthetic voices held out of training, with the phrase alone and followed in
  the same breath by a ``home`` command, and how often that command is then recognized right; and the accept
  rate of near-misses ("hey rome", "okay home", the phrase's words alone ...) and other speech from those voices.

Each is measured twice: the head alone at its calibrated threshold, and the two stages the daemon runs by
default (the head proposes at :data:`~agent.speech.wake.detector.CANDIDATE_THRESHOLD`, Whisper checks:
:mod:`agent.speech.wake.verify`). The Whisper check needs no training, so it is also measured alone on a phrase
real people recorded: Mycroft Precise's "hey computer" clips against its "computer" clips (a near-miss), its
other wake word and ``not_wake_word`` speech, and real noise. Prints one JSON object
(``models/speech/reports/wake_hey_home.measure.json``).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np

from agent.audio.vad import Segmenter
from agent.audio.wav import read_wav_16k
from agent.config.schema import AgentConfig
from agent.speech.load import load_bundle
from agent.speech.recognizer import CommandRecognizer
from agent.speech.sets.commands import load_command_set
from agent.speech.wake.detector import ListeningWindow, WakeDetector
from agent.speech.wake.gate import WakeGate, committed_wake_bundle
from agent.speech.wake.verify import MAX_MARGIN, WakeVerifier
from agent.speech.whisper.model import WhisperAsr
from agent.types import AudioFrame, Segment

from ...devdata import dev_data
from ..data import augment, dataset, synth, wake_data

log = logging.getLogger(__name__)
DATA = dev_data(required=False)
SR = 16000


def vad_segments(pcm: np.ndarray) -> list[np.ndarray]:
    seg = Segmenter(AgentConfig().vad)
    out: list[np.ndarray] = []
    for i in range(0, len(pcm) - 320, 320):
        out += [s.pcm for s in seg.push(AudioFrame(pcm[i:i + 320], SR, i / SR, i // 320))]
    out += [s.pcm for s in seg.flush()]
    return out


def fa(det: WakeDetector, segs: list[np.ndarray], seconds: float) -> dict[str, object]:
    scores = np.array([det.score(s)[0] for s in segs]) if segs else np.zeros(0)
    n = sum(det.detect(s) is not None for s in segs)
    return {"segments": len(segs), "hours": round(seconds / 3600, 4), "false_accepts": n,
            "fa_per_hour": round(n / (seconds / 3600), 2), "max_score": round(float(scores.max(initial=0.0)), 4)}


def noise_audio() -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """Real noise as consecutive 2.5 s chunks and as the segments the VAD finds, and its length in seconds."""
    files = [p for d in augment.NOISE_DIRS for p in sorted(d.glob("*.wav"))]
    audio = [read_wav_16k(p) for p in files]
    chunks = [a[i:i + 40000] for a in audio for i in range(0, len(a) - 8000, 40000)]
    return chunks, [s for a in audio for s in vad_segments(a)], sum(len(a) for a in audio) / SR


def noise_fa(det: WakeDetector) -> dict[str, object]:
    chunks, vad, secs = noise_audio()
    return {"chunks": fa(det, chunks, secs), "vad_segments": fa(det, vad, secs)}


def mycroft_clips() -> dict[str, list[np.ndarray]]:
    root = DATA / "speech" / "mycroft_precise"
    by: dict[str, list[np.ndarray]] = {}
    with open(root / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            by.setdefault(row["label"], []).append(read_wav_16k(root / row["path"]))
    return dict(sorted(by.items()))


def mycroft_fa(det: WakeDetector) -> dict[str, object]:
    return {label: fa(det, clips, sum(len(c) for c in clips) / SR) for label, clips in mycroft_clips().items()}


def check_alone(asr: WhisperAsr, phrase: str = "hey computer") -> dict[str, object]:
    """The Whisper check alone (no head: none is trained for this phrase) on real recordings: accepted clips
    of each Mycroft Precise label and of the real noise chunks, and the check's CPU time per clip."""
    import time

    ver = WakeVerifier(asr, phrase)
    groups = {**mycroft_clips(), "noise_chunks": noise_audio()[0]}
    out: dict[str, object] = {"phrase": phrase, "margin": ver.max_margin}
    times: list[float] = []
    for label, clips in groups.items():
        verdicts = []
        for c in clips:
            t = time.process_time()
            verdicts.append(ver.check(c))
            times.append(time.process_time() - t)
        out[label] = {"clips": len(clips), "accepted": sum(v.accepted for v in verdicts),
                      "margin_min_p50_max": [round(float(np.percentile([v.margin for v in verdicts], q)), 2)
                                             for q in (0, 50, 100)]}
    out["check_cpu_ms_p50"] = round(1000 * float(np.median(times)), 1)
    return out


def held_out(det: WakeDetector, home: CommandRecognizer, n: int, seed: int) -> dict[str, object]:
    """Fresh clips (new prosody and augmentation) of the voices held out of training."""
    _, val = dataset.voices(0, synth.available_engines())
    voices = sorted(val)
    cset = load_command_set("home")
    cmds = [(p, intent) for intent, ps in cset.intents.items() for p in ps]
    noise = augment.NoiseBank.default()
    rng = np.random.default_rng(seed)
    alone = breath = cmd_ok = 0
    near = [it for it in wake_data.plan(det.phrase, seed, 1.0) if it.split == "val" and it.kind == "neg"]
    near_ok = sum(det.detect(wake_data.make_clip(it, seed, noise)[0]) is not None for it in near)
    for i in range(n):
        voice = voices[i % len(voices)]
        pcm, _ = wake_data.make_clip(wake_data.WakeItem(i, "pos", det.phrase, "", voice, "val"), seed, noise)
        alone += det.detect(pcm) is not None
        text, intent = cmds[int(rng.integers(len(cmds)))]
        item = wake_data.WakeItem(n + i, "pos", det.phrase, text, voice, "val")
        pcm, _ = wake_data.make_clip(item, seed, noise)
        gate = WakeGate(det, ListeningWindow(5.0), required=True)
        rest = gate.admit(Segment(pcm=pcm, sample_rate=SR, t_start=0.0, t_end=len(pcm) / SR))
        breath += gate.stats.wakes
        if rest is not None:
            cmd_ok += home.decide(home.recognize(rest.pcm))[0] == intent
    return {"voices": voices, "clips": n, "hit_rate_alone": round(alone / n, 4),
            "hit_rate_one_breath": round(breath / n, 4), "one_breath_command_correct": round(cmd_ok / n, 4),
            "other_speech_clips": len(near), "other_speech_accept_rate": round(near_ok / max(len(near), 1), 4)}


def latency_ms(det: WakeDetector, runs: int = 20) -> float:
    """Median CPU time of scoring one 2 s utterance (one thread)."""
    import time

    pcm = (np.random.default_rng(0).standard_normal(2 * SR) * 1000).astype(np.int16)
    times = []
    for _ in range(runs):
        t = time.process_time()
        det.score(pcm)
        times.append(time.process_time() - t)
    return round(1000 * float(np.median(times)), 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, default=None, help="wake bundle (default: the shipped 'hey home')")
    ap.add_argument("--clips", type=int, default=120, help="held-out synthetic clips of each kind")
    ap.add_argument("--seed", type=int, default=4242)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    home = load_bundle("home")
    assert isinstance(home, CommandRecognizer)
    bundle = args.bundle or committed_wake_bundle("hey home")
    if bundle is None:
        raise SystemExit("no wake bundle: train one with python -m models.speech.train.train_wake --phrase 'hey home'")
    det = WakeDetector.load(bundle, frontend=home.frontend)
    asr = WhisperAsr.load()

    def measure() -> dict[str, object]:
        return {"noise": noise_fa(det), "mycroft_precise": mycroft_fa(det),
                "held_out_synthetic": held_out(det, home, args.clips, args.seed)}

    out: dict[str, object] = {"bundle": str(bundle), "phrase": det.phrase, "threshold": det.threshold,
                              "score_2s_cpu_ms": latency_ms(det), "head_alone": measure()}
    det.verify_with(WakeVerifier(asr, det.phrase))
    out["two_stage"] = {"candidate_threshold": det.candidate_threshold, "margin": MAX_MARGIN, **measure()}
    out["check_alone_on_real_phrase"] = check_alone(asr)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
