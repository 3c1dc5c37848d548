"""``homeagent models pack SRC_DIR --version N --private-key FILE --out BUNDLE``: make a signed bundle."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pack", help="make a signed bundle of a model directory",
        description="Pack a model directory into a bundle (a directory, or an archive when BUNDLE ends in "
                    ".tar, .tar.gz or .tgz) with a signed manifest and a golden self-test.")
    p.add_argument("src", type=Path, metavar="SRC_DIR")
    p.add_argument("--version", type=int, required=True, help="integer version; must increase each release")
    key = p.add_mutually_exclusive_group(required=True)
    key.add_argument("--private-key", type=Path, metavar="FILE", help="Ed25519 private key (PEM)")
    key.add_argument("--unsigned", action="store_true", help="leave it unsigned (sign later with 'sign')")
    p.add_argument("--out", type=Path, required=True, metavar="BUNDLE")
    p.add_argument("--human-version", help="version shown to people (default: from manifest.json or N)")
    p.add_argument("--name", help="bundle name (default: from manifest.json or the directory name)")
    p.add_argument("--kind", help="bundle kind (default: from manifest.json or 'model')")
    p.add_argument("--expires-days", type=float, default=365.0, help="validity in days (default 365)")
    p.add_argument("--min-agent-version", help="oldest agent that may install it (default: this agent)")
    p.add_argument("--release-summary", default="", help="one line shown in Home Assistant")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import __version__
    from ..errors import BundleError
    from ..ota.manifest import load_private_key
    from ..ota.pack import pack

    if args.version <= 0:
        raise BundleError("--version must be a positive integer")
    key = None if args.unsigned else load_private_key(args.private_key)
    m = pack(args.src, args.out, version=args.version, key=key, human_version=args.human_version,
             name=args.name, kind=args.kind, expires_days=args.expires_days,
             min_agent_version=args.min_agent_version or __version__, release_summary=args.release_summary)
    print(f"{'signed' if key else 'UNSIGNED'} bundle {args.out}: {m.summary()}")
    return 0
