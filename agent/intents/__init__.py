"""Intent topics and payload encoding (the Intent dataclass itself lives in agent.types)."""

from .topics import hermes_topic, intent_topic

__all__ = ["hermes_topic", "intent_topic"]
