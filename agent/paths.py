"""Where models live.

``HOMEAGENT_MODELS`` overrides the models directory; otherwise the repository's ``models/`` next to the
package (an editable install, as the README sets up). Pretrained third-party models are built into
``models/pretrained/`` by ``tools/bootstrap.sh``; our own trained bundles are committed under
``models/bundles/``.
"""

from __future__ import annotations

import os
from pathlib import Path


def models_dir() -> Path:
    env = os.environ.get("HOMEAGENT_MODELS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "models"


def pretrained_dir(kind: str) -> Path:
    """Directory of built third-party models of one kind (``speech``, ``vision``)."""
    return models_dir() / "pretrained" / kind


def bundles_dir() -> Path:
    return models_dir() / "bundles"


def cache_dir() -> Path:
    env = os.environ.get("HOMEAGENT_CACHE")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "homeagent"
    return base
