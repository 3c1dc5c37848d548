"""silero engine: the Silero VAD v6 ONNX model (MIT, from the ``silero-vad`` PyPI wheel) in onnxruntime.

The model is a small recurrent network on 512-sample (32 ms) chunks at 16 kHz. Each call gets the chunk with
the previous chunk's last 64 samples in front of it (as the upstream ``OnnxWrapper`` does) and the recurrent
state returned by the previous call, so a :class:`SileroVad` is a stream: feed it consecutive chunks. Its speech
decision has hysteresis: a chunk is speech at ``probability >= threshold``, and stays speech while the
probability is at least ``neg_threshold``.

numpy and onnxruntime only (no torch); one intra-op thread; warmed up at load. The model file is built by
``python -m models.speech.fetch.fetch_vad`` into ``models/pretrained/speech`` and checked against its sha256 here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..paths import pretrained_dir
from ..runtime.session import OnnxModel, load_model
from .wav import TARGET_RATE as RATE

log = logging.getLogger(__name__)

SILERO_FILE = "silero_vad_16k_op15.onnx"
SILERO_SHA256 = "7ed98ddbad84ccac4cd0aeb3099049280713df825c610a8ed34543318f1b2c49"
BUILD_COMMAND = ".venv/bin/python -m models.speech.fetch.fetch_vad"
CHUNK = 512  # samples per decision at 16 kHz (32 ms): the only chunk size the model accepts
CONTEXT = 64  # samples of the previous chunk prepended to each chunk
_INPUTS = {"input", "state", "sr"}
_OUTPUTS = ["output", "stateN"]


def silero_model_path() -> Path:
    return pretrained_dir("speech") / SILERO_FILE


class SileroVad:
    """Per-chunk speech probability and decision by silero; ``frame_samples`` is the chunk to feed (512)."""

    frame_samples = CHUNK
    # the segmenter's noise-floor gate: silero needs little of it (measured by agent.bench.vad_compare on
    # synthetic speech in real noise: 6 dB costs recall at 0-5 dB SNR, 0 dB lengthens the endpoint by ~60 ms)
    min_snr_db = 3.0

    def __init__(self, threshold: float = 0.5, neg_threshold: float = 0.35, path: Path | None = None) -> None:
        if not 0.0 < neg_threshold <= threshold < 1.0:
            raise ValueError(f"need 0 < neg_threshold ({neg_threshold}) <= threshold ({threshold}) < 1")
        p = path or silero_model_path()
        if not p.is_file():
            raise ModelError(f"silero VAD model {p} not found (vad.engine: silero): build it with "
                             f"'{BUILD_COMMAND}' (or 'bash tools/bootstrap.sh'), or set vad.engine: webrtc")
        self.threshold = threshold
        self.neg_threshold = neg_threshold
        self._model = load_model(p, threads=1, sha256=SILERO_SHA256, warm_up=False)
        self._check_io(self._model)
        self._sr = np.array(RATE, dtype=np.int64)
        self.reset()
        self.probability(np.zeros(CHUNK, np.int16))  # warm-up: the first real chunk must not stall
        self.reset()

    @staticmethod
    def _check_io(model: OnnxModel) -> None:
        if set(model.input_names) != _INPUTS or model.output_names != _OUTPUTS:
            raise ModelError(f"{model.path}: inputs {model.input_names} / outputs {model.output_names} are not "
                             f"silero VAD v5/v6's {sorted(_INPUTS)} / {_OUTPUTS}: rebuild it with '{BUILD_COMMAND}'")

    def reset(self) -> None:
        """Forget the stream (recurrent state and context), e.g. before an unrelated recording."""
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        self._speaking = False

    def probability(self, frame: np.ndarray) -> float:
        """Speech probability of the next 512-sample chunk (int16 PCM or float in [-1, 1])."""
        if len(frame) != CHUNK:
            raise ValueError(f"silero VAD needs chunks of {CHUNK} samples at 16 kHz, got {len(frame)}")
        x = frame.astype(np.float32) / 32768.0 if frame.dtype == np.int16 else frame.astype(np.float32, copy=False)
        inp = np.concatenate([self._context, x])[None, :]
        prob, self._state = self._model({"input": inp, "state": self._state, "sr": self._sr})
        self._context = x[-CONTEXT:]
        return float(prob.reshape(-1)[0])

    def is_speech(self, frame: np.ndarray) -> bool:
        p = self.probability(frame)
        self._speaking = p >= (self.neg_threshold if self._speaking else self.threshold)
        return self._speaking
