"""``homeagent models verify BUNDLE --public-key FILE``: check signature, metadata and every file."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify", help="verify a bundle's signature, expiry and files",
        description="Exit 0 and print the manifest summary when the bundle is authentic, unexpired and "
                    "intact; exit 1 with the reason otherwise.")
    p.add_argument("bundle", type=Path, metavar="BUNDLE")
    p.add_argument("--public-key", type=Path, required=True, action="append", metavar="FILE",
                   help="trusted public key (repeatable)")
    p.add_argument("--min-version", type=int, default=0, help="also refuse versions <= this")
    p.add_argument("--selftest", action="store_true", help="also run the golden self-test")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import tempfile

    from .. import __version__
    from ..errors import AgentError
    from ..ota.bundle import Policy, verify_bundle
    from ..ota.manifest import load_public_key
    from ..ota.selftest import run_selftest

    report = None
    try:
        keys = [load_public_key(k) for k in args.public_key]
        policy = Policy(now=datetime.now(timezone.utc), agent_version=__version__, min_version=args.min_version)
        if args.selftest:  # needs the files on disk: verify them into a scratch slot
            with tempfile.TemporaryDirectory(prefix="homeagent-verify-") as tmp:
                m = verify_bundle(args.bundle, keys, policy, into=Path(tmp))
                report = run_selftest(Path(tmp), m)
        else:
            m = verify_bundle(args.bundle, keys, policy)
    except AgentError as exc:
        print(f"INVALID: {exc}", file=sys.stderr)
        return 1
    print(f"OK: {m.summary()}")
    for path, e in sorted(m.files.items()):
        print(f"  {e.sha256}  {e.size:>10}  {path}")
    if report:
        print(f"self-test: {report}")
    return 0
