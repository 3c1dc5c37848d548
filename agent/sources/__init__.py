"""Frame sources: microphone, camera, and replay of WAV/video/image files. All stamp frames on time.monotonic()."""

from .base import Source
from .wav_replay import WavReplaySource

__all__ = ["Source", "WavReplaySource"]
