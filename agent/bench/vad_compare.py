"""Compare the VAD engines (webrtc, silero) on synthetic speech mixed with real noise and music-like audio.

``python -m agent.bench.vad_compare [--snr 10] [--json]`` (or :func:`compare` from a benchmark):

- utterances synthesized by espeak-ng and flite (several voices; synthetic, so nothing is tuned on real speech)
  are laid out with gaps and mixed with each real noise shipped in ``models/speech/data/noise`` (``--noise-dir``
  for others) and with a synthetic music-like
  track (chords, a vibrato melody, drums) at ``--snr`` dB (active-speech RMS over noise RMS);
- **frame false alarms**: fraction of the engine's frames in the gaps (noise or music only) that it marks as
  speech (the engine alone, without the segmenter's noise-floor gate);
- **frame hits**: fraction of frames inside the utterances (voiced part) marked as speech;
- **segment recall**: utterances matched by one segment of the full :class:`Segmenter` (noise-floor gate,
  onset, hangover, min/max length) that covers at least 80% of the utterance and starts at most 0.6 s before
  it and ends at most 0.8 s after it (pre-roll and kept tail included); **false segments** per minute of gap
  that overlap no utterance; **gap in segments**: fraction of the gap time that lies inside segments;
  **endpoint ms**: median delay from an utterance's last sample to the segmenter emitting its segment;
- **CPU ms per second of audio** of the engine alone (thread CPU time, one thread).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..audio.vad import FrameVad, Segmenter, make_frame_vad
from ..audio.wav import TARGET_RATE as RATE
from ..audio.wav import read_wav_16k
from ..config.schema import VadConfig
from ..paths import models_dir
from ..types import AudioFrame

log = logging.getLogger(__name__)

NOISE_DIR = models_dir() / "speech" / "data" / "noise"  # the real noise shipped in the repository
ENGINES = ("webrtc", "silero")
SENTENCES = [
    "turn on the kitchen lights", "set the heating to twenty one degrees", "close the blinds in the bedroom",
    "what is the weather like tomorrow", "stop the music", "open the garage door please",
    "dim the living room lamp", "next song", "turn the volume down a little", "good morning",
    "switch off the television", "remind me to call mum at six",
]
VOICES: list[tuple[str, str]] = [
    ("espeak-ng", "en-us"), ("espeak-ng", "en-gb+f3"), ("espeak-ng", "en-gb-scotland+m3"),
    ("flite", "slt"), ("espeak-ng", "en-029+f2"), ("flite", "rms"), ("espeak-ng", "en-us+m5"), ("flite", "awb"),
]
LEAD_S, GAP_S = 1.5, 1.6
SPEECH_DBFS = -26.0


@dataclass
class Result:
    noise: str
    engine: str
    frame_false_alarm: float
    frame_hit: float
    segment_recall: float
    false_segments_per_min: float
    gap_in_segments: float
    endpoint_ms: float
    cpu_ms_per_s: float


def synthesize(text: str, tool: str, voice: str, tmp: Path) -> np.ndarray:
    if shutil.which(tool) is None:
        raise SystemExit(f"{tool} not found: install it (tools/bootstrap.sh installs espeak-ng and flite)")
    out = tmp / "utt.wav"
    cmd = ["espeak-ng", "-v", voice, "-w", str(out), text] if tool == "espeak-ng" else \
        ["flite", "-voice", voice, "-t", text, "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    return read_wav_16k(out)


def utterances(n: int) -> list[np.ndarray]:
    """``n`` synthetic utterances, trimmed to their voiced span and set to the same active level."""
    out = []
    with tempfile.TemporaryDirectory() as d:
        for i in range(n):
            tool, voice = VOICES[i % len(VOICES)]
            x = synthesize(SENTENCES[i % len(SENTENCES)], tool, voice, Path(d)).astype(np.float32) / 32768
            idx = np.flatnonzero(np.abs(x) > 0.01 * np.abs(x).max())
            x = x[idx[0]:idx[-1] + 1]
            out.append(x * (10 ** (SPEECH_DBFS / 20) / _active_rms(x)))
    return out


def _active_rms(x: np.ndarray) -> float:
    """RMS over the 20 ms frames within 30 dB of the loudest (so pauses do not lower the speech level)."""
    f = x[:len(x) // 320 * 320].reshape(-1, 320)
    e = np.sqrt(np.mean(f ** 2, axis=1) + 1e-12)
    return float(np.sqrt(np.mean(e[e > e.max() * 10 ** (-30 / 20)] ** 2)))


def music_like(seconds: float, seed: int = 0) -> np.ndarray:
    """A synthetic pop-like track: chord pads, a vibrato lead melody, bass, kick and hi-hat (float, ~-20 dBFS)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    beat = 0.5  # 120 bpm
    y = np.zeros(n, np.float32)
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
    for b0 in np.arange(0, seconds, beat):
        i0, i1 = int(b0 * RATE), min(n, int((b0 + beat) * RATE))
        tt = t[i0:i1] - b0
        env = np.exp(-tt * 4.0)
        root = rng.integers(0, 4)
        for k in (0, 2, 4):  # a triad pad
            f = scale[(root + k) % len(scale)] / 2
            y[i0:i1] += 0.05 * env * sum(np.sin(2 * np.pi * f * h * tt) / h for h in range(1, 5))
        f = scale[rng.integers(0, len(scale))] * (1 + 0.006 * np.sin(2 * np.pi * 5.5 * tt))  # lead with vibrato
        y[i0:i1] += 0.12 * np.minimum(1, tt * 30) * np.exp(-tt) * sum(
            np.sin(2 * np.pi * f * h * tt) * 0.6 ** h for h in range(1, 7))
        y[i0:i1] += 0.2 * np.exp(-tt * 25) * np.sin(2 * np.pi * (60 + 80 * np.exp(-tt * 30)) * tt)  # kick
        hat = rng.normal(0, 1, i1 - i0) * np.exp(-np.maximum(tt - beat / 2, 0) * 60) * (tt >= beat / 2)
        y[i0:i1] += 0.04 * np.diff(hat, prepend=0.0).astype(np.float32)
    return (y * (0.1 / (np.sqrt(np.mean(y ** 2)) + 1e-9))).astype(np.float32)


