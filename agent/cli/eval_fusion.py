"""``homeagent eval fusion``: accuracy and false-action rate of voice-only, gesture-only, early and late fusion
per SNR on a synthesized scenario set (speech synthesized and mixed with real noise at clean/10/5/0/-5 dB ×
tracks of real recorded hand landmarks × time offsets).

The evaluation is build-time code (``models/fusion``, not in the installed package): this command runs it as
``python -m models.fusion.run`` in a repository checkout and passes its options on (``--help`` lists them).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from ..errors import ConfigError
from ..paths import models_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("fusion", help="Compare voice-only, gesture-only, early and late fusion per SNR.",
                              description=__doc__, add_help=False, prefix_chars="\0")
    p.add_argument("options", nargs=argparse.REMAINDER,
                   help="--json, --png FILE, --scenarios N, --refit, --refit-standins, --recognizer BUNDLE, "
                        "--standin-gestures, --data DIR (see --help)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    root = models_dir().parent
    if not (root / "models" / "fusion" / "run.py").is_file():
        raise ConfigError(f"the fusion evaluation is not installed: {root}/models/fusion is missing (run it from "
                          "a repository checkout)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p))
    return subprocess.run([sys.executable, "-m", "models.fusion.run", *args.options], cwd=root, env=env,
                          check=False).returncode
