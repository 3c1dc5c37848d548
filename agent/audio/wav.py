"""Read WAV files of any sample rate and channel count as 16 kHz mono int16; write WAVs.

One RIFF parser reads every encoding we accept: PCM (8/16/24/32-bit), IEEE float (32/64-bit), either in
a plain ``fmt `` chunk or in a ``WAVE_FORMAT_EXTENSIBLE`` one (as sox writes). The file is hostile input:
every size it declares is checked against the file's real size and against the limits below *before*
anything is read, so a crafted header cannot make us allocate, resample or wait without bound. Anything
wrong (truncated, empty, oversized, out-of-range rate, NaN/Inf samples, unsupported encoding) raises
:class:`~agent.errors.AudioFormatError` with a one-line message naming the file and what to do.
"""

from __future__ import annotations

import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import AudioFormatError

TARGET_RATE = 16000

MIN_SAMPLE_RATE = 4_000
"""Lowest sample rate accepted (Hz): below telephone quality speech is unusable, and a tiny declared rate
would make the resampler produce an enormous output (a 1 Hz file upsamples 16000-fold)."""

MAX_SAMPLE_RATE = 192_000
"""Highest sample rate accepted (Hz): the highest rate of common audio hardware and tools."""

MAX_CHANNELS = 32
"""Most channels accepted: far more than any microphone array we mix down to mono."""

MAX_SECONDS = 600.0
"""Longest audio a WAV may hold (seconds), checked from the header before the samples are read: it bounds
replay and evaluation files. Callers with shorter inputs pass a tighter ``max_seconds``."""

MAX_SAMPLES = 1 << 25
"""Most samples (frames x channels) read from one WAV: bounds the memory of decoding a file to a few
hundred MB whatever its rate and channel count (ten minutes of 48 kHz mono fit)."""

_FMT_MAX_BYTES = 1 << 16  # a fmt chunk is 16 to 40 bytes; anything larger is not a real one
_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


@dataclass(frozen=True)
class WavInfo:
    """What a WAV header declares, validated: encoding (1 = PCM, 3 = float), layout, and where the data is."""

    encoding: int
    channels: int
    rate: int
    bits: int
    data_offset: int
    data_bytes: int

    @property
    def width(self) -> int:
        """Bytes per sample."""
        return (self.bits + 7) // 8

    @property
    def frames(self) -> int:
        """Whole frames in the data chunk (a trailing partial frame is ignored, as by the wave module)."""
        return self.data_bytes // (self.width * self.channels)


