"""``homeagent eval …``: Measure accuracy on labelled data."""

from __future__ import annotations

import argparse

from . import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    add_group(subparsers, "eval", "Measure accuracy on labelled data.")
