"""The Hermes ``NluIntent`` message (``hermes/intent/<name>``), as rhasspy-hermes and rhasspy-hermes-app read it.

Hermes clients parse the payload with ``NluIntent.from_dict``: it needs ``input`` (the user's words) and
``intent`` ``{intentName, confidenceScore}``; ``slots`` is a list of slot objects (``entity``, ``slotName``,
``rawValue``, ``value: {kind, value}``, ``range``, ``confidence``). Our recognizers do not keep the transcript,
so ``input`` is the intent's name in words followed by its slot values, and each slot's ``range`` points at its
value there. The agent's own fields (modalities, deadline) travel in ``customData`` as JSON, since Hermes has
no place for them.
"""

from __future__ import annotations

import json
from typing import Any

from ..types import Intent


def hermes_input(intent: Intent) -> tuple[str, dict[str, tuple[int, int]]]:
    """(the words standing in for the utterance, each slot's character range in them)."""
    text = intent.name.replace("_", " ")
    ranges: dict[str, tuple[int, int]] = {}
    for name, value in intent.slots.items():
        start = len(text) + 1
        text = f"{text} {value}"
        ranges[name] = (start, start + len(value))
    return text, ranges


def hermes_payload(intent: Intent) -> dict[str, Any]:
    text, ranges = hermes_input(intent)
    slots = [{"entity": name, "slotName": name, "rawValue": value, "value": {"kind": "Unknown", "value": value},
              "confidence": round(intent.confidence, 4),
              "range": {"start": ranges[name][0], "end": ranges[name][1], "rawStart": ranges[name][0],
                        "rawEnd": ranges[name][1]}}
             for name, value in intent.slots.items()]
    custom = {"modalities": list(intent.modalities), "wall_end": intent.wall_end, "ttl_s": intent.ttl_s}
    return {"input": text, "rawInput": text, "intent": {"intentName": intent.name,
                                                        "confidenceScore": round(intent.confidence, 4)},
            "siteId": intent.site_id, "id": intent.id, "sessionId": intent.id, "slots": slots,
            "customData": json.dumps(custom), "asrTokens": [], "asrConfidence": None, "wakewordId": None,
            "lang": None}
