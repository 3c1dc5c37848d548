"""``homeagent bench``: the full-pipeline benchmark; sub-commands (``agent/cli/bench_*.py``) add soaks.

    homeagent bench --seconds S [--fps F] [--json] [--flat-out] [--soak MINUTES]
    homeagent bench mqtt --cycles N --json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_group(subparsers, "bench", "Benchmarks: the full pipeline on bundled replay media (idle and busy "
                  "room: CPU per second of input, latency percentiles, RSS, dropped frames, int8 vs float); "
                  "'bench mqtt' runs the broker-kill soak.")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of input per phase (idle, busy)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--flat-out", action="store_true", help="replay as fast as possible instead of real time")
    p.add_argument("--soak", type=float, default=0.0, metavar="MINUTES", help="also run a memory soak")
    p.add_argument("--out", type=Path, help="also write the JSON result to this file")
    p.add_argument("--mqtt-host", help="use this broker instead of a local Mosquitto")
    p.add_argument("--mqtt-port", type=int, default=1883)
    p.add_argument("--landmarks", choices=["full", "lite"],
                   help="hand landmark model, as config vision.landmarks (default: the config default)")
    p.add_argument("--vad", choices=["silero", "webrtc"], help="VAD engine, as config vad.engine (default: the "
                                                               "config default)")
    p.add_argument("--recognizer", choices=["default", "head", "whisper", "whisper-set"], default="default",
                   help="speech path: the daemon's default, the intent head, Whisper on the home set, or Whisper on "
                        "a sentence set with slots (devices)")
    p.add_argument("--fps", type=float, default=15.0, help="the camera's frame rate (MJPEG 640x480)")
    p.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    from ..bench.full import format_table, run_bench, write_json

    result = run_bench(args.seconds, realtime=not args.flat_out, soak_minutes=args.soak,
                       mqtt_host=args.mqtt_host, mqtt_port=args.mqtt_port, landmarks=args.landmarks, vad=args.vad,
                       recognizer=args.recognizer, fps=args.fps)
    if args.out:
        write_json(result, args.out)
    if args.json:
        print(json.dumps(result))
    else:
        print(format_table(result))
    sys.stdout.flush()
    return 0
