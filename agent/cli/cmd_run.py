"""``homeagent run --config FILE``: the daemon with live devices."""

from __future__ import annotations

import argparse
import logging

from ..config import load_config
from ..daemon.agent import Agent


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run the agent daemon", description="Run the agent daemon; "
                              "SIGINT/SIGTERM stop it cleanly.")
    p.add_argument("--config", "-c", help="YAML config file (defaults apply when omitted)")
    p.set_defaults(func=_run, log_level=logging.INFO)  # says what it listens to, and each intent it acts on


def _run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    return Agent(cfg, config_path=args.config).run()
