"""``homeagent bench mqtt``: the broker-kill soak (see :mod:`agent.bench.mqtt_soak`); prints counts."""

from __future__ import annotations

import argparse
import json

from ..bench.mqtt_soak import SoakOptions, run_soak


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mqtt", help="Kill/restart the MQTT broker N times under intent traffic; print counts.",
                       description="Starts its own Mosquitto on a free loopback port (or goes through a "
                                   "connection-cutting proxy to --mqtt-host/--mqtt-port), sends intents while "
                                   "the broker is SIGKILLed and restarted, and counts delivered, stale-dropped, "
                                   "late, lost and duplicate intents.")
    d = SoakOptions()
    p.add_argument("--cycles", type=int, default=d.cycles, help="broker kill/restart cycles (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--details", action="store_true", help="with --json: add a 'details' object")
    p.add_argument("--mqtt-host", default=None, help="use this broker (through a proxy) instead of our own")
    p.add_argument("--mqtt-port", type=int, default=None, help="broker port (default 1883 with --mqtt-host)")
    p.add_argument("--rate", type=float, default=d.rate_hz, help="intents per second (default %(default)s)")
    p.add_argument("--up-s", type=float, default=d.up_s, help="broker up time per cycle (default %(default)s)")
    p.add_argument("--down-s", type=float, default=d.down_s, help="outage per cycle (default %(default)s)")
    p.add_argument("--ttl", type=float, default=d.ttl_s, help="intent TTL in seconds (default %(default)s)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.cycles < 1:
        raise SystemExit("homeagent bench mqtt: --cycles must be at least 1")
    opts = SoakOptions(cycles=args.cycles, host=args.mqtt_host,
                       port=args.mqtt_port if args.mqtt_host else None, rate_hz=args.rate, up_s=args.up_s,
                       down_s=args.down_s, ttl_s=args.ttl)
    result = run_soak(opts)
    details = result.pop("details")
    if args.json:
        if args.details:
            result["details"] = details
        print(json.dumps(result), flush=True)
    else:
        for k, v in result.items():
            print(f"{k:>20}: {v}")
    bad = result["executed_late"] or result["lost_within_ttl"] or result["duplicates_executed"]
    return 1 if bad else 0
