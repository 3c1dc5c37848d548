"""Read WAV files of any sample rate and channel count as 16 kHz mono int16; write WAVs.

Uses the stdlib ``wave`` module (PCM 8/16/24/32-bit) and falls back to a minimal RIFF parser for
IEEE-float WAVs. Truncated or empty files raise :class:`~agent.errors.AudioFormatError`.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np

from ..errors import AudioFormatError

TARGET_RATE = 16000


def _pcm_to_float(raw: bytes, width: int, channels: int) -> np.ndarray:
    usable = len(raw) - len(raw) % (width * channels)
    raw = raw[:usable]
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        x = v.astype(np.float32) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / float(1 << 31)
    else:
        raise AudioFormatError(f"unsupported sample width {width} bytes")
    return x.reshape(-1, channels)


def _read_float_wav(path: Path) -> tuple[np.ndarray, int]:
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFormatError(f"{path}: not a RIFF/WAVE file")
    pos, fmt, rate, channels, bits = 12, None, 0, 0, 0
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise AudioFormatError(f"{path}: truncated fmt chunk")
            fmt, channels, rate = struct.unpack("<HHI", body[:8])
            bits = struct.unpack("<H", body[14:16])[0]
            if fmt == 0xFFFE and len(body) >= 26:
                fmt = struct.unpack("<H", body[24:26])[0]
        elif cid == b"data":
            if fmt == 1 and bits in (8, 16, 24, 32) and channels >= 1:  # PCM in an extensible header (sox)
                return _pcm_to_float(body, bits // 8, channels), rate
            if fmt != 3 or bits not in (32, 64) or channels < 1:
                raise AudioFormatError(f"{path}: unsupported WAV encoding (format {fmt}, {bits} bits)")
            dt = "<f4" if bits == 32 else "<f8"
            step = bits // 8 * channels
            body = body[: len(body) - len(body) % step]
            return np.frombuffer(body, dt).astype(np.float32).reshape(-1, channels), rate
        pos += 8 + size + (size & 1)
    raise AudioFormatError(f"{path}: no data chunk (truncated file?)")


def read_wav_float(path: str | Path) -> tuple[np.ndarray, int]:
    """Return (samples as float32 in [-1, 1], shape (n, channels)), sample rate)."""
    p = Path(path)
    if not p.is_file():
        raise AudioFormatError(f"{p}: no such file")
    try:
        with wave.open(str(p), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
        x = _pcm_to_float(raw, width, channels)
    except wave.Error as exc:
        if "unknown format: 3" in str(exc) or "unknown format: 65534" in str(exc):
            x, rate = _read_float_wav(p)
        else:
            raise AudioFormatError(f"{p}: not a readable WAV file ({exc})") from exc
    except (EOFError, struct.error) as exc:
        raise AudioFormatError(f"{p}: truncated WAV file ({exc})") from exc
    if x.shape[0] == 0:
        raise AudioFormatError(f"{p}: WAV file has no samples (empty or truncated)")
    if rate <= 0:
        raise AudioFormatError(f"{p}: invalid sample rate {rate}")
    return x, rate


def resample(x: np.ndarray, rate: int, target: int = TARGET_RATE, half_taps: int = 24,
             beta: float = 8.0) -> np.ndarray:
    """Band-limited resampling of a 1-D float signal (Kaiser-windowed sinc interpolation).

    Each output sample is a windowed-sinc weighted sum of ``2 * half_taps`` input samples around its
    position; when downsampling, the sinc is widened so it also low-passes below the new Nyquist rate.
    (numpy only: scipy.signal would add ~75 MB of resident memory to the daemon for this one function.)
    """
    if rate == target:
        return x.astype(np.float32, copy=False)
    ratio = target / rate
    cutoff = min(1.0, ratio)  # fraction of the input Nyquist kept
    n_out = int(np.floor(len(x) * ratio))
    padded = np.concatenate([np.zeros(half_taps), x.astype(np.float64), np.zeros(half_taps + 1)])
    out = np.empty(n_out, np.float32)
    offsets = np.arange(-half_taps + 1, half_taps + 1)
    for start in range(0, n_out, 8192):
        pos = np.arange(start, min(n_out, start + 8192)) / ratio
        base = np.floor(pos).astype(np.int64)
        taps = base[:, None] + offsets[None, :]
        dist = pos[:, None] - taps
        window = np.kaiser(2 * half_taps + 1, beta)
        w = np.interp(dist, np.linspace(-half_taps, half_taps, 2 * half_taps + 1), window, left=0.0, right=0.0)
        kernel = cutoff * np.sinc(cutoff * dist) * w
        out[start:start + len(pos)] = (padded[taps + half_taps] * kernel).sum(axis=1)
    return out


def to_int16(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, -1.0, 1.0 - 1.0 / 32768) * 32768.0).astype(np.int16)


def read_wav_16k(path: str | Path) -> np.ndarray:
    """Read any WAV as 16 kHz mono int16 (channels averaged, polyphase resampled)."""
    x, rate = read_wav_float(path)
    mono = x.mean(axis=1)
    return to_int16(resample(mono, rate))


def write_wav(path: str | Path, pcm: np.ndarray, rate: int = TARGET_RATE) -> None:
    """Write mono int16 PCM."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(pcm, dtype=np.int16).tobytes())
