"""onnxruntime sessions with capped threads, size checks, warm-up, and errors mapped to ModelError."""

from .session import OnnxModel, load_model

__all__ = ["OnnxModel", "load_model"]
