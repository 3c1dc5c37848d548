"""Configuration: strict pydantic schema, YAML loading with file:line errors, secrets from files/env."""

from .loader import load_config, validate_file
from .schema import AgentConfig

__all__ = ["AgentConfig", "load_config", "validate_file"]
