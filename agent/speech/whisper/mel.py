"""Whisper's log-mel features (80 bands, 10 ms hop) of an utterance plus its second of silence."""

from __future__ import annotations

import numpy as np

from ...errors import ModelError

SAMPLE_RATE = 16000


HOP = 160


N_FFT = 400


N_MELS = 80


TAIL_S = 1.0  # silence appended to the utterance before encoding


MAX_FRAMES = 3000  # Whisper's window: 30 s


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (linear below 1 kHz, logarithmic above), as Whisper's filters use."""
    logstep = np.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / logstep, f / (200.0 / 3))


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    logstep = np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), m * (200.0 / 3))


def mel_filters(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, n_fft/2+1) Slaney-normalized triangular filters (librosa's ``mel(htk=False, norm='slaney')``)."""
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(sr / 2.0)), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    w = np.maximum(0.0, np.minimum(lower, upper))
    w *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return w.astype(np.float32)


_MEL = mel_filters()


_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def frames_for(n_samples: int) -> int:
    """Encoder frames for an utterance: its length plus :data:`TAIL_S`, even, at most Whisper's 30 s."""
    n = (n_samples + int(TAIL_S * SAMPLE_RATE)) // HOP
    return int(min(MAX_FRAMES, n + (n % 2)))


def log_mel(audio: np.ndarray, n_frames: int | None = None) -> np.ndarray:
    """Whisper's log-mel spectrogram (80, n_frames) of float audio in [-1, 1] at 16 kHz, zero-padded."""
    n_frames = frames_for(len(audio)) if n_frames is None else n_frames
    a = np.zeros(n_frames * HOP, np.float32)
    take = min(len(audio), len(a))
    a[:take] = audio[:take]
    padded = np.pad(a, (N_FFT // 2, N_FFT // 2), mode="reflect")
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    power = np.abs(np.fft.rfft(padded[idx] * _WINDOW, axis=1)) ** 2
    # einsum, not @: a BLAS call may start a thread per core for this small product
    mel = np.einsum("mf,tf->mt", _MEL, power.astype(np.float32))
    lm = np.log10(np.maximum(mel, 1e-10))
    lm = np.maximum(lm, lm.max() - 8.0)
    return ((lm + 4.0) / 4.0).astype(np.float32)


def as_audio(pcm: np.ndarray) -> np.ndarray:
    """An utterance as float32 in [-1, 1] (int16 PCM is scaled); empty input is an error."""
    raw = np.asarray(pcm)
    audio = raw.astype(np.float32) / 32768.0 if raw.dtype == np.int16 else raw.astype(np.float32)
    if len(audio) == 0:
        raise ModelError("empty utterance: nothing to recognize")
    return audio
