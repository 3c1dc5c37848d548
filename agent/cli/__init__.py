"""The ``homeagent`` command line.

Top-level commands live in ``agent/cli/cmd_<name>.py``; each module defines ``register(subparsers)`` which adds
its parser and sets ``func`` (``func(args) -> int``). Command groups (``models``, ``eval``, ``bench``,
``gestures``) discover their sub-commands the same way from ``<group>_<name>.py`` (see :func:`add_group`).
Discovery keeps each command in one file with one owner.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import AgentError
from ..runtime.memory import limit_malloc_arenas

log = logging.getLogger(__name__)

ORDER = ["run", "demo", "check-config", "recognize", "gestures", "eval", "bench", "models", "ota"]


def _modules(prefix: str) -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith(prefix)]
    return sorted(names)


def add_group(subparsers: argparse._SubParsersAction, name: str, help_text: str) -> argparse.ArgumentParser:
    """Add a command group whose sub-commands are the modules ``agent/cli/<name>_*.py``."""
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    sub = parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND")
    sub.required = False
    for mod in _modules(f"{name}_"):
        importlib.import_module(f"{__name__}.{mod}").register(sub)
    parser.set_defaults(func=lambda args: _group_help(parser, args))
    return parser


def _group_help(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    parser.print_help()
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="homeagent",
        description="Smart-home voice-and-vision edge agent.",
    )
    parser.add_argument("--version", action="version", version=f"homeagent {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    mods = _modules("cmd_")
    key = {n: i for i, n in enumerate(ORDER)}
    mods.sort(key=lambda m: key.get(m[4:].replace("_", "-"), len(ORDER)))
    for mod in mods:
        importlib.import_module(f"{__name__}.{mod}").register(sub)
    return parser


def setup_logging(verbose: int, quiet: bool, default: int = logging.WARNING) -> None:
    """-q: warnings only; -v: INFO; -vv: DEBUG; neither: the command's default (INFO for the daemon)."""
    level = logging.WARNING if quiet else (logging.INFO if verbose <= 1 else logging.DEBUG)
    if verbose == 0 and not quiet:
        level = default
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose, args.quiet, getattr(args, "log_level", logging.WARNING))
    limit_malloc_arenas()  # before any worker thread starts (see agent/runtime/memory.py)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AgentError as exc:
        print(f"homeagent: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
