from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from agent.audio.wav import read_wav_16k, write_wav
from agent.errors import AudioFormatError


def _tone(rate: int, seconds: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write(path: Path, x: np.ndarray, rate: int, width: int, channels: int = 1) -> None:
    data = np.repeat(x[:, None], channels, axis=1)
    if width == 2:
        raw = (data * 32767).astype("<i2").tobytes()
    elif width == 3:
        v = (data * (2 ** 23 - 1)).astype(np.int32).reshape(-1)
        raw = b"".join(int(s & 0xFFFFFF).to_bytes(3, "little") for s in v)
    else:
        raw = ((data * 127) + 128).astype(np.uint8).tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)


def _dominant_hz(pcm: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(pcm.astype(np.float32)))
    return float(np.argmax(spec) * 16000 / len(pcm))


@pytest.mark.parametrize(("rate", "width", "channels"), [(8000, 2, 1), (44100, 2, 2), (48000, 3, 1), (22050, 1, 2),
                                                         (16000, 2, 1)])
def test_any_rate_and_channels_become_16k_mono(tmp_path: Path, rate: int, width: int, channels: int) -> None:
    p = tmp_path / "a.wav"
    _write(p, _tone(rate), rate, width, channels)
    pcm = read_wav_16k(p)
    assert pcm.dtype == np.int16
    assert abs(len(pcm) - 8000) <= 2
    assert abs(_dominant_hz(pcm) - 440.0) < 5
    assert 0.4 * 32767 < np.abs(pcm).max() < 0.55 * 32767


def test_float_wav(tmp_path: Path) -> None:
    x = _tone(32000)
    data = x.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 32000, 32000 * 4, 4, 32)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    p = tmp_path / "f.wav"
    p.write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    pcm = read_wav_16k(p)
    assert abs(_dominant_hz(pcm) - 440.0) < 5


def test_truncated_and_empty_and_garbage(tmp_path: Path) -> None:
    p = tmp_path / "t.wav"
    write_wav(p, (np.ones(16000) * 1000).astype(np.int16))
    whole = p.read_bytes()
    p.write_bytes(whole[:30])
    with pytest.raises(AudioFormatError):
        read_wav_16k(p)
    # a file cut in the middle of its data is an error that says how much is missing (it used to be read)
    p.write_bytes(whole[: 44 + 1001])
    with pytest.raises(AudioFormatError, match="30999 bytes missing"):
        read_wav_16k(p)
    empty = tmp_path / "e.wav"
    write_wav(empty, np.zeros(0, np.int16))
    with pytest.raises(AudioFormatError, match="no samples"):
        read_wav_16k(empty)
    junk = tmp_path / "j.wav"
    junk.write_bytes(b"not a wav at all" * 10)
    with pytest.raises(AudioFormatError):
        read_wav_16k(junk)
    with pytest.raises(AudioFormatError, match="no such file"):
        read_wav_16k(tmp_path / "missing.wav")


def test_pcm_in_an_extensible_header_is_read(tmp_path: Path) -> None:
    """sox writes 32-bit (and multichannel) PCM with WAVE_FORMAT_EXTENSIBLE, which the wave module refuses."""
    import struct

    import numpy as np

    from agent.audio.wav import read_wav_float

    samples = (np.sin(np.linspace(0, 40, 4410)) * 0.5 * 2**31).astype("<i4")
    stereo = np.stack([samples, -samples], axis=1).tobytes()
    guid = struct.pack("<H", 1) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    fmt = struct.pack("<HHIIHH", 0xFFFE, 2, 44100, 44100 * 8, 8, 32) + struct.pack("<HHI", 22, 32, 3) + guid
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(stereo)) + stereo
    path = tmp_path / "sox32.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    x, rate = read_wav_float(path)
    assert rate == 44100 and x.shape == (4410, 2)
    np.testing.assert_allclose(x[:, 0], samples / 2**31, atol=1e-6)
    np.testing.assert_allclose(x[:, 1], -x[:, 0], atol=1e-6)
