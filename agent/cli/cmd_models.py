"""``homeagent models …``: Build, train, sign, verify and manage model bundles."""

from __future__ import annotations

import argparse

from . import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    add_group(subparsers, "models", "Build, train, sign, verify and manage model bundles.")
