"""``homeagent bench …``: benchmarks and soaks (sub-commands in ``agent/cli/bench_*.py``)."""

from __future__ import annotations

import argparse

from . import add_group


def register(subparsers: argparse._SubParsersAction) -> None:
    # add_group's default func prints the group help; the full-pipeline bench (--seconds/--json) comes later.
    add_group(subparsers, "bench", "Benchmarks and soaks: 'homeagent bench mqtt' (broker-kill soak).")
