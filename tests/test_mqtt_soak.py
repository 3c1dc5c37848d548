"""The soak command's contract: ``homeagent bench mqtt --cycles N --json`` prints one JSON object."""

from __future__ import annotations

import json

import pytest

from agent.cli import build_parser

KEYS = {"cycles", "sent", "delivered", "dropped_stale", "executed_late", "lost_within_ttl", "duplicates_executed"}


def test_bench_mqtt_soak_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    # outages of 0.5 s, longer than the 0.3 s short TTL: the short-TTL intents sent early in each outage are
    # stale before the broker is back whatever the restart takes (with the 0.15 s default a fast reconnect
    # could catch none: "dropped_stale 0" in one fresh CI run)
    args = build_parser().parse_args(["bench", "mqtt", "--cycles", "3", "--json", "--up-s", "0.8", "--rate", "30",
                                      "--down-s", "0.5"])
    rc = args.func(args)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert set(result) == KEYS
    assert result["cycles"] == 3 and result["sent"] > 50
    assert result["executed_late"] == 0 and result["lost_within_ttl"] == 0 and result["duplicates_executed"] == 0
    assert result["delivered"] + result["dropped_stale"] + result["lost_within_ttl"] == result["sent"]
    assert result["dropped_stale"] > 0  # short-TTL intents caught in an outage are dropped, not sent late
    assert rc == 0


def test_bench_mqtt_options_parse() -> None:
    args = build_parser().parse_args(["bench", "mqtt", "--cycles", "7", "--json", "--mqtt-host", "h", "--mqtt-port",
                                      "1884"])
    assert (args.cycles, args.json, args.mqtt_host, args.mqtt_port) == (7, True, "h", 1884)
