"""``homeagent recognize --commands NAME_OR_FILE FILE.wav...``: one JSON line per file.

Each line is ``{"file", "intent" (or null when rejected), "slots" ({variable: canonical value}), "confidence"}``;
a rejected line adds ``"best": {"intent", "slots", "confidence"}``, the closest intent of the set.
``NAME_OR_FILE`` is a built-in set, a command-set YAML (ours, or a Rhino-style context), a bundle dir or a
manifest.json. A set without a trained bundle is trained on first use (progress bar on stderr) and cached by
its content hash. WAVs of any rate (4-192 kHz) and channel count, up to 30 s long, are accepted. An unreadable
file prints an error on stderr and the others are still processed; the exit code is 1 if any file failed.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..audio.wav import read_wav_16k
from ..errors import AudioFormatError
from ..types import CommandScores

MAX_COMMAND_SECONDS = 30.0
"""Longest WAV ``recognize`` accepts (seconds of audio, checked from the header before reading): a spoken
command lasts a few seconds, and the recognizer scores the whole file at once, so a long file only costs
time and memory. Longer recordings belong to ``homeagent run`` with a WAV replay source."""



def best_in_set(scores: CommandScores) -> dict[str, object]:
    """The highest-scoring intent of the set other than ``unknown``, with its slots and score."""
    pairs = [(p, lab) for lab, p in zip(scores.labels, scores.scores, strict=True) if lab != "unknown"]
    if not pairs:
        return {"intent": None, "slots": {}, "confidence": 0.0}
    p, lab = max(pairs)
    return {"intent": lab, "slots": dict(scores.slots), "confidence": round(float(p), 4)}

def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("recognize", help="recognize spoken commands in WAV files (one JSON line each)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--commands", default="home", metavar="NAME_OR_FILE",
                   help="built-in set name (e.g. home, digits, smart_lighting), command-set YAML (ours or a "
                        "Rhino-style context; trained on first use), bundle dir or manifest.json (default: home)")
    p.add_argument("--scores", action="store_true", help="also print every label's score")
    p.add_argument("files", nargs="+", metavar="FILE.wav")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..speech.load import load_recognizer

    rec = load_recognizer(args.commands, recognizer="auto")
    failed = 0
    for path in args.files:
        try:
            pcm = read_wav_16k(path, max_seconds=MAX_COMMAND_SECONDS)
        except AudioFormatError as exc:  # its message names the file
            print(f"homeagent: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        except OSError as exc:
            print(f"homeagent: error: {path}: {exc}", file=sys.stderr)
            failed += 1
            continue
        scores = rec.recognize(pcm, 0.0, len(pcm) / 16000)
        intent, conf = rec.decide(scores)
        line: dict[str, object] = {"file": path, "intent": intent,
                                   "slots": dict(scores.slots) if intent is not None else {},
                                   "confidence": round(conf, 4)}
        if intent is None:  # what the set came closest to, beside the rejection (not the score of "unknown")
            line["best"] = best_in_set(scores)
        if args.scores:
            line["scores"] = {k: round(v, 4) for k, v in zip(scores.labels, scores.scores, strict=True)}
        print(json.dumps(line), flush=True)
    return 1 if failed else 0
