"""``homeagent bench``: the daemon on bundled replay media, an idle room and a busy one, as users run it.

What runs is the agent itself (:mod:`.phase`): the audio path with the configured recognizer (``--recognizer``),
the video path on a camera delivering MJPEG at ``--fps`` (each frame decoded on the capture thread), the
fusion ticker, actions published to a real local broker and received there by a subscriber. The idle room has
no hand but real motion (someone walks past every 8 s, the lights drift and a lamp switches); in the busy room
commands are spoken and a hand comes and goes (2 s in view, 1 s away), so the palm detector runs.

Measures, on this machine, side by side:
- CPU core-seconds per second of input, per path (audio, video with decoding, fusion) and for the process;
- latency: the true end of speech → the device action received (``speech_end_to_action_ms``; with no hand in
  view, the commands replayed in the idle room: ``speech_end_to_action_no_hand_ms``); end of speech
  detected → intent published; frame captured → gesture update done; the VAD hangover;
- RSS over time and its growth (``--soak``), dropped frames;
- int8 vs float models, interleaved and warm (:mod:`.int8`): speech embedding and hand landmarks.
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

from ..config.schema import AgentConfig
from ..daemon.audio_path import Pipeline
from ..daemon.video_path import VideoPath
from ..mqtt.broker import LocalBroker
from ..mqtt.client import MqttClient
from ..sources.video_replay import ArrayVideoSource, FrameSequence
from ..sources.wav_replay import WavReplaySource
from ..vision.hands import landmark_models
from . import media
from .int8 import int8_vs_float
from .phase import phase_config, run_phase
from .render import MjpegFrames, render_in_child
from .stats import RssSampler, rss_mb

log = logging.getLogger(__name__)

FPS = 15.0
SOAK_LOOP_S = 30.0  # the soak loops this much busy-room media
INT8_FRAMES_S = 4.0  # busy-room seconds the int8-vs-float comparison runs on


RECOGNIZERS: dict[str, tuple[str, Literal["bundle", "whisper"] | None]] = {  # --recognizer: the speech path
    "default": ("home", None),          # the daemon's default (speech.recognizer)
    "head": ("home", "bundle"),         # the intent head on the speech embeddings
    "whisper": ("home", "whisper"),     # Whisper tiny.en decoding the home set's phrases
    "whisper-set": ("devices", "whisper"),  # Whisper decoding a sentence set with slots
}
# the recording the "talk" phase replays (commands with no hand in view), per command set: the demo's commands
# are the home set's; the devices set's intents (turn_on, set_temperature, ...) have their own recording
TALK_MEDIA = {"home": "demo", "devices": "devices"}
# the devices set's intents as zigbee2mqtt devices (the built-in map hands them to Home Assistant's REST API,
# which no subscriber on the broker sees): the bench's action map is the built-in one plus these
DEVICE_ACTIONS = """
  - intent: turn_on
    zigbee2mqtt: {device: "{site_id}_{device}", payload: {state: "ON"}}
  - intent: turn_off
    zigbee2mqtt: {device: "{site_id}_{device}", payload: {state: "OFF"}}
  - intent: set_temperature
    zigbee2mqtt: {device: "{site_id}_thermostat", payload: {occupied_heating_setpoint: "{temperature}"}}
