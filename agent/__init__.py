"""homeagent: a smart-home voice-and-vision edge agent."""

__version__ = "0.1.0"
