"""``homeagent eval fusion``: accuracy and false-action rate of voice-only, gesture-only, early and late fusion
per SNR on a synthesized scenario set (speech synthesized and mixed with real noise at clean/10/5/0/-5 dB ×
tracks of real recorded hand landmarks × time offsets). Needs a repository checkout (``models/fusion``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..paths import models_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("fusion", help="Compare voice-only, gesture-only, early and late fusion per SNR.",
                              description=__doc__)
    p.add_argument("--json", action="store_true",
                   help='print one JSON object {"by_snr": [{"snr_db", "voice_only", "gesture_only", "early", '
                        '"late", "late_false_actions", ...}]} (snr_db null = clean)')
    p.add_argument("--png", type=Path, default=Path("out/fusion_eval.png"),
                   help="plot file (default out/fusion_eval.png)")
    p.add_argument("--scenarios", type=int, default=300, help="test scenarios per SNR (default 300)")
    p.add_argument("--refit", action="store_true",
                   help="refit the late-fusion weights, the early-fusion classifier and all thresholds")
    p.add_argument("--refit-standins", action="store_true",
                   help="also refit the stand-in speech and gesture classifiers (implies --refit)")
    p.add_argument("--recognizer", default="home", metavar="BUNDLE",
                   help="speech bundle to measure (default: home, the shipped one); 'standin' = the stand-in head "
                        "of models/fusion; a bundle other than the committed profile's is fitted on the fly")
    p.add_argument("--standin-gestures", action="store_true",
                   help="classify the landmark tracks with the stand-in head of models/fusion (trained on the head "
                        "split only) instead of the shipped gesture classifier, which was trained on every landmark "
                        "row, the scenario test rows included (fitted on the fly)")
    p.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="development data folder holding noise/ and vision/hand_landmarks/ (default: "
                        "$HOMEAGENT_DEV_DATA or ../shared/data beside the checkout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = models_dir().parent
    if not (root / "models" / "fusion" / "run.py").is_file():
        print(f"homeagent: error: fusion evaluation code not found under {root}/models/fusion "
              "(run from a repository checkout)", file=sys.stderr)
        return 2
    if args.data is not None:
        os.environ["HOMEAGENT_DEV_DATA"] = str(args.data)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from models.fusion import report
    from models.fusion.run import evaluate

    res = evaluate(n_test=args.scenarios, refit=args.refit or args.refit_standins, recognizer_name=args.recognizer,
                   png=args.png, refit_standins=args.refit_standins, real_gestures=not args.standin_gestures)
    if args.json:
        print(json.dumps(res))
    else:
        print(report.table(res["by_snr"]))
        print(f"thresholds: {json.dumps(res['thresholds'])}")
        print(f"plot: {res['png']}")
    return 0
