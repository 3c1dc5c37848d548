"""``homeagent models sign BUNDLE --private-key FILE``: (re-)sign a bundle in place."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sign", help="sign (or re-sign) a bundle in place",
                              description="Sign the manifest of a bundle made with 'pack --unsigned', or "
                                          "replace its signature (key rotation).")
    p.add_argument("bundle", type=Path, metavar="BUNDLE")
    p.add_argument("--private-key", type=Path, required=True, metavar="FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..ota.manifest import load_private_key
    from ..ota.pack import sign_bundle

    m = sign_bundle(args.bundle, load_private_key(args.private_key))
    print(f"signed {args.bundle}: {m.summary()}")
    return 0
