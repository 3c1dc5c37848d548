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
    from ..ota.bundle import Policy, check_policy, extract_verified, open_bundle, verify_contents
    from ..ota.manifest import load_public_key, verify_envelope
    from ..ota.selftest import run_selftest

    try:
        keys = [load_public_key(k) for k in args.public_key]
        source = open_bundle(args.bundle)
        try:
            envelope = source.envelope()
            m = verify_envelope(envelope, keys)
            check_policy(m, Policy(now=datetime.now(timezone.utc), agent_version=__version__,
                                   min_version=args.min_version))
            report = None
            if args.selftest:  # needs the files on disk: verify them into a scratch slot
                with tempfile.TemporaryDirectory(prefix="homeagent-verify-") as tmp:
                    extract_verified(source, m, Path(tmp), envelope)
                    report = run_selftest(Path(tmp), m)
            else:
                verify_contents(source, m)
        finally:
            source.close()
    except AgentError as exc:
        print(f"INVALID: {exc}", file=sys.stderr)
        return 1
    print(f"OK: {m.summary()}")
    for path, e in sorted(m.files.items()):
        print(f"  {e.sha256}  {e.size:>10}  {path}")
    if report:
        print(f"self-test: {report}")
    return 0
