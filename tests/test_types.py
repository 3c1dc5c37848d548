from __future__ import annotations

import contextlib
import dataclasses
import importlib
import inspect
import json
import pkgutil
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import agent
from agent.errors import PayloadError
from agent.types import Intent


def _wire_types() -> list[type]:
    """Every dataclass in the package that travels over the wire (has to_payload/from_payload)."""
    found = []
    for mod in pkgutil.walk_packages(agent.__path__, "agent."):
        if mod.name.startswith(("agent.cli", "agent.demo", "agent.__main__")):
            continue
        try:
            m = importlib.import_module(mod.name)
        except ImportError:
            continue
        for _, obj in inspect.getmembers(m, inspect.isclass):
            if dataclasses.is_dataclass(obj) and hasattr(obj, "to_payload") and hasattr(obj, "from_payload"):
                found.append(obj)
    return list(dict.fromkeys(found))


def test_intent_round_trip_through_json() -> None:
    i = Intent.create("lights_on", 0.93, 10.0, 11.5, slots={"room": "kitchen"}, modalities=("voice", "gesture"),
                      site_id="hall")
    back = Intent.from_payload(json.loads(json.dumps(i.to_payload())))
    assert back == i
    assert abs((back.wall_end - back.wall_start) - 1.5) < 1e-6


def test_every_wire_type_round_trips() -> None:
    types = _wire_types()
    assert Intent in types
    for cls in types:
        example = getattr(cls, "example", None)
        obj = example() if example else Intent.create("x", 0.5, 0.0, 1.0)
        if not isinstance(obj, cls):
            continue
        assert cls.from_payload(json.loads(json.dumps(obj.to_payload()))) == obj


@pytest.mark.parametrize("mutate", [
    lambda p: p.pop("id"),
    lambda p: p.update(schema=99),
    lambda p: p.update(confidence="high"),
    lambda p: p.update(confidence=True),
    lambda p: p.update(slots={"room": 3}),
    lambda p: p.update(modalities="voice"),
])
def test_malformed_payloads_are_refused(mutate: Any) -> None:
    p = Intent.create("x", 0.5, 0.0, 1.0).to_payload()
    mutate(p)
    with pytest.raises(PayloadError):
        Intent.from_payload(p)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=6),
                    max_leaves=20))
def test_fuzzed_payloads_raise_only_payload_error(value: Any) -> None:
    with contextlib.suppress(PayloadError):
        Intent.from_payload(value)
