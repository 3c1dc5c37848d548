"""The wake gate of an agent config, wired to the recognizer's models (the audio path's ``speech.wake``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config.schema import AgentConfig

if TYPE_CHECKING:
    from ..speech.wake.gate import WakeGate


def build_wake(cfg: AgentConfig, model: object) -> WakeGate | None:
    """The wake gate of ``speech.wake`` (None when off), sharing the recognizer's frontend and Whisper."""
    if cfg.speech.wake is None:
        return None
    from ..speech.frontend import SpeechFrontend
    from ..speech.wake.gate import WakeGate
    from ..speech.whisper.model import WhisperAsr

    frontend = getattr(model, "frontend", None)  # share the recognizer's (same thread)
    asr = getattr(model, "asr", None) or getattr(getattr(model, "grammar", None), "asr", None)
    return WakeGate.from_config(cfg.speech.wake, cfg.fusion.wake,
                                frontend if isinstance(frontend, SpeechFrontend) else None,
                                asr if isinstance(asr, WhisperAsr) else None)
