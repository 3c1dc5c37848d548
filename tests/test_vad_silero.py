"""The silero VAD engine, engine selection by config, and the shared segmenter on top of silero."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from agent.audio.vad import Segmenter, WebRtcVad, make_frame_vad
from agent.audio.vad_silero import SILERO_FILE, SileroVad, silero_model_path
from agent.audio.wav import read_wav_16k
from agent.bench import vad_compare
from agent.config.loader import parse_config
from agent.config.schema import VadConfig
from agent.errors import ConfigError, ModelError
from agent.types import AudioFrame, Segment

SILERO = VadConfig(engine="silero")


def _flags(vad: SileroVad, pcm: np.ndarray) -> np.ndarray:
    n = vad.frame_samples
    return np.array([vad.is_speech(pcm[i:i + n]) for i in range(0, len(pcm) - n + 1, n)])


def _at_dbfs(x: np.ndarray, dbfs: float) -> np.ndarray:
    x = x.astype(np.float32)
    return x * (32768 * 10 ** (dbfs / 20) / (np.sqrt(np.mean(x ** 2)) + 1e-9))


def _segments(pcm: np.ndarray, cfg: VadConfig = SILERO) -> list[Segment]:
    seg = Segmenter(cfg)
    out: list[Segment] = []
    for k, i in enumerate(range(0, len(pcm), 320)):
        out += seg.push(AudioFrame(pcm=pcm[i:i + 320], sample_rate=16000, t_mono=i / 16000, seq=k))
    return out + seg.flush()


def _noise_files(noise_dir: Path) -> list[Path]:
    files = sorted((noise_dir).rglob("*.wav"))
    assert len(files) >= 5, f"{noise_dir}: noise recordings missing"
    return files


def test_silero_marks_synthetic_speech_as_speech(speak) -> None:  # type: ignore[no-untyped-def]
    vad = SileroVad()
    for text, voice in (("turn on the kitchen lights", "en-us"), ("close the blinds in the bedroom", "en-gb+f3")):
        pcm = speak(text, voice=voice)
        flags = _flags(vad, pcm)
        loud = np.array([np.abs(pcm[i:i + 512]).max() > 0.1 * np.abs(pcm).max()
                         for i in range(0, len(pcm) - 511, 512)])
        assert flags[loud].mean() >= 0.85, (text, flags.astype(int))
        assert 0.0 < vad.probability(pcm[:512]) < 1.0
        vad.reset()


def test_silero_marks_real_noise_and_music_mostly_not_speech(noise_dir: Path) -> None:
    vad = SileroVad()
    webrtc = WebRtcVad(2, 30)
    fractions = {}
    for path in _noise_files(noise_dir):
        pcm = _at_dbfs(read_wav_16k(path)[:16000 * 15], -36).astype(np.int16)
        vad.reset()
        fractions[path.stem] = float(_flags(vad, pcm).mean())
    assert max(fractions.values()) <= 0.1, fractions
    assert np.mean(list(fractions.values())) <= 0.03, fractions
    music = _at_dbfs(vad_compare.music_like(15.0), -30).astype(np.int16)
    vad.reset()
    silero_music = float(_flags(vad, music).mean())
    webrtc_music = float(np.mean([webrtc.is_speech(music[i:i + 480]) for i in range(0, len(music) - 479, 480)]))
    assert silero_music <= 0.05 < webrtc_music, (silero_music, webrtc_music)


def test_state_is_carried_between_chunks_and_reset_forgets_it(speak) -> None:  # type: ignore[no-untyped-def]
    vad = SileroVad()
    pcm = speak("good morning")
    chunks = [pcm[i:i + 512] for i in range(0, len(pcm) - 511, 512)]
    stream = [vad.probability(c) for c in chunks]
    vad.reset()
    assert [vad.probability(c) for c in chunks] == stream  # deterministic from a reset
    vad.reset()
    mid = len(chunks) // 2
    assert abs(vad.probability(chunks[mid]) - stream[mid]) > 1e-4  # the same chunk without its history differs
    with pytest.raises(ValueError, match="512"):
        vad.probability(pcm[:480])


def test_segmenter_with_silero_one_segment_per_utterance(speak) -> None:  # type: ignore[no-untyped-def]
    a, b = speak("turn on the lights"), speak("open the blinds please")
    gap = np.zeros(16000, np.int16)
    pcm = np.concatenate([gap, a, gap, b, gap]).astype(np.float32)
    pcm += np.random.default_rng(0).normal(0, 30, len(pcm))
    segs = _segments(pcm.astype(np.int16))
    assert len(segs) == 2
    for s, start, utt in zip(segs, (1.0, 2.0 + len(a) / 16000), (a, b), strict=True):
        assert abs(s.t_start - start) < 0.35
        assert s.duration >= 0.8 * len(utt) / 16000
        assert not s.forced_end and s.snr_db > 20


def test_segmenter_with_silero_in_real_noise_at_10_db(speak, noise_dir: Path) -> None:  # type: ignore[no-untyped-def]
    utt = speak("set the heating to twenty one degrees").astype(np.float32)
    cafe = read_wav_16k(noise_dir / "cafe.wav").astype(np.float32)
    pcm = np.concatenate([np.zeros(24000, np.float32), utt, np.zeros(24000, np.float32)])
    noise = cafe[:len(pcm)] * np.sqrt(np.mean(utt ** 2) / np.mean(cafe[:len(pcm)] ** 2)) * 10 ** (-10 / 20)
    segs = _segments(np.clip(pcm + noise, -32768, 32767).astype(np.int16))
    assert len(segs) == 1, [(s.t_start, s.t_end) for s in segs]
    assert segs[0].t_start <= 1.5 + 0.1 and segs[0].t_end >= 1.5 + 0.9 * len(utt) / 16000


def test_config_selects_the_engine() -> None:
    assert isinstance(make_frame_vad(VadConfig()), SileroVad)  # the default
    assert isinstance(make_frame_vad(VadConfig(engine="webrtc")), WebRtcVad)
    assert Segmenter(VadConfig(engine="webrtc", frame_ms=20)).n == 320
    cfg = parse_config("vad:\n  engine: silero\n  silero:\n    threshold: 0.6\n    neg_threshold: 0.4\n")
    seg = Segmenter(cfg.vad)
    assert isinstance(seg.vad, SileroVad) and seg.n == 512 and seg.frame_ms == 32
    assert (seg.vad.threshold, seg.vad.neg_threshold) == (0.6, 0.4)


def test_bad_vad_config_points_at_the_key() -> None:
    text = "site_id: x\nvad:\n  engine: silerro\n  silero:\n    threshold: 1.5\n    bogus: 1\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, "c.yaml")
    by_key = {p.split(": ")[1]: p for p in info.value.problems}
    assert set(by_key) == {"vad.engine", "vad.silero.threshold", "vad.silero.bogus"}
    assert by_key["vad.engine"].startswith("c.yaml:3:") and "'webrtc' or 'silero'" in by_key["vad.engine"]
    assert by_key["vad.silero.threshold"].startswith("c.yaml:5:") and "less than 1" in by_key["vad.silero.threshold"]
    assert by_key["vad.silero.bogus"].startswith("c.yaml:6:")
    assert "allowed keys: neg_threshold, threshold" in by_key["vad.silero.bogus"]
    with pytest.raises(ConfigError, match="neg_threshold must not exceed threshold"):
        parse_config("vad:\n  silero:\n    threshold: 0.3\n    neg_threshold: 0.5\n")


def test_missing_or_tampered_model_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEAGENT_MODELS", str(tmp_path))
    with pytest.raises(ModelError, match=r"python -m models\.speech\.fetch\.fetch_vad"):
        Segmenter(SILERO)
    monkeypatch.delenv("HOMEAGENT_MODELS")
    bad = tmp_path / SILERO_FILE
    shutil.copy(silero_model_path(), bad)
    with bad.open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelError, match="sha256"):
        SileroVad(path=bad)


def test_comparison_favours_silero_on_music(speak) -> None:  # type: ignore[no-untyped-def]
    utts = [_at_dbfs(speak(t), -26) / 32768 for t in ("turn on the lights", "stop the music", "next song")]
    mix, label, spans = vad_compare.scene(utts, vad_compare.music_like(10.0), snr_db=10)
    res = {e: vad_compare.evaluate(e, "music", mix, label, spans, VadConfig()) for e in ("webrtc", "silero")}
    assert res["silero"].frame_false_alarm < 0.1 < res["webrtc"].frame_false_alarm
    assert res["silero"].segment_recall >= res["webrtc"].segment_recall
    assert res["silero"].segment_recall >= 2 / 3 and res["silero"].frame_hit > 0.8
    assert 0 < res["silero"].cpu_ms_per_s < 100
