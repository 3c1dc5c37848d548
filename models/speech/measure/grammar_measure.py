"""Measure a grammar bundle on voices it was never trained on:
``python -m models.speech.measure.grammar_measure SET [--n 120] [--float head.float.onnx] [--real DIR]``.

Sentences are sampled from the set's grammar with a seed unlike training's and spoken by held-out voices
(espeak's ``en-gb-x-gbcwmd`` accent with variants the validation never used, flite ``rms``, festival ``ked``),
clean and augmented (noise, reverb, gain...). Unknowns: generated other speech and near-misses. Reports intent
accuracy, intent + all slots accuracy, unknown false accepts, latency of one 2 s utterance (frontend + head,
one thread), and, with ``--float``, the same for the float head. ``--real DIR`` also recognizes the WAVs of a
labels.csv folder (measurement only: nothing here is tuned on it).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from agent.audio.wav import read_wav_16k
from agent.runtime.session import load_model
from agent.speech.grammar_recognizer import GrammarRecognizer
from agent.speech.load import load_bundle
from agent.speech.recognizer import Recognizer
from agent.speech.sets.grammar_set import load_grammar_set

from ..data import augment, synth
from ..data import grammar_data as gd


def test_voices(seed: int) -> list[str]:
    _, _, val = gd.voice_pools(seed, synth.available_engines())
    used = {v.split("+", 1)[1] for v in val if v.startswith("espeak:")}
    fresh = [v for v in synth.ESPEAK_VARIANTS if v not in used]
    return [f"espeak:{gd.VAL_ESPEAK_ACCENT}+{v}" for v in fresh] + [v for v in val if not v.startswith("espeak:")]


def make_items(set_name: str, n: int, seed: int) -> list[gd.Item]:
    gs = load_grammar_set(set_name)
    rng = random.Random(seed + 7919)
    voices = test_voices(0)
    items: list[gd.Item] = []
    for k in range(n):
        intent = list(gs.intents)[k % len(gs.intents)]
        text, slots = gs.sample(intent, rng, uniform=k % 2 == 1)
        items.append(gd.Item(len(items), text, list(gs.intents).index(intent), slots, voices[k % len(voices)]))
    flat = gd.CommandSet(gs.name, "", {i: () for i in gs.intents}, gs.negatives)
    positives = {t for i in gs.intents if gs.count(i) <= 5000 for t, _ in gs.expand(i, 5000)}
    others = [s for s in gd.negatives.generate(flat, 600, seed + 5) if s not in positives]
    misses = [s for s in gd.near_misses(gs, 200, rng) if s not in positives]
    for k in range(n // 2):
        pool = misses if k % 2 else others
        items.append(gd.Item(len(items), pool[rng.randrange(len(pool))], len(gs.intents), {},
                             voices[k % len(voices)], kind="near_miss" if k % 2 else "other"))
    return items


def run_set(rec: Recognizer, items: list[gd.Item], labels: tuple[str, ...], seed: int) -> dict[str, Any]:
    noise = augment.NoiseBank.default()
    rows: dict[str, list[tuple[bool, bool, bool, str]]] = {"clean": [], "augmented": []}
    for it in items:
        rng = np.random.default_rng([seed, it.idx])
        try:
            pcm = synth.synthesize(it.text, it.voice, rng)
        except synth.SynthError:
            continue
        margin = np.zeros(1600, dtype=np.int16)
        for kind, x in (("clean", np.concatenate([margin, augment.set_peak(pcm, -3.0), margin])),
                        ("augmented", augment.augment(pcm, rng, noise, 1.0))):
            scores = rec.recognize(x)
            intent, _ = rec.decide(scores)
            want = labels[it.intent]
            if want == "unknown":
                rows[kind].append((False, intent is not None, False, it.kind))
            else:
                rows[kind].append((True, intent == want, intent == want and dict(scores.slots) == it.slots, ""))
    out: dict[str, Any] = {}
    for kind, r in rows.items():
        pos = [x for x in r if x[0]]
        neg = [x for x in r if not x[0] and x[3] == "other"]
        near = [x for x in r if not x[0] and x[3] == "near_miss"]
        out[kind] = {"commands": len(pos), "intent_acc": round(float(np.mean([x[1] for x in pos])), 4),
                     "intent_and_slots_acc": round(float(np.mean([x[2] for x in pos])), 4),
                     "other_speech": len(neg),
                     "other_speech_false_accept": round(float(np.mean([x[1] for x in neg])), 4),
                     "near_misses": len(near), "near_miss_false_accept": round(float(np.mean([x[1] for x in near])), 4)}
    return out


def latency_ms(rec: Recognizer, reps: int = 30) -> float:
    pcm = (np.random.default_rng(0).standard_normal(32000) * 1000).astype(np.int16)
    rec.recognize(pcm)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        rec.recognize(pcm)
        times.append(time.perf_counter() - t0)
    return round(1000 * float(np.median(times)), 1)


def real(rec: Recognizer, d: Path) -> list[dict[str, Any]]:
    out = []
    with (d / "labels.csv").open() as f:
        for row in csv.DictReader(f):
            scores = rec.recognize(read_wav_16k(d / row["path"]))
            intent, conf = rec.decide(scores)
            out.append({"file": row["path"], "label": row["label"], "intent": intent,
                        "slots": dict(scores.slots) if intent else {}, "confidence": round(conf, 3)})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set")
    ap.add_argument("--n", type=int, default=120, help="command sentences (plus n/2 unknowns)")
    ap.add_argument("--seed", type=int, default=99)
    ap.add_argument("--float", dest="float_head", type=Path, default=None, help="float head.onnx to compare")
    ap.add_argument("--real", type=Path, default=None, help="folder with labels.csv + WAVs (measured only)")
    args = ap.parse_args(argv)
    rec = load_bundle(args.set)
    assert isinstance(rec, GrammarRecognizer)
    items = make_items(args.set, args.n, args.seed)
    report: dict[str, Any] = {"set": args.set, "voices": sorted({i.voice for i in items}),
                              "latency_ms_2s_utterance": latency_ms(rec), "int8": run_set(rec, items, rec.labels,
                                                                                          args.seed)}
    if args.real:
        report["real"] = real(rec, args.real)
    if args.float_head:
        rec.head = load_model(args.float_head)
        report["float"] = run_set(rec, items, rec.labels, args.seed)
        report["latency_ms_2s_utterance_float"] = latency_ms(rec)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
