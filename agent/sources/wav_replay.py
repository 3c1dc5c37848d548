"""Replay WAV files (any rate/channels, resampled to 16 kHz mono) as AudioFrames, in real time or flat out.

A replay is a *source*, not a mock: downstream code cannot tell it from a microphone except by pacing.
In flat-out mode the frame stamps follow a virtual clock (start + audio position) so timings stay consistent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..audio.wav import TARGET_RATE, read_wav_16k
from ..types import AudioFrame
from .base import wait_until

log = logging.getLogger(__name__)


class WavReplaySource:
    """Replays one or more WAVs back to back; ``gap_s`` of silence is inserted between files."""

    def __init__(self, paths: Sequence[str | Path] | None = None, *, pcm: np.ndarray | None = None,
                 block_ms: int = 32, realtime: bool = True, loop: bool = False, gap_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if (paths is None) == (pcm is None):
            raise ValueError("give either paths or pcm")
        self._paths = [Path(p) for p in paths or []]
        self._pcm_given = pcm
        self.block = TARGET_RATE * block_ms // 1000
        self.realtime = realtime
        self.loop = loop
        self.gap_s = gap_s
        self._clock = clock
        self._sleep = sleep
        self._audio: np.ndarray = np.zeros(0, np.int16)
        self._pos = 0
        self._seq = 0
        self._t0 = 0.0
        self.exhausted = False
        self._opened = False

    def open(self) -> None:
        if self._pcm_given is not None:
            self._audio = np.asarray(self._pcm_given, dtype=np.int16)
        else:
            gap = np.zeros(int(self.gap_s * TARGET_RATE), np.int16)
            parts: list[np.ndarray] = []
            for p in self._paths:
                parts += [read_wav_16k(p), gap]
            self._audio = np.concatenate(parts) if parts else np.zeros(0, np.int16)
        self._pos = 0
        self._t0 = self._clock()
        self.exhausted = len(self._audio) == 0
        self._opened = True

    @property
    def duration_s(self) -> float:
        return len(self._audio) / TARGET_RATE

    def read(self, timeout: float = 1.0) -> AudioFrame | None:
        if not self._opened or self.exhausted:
            return None
        start = self._pos
        chunk = self._audio[start:start + self.block]
        if len(chunk) < self.block:
            chunk = np.concatenate([chunk, np.zeros(self.block - len(chunk), np.int16)])
        t = self._t0 + start / TARGET_RATE
        # a block is available once fully "recorded"
        if self.realtime and wait_until(t + self.block / TARGET_RATE, timeout, self._clock, self._sleep) is None:
            return None
        self._pos += self.block
        if self._pos >= len(self._audio):
            if self.loop:
                self._t0 += len(self._audio) / TARGET_RATE
                self._pos = 0
            else:
                self.exhausted = True
        frame = AudioFrame(pcm=chunk, sample_rate=TARGET_RATE, t_mono=t, seq=self._seq)
        self._seq += 1
        return frame

    def close(self) -> None:
        self._opened = False
        self.exhausted = True

    @property
    def stats(self) -> dict[str, int]:
        return {"frames": self._seq, "overflows": 0}
