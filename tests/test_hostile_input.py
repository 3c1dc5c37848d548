"""Hostile local input: crafted WAVs, images and YAML give one clear error line, bounded in time and memory.

Each test here failed before the input was bounded (a hang, a traceback, a silent garbage result or a
quadratic report) and documents the one-line error that replaced it.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from agent.audio.wav import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, read_wav_16k, read_wav_float
from agent.cli import main
from agent.errors import AudioFormatError


def _riff(fmt_tag: int, channels: int, rate: int, bits: int, data: bytes, *, fmt_size: int | None = None,
          data_size: int | None = None) -> bytes:
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt) if fmt_size is None else fmt_size) + fmt
            + b"data" + struct.pack("<I", len(data) if data_size is None else data_size) + data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _pcm(n: int = 16000) -> bytes:
    return (np.sin(np.arange(n) / 5) * 8000).astype("<i2").tobytes()


# --- WAV --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [1, MIN_SAMPLE_RATE - 1, MAX_SAMPLE_RATE + 1, 10**9])
def test_wav_sample_rate_out_of_range_is_refused(tmp_path: Path, rate: int) -> None:
    """A 1 Hz header used to make the resampler build 1.6e9 samples (a hang)."""
    p = tmp_path / "r.wav"
    p.write_bytes(_riff(1, 1, rate, 16, _pcm()))
    with pytest.raises(AudioFormatError, match=f"sample rate {rate} Hz is outside 4000-192000 Hz"):
        read_wav_16k(p)


@pytest.mark.parametrize("rate", [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE])
def test_wav_sample_rate_limits_are_accepted(tmp_path: Path, rate: int) -> None:
    p = tmp_path / "r.wav"
    p.write_bytes(_riff(1, 1, rate, 16, _pcm(rate // 10)))
    assert abs(len(read_wav_16k(p)) - 1600) <= 1


def test_wav_chunk_larger_than_the_file_is_one_line_error(tmp_path: Path) -> None:
    """A fmt chunk claiming 0x7FFFFFFF bytes used to raise a RuntimeError traceback from the wave module."""
    p = tmp_path / "big.wav"
    p.write_bytes(_riff(1, 1, 16000, 16, _pcm(), fmt_size=0x7FFFFFFF))
    with pytest.raises(AudioFormatError, match=r"chunk 'fmt ' at byte 12 declares 2147483647 bytes but only "):
        read_wav_16k(p)
    junk = tmp_path / "junk.wav"  # an unknown chunk before fmt, also claiming too much
    junk.write_bytes(b"RIFF" + struct.pack("<I", 100) + b"WAVE" + b"LIST" + struct.pack("<I", 0xFFFFFFF0) + b"x" * 64)
    with pytest.raises(AudioFormatError, match="chunk 'LIST'"):
        read_wav_16k(junk)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_wav_non_finite_float_samples_are_refused(tmp_path: Path, bad: float) -> None:
    """NaN/Inf floats used to give a garbage recognition with exit code 0."""
    x = np.sin(np.arange(16000) / 5).astype("<f4")
    x[1600] = bad
    p = tmp_path / "nan.wav"
    p.write_bytes(_riff(3, 1, 16000, 32, x.tobytes()))
    with pytest.raises(AudioFormatError, match=r"1 samples are NaN or infinite \(the first at 0.100 s\)"):
        read_wav_16k(p)
    big = np.full(100, 1e300, "<f8")  # finite in float64, infinite once float32
    p.write_bytes(_riff(3, 1, 16000, 64, big.tobytes()))
    with pytest.raises(AudioFormatError, match="NaN or infinite"):
        read_wav_16k(p)


def test_wav_truncated_data_says_how_much_is_missing(tmp_path: Path) -> None:
    """A 300-byte cut of a 1 s WAV used to be accepted silently."""
    p = tmp_path / "t.wav"
    p.write_bytes(_riff(1, 1, 16000, 16, _pcm())[:300])
    with pytest.raises(AudioFormatError, match=r"32000 bytes but only 256 are present \(31744 bytes missing\)"):
        read_wav_16k(p)


def test_wav_length_is_bounded_from_the_header(tmp_path: Path) -> None:
    p = tmp_path / "long.wav"
    p.write_bytes(_riff(1, 1, 16000, 16, bytes(16000 * 2 * 31)))
    with pytest.raises(AudioFormatError, match=r"31\.0 s of audio is longer than the 30 s"):
        read_wav_16k(p, max_seconds=30)
    assert read_wav_16k(p).shape == (16000 * 31,)
    many = tmp_path / "many.wav"  # 192 kHz x 32 channels: the sample bound refuses it before reading
    many.write_bytes(_riff(1, 32, 192000, 16, bytes(192000 * 32 * 2 * 6)))
    with pytest.raises(AudioFormatError, match=r"samples .* exceed the"):
        read_wav_float(many)


def test_wav_float64_and_extensible_float_still_read(tmp_path: Path) -> None:
    x = (0.5 * np.sin(np.arange(3200) / 3)).astype("<f8")
    p = tmp_path / "f64.wav"
    p.write_bytes(_riff(3, 1, 32000, 64, x.tobytes()))
    y, rate = read_wav_float(p)
    assert rate == 32000 and y.shape == (3200, 1)
    np.testing.assert_allclose(y[:, 0], x, atol=1e-6)


def test_recognize_cli_reports_each_hostile_wav_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = {"rate1.wav": _riff(1, 1, 1, 16, _pcm()),
             "fmtbig.wav": _riff(1, 1, 16000, 16, _pcm(), fmt_size=0x7FFFFFFF),
             "trunc.wav": _riff(1, 1, 16000, 16, _pcm())[:300],
             "long.wav": _riff(1, 1, 16000, 16, bytes(16000 * 2 * 40))}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    assert main(["recognize", "--commands", "home", *(str(tmp_path / n) for n in files)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == len(files), err
    assert all(line.startswith(f"homeagent: error: {tmp_path / n}: ") for line, n in zip(err, files, strict=True))
    assert "longer than the 30 s" in err[-1]
