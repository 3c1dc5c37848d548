"""``homeagent models keygen DIR``: make an Ed25519 key pair for signing bundles."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("keygen", help="make an Ed25519 signing key pair",
                              description="Write DIR/private.pem (mode 0600, keep it off devices) and "
                                          "DIR/public.pem (install it on devices as a trusted key).")
    p.add_argument("dir", type=Path, metavar="DIR")
    p.add_argument("--force", action="store_true", help="overwrite an existing key pair")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..ota.manifest import generate_keypair, key_id, load_public_key

    priv, pub = generate_keypair(args.dir, force=args.force)
    print(f"private key: {priv}\npublic key:  {pub}\nkey id:      {key_id(load_public_key(pub))}")
    return 0
