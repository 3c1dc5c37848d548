"""Scenario audio: synthesized command phrases mixed with real noise at a given SNR, an SNR estimate like the
VAD's, and a stand-in recognizer (numpy head on the shared speech frontend) for when no trained bundle with
the needed labels exists. The stand-in has the ``CommandRecognizer`` interface (``labels``, ``recognize``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.audio.wav import read_wav_16k
from agent.speech.frontend import SpeechFrontend
from agent.types import CommandScores

from .linear import Softmax, fit_softmax
from .vocab import NEGATIVES, PHRASES, SPEECH_LABELS, noise_dirs

log = logging.getLogger(__name__)

SR = 16000
PAD_S = 0.4
STANDIN_HEAD = Path(__file__).with_name("standin_speech.json")


def load_noises(names: list[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    dirs = noise_dirs()
    for d in dirs:
        for p in sorted(d.glob("*.wav")):
            if p.stem in names:
                out[p.stem] = read_wav_16k(p).astype(np.float32)
    missing = set(names) - out.keys()
    if missing:
        raise SystemExit(f"noise recordings missing: {sorted(missing)} (looked in {', '.join(map(str, dirs))})")
    return out


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2) + 1e-9))


def mix(speech: np.ndarray, noise: np.ndarray, snr_db: float | None, rng: np.random.Generator) -> np.ndarray:
    """``PAD_S`` of noise, the utterance, ``PAD_S`` of noise; speech-to-noise power ratio ``snr_db``
    (None = clean: the utterance padded with near-silence)."""
    pad = int(PAD_S * SR)
    s = np.concatenate([np.zeros(pad), speech.astype(np.float64), np.zeros(pad)])
    if snr_db is None:
        n = rng.standard_normal(len(s)) * 3.0
    else:
        a = int(rng.integers(0, max(1, len(noise) - len(s))))
        seg = np.resize(noise[a:a + len(s)].astype(np.float64), len(s))
        n = seg * (_rms(speech) / (_rms(seg) * 10 ** (snr_db / 20)))
    y = s + n
    peak = np.abs(y).max()
    if peak > 30000:
        y *= 30000 / peak
    return np.round(y).astype(np.int16)


def estimate_snr(pcm: np.ndarray) -> float:
    """Loud-frame level over the noise floor (20 ms frames), in dB, clipped to [-10, 40] like a VAD's."""
    n = len(pcm) // 320
    if n < 4:
        return 0.0
    e = 10 * np.log10(np.mean(pcm[: n * 320].astype(np.float64).reshape(n, 320) ** 2, axis=1) + 1.0)
    return float(np.clip(np.percentile(e, 90) - np.percentile(e, 10), -10.0, 40.0))


def pooled(emb: np.ndarray) -> np.ndarray:
    """(T, 96) embeddings -> mean and max pooled (192,)."""
    if len(emb) == 0:
        return np.zeros(192)
    return np.concatenate([emb.mean(axis=0), emb.max(axis=0)]).astype(np.float64)


def phrase_items(voices: list[str]) -> list[tuple[str, str, str]]:
    """(label, phrase, voice) for every phrase, negative and voice."""
    items = [(lab, ph, v) for v in voices for lab, phs in PHRASES.items() for ph in phs]
    items += [("unknown", ph, v) for v in voices for ph in NEGATIVES]
    return items


@dataclass
class StandinRecognizer:
    """Softmax head on pooled speech embeddings; same call shape as ``CommandRecognizer``."""

    head: Softmax
    frontend: SpeechFrontend

    @property
    def labels(self) -> tuple[str, ...]:
        return self.head.labels

    def embed(self, pcm: np.ndarray) -> np.ndarray:
        return pooled(self.frontend.embed(pcm))

    def scores_from_features(self, feat: np.ndarray, snr_db: float, t_start: float = 0.0,
                             t_end: float = 0.0) -> CommandScores:
        p = self.head.proba(feat)[0]
        return CommandScores(self.labels, tuple(float(x) for x in p), t_start, t_end, snr_db=snr_db)

    def recognize(self, pcm: np.ndarray, t_start: float = 0.0, t_end: float = 0.0) -> CommandScores:
        return self.scores_from_features(self.embed(pcm), estimate_snr(pcm), t_start, t_end)


def train_standin(clips: list[tuple[str, np.ndarray]], noises: dict[str, np.ndarray], frontend: SpeechFrontend,
                  rng: np.random.Generator) -> Softmax:
    """Fit the stand-in head on synthesized clips, each mixed clean and at 20/10/5/0 dB with train noises."""
    xs, ys = [], []
    names = sorted(noises)
    for label, pcm in clips:
        for snr in (None, 20.0, 10.0, 5.0, 0.0):
            noise = noises[names[int(rng.integers(len(names)))]]
            xs.append(pooled(frontend.embed(mix(pcm, noise, snr, rng))))
            ys.append(SPEECH_LABELS.index(label))
    y = np.array(ys)
    counts = np.bincount(y, minlength=len(SPEECH_LABELS)).astype(float)
    cw = counts.sum() / (len(counts) * np.maximum(counts, 1))
    log.info("stand-in speech head: %d examples", len(y))
    return fit_softmax(np.array(xs), y, SPEECH_LABELS, l2=3e-3, steps=500, class_weight=cw)