def _pcm_to_float(raw: bytes, width: int, channels: int) -> np.ndarray:
    usable = len(raw) - len(raw) % (width * channels)
    raw = raw[:usable]
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        # place each 3-byte sample in the top of an int32 (4 bytes a sample, not 12 as with per-byte ints)
        padded = np.zeros((usable // 3, 4), np.uint8)
        padded[:, 1:] = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        x = (padded.view("<i4")[:, 0] >> 8).astype(np.float32) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / float(1 << 31)
    else:
        raise AudioFormatError(f"unsupported sample width {width} bytes")
    return x.reshape(-1, channels)


def _parse_fmt(path: Path, body: bytes) -> tuple[int, int, int, int]:
    """(encoding, channels, rate, bits) from a fmt chunk, the extensible sub-format resolved."""
    if len(body) < 16:
        raise AudioFormatError(f"{path}: truncated fmt chunk ({len(body)} bytes, a WAV needs 16): not a valid WAV")
    encoding, channels, rate = struct.unpack("<HHI", body[:8])
    bits = struct.unpack("<H", body[14:16])[0]
    if encoding == _EXTENSIBLE:
        if len(body) < 26:
            raise AudioFormatError(f"{path}: WAVE_FORMAT_EXTENSIBLE fmt chunk without its sub-format: "
                                   "re-export the file as plain PCM")
        encoding = struct.unpack("<H", body[24:26])[0]
    return encoding, channels, rate, bits


def _check_format(path: Path, encoding: int, channels: int, rate: int, bits: int) -> None:
    if encoding == _PCM:
        ok = 1 <= bits <= 32
    elif encoding == _FLOAT:
        ok = bits in (32, 64)
    else:
        ok = False
    if not ok:
        raise AudioFormatError(f"{path}: unsupported WAV encoding (format {encoding}, {bits} bits): "
                               "use PCM 8/16/24/32-bit or 32/64-bit float")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioFormatError(f"{path}: {channels} channels declared; a WAV may have 1 to {MAX_CHANNELS}")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioFormatError(f"{path}: sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz: "
                               "resample the file (e.g. to 16000 Hz)")


def _read_header(path: Path, f: BinaryIO, size: int) -> WavInfo:
    """Walk the RIFF chunks up to ``data`` reading only headers and the fmt body; every declared size is
    checked against the bytes the file really has."""
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise AudioFormatError(f"{path}: not a RIFF/WAVE file")
    pos, fmt = 12, None
    while pos + 8 <= size:
        f.seek(pos)
        cid, declared = struct.unpack("<4sI", f.read(8))
        left = size - pos - 8
        name = cid.decode("latin-1")
        if cid == b"data":
            if fmt is None:
                raise AudioFormatError(f"{path}: data chunk before the fmt chunk: not a valid WAV")
            if declared > left:
                raise AudioFormatError(f"{path}: truncated WAV file: the data chunk declares {declared} bytes but "
                                       f"only {left} are present ({declared - left} bytes missing)")
            return WavInfo(*fmt, data_offset=pos + 8, data_bytes=declared)
        if declared > left:
            raise AudioFormatError(f"{path}: corrupt WAV file: chunk {name!r} at byte {pos} declares {declared} "
                                   f"bytes but only {left} remain in the file")
        if cid == b"fmt ":
            if declared > _FMT_MAX_BYTES:
                raise AudioFormatError(f"{path}: corrupt WAV file: fmt chunk of {declared} bytes")
            fmt = _parse_fmt(path, f.read(declared))
            _check_format(path, *fmt)
        pos += 8 + declared + (declared & 1)
    if fmt is None:
        raise AudioFormatError(f"{path}: no fmt chunk (truncated or not a WAV file)")
    raise AudioFormatError(f"{path}: no data chunk (truncated file?)")


def _check_length(path: Path, info: WavInfo, max_seconds: float) -> None:
    seconds = info.frames / info.rate
    if seconds > max_seconds:
        raise AudioFormatError(f"{path}: {seconds:.1f} s of audio is longer than the {max_seconds:g} s this "
                               "command accepts: cut the file into shorter pieces")
    if info.frames * info.channels > MAX_SAMPLES:
        raise AudioFormatError(f"{path}: {info.frames * info.channels} samples ({info.channels} channels at "
                               f"{info.rate} Hz) exceed the {MAX_SAMPLES} a WAV may hold: downmix or resample it")


def _decode(path: Path, raw: bytes, info: WavInfo) -> np.ndarray:
    if info.encoding == _PCM:
        return _pcm_to_float(raw, info.width, info.channels)
    dtype = "<f4" if info.bits == 32 else "<f8"
    raw = raw[: len(raw) - len(raw) % (info.width * info.channels)]
    with np.errstate(over="ignore"):  # float64 beyond float32 becomes inf, refused just below
        x = np.frombuffer(raw, dtype).astype(np.float32).reshape(-1, info.channels)
    finite = np.isfinite(x)
    if not finite.all():
        first = int(np.argmin(finite.all(axis=1)))
        raise AudioFormatError(f"{path}: {int(x.size - finite.sum())} samples are NaN or infinite (the first at "
                               f"{first / info.rate:.3f} s): the file is corrupt; re-export it")
    return x


def read_wav_float(path: str | Path, max_seconds: float = MAX_SECONDS) -> tuple[np.ndarray, int]:
    """Return (samples as float32 in [-1, 1], shape (n, channels)), sample rate).

    The header is validated (sizes, rate, channels, encoding, length at most ``max_seconds``) before the
    samples are read, so a hostile file costs no more than its limits allow.
    """
    p = Path(path)
    if not p.is_file():
        raise AudioFormatError(f"{p}: no such file")
    try:
        with p.open("rb") as f:
            size = f.seek(0, 2)
            f.seek(0)
            info = _read_header(p, f, size)
            _check_length(p, info, max_seconds)
            f.seek(info.data_offset)
            raw = f.read(info.frames * info.width * info.channels)
    except OSError as exc:
        raise AudioFormatError(f"{p}: cannot read the file ({exc.strerror or exc})") from exc
    x = _decode(p, raw, info)
    if x.shape[0] == 0:
        raise AudioFormatError(f"{p}: WAV file has no samples (empty or truncated)")
    return x, info.rate


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


def read_wav_16k(path: str | Path, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """Read any WAV (at most ``max_seconds`` long) as 16 kHz mono int16 (channels averaged, resampled)."""
    x, rate = read_wav_float(path, max_seconds)
    mono = x.mean(axis=1)
    return to_int16(resample(mono, rate))


def write_wav(path: str | Path, pcm: np.ndarray, rate: int = TARGET_RATE) -> None:
    """Write mono int16 PCM."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(pcm, dtype=np.int16).tobytes())
