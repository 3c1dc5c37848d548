"""The one speech feature extractor shared by training (``models/speech``) and serving.

It follows openWakeWord's ``AudioFeatures``: the ONNX melspectrogram model takes int16-scaled float PCM at
16 kHz and yields 32 mel bands every 10 ms, scaled ``x / 10 + 2``; the Google speech-embedding model takes
76-frame windows with a stride of 8 frames (80 ms hops) and yields one 96-d embedding per window.
Both models come from the ``openwakeword==0.5.1`` wheel (Apache-2.0), built into
``models/pretrained/speech`` by ``python -m models.speech.fetch.fetch_frontend``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import AudioFormatError
from ..paths import pretrained_dir
from ..runtime.session import OnnxModel, load_model

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
MEL_BANDS = 32
WINDOW_FRAMES = 76
STRIDE_FRAMES = 8
EMBED_DIM = 96
HOP_S = STRIDE_FRAMES * 0.010
MEL_FILE = "melspectrogram.onnx"
EMBED_FLOAT_FILE = "embedding_model.onnx"
EMBED_INT8_FILE = "embedding_model.int8.onnx"
# the recognizer pads shorter input to this length (the training canvas, 2.4 s)
CANVAS_SAMPLES = 38400
# shortest input that yields one embedding window (the mel model gives (n - 400) // 160 frames)
MIN_SAMPLES = WINDOW_FRAMES * 160 + 400


def mel_windows(mel: np.ndarray) -> np.ndarray:
    """Cut a (F, 32) melspectrogram into (N, 76, 32, 1) windows with stride 8 (short tails dropped)."""
    starts = range(0, mel.shape[0] - WINDOW_FRAMES + 1, STRIDE_FRAMES)
    if len(starts) == 0:
        return np.zeros((0, WINDOW_FRAMES, MEL_BANDS, 1), dtype=np.float32)
    win = np.stack([mel[s:s + WINDOW_FRAMES] for s in starts])
    return win[..., None].astype(np.float32)


class SpeechFrontend:
    """PCM (int16, 16 kHz mono) → melspectrogram → speech embeddings ``(T, 96)`` float32."""

    def __init__(self, model_dir: str | Path | None = None, *, int8: bool = True, threads: int = 1) -> None:
        d = Path(model_dir) if model_dir is not None else pretrained_dir("speech")
        self.model_dir = d
        self.int8 = int8
        self.mel_model: OnnxModel = load_model(d / MEL_FILE, threads=threads, warm_up=False)
        self.embed_model: OnnxModel = load_model(
            d / (EMBED_INT8_FILE if int8 else EMBED_FLOAT_FILE), threads=threads, warm_up=False)
        self.mel_model({"input": np.zeros((1, SAMPLE_RATE), dtype=np.float32)})
        self.embed_model(np.zeros((1, WINDOW_FRAMES, MEL_BANDS, 1), dtype=np.float32))

    @staticmethod
    def _check_pcm(pcm: np.ndarray) -> np.ndarray:
        if pcm.dtype != np.int16:
            raise AudioFormatError(f"speech frontend needs int16 PCM, got {pcm.dtype}")
        if pcm.ndim != 1:
            raise AudioFormatError(f"speech frontend needs mono PCM (1-D), got shape {pcm.shape}")
        if len(pcm) < MIN_SAMPLES:
            pcm = np.concatenate([pcm, np.zeros(MIN_SAMPLES - len(pcm), dtype=np.int16)])
        return pcm

    def melspec(self, pcm: np.ndarray) -> np.ndarray:
        """(F, 32) scaled melspectrogram of int16 PCM (padded with silence to one window if shorter)."""
        pcm = self._check_pcm(pcm)
        out = self.mel_model({"input": pcm.astype(np.float32)[None, :]})[0]
        return (np.squeeze(out).reshape(-1, MEL_BANDS) / 10.0 + 2.0).astype(np.float32)

    def embed_mel(self, mel: np.ndarray, batch: int = 8) -> np.ndarray:
        """(T, 96) embeddings of a scaled melspectrogram, ``batch`` windows per inference: the activations of
        a batch are the largest transient buffers of the agent, and small batches leave far less heap behind at
        the same CPU time (``models/speech/reports/asr.md``)."""
        win = mel_windows(mel)
        outs = [self.embed_model(win[i:i + batch])[0].reshape(-1, EMBED_DIM)
                for i in range(0, len(win), batch)]
        if not outs:
            return np.zeros((0, EMBED_DIM), dtype=np.float32)
        return np.concatenate(outs).astype(np.float32)

    def embed(self, pcm: np.ndarray) -> np.ndarray:
        """(T, 96) float32 embeddings, one per 80 ms hop, of int16 16 kHz mono PCM."""
        return self.embed_mel(self.melspec(pcm))