"""


def _recognizer(recognizer: str = "default") -> Any:
    from ..config.schema import SpeechConfig
    from ..speech.load import daemon_choice, load_recognizer

    commands, choice = RECOGNIZERS[recognizer]
    return load_recognizer(commands, recognizer=choice or daemon_choice(commands, SpeechConfig().recognizer))


def run_bench(seconds: float = 10.0, realtime: bool = True, soak_minutes: float = 0.0,
              mqtt_host: str | None = None, mqtt_port: int = 1883, landmarks: str | None = None,
              vad: str | None = None, recognizer: str = "default", fps: float = FPS) -> dict[str, Any]:
    """``landmarks`` / ``vad``: as config ``vision.landmarks`` / ``vad.engine``; None = the config default.
    ``recognizer``: a key of :data:`RECOGNIZERS`; ``fps``: the camera's frame rate.

    ``rss_mb`` is the pipeline's: sampled while the idle, busy (and soak) phases run, with the video frames
    rendered by a child process and decoded one at a time (:mod:`.render`). The int8-vs-float comparison
    loads its models only after that window; ``rss_mb_bench_end`` is the whole bench process after it."""
    commands = RECOGNIZERS[recognizer][0]
    cfg = AgentConfig.model_validate({"site_id": "bench", "speech": {"commands": commands},
                                      **({"vad": {"engine": vad}} if vad else {}),
                                      **({"vision": {"landmarks": landmarks}} if landmarks else {})})
    with tempfile.TemporaryDirectory(prefix="homeagent-bench-") as tmp:
        busy_s = max(seconds, SOAK_LOOP_S) if soak_minutes > 0 else seconds
        files = render_in_child(Path(tmp), {"idle": seconds, "busy": busy_s}, fps)
        idle_frames, busy_frames = (MjpegFrames(files[k], int(seconds * fps)) for k in ("idle", "busy"))
        try:
            result = _run_bench(cfg, seconds, realtime, soak_minutes, mqtt_host, mqtt_port, idle_frames, busy_frames,
                                recognizer, fps, Path(tmp))
            result["recognizer"] = recognizer
            return result
        finally:
            idle_frames.close()
            busy_frames.close()


def _run_bench(cfg: AgentConfig, seconds: float, realtime: bool, soak_minutes: float, mqtt_host: str | None,
               mqtt_port: int, idle_frames: MjpegFrames, busy_frames: MjpegFrames, recognizer_name: str,
               fps: float, tmp: Path) -> dict[str, Any]:
    from ..vision import HandTracker

    landmarks = cfg.vision.landmarks
    recognizer = _recognizer(recognizer_name)
    broker = None if mqtt_host else LocalBroker().start()
    host, port = (mqtt_host, mqtt_port) if mqtt_host else (broker.host, broker.port)  # type: ignore[union-attr]
    run_cfg = phase_config(cfg, host, port, tmp / "state").model_copy(update={"actions": _actions(tmp)})
    try:
        with RssSampler(1.0) as rss:
            idle = run_phase("idle", media.idle_audio(seconds), idle_frames, fps, realtime, run_cfg, recognizer)
            busy = run_phase("busy", media.busy_room_audio(seconds), busy_frames, fps, realtime, run_cfg, recognizer,
                             media.speech_ends(seconds))
            # the same commands said in the idle room (someone walks past, no hand in view): what users run most
            said = (seconds, TALK_MEDIA.get(cfg.speech.commands, "demo"), media.TALK_SLOT_S)
            talk = run_phase("talk", media.busy_room_audio(*said), idle_frames, fps, realtime, run_cfg, recognizer,
                             media.speech_ends(*said))
            soak = None
            if soak_minutes > 0:
                soak = _soak(soak_minutes, realtime, run_cfg, recognizer, busy_frames.path, fps)
        hands = HandTracker(threads=1, landmark_model=landmark_models(landmarks)[0])
        models = int8_vs_float(hands, _int8_frames(busy_frames, fps), landmark_models(landmarks)[1])
    finally:
        if broker is not None:
            broker.stop()
    result = _result(cfg, seconds, realtime, fps, idle, busy, soak, models, [v for _, v in rss.samples])
    result["speech_end_to_action_no_hand_ms"] = talk["speech_end_to_action_ms"]
    result["phases"].append(talk)
    return result


def _actions(tmp: Path) -> Path:
    """The bench's action map: the built-in one and :data:`DEVICE_ACTIONS`."""
    from ..intents.actions import DEFAULT_ACTIONS

    path = tmp / "actions.yaml"
    path.write_text(DEFAULT_ACTIONS.read_text(encoding="utf-8").rstrip("\n") + "\n" + DEVICE_ACTIONS.lstrip("\n"))
    return path


def _int8_frames(frames: MjpegFrames, fps: float) -> list[np.ndarray]:
    """``INT8_FRAMES_S`` of the busy room, from a second before the hand first comes into view."""
    first = next((i for i in range(len(frames)) if media.hand_in_view(i / fps)), 0)
    start = max(0, min(first - int(fps), len(frames) - int(fps * INT8_FRAMES_S)))
    return [frames[i] for i in range(start, min(len(frames), start + int(fps * INT8_FRAMES_S)))]


