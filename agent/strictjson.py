"""Strict JSON for untrusted input (MQTT commands, signed manifests): duplicate keys and NaN/Infinity refused.

:func:`loads` raises ``ValueError`` (also for invalid UTF-8, absurd nesting, integers of more than
:data:`MAX_INT_DIGITS` digits and floats that overflow to infinity); callers translate it into
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


MAX_INT_DIGITS = 20  # past 64-bit integers nothing we read is meaningful; 10**400 would overflow float()


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"integer of {len(text)} digits (limit {MAX_INT_DIGITS})")
    return int(text)


def _bounded_float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


def loads(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants,
                          parse_int=_bounded_int, parse_float=_bounded_float)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
