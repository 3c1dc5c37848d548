"""Late fusion of speech commands and hand gestures (pure, deterministic; time is injected)."""

from ..config.fusion import FusionConfig
from .engine import Abstain, ConfirmRequest, FusionEngine, Output
from .model import LateFusionModel

__all__ = ["Abstain", "ConfirmRequest", "FusionConfig", "FusionEngine", "LateFusionModel", "Output"]
