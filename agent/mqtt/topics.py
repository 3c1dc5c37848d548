"""Topic names of the agent's own state and reports (the intent topics are the intents room's)."""

from __future__ import annotations


def availability_topic(prefix: str, site_id: str) -> str:
    return f"{prefix}/{site_id}/availability"


def fusion_topic(prefix: str, site_id: str, kind: str) -> str:
    """Fusion reports (never actions): ``abstain`` (low confidence, conflict, no target, cancelled, ...) and
    ``confirm`` (an intent waits for yes / thumbs-up)."""
    return f"{prefix}/{site_id}/fusion/{kind}"
