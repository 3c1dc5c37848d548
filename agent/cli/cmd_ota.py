"""``homeagent ota status|install|rollback|confirm --store DIR``: manage a device's model store."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("ota", help="install, inspect and roll back model bundles",
                              description="Manage the on-device model store (versioned slots).")
    sub = p.add_subparsers(dest="ota_command", metavar="COMMAND", required=True)
    for name, help_text in (("status", "show the store state"),
                            ("install", "verify, self-test and switch to a bundle (URL, archive or dir)"),
                            ("rollback", "switch back to the previous slot"),
                            ("confirm", "mark the current slot healthy")):
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("--store", type=Path, required=True, metavar="DIR")
        if name == "install":
            sp.add_argument("source", metavar="URL_OR_FILE")
            sp.add_argument("--public-key", type=Path, action="append", metavar="FILE",
                            help="trusted key (repeatable; default: every DIR/keys/*.pem)")
            sp.add_argument("--max-bytes", type=int, default=64 * 1024 * 1024)
            sp.add_argument("--timeout", type=float, default=300.0, help="total download deadline, s")
            sp.add_argument("--no-isolate", action="store_true", help="self-test in this process")
        sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import BundleError
    from ..ota.fetch import FetchLimits
    from ..ota.manager import OtaEvent, UpdateManager
    from ..ota.manifest import load_public_key
    from ..ota.store import Store

    store = Store(args.store)
    if args.ota_command == "status":
        st = store.state()
        cur = store.current()
        out = {**st.to_payload(), "manifest": cur[1].to_payload() if cur else None}
        print(json.dumps(out, indent=1))
        return 0
    if args.ota_command == "confirm":
        store.confirm()
        return 0
    key_paths = args.public_key if getattr(args, "public_key", None) else sorted(
        (args.store / "keys").glob("*.pem"))
    keys = [load_public_key(k) for k in key_paths]

    def show(ev: OtaEvent) -> None:
        print(f"{ev.state.value}: {ev.message}")

    if args.ota_command == "rollback":
        UpdateManager(store, keys, listener=show).rollback("requested from the command line")
        return 0
    if not keys:
        raise BundleError(f"no trusted key: pass --public-key or put one in {args.store / 'keys'}/")
    mgr = UpdateManager(store, keys, listener=show, isolate_selftest=not args.no_isolate,
                        limits=FetchLimits(max_bytes=args.max_bytes, total_timeout_s=args.timeout))
    mgr.install(args.source)
    return 0
