"""Topic names of intents (the site topic and Hermes'), which every publishing path uses."""

from __future__ import annotations


def intent_topic(prefix: str, site_id: str, name: str) -> str:
    return f"{prefix}/{site_id}/intent/{name}"


def hermes_topic(name: str) -> str:
    return f"hermes/intent/{name}"
