"""``homeagent check-config FILE``: validate a config; print every problem as FILE:LINE: key: message."""

from __future__ import annotations

import argparse
import sys

from ..config import validate_file


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("check-config", help="validate a config file",
                              description="Validate a YAML config file; exit 1 and list every problem.")
    p.add_argument("file")
    p.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    problems = validate_file(args.file)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 1
    print(f"{args.file}: OK")
    return 0
