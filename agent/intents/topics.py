"""Topic names for intents and agent state."""

from __future__ import annotations


def intent_topic(prefix: str, site_id: str, name: str) -> str:
    return f"{prefix}/{site_id}/intent/{name}"


def hermes_topic(name: str) -> str:
    return f"hermes/intent/{name}"


def availability_topic(prefix: str, site_id: str) -> str:
    return f"{prefix}/{site_id}/availability"


def fusion_topic(prefix: str, site_id: str, kind: str) -> str:
    """Fusion reports (never actions): ``abstain`` (low confidence, conflict, no target, cancelled, ...) and
    ``confirm`` (an intent waits for yes / thumbs-up)."""
    return f"{prefix}/{site_id}/fusion/{kind}"
