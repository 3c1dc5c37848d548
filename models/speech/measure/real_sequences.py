"""Multi-slot recognition on real voices: three-digit codes spoken by the FSDD speakers.

``python -m models.speech.measure.real_sequences [--n 300] [--bundle DIR]``

No recording of a full command sentence by many real people is available here, so this builds them: each
item is three Free Spoken Digit Dataset clips of one speaker (8 kHz, never trained on), joined with 0.1-0.3 s
of silence, and the set is a Rhino-style context with one intent and three slots
(``$digit:first $digit:second $digit:third``, ``reports/code_context.yaml``). An item is right when the
intent and all three slots are. Compared: the real-speech recognizer constrained to the grammar
(:mod:`agent.speech.asr_grammar`, nothing trained) and, with ``--bundle``, a trained grammar bundle of the
same context (``homeagent models train-commands reports/code_context.yaml``). Writes
``reports/real_sequences.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from agent.audio.wav import read_wav_16k
from agent.speech.load import load_bundle
from agent.speech.recognizer import Recognizer

from .real_report import DATA, REPORTS

CONTEXT = REPORTS / "code_context.yaml"
FSDD = DATA / "speech" / "fsdd"
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def items(n: int, seed: int) -> list[tuple[np.ndarray, dict[str, str], str]]:
    from agent.bench.speech_eval import read_labels

    rows = read_labels(FSDD / "labels.csv")
    by: dict[tuple[str, str], list[Path]] = {}
    for p, label, spk in rows:
        by.setdefault((spk, label), []).append(p)
    speakers = sorted({s for s, _ in by})
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        spk = speakers[int(rng.integers(len(speakers)))]
        digits = [str(int(rng.integers(10))) for _ in range(3)]
        parts = []
        for d in digits:
            files = by[(spk, d)]
            parts.append(read_wav_16k(files[int(rng.integers(len(files)))]))
            parts.append(np.zeros(int(rng.uniform(0.1, 0.3) * 16000), np.int16))
        slots = dict(zip(("first", "second", "third"), (WORDS[int(d)] for d in digits), strict=True))
        out.append((np.concatenate([np.zeros(3200, np.int16), *parts]), slots, spk))
    return out


def measure(rec: Recognizer, data: list[tuple[np.ndarray, dict[str, str], str]]) -> dict[str, object]:
    right = rejected = 0
    per: dict[str, list[int]] = {}
    wall = []
    for pcm, slots, spk in data:
        t0 = time.perf_counter()
        scores = rec.recognize(pcm)
        intent, _ = rec.decide(scores)
        wall.append(time.perf_counter() - t0)
        ok = intent == "code" and scores.slots == slots
        right += ok
        rejected += intent is None
        c = per.setdefault(spk, [0, 0])
        c[0] += ok
        c[1] += 1
    return {"items": len(data), "intent_and_slots_right": round(right / len(data), 4),
            "rejected": round(rejected / len(data), 4),
            "per_speaker": {k: round(a / b, 3) for k, (a, b) in sorted(per.items())},
            "ms_per_item_p50": round(1000 * float(np.median(wall)), 1),
            "seconds_per_item": round(float(np.mean([len(p) for p, _, _ in data])) / 16000, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bundle", type=Path, action="append", default=[], help="also measure a trained bundle")
    ap.add_argument("--out", type=Path, default=REPORTS / "real_sequences.json")
    ap.add_argument("--model", action="append", default=[], help="recognizer models to measure (default tiny.en)")
    args = ap.parse_args(argv)
    from agent.speech.asr_grammar import AsrGrammarRecognizer

    data = items(args.n, args.seed)
    report: dict[str, object] = {"command": "python -m models.speech.measure.real_sequences",
                                 "context": str(CONTEXT.name),
                                 "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "n": args.n,
                                 "seed": args.seed, "results": {}}
    results = report["results"]
    assert isinstance(results, dict)
    for model in args.model or ["tiny.en"]:
        rec = AsrGrammarRecognizer.from_set(CONTEXT, model=model)
        results[f"asr-grammar (whisper-{model}, constrained)"] = measure(rec, data)
        print(json.dumps(results, indent=1), flush=True)
    for b in args.bundle:
        results[f"trained bundle {b}"] = measure(load_bundle(b), data)
        print(json.dumps(results, indent=1), flush=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
