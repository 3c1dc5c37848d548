"""``homeagent models train-commands SET.yaml``: train a command set's bundle from synthetic speech.

Flat sets (intents → phrases) train with ``python -m models.speech.train.train`` into ``models/bundles/<name>``;
grammar sets (slots, templates, Rhino-style contexts) with ``python -m models.speech.train.train_grammar`` into
``models/bundles/<name>`` for a built-in set, else into the content-hash cache that ``homeagent recognize``
uses (or ``--out``). Training runs in a child process and needs torch (the runtime never imports it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from ..errors import AgentError
from ..paths import bundles_dir, models_dir

TORCH_HINT = ("training needs torch: pip install 'homeagent[train]' "
              "(or: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-commands", help="train a speech-command bundle from synthetic speech",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("set", nargs="?", default=None, metavar="SET",
                   help="command set: built-in name (home, digits, smart_lighting, ...) or YAML path")
    p.add_argument("--set", dest="set_opt", default=None, metavar="SET", help="the same, as an option")
    p.add_argument("--out", type=Path, default=None, help="bundle dir (grammar sets)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--workers", type=int, default=2, help="synthesis/feature processes (1 or 2)")
    p.set_defaults(func=run)


def _grammar(args: argparse.Namespace, set_path: Path, root: Path) -> int:
    from ..speech.bundle_cache import cache_root, set_key, train_scale
    from ..speech.sets.base import SETS_DIR
    from ..speech.sets.grammar_set import load_grammar_set

    gs = load_grammar_set(set_path)
    builtin = set_path.resolve().parent == SETS_DIR.resolve()
    out = args.out or (bundles_dir() / gs.name if builtin else cache_root() / set_key(set_path))
    cmd = [sys.executable, "-m", "models.speech.train.train_grammar", str(set_path.resolve()), "--out", str(out),
           "--seed", str(args.seed), "--epochs", str(args.epochs), "--workers", str(args.workers),
           "--scale", str(train_scale())]
    rc = subprocess.run(cmd, cwd=root, check=False).returncode
    if rc == 0:
        print(f"bundle written to {out}", file=sys.stderr)
    return rc


def run(args: argparse.Namespace) -> int:
    from ..speech.sets.base import is_grammar_file, resolve_set_path

    name = args.set or args.set_opt
    if not name or (args.set and args.set_opt and args.set != args.set_opt):
        raise AgentError("give one command set: homeagent models train-commands SET.yaml")
    if not 1 <= args.workers <= 2:
        raise AgentError("--workers must be 1 or 2")
    root = models_dir().parent
    if not (root / "models" / "speech" / "train" / "train.py").is_file():
        raise AgentError(f"training code not found under {root}/models/speech (train from a repository checkout)")
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise AgentError(TORCH_HINT) from exc
    set_path = resolve_set_path(name)
    if not set_path.is_file():
        from ..speech.sets.commands import load_command_set

        load_command_set(name)  # raises "not found" naming the built-in sets
    if is_grammar_file(set_path.read_text(encoding="utf-8")):
        return _grammar(args, set_path, root)
    cmd = [sys.executable, "-m", "models.speech.train.train", "--set", str(name), "--seed", str(args.seed),
           "--epochs", str(args.epochs), "--workers", str(args.workers)]
    return subprocess.run(cmd, cwd=root, check=False).returncode
