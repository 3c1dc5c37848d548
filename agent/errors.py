"""The homeagent exception tree.

Every error the agent raises on purpose derives from :class:`AgentError`; third-party exceptions are
translated at the boundary (``raise ModelError(...) from exc``) so callers handle one tree:

- ``AgentError``            base; ``str(err)`` says what went wrong and what to do.
  - ``ConfigError``         a config file or value is invalid; carries every problem with file/line/key.
  - ``SourceError``         a microphone, camera or replay file cannot be opened or read.
    - ``DeviceUnavailable`` a live device is unplugged, busy, or stopped delivering frames.
  - ``AudioFormatError``    a WAV is truncated, empty or in an unsupported encoding.
  - ``ModelError``          a model file is missing, corrupt, oversized, or fails at inference.
  - ``BundleError``         a model bundle fails verification (signature, hash, version, expiry, paths).
  - ``CommandSetError``     a command-set YAML has a syntax or grammar error (names the line).
  - ``PayloadError``        an MQTT/JSON payload is malformed or violates its schema.
  - ``BrokerError``         the MQTT broker cannot be reached or refused the connection.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base class of every error homeagent raises on purpose."""


class ConfigError(AgentError):
    """Invalid configuration. ``problems`` holds one formatted line per problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems or [message]


class SourceError(AgentError):
    """A source (microphone, camera, replay file) cannot be opened or read."""


class DeviceUnavailable(SourceError):
    """A live device is unplugged, busy, or stopped delivering frames."""


class AudioFormatError(AgentError):
    """An audio file is truncated, empty or in an unsupported format."""


class ModelError(AgentError):
    """A model is missing, corrupt, oversized or failed at inference."""


class BundleError(AgentError):
    """A model bundle failed verification."""


class CommandSetError(AgentError):
    """A command set (grammar) is invalid."""


class PayloadError(AgentError):
    """A message payload is malformed or violates its schema."""


class BrokerError(AgentError):
    """The MQTT broker cannot be reached or refused us."""
