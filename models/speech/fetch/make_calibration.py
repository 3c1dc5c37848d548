"""Regenerate the committed ``calibration_mel.npz`` used to quantize the embedding model.

``python -m models.speech.fetch.make_calibration`` (needs espeak-ng, the noise folder and an extracted
``melspectrogram.onnx``): speaks a few phrases with several espeak-ng accents, mixes some with real noise,
and stores their scaled melspectrograms (float16) so that bootstrap can quantize without a synthesizer.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from agent.speech.frontend import SpeechFrontend
from models.speech.data.augment import NoiseBank, mix_at_snr
from models.speech.data.synth import synthesize
from models.speech.fetch.fetch_frontend import CALIBRATION

PHRASES = ["turn on the lights", "make it warmer", "stop the music", "what time is it", "volume down",
           "open the blinds", "seven", "yes", "hello there, how are you today", "pause"]
VOICES = ["espeak:en-us+m3", "espeak:en-gb+f2", "espeak:en-gb-scotland+m1", "espeak:en-029+f4",
          "flite:kal16", "flite:slt"]


def main() -> int:
    rng = np.random.default_rng(1234)
    fe = SpeechFrontend(int8=False)
    noise = NoiseBank.default(rng)
    mels, lengths = [], []
    for i, text in enumerate(PHRASES):
        pcm = synthesize(text, VOICES[i % len(VOICES)], rng)
        pad = np.zeros(4000, dtype=np.int16)
        pcm = np.concatenate([pad, pcm, pad])
        if i % 2:
            pcm = mix_at_snr(pcm, noise.sample(len(pcm), rng), float(rng.uniform(5, 20)))
        mel = fe.melspec(pcm)
        mels.append(mel)
        lengths.append(len(mel))
    mels.append(fe.melspec(noise.sample(16000, rng)))
    lengths.append(len(mels[-1]))
    np.savez_compressed(CALIBRATION, mel=np.concatenate(mels).astype(np.float16), lengths=np.array(lengths))
    print(f"wrote {CALIBRATION} ({Path(CALIBRATION).stat().st_size} bytes, {sum(lengths)} mel frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
