"""webrtcvad engine: Google's WebRTC GMM VAD on int16 frames of 10, 20 or 30 ms at 16 kHz.

Cheap (well under 1 ms CPU per second of audio) but it fires on music and clatter; the segmenter's noise-floor
gate (``vad.min_snr_db``, 6 dB by default for this engine) removes part of that. Select it with
``vad.engine: webrtc``.
"""

from __future__ import annotations

import numpy as np

from .wav import TARGET_RATE as RATE


class WebRtcVad:
    """Per-frame speech decision by webrtcvad; ``frame_samples`` is the frame the segmenter must feed."""

    min_snr_db = 6.0  # webrtcvad alone fires on babble and clatter: the segmenter's noise-floor gate

    def __init__(self, aggressiveness: int = 2, frame_ms: int = 30) -> None:
        import webrtcvad

        if frame_ms not in (10, 20, 30):
            raise ValueError(f"webrtcvad frames are 10, 20 or 30 ms, not {frame_ms}")
        self._vad = webrtcvad.Vad(aggressiveness)
        self.frame_samples = RATE * frame_ms // 1000

    def is_speech(self, frame: np.ndarray) -> bool:
        return bool(self._vad.is_speech(frame.astype(np.int16, copy=False).tobytes(), RATE))

    def reset(self) -> None:
        """webrtcvad adapts slowly and needs no reset between streams."""
