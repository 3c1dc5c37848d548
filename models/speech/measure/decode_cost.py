"""CPU time and decisions of the Whisper sentence-set decoder on synthesized sentences, one thread.

``python -m models.speech.measure.decode_cost --set devices --n 12 --out costs.json``: sentences drawn from the
set (seeded), spoken by espeak-ng, kept when 3–5 s long (``--speed``: slower speech for sets of short
sentences), each decoded ``--repeat`` times after one warm-up decode; per utterance the best thread CPU time of
the encoder and of the whole decode, and the decision (intent, slots, confidence, posteriors, transcript), so
that two versions of the code can be compared on the same clips (run it from each checkout, alternately, and
compare the JSON files).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from agent.audio.wav import read_wav_16k
from agent.speech.asr_grammar import AsrGrammarRecognizer
from agent.speech.sets.base import resolve_set_path
from agent.speech.sets.grammar_set import load_grammar_set
from agent.speech.whisper.mel import as_audio


def clips(set_name: str, n: int, seed: int, lo: float = 3.0, hi: float = 5.0,
          speed: int = 150) -> list[tuple[str, np.ndarray]]:
    """``n`` sentences of the set, spoken by espeak-ng at ``speed`` words a minute, between ``lo`` and ``hi`` s."""
    gs = load_grammar_set(set_name)
    sentences = [s for intent in gs.intents for s, _ in gs.expand(intent)]
    rng = random.Random(seed)
    rng.shuffle(sentences)
    out: list[tuple[str, np.ndarray]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(sentences):
            if len(out) >= n:
                break
            path = Path(tmp) / f"{i}.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(speed), "-w", str(path), text], check=True)
            pcm = read_wav_16k(path)
            if lo <= len(pcm) / 16000 <= hi:
                out.append((text, pcm))
    return out


def measure(set_name: str, n: int, seed: int, repeat: int, speed: int = 150) -> dict[str, Any]:
    rec = AsrGrammarRecognizer.from_set(resolve_set_path(set_name))
    grammar = rec.grammar
    rows: list[dict[str, Any]] = []
    for text, pcm in clips(set_name, n, seed, speed=speed):
        audio = as_audio(pcm)
        d = grammar.decode(audio)  # warm-up
        enc, total = [], []
        for _ in range(repeat):
            t = time.thread_time()
            grammar.asr.encode(audio)
            enc.append(time.thread_time() - t)
            t = time.thread_time()
            d = grammar.decode(audio)
            total.append(time.thread_time() - t)
        rows.append({"text": text, "seconds": round(len(pcm) / 16000, 2), "encode_ms": round(1000 * min(enc), 2),
                     "decode_ms": round(1000 * min(total), 2), "intent": d.intent, "slots": d.slots,
                     "confidence": d.confidence, "posteriors": [float(p) for p in d.posteriors],
                     "transcript": d.transcript})
    ms = [r["decode_ms"] for r in rows]
    return {"set": set_name, "clips": len(rows), "mean_decode_ms": round(float(np.mean(ms)), 2),
            "mean_encode_ms": round(float(np.mean([r["encode_ms"] for r in rows])), 2), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", default="devices")
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--speed", type=int, default=150, help="espeak-ng words per minute (slower: longer clips)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    res = measure(args.set, args.n, args.seed, args.repeat, args.speed)
    if args.out:
        args.out.write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k != "rows"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
