"""Augmentation of synthetic speech: speaker-like perturbation, tempo, pitch, gain, reverb, real noise,
telephone band-limiting. Everything draws from a caller-supplied ``numpy.random.Generator`` (seeded)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve, resample_poly

from agent.audio.wav import read_wav_16k

SR = 16000
# real noise shipped in the repository (models.repo_data), so that training on first use is the same everywhere
NOISE_DIRS = [Path(__file__).resolve().parent / "noise"]


@dataclass
class NoiseBank:
    """Real noise recordings (float32 at 16 kHz), sampled in random excerpts."""

    clips: list[np.ndarray]

    @classmethod
    def load(cls, dirs: list[Path]) -> NoiseBank:
        clips = [read_wav_16k(p).astype(np.float32) for d in dirs if d.is_dir() for p in sorted(d.glob("*.wav"))]
        return cls([c for c in clips if len(c) > SR])

    @classmethod
    def default(cls, rng: np.random.Generator | None = None) -> NoiseBank:
        return cls.load(NOISE_DIRS)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if not self.clips:
            return (rng.standard_normal(n) * 300).astype(np.int16)
        c = self.clips[int(rng.integers(len(self.clips)))]
        if len(c) <= n:
            c = np.tile(c, n // len(c) + 1)
        a = int(rng.integers(0, len(c) - n + 1))
        return np.clip(c[a:a + n], -32768, 32767).astype(np.int16)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2) + 1e-9))


def to_i16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    s, n = speech.astype(np.float32), noise[: len(speech)].astype(np.float32)
    scale = _rms(s) / (_rms(n) * 10 ** (snr_db / 20))
    return to_i16(s + n * scale)


def resample_ratio(x: np.ndarray, up: int, down: int) -> np.ndarray:
    g = gcd(up, down)
    return resample_poly(x.astype(np.float32), up // g, down // g).astype(np.float32)


def speaker_shift(pcm: np.ndarray, factor: float) -> np.ndarray:
    """Play back ``factor`` times faster: shifts pitch and formants together (a crude vocal-tract change)."""
    return to_i16(resample_ratio(pcm, 1000, round(1000 * factor)))


def sox(pcm: np.ndarray, *effects: str) -> np.ndarray:
    fmt = ["-t", "raw", "-r", str(SR), "-e", "signed", "-b", "16", "-c", "1"]
    out = subprocess.run(["sox", *fmt, "-", *fmt, "-", *effects], input=pcm.astype("<i2").tobytes(),
                         capture_output=True, check=True, timeout=30).stdout
    return np.frombuffer(out, dtype="<i2").astype(np.int16)


def reverb(pcm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rt60 = float(rng.uniform(0.15, 0.7))
    n = int(rt60 * SR)
    t = np.arange(n) / SR
    rir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    rir[0] = 1.0 / float(rng.uniform(0.3, 1.0))
    wet = fftconvolve(pcm.astype(np.float32), rir.astype(np.float32))[: len(pcm) + n // 2]
    return to_i16(wet * _rms(pcm) / (_rms(wet) + 1e-9))


def formant_shift(pcm: np.ndarray, factor: float) -> np.ndarray:
    """Scale the spectral envelope (vocal-tract length) by ``factor`` while keeping the pitch: resample, then
    undo the pitch change with sox (duration changes by ``1 / factor``)."""
    x = speaker_shift(pcm, factor)
    return sox(x, "pitch", str(round(float(-1200 * np.log2(factor)))))


def telephone(pcm: np.ndarray) -> np.ndarray:
    return to_i16(resample_ratio(resample_ratio(pcm, 1, 2), 2, 1))


def set_peak(pcm: np.ndarray, dbfs: float) -> np.ndarray:
    peak = float(np.abs(pcm.astype(np.float32)).max()) + 1e-6
    return to_i16(pcm.astype(np.float32) * (32767 * 10 ** (dbfs / 20) / peak))


def augment(pcm: np.ndarray, rng: np.random.Generator, noise: NoiseBank, strength: float = 1.0,
            formant_p: float = 0.0, telephone_p: float = 0.15) -> np.ndarray:
    """One randomly augmented copy of a trimmed utterance, with silence margins (a VAD-like segment).
    ``formant_p``: chance (× strength) of a vocal-tract-length change that keeps the pitch; ``telephone_p``:
    chance (× strength) of 8 kHz band-limiting. The defaults reproduce the first data version exactly."""
    x = pcm
    if formant_p > 0 and rng.random() < formant_p * strength:
        x = formant_shift(x, float(rng.uniform(0.85, 1.18)))
    if rng.random() < 0.5 * strength:
        x = speaker_shift(x, float(rng.uniform(0.88, 1.14)))
    if rng.random() < 0.35 * strength:
        x = sox(x, "pitch", str(int(rng.integers(-350, 351))))
    if rng.random() < 0.3 * strength:
        x = sox(x, "tempo", "-s", f"{rng.uniform(0.8, 1.25):.3f}")
    if rng.random() < 0.3 * strength:
        x = reverb(x, rng)
    x = set_peak(x, float(rng.uniform(-25, -1)))
    margins = [np.zeros(int(rng.uniform(0.05, 0.4) * SR), dtype=np.int16) for _ in range(2)]
    x = np.concatenate([margins[0], x, margins[1]])
    if rng.random() < 0.75 * strength:
        x = mix_at_snr(x, noise.sample(len(x), rng), float(rng.uniform(0, 30)))
    if rng.random() < telephone_p * strength:
        x = telephone(x)
    return x


def noise_segment(rng: np.random.Generator, noise: NoiseBank) -> np.ndarray:
    """A non-speech "unknown" segment: real noise, sometimes with a tone burst or click, at a random level."""
    n = int(rng.uniform(0.5, 2.2) * SR)
    x = noise.sample(n, rng).astype(np.float64)
    if rng.random() < 0.3:
        t = np.arange(n) / SR
        x = x + np.sin(2 * np.pi * float(rng.uniform(100, 3000)) * t) * float(rng.uniform(300, 5000))
    return set_peak(to_i16(x), float(rng.uniform(-40, -3)))


def place(seg: np.ndarray, canvas: int, rng: np.random.Generator) -> np.ndarray:
    """Put a segment at a random offset in a zero canvas; longer segments are sped up with sox to fit."""
    if len(seg) > canvas:
        seg = sox(seg, "tempo", "-s", f"{len(seg) / (canvas - 800):.4f}")[:canvas]
    out = np.zeros(canvas, dtype=np.int16)
    a = int(rng.integers(0, canvas - len(seg) + 1))
    out[a:a + len(seg)] = seg
    return out
