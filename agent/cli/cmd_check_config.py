"""``homeagent check-config FILE``: validate a config and everything ``run`` will need from it; print every
problem as ``FILE:LINE: key: message`` (schema) or ``FILE: key: message`` (files, models, devices)."""

from __future__ import annotations

import argparse
import sys

from ..config import load_config
from ..daemon.preflight import preflight
from ..errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("check-config", help="validate a config file and what it refers to",
                              description="Validate a YAML config file, the files and models it needs and its "
                                          "devices (warnings: they may be plugged in later); exit 1 and list "
                                          "every problem.")
    p.add_argument("file")
    p.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.file)
    except ConfigError as exc:
        for line in exc.problems or [str(exc)]:
            print(line, file=sys.stderr)
        return 1
    findings = preflight(cfg)
    for f in findings:
        print(f.line(args.file), file=sys.stderr)
    problems = sum(not f.warning for f in findings)
    if problems:
        print(f"{args.file}: {problems} problem(s): 'homeagent run' would fail", file=sys.stderr)
        return 1
    print(f"{args.file}: OK" + (f" ({len(findings)} warning(s))" if findings else ""))
    return 0
