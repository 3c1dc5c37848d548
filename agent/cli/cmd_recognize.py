"""``homeagent recognize --commands NAME_OR_FILE FILE.wav...``: one JSON line per file.

Each line is ``{"file", "intent" (or null when rejected), "slots" ({variable: canonical value}), "confidence"}``.
``NAME_OR_FILE`` is a built-in set, a command-set YAML (ours, or a Rhino-style context), a bundle dir or a
manifest.json. A set without a trained bundle is trained on first use (progress bar on stderr) and cached by
its content hash. WAVs of any rate and channel count are accepted. An unreadable file prints an error on
stderr and the others are still processed; the exit code is 1 if any file failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..audio.wav import read_wav_16k
from ..errors import AgentError, AudioFormatError

if TYPE_CHECKING:
    from ..speech.recognizer import CommandRecognizer

log = logging.getLogger(__name__)
WORKERS_ENV = "HOMEAGENT_TRAIN_WORKERS"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("recognize", help="recognize spoken commands in WAV files (one JSON line each)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--commands", default="home", metavar="NAME_OR_FILE",
                   help="built-in set name (e.g. home, digits, smart_lighting), command-set YAML (ours or a "
                        "Rhino-style context; trained on first use), bundle dir or manifest.json (default: home)")
    p.add_argument("--scores", action="store_true", help="also print every label's score")
    p.add_argument("files", nargs="+", metavar="FILE.wav")
    p.set_defaults(func=run)


def train_workers() -> int:
    raw = os.environ.get(WORKERS_ENV, "2")
    if not raw.isdigit() or not 1 <= int(raw) <= 2:
        raise AgentError(f"{WORKERS_ENV}={raw!r} must be 1 or 2")
    return int(raw)


def load_recognizer(name_or_file: str) -> CommandRecognizer:
    """A recognizer for a set name/file or a bundle path. Sets of sentences (grammar sets, Rhino contexts,
    flat sets with multi-word phrases) are decoded by the real-speech recognizer constrained to the set's
    sentences: nothing is trained (:mod:`agent.speech.asr_grammar`; on real voices it got 78.7 % of three-digit
    codes right where a bundle trained on synthetic voices got 16.7 %). Other sets use their bundle, trained
    and cached on first use when there is none."""
    from ..speech.asr_grammar import AsrGrammarRecognizer, asr_available, decodes_sentences
    from ..speech.bundle_cache import ensure_bundle
    from ..speech.recognizer import CommandRecognizer
    from ..speech.sets.base import resolve_set_path

    p = Path(name_or_file)
    if not p.is_dir() and p.name != "manifest.json":
        set_path = resolve_set_path(name_or_file)
        if set_path.is_file():
            if decodes_sentences(set_path):
                if asr_available():
                    return AsrGrammarRecognizer.from_set(set_path)
                log.warning("the speech recognizer model is not built (python -m models.speech.fetch.fetch_asr): "
                            "using a trained bundle for %s", set_path)
            return CommandRecognizer.load(ensure_bundle(set_path, workers=train_workers()))
    return CommandRecognizer.load(name_or_file)


def run(args: argparse.Namespace) -> int:
    rec = load_recognizer(args.commands)
    failed = 0
    for path in args.files:
        try:
            pcm = read_wav_16k(path)
        except (AudioFormatError, OSError) as exc:
            print(f"homeagent: error: {path}: {exc}", file=sys.stderr)
            failed += 1
            continue
        scores = rec.recognize(pcm, 0.0, len(pcm) / 16000)
        intent, conf = rec.decide(scores)
        line: dict[str, object] = {"file": path, "intent": intent,
                                   "slots": dict(scores.slots) if intent is not None else {},
                                   "confidence": round(conf, 4)}
        if args.scores:
            line["scores"] = {k: round(v, 4) for k, v in zip(scores.labels, scores.scores, strict=True)}
        print(json.dumps(line), flush=True)
    return 1 if failed else 0
