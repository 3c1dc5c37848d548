from __future__ import annotations

import numpy as np
import pytest

from agent.audio.vad import Segmenter
from agent.config.schema import VadConfig
from agent.sources import WavReplaySource
from agent.types import Segment

# the segmenter is shared by both VAD engines: every test runs with each
ENGINE = pytest.mark.parametrize("engine", ["webrtc", "silero"])


def _segments(pcm: np.ndarray, cfg: VadConfig) -> tuple[list[Segment], float, Segmenter]:
    src = WavReplaySource(pcm=pcm, realtime=False)
    src.open()
    t0 = src._t0
    seg = Segmenter(cfg)
    out: list[Segment] = []
    while (f := src.read()) is not None:
        out += seg.push(f)
    out += seg.flush()
    return out, t0, seg


def _noise(n: int, level: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(0, level, n)).astype(np.int16)


@ENGINE
def test_one_segment_per_utterance_with_correct_spans(speak, engine: str) -> None:  # type: ignore[no-untyped-def]
    a, b = speak("turn on the lights"), speak("open the blinds please")
    gap = np.zeros(16000, np.int16)
    pcm = np.concatenate([gap, a, gap, b, gap]) + _noise(len(a) + len(b) + 48000, 30)
    segs, t0, _ = _segments(pcm.astype(np.int16), VadConfig(engine=engine))
    assert len(segs) == 2
    starts = [1.0, 2.0 + len(a) / 16000]
    for s, start, utt in zip(segs, starts, (a, b), strict=True):
        assert abs((s.t_start - t0) - start) < 0.35
        assert s.duration >= 0.8 * len(utt) / 16000
        assert s.snr_db > 20
        assert not s.forced_end


@ENGINE
def test_hard_end_of_speech_timeout_in_endless_speech(speak, engine: str) -> None:  # type: ignore[no-untyped-def]
    long = speak("this is a very long sentence that keeps going and going without any pause at all " * 2,
                 speed=170)
    segs, _, seg = _segments(long, VadConfig(engine=engine, max_ms=1000, min_ms=200))
    forced = [s for s in segs if s.forced_end]
    assert forced, "an utterance longer than max_ms must be cut"
    assert all(s.duration <= 1.0 + seg.frame_ms / 1000 + 0.02 for s in forced)
    assert seg.forced_ends == len(forced)


@ENGINE
def test_silence_and_steady_noise_give_nothing(engine: str) -> None:
    assert _segments(np.zeros(16000 * 3, np.int16), VadConfig(engine=engine))[0] == []
    assert _segments(_noise(16000 * 3, 300), VadConfig(engine=engine))[0] == []


@ENGINE
def test_too_short_is_dropped(engine: str) -> None:
    click = np.zeros(16000 * 2, np.int16)
    t = np.arange(1600) / 16000
    click[16000:17600] = (8000 * np.sin(2 * np.pi * 300 * t) * np.sin(np.pi * t / 0.1)).astype(np.int16)
    segs, _, _ = _segments(click, VadConfig(engine=engine, min_ms=300))
    assert segs == []
