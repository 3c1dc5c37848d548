"""``homeagent gestures …``: Hand tracking and gesture classification on files."""

from __future__ import annotations

import argparse

from . import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    add_group(subparsers, "gestures", "Hand tracking and gesture classification on files.")
