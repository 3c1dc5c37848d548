"""``homeagent models train-commands --set NAME``: train a speech-command bundle from synthetic speech.

Runs ``python -m models.speech.train`` in a child process (training needs torch; the runtime never imports
it)."""

from __future__ import annotations

import argparse
import subprocess
import sys

from ..paths import models_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-commands", help="train a speech-command bundle from synthetic speech",
                              description=__doc__)
    p.add_argument("--set", required=True, help="command set: built-in name (home, digits, speech_commands_10) "
                                                "or YAML path")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = models_dir().parent
    if not (root / "models" / "speech" / "train.py").is_file():
        print(f"homeagent: error: training code not found under {root}/models/speech "
              "(train from a repository checkout)", file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "models.speech.train", "--set", args.set, "--seed", str(args.seed),
           "--epochs", str(args.epochs), "--workers", str(args.workers)]
    return subprocess.run(cmd, cwd=root, check=False).returncode