def _soak(minutes: float, realtime: bool, cfg: AgentConfig, recognizer: Any, path: Path,
          fps: float) -> dict[str, Any]:
    from ..vision import GestureTracker, HandTracker

    mqtt = MqttClient(cfg.mqtt, "bench")
    mqtt.start()
    mqtt.wait_connected(10)
    frames = MjpegFrames(path, int(SOAK_LOOP_S * fps))
    try:
        hands = HandTracker(threads=1, landmark_model=landmark_models(cfg.vision.landmarks)[0])
        return run_soak(minutes, realtime, mqtt, recognizer, hands, GestureTracker, cfg=cfg, frames=frames, fps=fps)
    finally:
        frames.close()
        mqtt.stop()


def _result(cfg: AgentConfig, seconds: float, realtime: bool, fps: float, idle: dict[str, Any],
            busy: dict[str, Any], soak: dict[str, Any] | None, models: dict[str, Any],
            rss_values: list[float]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "seconds": seconds, "realtime": realtime, "fps": fps, "camera": "mjpeg 640x480",
        "landmarks": cfg.vision.landmarks, "vad": cfg.vad.engine,
        "cpu_core_s_per_s": {"idle": idle["cpu_core_s_per_s"]["total"], "busy": busy["cpu_core_s_per_s"]["total"],
                             "idle_by_path": idle["cpu_core_s_per_s"], "busy_by_path": busy["cpu_core_s_per_s"]},
        "speech_end_to_action_ms": busy["speech_end_to_action_ms"],
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
             frames: FrameSequence | None = None, poll_s: float = 1.0, fps: float = FPS) -> dict[str, Any]:
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
    frames = frames if frames is not None else media.busy_room_frames(SOAK_LOOP_S, fps)
    video = VideoPath(ArrayVideoSource(frames, fps, realtime, loop=True), hands, gesture_cls())
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
    idle, busy = r["phases"][:2]  # then "talk"
    rows = [
        ("camera", f"{r.get('camera')} at {r.get('fps')} fps; recognizer {r.get('recognizer')}"),
        ("CPU core-s/s idle (audio / video / fusion / total)", _cpu(c["idle_by_path"])),
        ("CPU core-s/s busy (audio / video / fusion / total)", _cpu(c["busy_by_path"])),
        ("palm detections idle / busy (frames)",
         f"{idle.get('palm_detections')} / {busy.get('palm_detections')} ({idle['video_frames']} / "
         f"{busy['video_frames']})"),
        ("  of which zoomed, for small hands, idle / busy",
         f"{idle.get('zoom_detections')} / {busy.get('zoom_detections')}"),
        ("true end of speech → device action ms (p50/p95/p99)", _p(r["speech_end_to_action_ms"])),
        ("  the same, no hand in view (p50/p95/p99)", _p(r["speech_end_to_action_no_hand_ms"])
         if "speech_end_to_action_no_hand_ms" in r else "-"),
        ("end of speech detected → published ms (p50/p95/p99)", _p(r["speech_to_publish_ms"])),
        ("speech end → end detected (VAD hangover) ms", _p(r["endpoint_ms"])),
        ("frame → gesture ms (p50/p95/p99)", _p(r["frame_to_gesture_ms"])),
        ("RSS MB (max, pipeline phases / bench process at the end)",
         f"{r['rss_mb']} / {r.get('rss_mb_bench_end')}"),
        ("dropped frames", f"{r['dropped_frames']}"),
        ("int8 speed-up, interleaved (speech / landmarks / both)",
         f"{m['speech_speedup']} / {m['landmark_speedup']} / {m['int8_speedup']}"),
        ("int8 speed-up on landmark tracking / detection frames",
         f"{m.get('landmark_speedup_tracking')} / {m.get('landmark_speedup_detection')}"),
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


def _cpu(d: dict[str, float]) -> str:
    return " / ".join(f"{d.get(k, float('nan')):.4f}" for k in ("audio", "video", "fusion", "total"))


def _p(d: dict[str, float]) -> str:
    return " / ".join(f"{d[k]}" for k in ("p50", "p95", "p99"))


def write_json(r: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(r, indent=1) + "\n")