def noises(noise_dir: Path = NOISE_DIR, seconds: float = 60.0) -> dict[str, np.ndarray]:
    """Every WAV under ``noise_dir`` (float, 16 kHz mono) plus the synthetic ``music_like`` track."""
    files = sorted(noise_dir.rglob("*.wav"))
    if not files:
        raise SystemExit(f"no WAV files under {noise_dir}: pass --noise-dir (a folder of noise recordings)")
    out = {p.stem: read_wav_16k(p).astype(np.float32) / 32768 for p in files}
    out["music_like (synthetic)"] = music_like(seconds)
    return out


def scene(utts: list[np.ndarray], noise: np.ndarray, snr_db: float) -> tuple[np.ndarray, np.ndarray,
                                                                             list[tuple[int, int]]]:
    """int16 mixture, per-sample label (1 speech, 0 gap, -1 edge: ignored) and the utterance spans."""
    lead, gap = int(LEAD_S * RATE), int(GAP_S * RATE)
    total = lead + sum(len(u) + gap for u in utts)
    clean = np.zeros(total, np.float32)
    label = np.zeros(total, np.int8)
    spans = []
    pos = lead
    for u in utts:
        clean[pos:pos + len(u)] = u
        label[max(0, pos - 1600):pos + len(u) + 4800] = -1  # 0.1 s before, 0.3 s after: neither
        f = np.abs(u) > 0.02 * np.abs(u).max()
        label[pos:pos + len(u)][f] = 1
        spans.append((pos, pos + len(u)))
        pos += len(u) + gap
    bed = np.tile(noise, total // len(noise) + 1)[:total]
    gain = 10 ** (SPEECH_DBFS / 20) / 10 ** (snr_db / 20) / (float(np.sqrt(np.mean(bed ** 2))) + 1e-12)
    mix = np.clip((clean + gain * bed) * 32768, -32768, 32767).astype(np.int16)
    return mix, label, spans


def frame_flags(vad: FrameVad, pcm: np.ndarray) -> tuple[np.ndarray, float]:
    """The engine's decision for each frame, and its thread CPU ms per second of audio."""
    n = vad.frame_samples
    frames = [pcm[i:i + n] for i in range(0, len(pcm) - n + 1, n)]
    t0 = time.thread_time()
    flags = np.array([vad.is_speech(f) for f in frames], dtype=bool)
    cpu = time.thread_time() - t0
    return flags, cpu * 1000 / (len(frames) * n / RATE)


def segments(cfg: VadConfig, pcm: np.ndarray, block: int = 320) -> list[tuple[float, float, float]]:
    """(start, end, emitted) of each segment, in seconds of the stream; emitted: when the segmenter gave it."""
    seg = Segmenter(cfg)
    out = []
    for k, i in enumerate(range(0, len(pcm), block)):
        for s in seg.push(AudioFrame(pcm=pcm[i:i + block], sample_rate=RATE, t_mono=i / RATE, seq=k)):
            out.append((s.t_start, s.t_end, min(i + block, len(pcm)) / RATE))
    out += [(s.t_start, s.t_end, len(pcm) / RATE) for s in seg.flush()]
    return out


def _segment_scores(segs: list[tuple[float, float, float]], spans: list[tuple[int, int]],
                    total_s: float) -> tuple[float, float, float, float]:
    sp = [(a / RATE, b / RATE) for a, b in spans]
    delays = [min((t - b for s, e, t in segs
                   if min(b, e) - max(a, s) >= 0.8 * (b - a) and s >= a - 0.6 and e <= b + 0.8), default=np.nan)
              for a, b in sp]
    hit = sum(not np.isnan(d) for d in delays)
    false = sum(not any(min(b, e) > max(a, s) for a, b in sp) for s, e, _ in segs)
    gap_s = total_s - sum(b - a for a, b in sp)
    seg_s = sum(e - s for s, e, _ in segs)
    overlap = sum(max(0.0, min(b, e) - max(a, s)) for s, e, _ in segs for a, b in sp)
    endpoint = float(np.nanmedian(delays)) * 1000 if hit else float("nan")
    return hit / len(sp), false / (gap_s / 60), (seg_s - overlap) / gap_s, endpoint


def evaluate(engine: str, name: str, mix: np.ndarray, label: np.ndarray, spans: list[tuple[int, int]],
             cfg: VadConfig) -> Result:
    cfg = cfg.model_copy(update={"engine": engine})
    vad = make_frame_vad(cfg)
    flags, cpu = frame_flags(vad, mix)
    n = vad.frame_samples
    lab = label[:len(flags) * n].reshape(-1, n)
    speech = (lab == 1).mean(axis=1) > 0.5
    gap = (lab == 0).all(axis=1)
    recall, false, in_gap, endpoint = _segment_scores(segments(cfg, mix), spans, len(mix) / RATE)
    return Result(name, engine, float(flags[gap].mean()), float(flags[speech].mean()), recall, false, in_gap,
                  endpoint, cpu)


def compare(snr_db: float = 10.0, n_utts: int = 16, noise_dir: Path = NOISE_DIR, cfg: VadConfig | None = None,
            engines: tuple[str, ...] = ENGINES, progress: Callable[[Result], None] | None = None) -> list[Result]:
    """One :class:`Result` per noise and engine."""
    cfg = cfg or VadConfig()
    utts = utterances(n_utts)
    results = []
    for name, noise in noises(noise_dir).items():
        mix, label, spans = scene(utts, noise, snr_db)
        for engine in engines:
            r = evaluate(engine, name, mix, label, spans, cfg)
            results.append(r)
            if progress:
                progress(r)
    return results


def summary(results: list[Result]) -> dict[str, dict[str, float]]:
    """Per engine: means over the noises (music-like separately) of each measure."""
    out: dict[str, dict[str, float]] = {}
    for engine in sorted({r.engine for r in results}):
        rs = [r for r in results if r.engine == engine]
        real = [r for r in rs if "synthetic" not in r.noise]
        music = [r for r in rs if r.noise.startswith("music")]
        ends = [r.endpoint_ms for r in rs]
        found = any(not np.isnan(d) for d in ends)
        out[engine] = {
            "frame_false_alarm_noise": float(np.mean([r.frame_false_alarm for r in real])),
            "frame_false_alarm_music": float(np.mean([r.frame_false_alarm for r in music])),
            "frame_hit": float(np.mean([r.frame_hit for r in rs])),
            "segment_recall": float(np.mean([r.segment_recall for r in rs])),
            "false_segments_per_min": float(np.mean([r.false_segments_per_min for r in rs])),
            "gap_in_segments": float(np.mean([r.gap_in_segments for r in rs])),
            "endpoint_ms": float(np.median([d for d in ends if not np.isnan(d)])) if found else float("nan"),
            "cpu_ms_per_s": float(np.median([r.cpu_ms_per_s for r in rs])),
        }
    return out


def _line(r: Result) -> str:
    return (f"{r.noise:24s} {r.engine:7s} frame_false_alarm={r.frame_false_alarm:6.1%} frame_hit={r.frame_hit:6.1%} "
            f"segment_recall={r.segment_recall:6.1%} false_segments/min={r.false_segments_per_min:5.1f} "
            f"gap_in_segments={r.gap_in_segments:6.1%} endpoint_ms={r.endpoint_ms:4.0f} "
            f"cpu_ms/s={r.cpu_ms_per_s:5.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snr", type=float, default=10.0, help="speech-to-noise ratio in dB (default 10)")
    ap.add_argument("--utterances", type=int, default=16, help="synthetic utterances per noise (default 16)")
    ap.add_argument("--noise-dir", type=Path, default=NOISE_DIR, help="folder of noise WAVs (searched recursively)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text lines")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = compare(args.snr, args.utterances, args.noise_dir,
                      progress=None if args.json else (lambda r: print(_line(r), flush=True)))
    summ = summary(results)
    if args.json:
        print(json.dumps({"snr_db": args.snr, "results": [asdict(r) for r in results], "summary": summ}))
    else:
        for engine, s in summ.items():
            print(f"mean {engine}: " + " ".join(f"{k}={v:.3g}" for k, v in s.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
