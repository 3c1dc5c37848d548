"""Where the development recordings are: the one place that locates them.

The development set (real voices, noise and hands recorded by other people) sits beside the checkout on the
project's own machines as ``../shared/data``; ``HOMEAGENT_DEV_DATA`` points elsewhere. A user's clone has no
such folder: the product and its tests never read it; only the measuring tools in ``models/`` do, and they say
in one line what is missing when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "HOMEAGENT_DEV_DATA"
REPO = Path(__file__).resolve().parents[1]


class DevDataMissing(SystemExit):
    """The development recordings are not here: Python prints the one-line message and exits with status 1."""


def dev_data(sub: str = "", required: bool = True) -> Path:
    """The development data folder (or one of its subfolders), from ``$HOMEAGENT_DEV_DATA`` or ``../shared/data``.

    With ``required`` a missing folder raises :class:`DevDataMissing` naming the variable to set."""
    env = os.environ.get(ENV)
    root = Path(env) if env else REPO.parent / "shared" / "data"
    path = root / sub if sub else root
    if required and not path.exists():
        raise DevDataMissing(f"development data not found at {path}: set {ENV} to the folder holding noise/, speech/ "
                             f"and vision/ (the project's recordings; see models/README.md)")
    return path
