"""``homeagent eval speech``: accuracy, confusion matrix (text, ``--png``), false accepts/hour and real-time
factor of a speech bundle on labelled recordings (``labels.csv``: ``path,label,speaker``, paths relative to the CSV)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("speech", help="measure a speech-command bundle on labelled WAVs",
                              description=__doc__)
    p.add_argument("--commands", default="home", metavar="NAME_OR_FILE", help="speech bundle (default home)")
    p.add_argument("--labels", type=Path, action="append", default=[], metavar="labels.csv",
                   help="labelled clips (repeatable); labels not in the set count as 'unknown', digits 0-9 "
                        "map to zero…nine")
    p.add_argument("--only-commands", action="store_true",
                   help="measure only clips whose label is one of the set's intents")
    p.add_argument("--map", action="append", default=[], metavar="LABEL=INTENT",
                   help="count clips labelled LABEL as INTENT (repeatable), e.g. stop=music_stop")
    p.add_argument("--negatives", type=Path, default=None, metavar="DIR",
                   help="folder of WAVs without commands: false accepts per hour")
    p.add_argument("--png", type=Path, default=None, metavar="FILE",
                   help="also write the confusion matrix as a PNG (rows: truth, columns: decision)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..bench.speech_eval import evaluate, false_accepts, map_label, read_labels
    from ..errors import AgentError
    from ..speech.load import load_recognizer

    rec = load_recognizer(args.commands, recognizer="auto")  # the recognizer `homeagent recognize` uses
    extra: dict[str, str] = {}
    for item in args.map:
        label, sep, intent = item.partition("=")
        if not sep or intent not in rec.labels:
            raise AgentError(f"--map {item!r}: expected LABEL=INTENT with INTENT one of {', '.join(rec.labels)}")
        extra[label.strip().lower()] = intent
    out: dict[str, object] = {"commands": rec.name, "version": rec.version,
                              "threshold": rec.threshold}
    text = ""
    if args.labels:
        rows = [r for csv_path in args.labels for r in read_labels(csv_path)]
        if args.only_commands:
            rows = [r for r in rows if map_label(r[1], rec.labels, extra) != "unknown"]
        res = evaluate(rec, rows, extra)
        out.update(res.summary())
        text = res.confusion_text()
        if args.png is not None:
            from ..bench.vision_report import confusion_png

            confusion_png(res.confusion, list(rec.labels), args.png,
                          f"{rec.name} v{rec.version}: truth (rows) vs decision")
            out["confusion_png"] = str(args.png)
        for e in res.errors:
            print(f"homeagent: error: {e}", file=sys.stderr)
    if args.negatives is not None:
        files = sorted(args.negatives.rglob("*.wav"))
        out["negatives"] = false_accepts(rec, files)
    if args.json:
        out["confusion"] = text
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k}: {json.dumps(v)}")
        if text:
            print(text)
    return 0
