"""``homeagent bench``: the full pipeline (audio + video) on bundled replay media, idle and busy rooms.

Measures, on this machine, side by side:
- CPU core-seconds per second of input, per path (audio, video) and for the whole process;
- latency: end of speech detected → intent published (MQTT, real local broker); frame captured → gesture
  update done; and the endpointing delay (speech end → end detected, i.e. the VAD hangover) for reference;
- RSS over time and its growth (``--soak``), dropped frames;
- int8 vs float models: speech embedding and hand landmarks, speed ratio and accuracy difference.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..config.schema import AgentConfig, MqttConfig
from ..daemon.audio_path import Pipeline
from ..daemon.video_path import VideoPath
from ..mqtt.broker import LocalBroker
from ..mqtt.client import MqttClient
from ..sources.video_replay import ArrayVideoSource, FrameSequence
from ..sources.wav_replay import WavReplaySource
from ..types import VideoFrame
from ..vision.hands import landmark_models
from . import media
from .render import FileFrames, render_in_child
from .stats import RssSampler, percentiles, process_cpu_s, rss_mb

log = logging.getLogger(__name__)

FPS = 15.0
SOAK_LOOP_S = 30.0  # the soak loops this much busy-room media


RECOGNIZERS: dict[str, tuple[str, Literal["bundle", "whisper"] | None]] = {  # --recognizer: the speech path
    "default": ("home", None),          # the daemon's default (speech.recognizer)
    "head": ("home", "bundle"),         # the intent head on the speech embeddings
    "whisper": ("home", "whisper"),     # Whisper tiny.en decoding the home set's phrases
    "whisper-set": ("devices", "whisper"),  # Whisper decoding a sentence set with slots
}


def _components(landmarks: str, recognizer: str = "default") -> tuple[Any, Any, Any]:
    from ..config.schema import SpeechConfig
    from ..speech.load import daemon_choice, load_recognizer
    from ..vision import GestureTracker, HandTracker

    commands, choice = RECOGNIZERS[recognizer]
    model = landmark_models(landmarks)[0]
    rec = load_recognizer(commands, recognizer=choice or daemon_choice(commands, SpeechConfig().recognizer))
    return rec, HandTracker(threads=1, landmark_model=model), GestureTracker


def run_phase(name: str, audio: np.ndarray, frames: FrameSequence, realtime: bool, mqtt: MqttClient,
              recognizer: Any, hands: Any, gesture_cls: Any, cfg: AgentConfig | None = None) -> dict[str, Any]:
    cfg = cfg or AgentConfig(site_id="bench")
    pipe = Pipeline.from_config(cfg, WavReplaySource(pcm=audio, realtime=realtime), recognizer, mqtt)
    hands.reset()
    video = VideoPath(ArrayVideoSource(frames, FPS, realtime), hands, gesture_cls())
    seconds = len(audio) / 16000
    cpu0, t0 = process_cpu_s(), time.monotonic()
    pipe.start()
    video.start()
    pipe.wait_drained(seconds * (2 if realtime else 20) + 30)
    video.done.wait(seconds * (2 if realtime else 20) + 30)
    wall = time.monotonic() - t0
    cpu = process_cpu_s() - cpu0
    pipe.stop()
    video.stop()

    return {
        "phase": name, "input_s": round(seconds, 2), "wall_s": round(wall, 2),
        "cpu_core_s_per_s": {"audio": round(sum(pipe.thread_cpu_s.values()) / seconds, 4),
                             "video": round(sum(video.thread_cpu_s.values()) / seconds, 4),
                             "total": round(cpu / seconds, 4)},
        "speech_to_publish_ms": percentiles(pipe.stats.latencies_ms),
        "endpoint_ms": percentiles(pipe.stats.endpoint_ms),
        "frame_to_gesture_ms": percentiles(video.stats.latencies_ms),
        "intents": pipe.stats.intents, "segments": pipe.stats.segments,
        "video_frames": video.stats.frames, "video_processed": video.stats.processed,
        "video_skipped_still": video.stats.skipped_still, "gesture_events": video.stats.events,
        "dropped_frames": video.stats.dropped + pipe.stats.dropped_segments,
    }


def int8_vs_float(hands_int8: Any, frames: list[np.ndarray], float_landmarks: str = "") -> dict[str, Any]:
    """Speed ratio and accuracy difference of the int8 models against their float originals."""
    from ..demo.run import MEDIA
    from ..speech.frontend import SpeechFrontend
    from ..speech.load import load_bundle
    from ..vision import HandTracker
    from ..vision.hands import LANDMARK_MODEL_FLOAT

    script = json.loads((MEDIA / "demo.json").read_text())["utterances"]
    audio = media.read_wav_16k(MEDIA / "demo.wav")
    clips = [(audio[int(u["start"] * 16000) - 3200: int(u["end"] * 16000) + 3200], u["expect"]) for u in script]
    out: dict[str, Any] = {}
    times: dict[str, float] = {}
    for kind in ("int8", "float"):
        rec = load_bundle("home", frontend=SpeechFrontend(int8=kind == "int8"))
        t = time.perf_counter()
        correct = 0
        for _ in range(3):
            for pcm, expect in clips:
                correct += rec.decide(rec.recognize(pcm))[0] == expect
        times[f"speech_{kind}"] = time.perf_counter() - t
        out[f"speech_accuracy_{kind}"] = round(correct / (3 * len(clips)), 4)
    hands_float = HandTracker(threads=1, landmark_model=float_landmarks or LANDMARK_MODEL_FLOAT)
    errs = []
    for kind, tracker in (("int8", hands_int8), ("float", hands_float)):
        tracker.reset()
        t = time.perf_counter()
        res = [tracker.process(VideoFrame(f, 0.0, i)) for i, f in enumerate(frames)]
        times[f"landmarks_{kind}"] = time.perf_counter() - t
        out[f"hands_found_{kind}"] = sum(bool(r) for r in res)
        if kind == "int8":
            int8_res = res
    for a, b in zip(int8_res, res, strict=True):
        if a and b:
            size = float(np.ptp(b[0].landmarks, axis=0).max())
            errs.append(float(np.linalg.norm(a[0].landmarks - b[0].landmarks, axis=1).mean()) / max(size, 1.0))
    out["speech_speedup"] = round(times["speech_float"] / times["speech_int8"], 3)
    out["landmark_speedup"] = round(times["landmarks_float"] / times["landmarks_int8"], 3)
    out["landmark_mean_err_hand_size"] = round(float(np.mean(errs)), 5) if errs else None
    out["speech_accuracy_diff_points"] = round(100 * (out["speech_accuracy_float"] - out["speech_accuracy_int8"]), 2)
    out["int8_speedup"] = round((times["speech_float"] + times["landmarks_float"])
                                / (times["speech_int8"] + times["landmarks_int8"]), 3)
    return out


def run_bench(seconds: float = 10.0, realtime: bool = True, soak_minutes: float = 0.0,
              mqtt_host: str | None = None, mqtt_port: int = 1883, landmarks: str | None = None,
              vad: str | None = None, recognizer: str = "default") -> dict[str, Any]:
    """``landmarks`` / ``vad``: as config ``vision.landmarks`` / ``vad.engine``; None = the config default.
    ``recognizer``: a key of :data:`RECOGNIZERS`.

    ``rss_mb`` is the pipeline's: sampled while the idle, busy (and soak) phases run, with the video frames
    rendered by a child process and read back one at a time (:mod:`.render`). The int8-vs-float comparison
    loads the float twins only after that window; ``rss_mb_bench_end`` is the whole bench process after it."""
    cfg = AgentConfig.model_validate({"site_id": "bench", **({"vad": {"engine": vad}} if vad else {}),
                                      **({"vision": {"landmarks": landmarks}} if landmarks else {})})
    landmarks = cfg.vision.landmarks
    with tempfile.TemporaryDirectory(prefix="homeagent-bench-") as tmp:
        busy_s = max(seconds, SOAK_LOOP_S) if soak_minutes > 0 else seconds
        files = render_in_child(Path(tmp), {"idle": seconds, "busy": busy_s}, FPS)
        idle_frames, busy_frames = (FileFrames(files[k], int(seconds * FPS)) for k in ("idle", "busy"))
        try:
            result = _run_bench(cfg, seconds, realtime, soak_minutes, mqtt_host, mqtt_port, idle_frames, busy_frames,
                                recognizer)
            result["recognizer"] = recognizer
            return result
        finally:
            idle_frames.close()
            busy_frames.close()


def _run_bench(cfg: AgentConfig, seconds: float, realtime: bool, soak_minutes: float, mqtt_host: str | None,
               mqtt_port: int, idle_frames: FileFrames, busy_frames: FileFrames,
               recognizer_name: str = "default") -> dict[str, Any]:
    landmarks = cfg.vision.landmarks
    recognizer, hands, gesture_cls = _components(landmarks, recognizer_name)
    broker = None if mqtt_host else LocalBroker().start()
    host, port = (mqtt_host, mqtt_port) if mqtt_host else (broker.host, broker.port)  # type: ignore[union-attr]
    mqtt = MqttClient(MqttConfig(host=host, port=port), "bench")
    mqtt.start()
    mqtt.wait_connected(10)
    try:
        with RssSampler(1.0) as rss:
            idle = run_phase("idle", media.idle_audio(seconds), idle_frames, realtime, mqtt,
                             recognizer, hands, gesture_cls, cfg)
            busy = run_phase("busy", media.busy_audio(seconds), busy_frames, realtime, mqtt, recognizer, hands,
                             gesture_cls, cfg)
            soak = None
            if soak_minutes > 0:
                soak_frames = FileFrames(busy_frames.path, int(SOAK_LOOP_S * FPS))
                try:
                    soak = run_soak(soak_minutes, realtime, mqtt, recognizer, hands, gesture_cls, cfg=cfg,
                                    frames=soak_frames)
                finally:
                    soak_frames.close()
        models = int8_vs_float(hands, [busy_frames[i] for i in range(min(len(busy_frames), int(FPS * 4)))],
                               landmark_models(landmarks)[1])
    finally:
        mqtt.stop()
        if broker is not None:
            broker.stop()
    rss_values = [v for _, v in rss.samples]
    result: dict[str, Any] = {
        "seconds": seconds, "realtime": realtime, "landmarks": landmarks, "vad": cfg.vad.engine,
        "cpu_core_s_per_s": {"idle": idle["cpu_core_s_per_s"]["total"], "busy": busy["cpu_core_s_per_s"]["total"],
                             "idle_by_path": idle["cpu_core_s_per_s"], "busy_by_path": busy["cpu_core_s_per_s"]},
        "speech_to_publish_ms": busy["speech_to_publish_ms"],
        "endpoint_ms": busy["endpoint_ms"],
        "frame_to_gesture_ms": busy["frame_to_gesture_ms"],
        "rss_mb": round(max(rss_values), 1) if rss_values else round(rss_mb(), 1),
        "rss_mb_series": [round(v, 1) for v in rss_values[:: max(1, len(rss_values) // 20)]],
        "rss_mb_bench_end": round(rss_mb(), 1),
        "dropped_frames": idle["dropped_frames"] + busy["dropped_frames"],
        "int8_speedup": models["int8_speedup"],
        "int8_vs_float": models,
        "phases": [idle, busy],
    }
    if soak is not None:
        result["soak"] = soak
    return result


def run_soak(minutes: float, realtime: bool, mqtt: MqttClient, recognizer: Any, hands: Any,
             gesture_cls: Any, sample_s: float = 30.0, cfg: AgentConfig | None = None,
             frames: FrameSequence | None = None, poll_s: float = 1.0) -> dict[str, Any]:
    """One long-lived pipeline and video path, as in the daemon, on looping busy-room media for ``minutes``
    (``frames``: the busy room's, :data:`SOAK_LOOP_S` of them; None = rendered in this process).

    RSS is read every ``poll_s`` and reported per ``sample_s`` window: its maximum (``rss_mb``, what the
    growth figures use) and minimum (``rss_mb_min``, the floor right after a trim). One reading per window
    measured the phase of the 10 s trim cycle instead of the heap: the two clocks drift slowly against each
    other, so single samples sat at the high or the low end of the ~10 MB trim swing for minutes at a time.
    Growth is measured from the end of the first minute (warm-up: allocator pools, ORT arenas) to the end.
    """
    cfg = cfg or AgentConfig(site_id="bench")
    pipe = Pipeline.from_config(cfg, WavReplaySource(pcm=media.busy_audio(SOAK_LOOP_S), realtime=realtime, loop=True),
                    recognizer, mqtt)
    hands.reset()
    frames = frames if frames is not None else media.busy_frames(SOAK_LOOP_S, FPS)
    video = VideoPath(ArrayVideoSource(frames, FPS, realtime, loop=True), hands, gesture_cls())
    readings: list[tuple[float, float]] = []
    t0 = time.monotonic()
    pipe.start()
    video.start()
    try:
        while (elapsed := time.monotonic() - t0) < minutes * 60:
            readings.append((elapsed, rss_mb()))
            time.sleep(min(poll_s, max(0.0, minutes * 60 - elapsed)))
    finally:
        pipe.stop()
        video.stop()
    windows = soak_windows(readings, sample_s)
    peaks = [(t, hi) for t, hi, _ in windows]
    base, end = soak_window_medians(peaks, minutes)
    point_base = next((v for t, v in peaks if t >= 60.0), peaks[0][1])
    return {"minutes": minutes, "sample_s": sample_s, "rss_mb": [round(v, 1) for _, v in peaks],
            "rss_mb_min": [round(lo, 1) for _, _, lo in windows], "base_mb": round(base, 1),
            "end_mb": round(end, 1), "growth_pct": round(soak_trend_pct(peaks), 2),
            "growth_pct_floor": round(soak_trend_pct([(t, lo) for t, _, lo in windows]), 2),
            "growth_pct_windows": round(100 * (end - base) / base, 2),
            "growth_pct_point": round(100 * (peaks[-1][1] - point_base) / point_base, 2),
            "intents": pipe.stats.intents, "video_frames": video.stats.frames,
            "dropped_frames": video.stats.dropped + pipe.stats.dropped_segments}


def soak_windows(readings: list[tuple[float, float]], sample_s: float) -> list[tuple[float, float, float]]:
    """(end time, max, min) of the readings in each ``sample_s`` window ``(k·s, (k+1)·s]`` (the first also
    takes t = 0; a window's time is its last reading's)."""
    groups: dict[int, list[tuple[float, float]]] = {}
    for t, v in readings:
        groups.setdefault(max(0, math.ceil(t / sample_s) - 1), []).append((t, v))
    return [(g[-1][0], max(v for _, v in g), min(v for _, v in g)) for _, g in sorted(groups.items())]


def soak_trend_pct(samples: list[tuple[float, float]], warm_up_s: float = 60.0) -> float:
    """Growth over the soak (percent) read from the least-squares line through every RSS sample after the
    warm-up: the line's rise from first to last sample over its starting value. A leak is a steady rise and
    shows up here in full; the heap's level switches (measured: RSS sat at ~175 MB or ~200 MB for minutes at a
    time, with no trend over the hour) move it far less than they move two windowed medians, which can land
    one in each level."""
    pts = [(t, v) for t, v in samples if t >= warm_up_s] or samples
    if len(pts) < 2:
        return 0.0
    t = np.array([p[0] for p in pts])
    v = np.array([p[1] for p in pts])
    slope, intercept = np.polyfit(t, v, 1)
    start = intercept + slope * t[0]
    return float(100 * slope * (t[-1] - t[0]) / start)


def soak_window_medians(samples: list[tuple[float, float]], minutes: float) -> tuple[float, float]:
    """Median RSS of the first window after the one-minute warm-up and of the last window (window: a sixth of
    the soak, at most 10 minutes). Single samples swing by ±10 MB as freed heap is handed back every 10 s, so
    comparing two single samples measures that swing, not growth."""
    window = min(600.0, minutes * 60 / 6)
    t_end = samples[-1][0]
    first = [v for t, v in samples if 60.0 <= t <= 60.0 + window] or [samples[0][1]]
    last = [v for t, v in samples if t >= t_end - window] or [samples[-1][1]]
    return float(np.median(first)), float(np.median(last))


def format_table(r: dict[str, Any]) -> str:
    c = r["cpu_core_s_per_s"]
    m = r["int8_vs_float"]
    rows = [
        ("CPU core-s/s idle (audio / video / total)",
         f"{c['idle_by_path']['audio']:.4f} / {c['idle_by_path']['video']:.4f} / {c['idle']:.4f}"),
        ("CPU core-s/s busy (audio / video / total)",
         f"{c['busy_by_path']['audio']:.4f} / {c['busy_by_path']['video']:.4f} / {c['busy']:.4f}"),
        ("end of speech detected → published ms (p50/p95/p99)", _p(r["speech_to_publish_ms"])),
        ("speech end → end detected (VAD hangover) ms", _p(r["endpoint_ms"])),
        ("frame → gesture ms (p50/p95/p99)", _p(r["frame_to_gesture_ms"])),
        ("RSS MB (max, pipeline phases / bench process at the end)",
         f"{r['rss_mb']} / {r.get('rss_mb_bench_end')}"),
        ("dropped frames", f"{r['dropped_frames']}"),
        ("int8 speed-up (speech / landmarks / both)",
         f"{m['speech_speedup']} / {m['landmark_speedup']} / {m['int8_speedup']}"),
        ("speech accuracy int8 / float (demo)", f"{m['speech_accuracy_int8']} / {m['speech_accuracy_float']}"),
        ("landmark int8-vs-float mean error (hand size)", f"{m['landmark_mean_err_hand_size']}"),
    ]
    if "soak" in r:
        soak = r["soak"]
        rows.append(("soak RSS growth % (trend of window maxima / of minima / windows / point)",
                     f"{soak['growth_pct']} / {soak.get('growth_pct_floor')} / {soak.get('growth_pct_windows')}"
                     f" / {soak.get('growth_pct_point')}"))
    w = max(len(a) for a, _ in rows)
    return "\n".join(f"{a:<{w}}  {b}" for a, b in rows)


def _p(d: dict[str, float]) -> str:
    return " / ".join(f"{d[k]}" for k in ("p50", "p95", "p99"))


def write_json(r: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(r, indent=1) + "\n")
