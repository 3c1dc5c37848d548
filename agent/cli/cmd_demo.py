"""``homeagent demo``: the real pipeline on bundled audio through a local (or given) MQTT broker."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="run the pipeline on bundled audio through a real broker",
                              description="Replay the bundled recording through VAD, the speech encoder and a "
                              "real MQTT broker (a local Mosquitto on 127.0.0.1 unless --mqtt-host is given); "
                              "print intents as delivered, then a summary.")
    p.add_argument("--mqtt-host", help="use this broker instead of starting a local one")
    p.add_argument("--mqtt-port", type=int, default=1883)
    p.add_argument("--realtime", action="store_true", help="pace the replay in real time")
    p.add_argument("--audio", type=Path, help="another 16 kHz WAV to replay (with --script)")
    p.add_argument("--script", type=Path, help="JSON of expected utterances for --audio")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from ..demo.run import run_demo

    result = run_demo(host=args.mqtt_host, port=args.mqtt_port if args.mqtt_host else None,
                      realtime=args.realtime, audio=args.audio, script=args.script, out=sys.stdout)
    return 0 if result.delivered or not any(u["expect"] for u in result.expected) else 1
