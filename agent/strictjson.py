"""Strict JSON for untrusted input (MQTT commands, signed manifests): duplicate keys and NaN/Infinity refused.

:func:`loads` raises ``ValueError`` (also for invalid UTF-8 and absurd nesting); callers translate it into
their own error (``PayloadError``, ``BundleError``) and apply their own size caps first.
"""

from __future__ import annotations

import json
from typing import Any


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name} is not allowed")


def loads(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
