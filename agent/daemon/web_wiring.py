"""The daemon's side of the local page: what it shows (status of every stage), where its decisions and camera
frames come from, and how saved zones reach the running agent. The web room imports nothing of the daemon:
this module hands it plain callables and registers its observers on fusion, the voice path and the video path.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from ..config.fusion import Zone
from ..config.schema import CameraSource as CameraCfg
from ..config.schema import MicSource, ReplayVideoSource, WavSource
from ..web import CameraView, DecisionLog, WebDeps, WebServer
from ..web.auth import load_token
from ..web.process import CpuMeter, rss_mb
from ..web.sentences import SentenceTester

log = logging.getLogger(__name__)

STALE_S = 10.0  # a stage whose loop made no progress for this long is shown as stalled


def _stage(beats: dict[str, float], name: str, now: float) -> str:
    t = beats.get(name)
    if t is None:
        return "not started"
    return "running" if now - t <= STALE_S else f"stalled ({now - t:.0f} s without progress)"


def _audio(agent: Any, now: float) -> dict[str, Any]:
    a, p = agent.cfg.audio, agent.pipeline
    kind = ("microphone" if isinstance(a, MicSource) else "wav replay" if isinstance(a, WavSource) else
            type(p.audio).__name__)  # a source handed to the agent directly (tests, benchmarks)
    state = ("failed: " + p.failure if p.failure else "muted" if p.muted.is_set() else
             "finished" if p.audio_done.is_set() else _stage(p.heartbeats, "audio", now))
    s = p.stats
    return {"source": kind, "state": state, "recognition": _stage(p.heartbeats, "recognizer", now),
            "utterances": s.segments, "intents": s.intents, "rejected": s.rejected, "errors": s.errors}


def _video(agent: Any, now: float) -> dict[str, Any] | None:
    v, path = agent.cfg.video, agent.video
    if path is None:
        return None
    kind = ("camera" if isinstance(v, CameraCfg) else "replay" if isinstance(v, ReplayVideoSource) else
            type(path.source).__name__)
    state = ("failed: " + path.failure if path.failure else "off (privacy)" if path.paused.is_set() else
             "finished" if path.done.is_set() else _stage(path.heartbeats, "video", now))
    s = path.stats
    return {"source": kind, "state": state, "frames": s.frames, "processed": s.processed, "dropped": s.dropped,
            "gestures": s.events}


def agent_status(agent: Any, cpu: CpuMeter, started: float) -> dict[str, Any]:
    """Everything the status view shows, as JSON-ready values."""
    now = time.monotonic()
    cfg, held = agent.cfg, agent.models.held()
    rec = held.value
    ota = None
    if agent.ota is not None:
        ota = {"state": agent.ota.state.value, **json.loads(agent.ota.ha_state())}
    fusion = None
    if agent.fusion is not None:
        fusion = {"state": _stage(agent.fusion.heartbeats, "fusion", now), **agent.fusion.counts,
                  "zones": len(cfg.fusion.zones)}
    return {
        "site_id": cfg.site_id, "uptime_s": round(now - started, 1),
        "audio": _audio(agent, now), "video": _video(agent, now), "fusion": fusion,
        "broker": {"host": cfg.mqtt.host, "port": cfg.mqtt.port, "connected": agent.mqtt.connected.is_set(),
                   "outbox": agent.mqtt.outbox_len},
        "speech": {"commands": cfg.speech.commands, "recognizer": cfg.speech.recognizer, "model": held.label,
                   "model_name": str(getattr(rec, "name", "") or ""), "model_version": getattr(rec, "version", None),
                   "generation": held.generation},
        "ota": ota,
        "process": {"cpu_percent": cpu.percent(), "rss_mb": round(rss_mb(), 1)},
    }


class AgentPage:
    """The page of one agent: built with the agent (a bad token file refuses the start), served from ``start``."""

    def __init__(self, agent: Any, config_path: Path | None) -> None:
        cfg = agent.cfg
        token = load_token(cfg.web)
        self.agent = agent
        self.decisions = DecisionLog()
        self.camera = CameraView(agent.privacy, self._polygons) if agent.video is not None else None
        cpu, started = CpuMeter(), time.monotonic()
        deps = WebDeps(status=lambda: agent_status(agent, cpu, started), decisions=self.decisions,
                       sentences=SentenceTester(cfg.speech.commands), zones=lambda: dict(agent.cfg.fusion.zones),
                       apply_zones=agent.set_zones, config_path=config_path, camera=self.camera,
                       privacy=agent.privacy, devices=self._devices)
        self.server: WebServer | None = WebServer(cfg.web, deps, token)
        agent.on_acted.append(self.decisions.acted)
        if agent.fusion is not None:
            agent.fusion.on_note.append(self.decisions.note)
        agent.pipeline.on_reject.append(lambda seg, scores: self.decisions.rejected(scores))
        if agent.video is not None and self.camera is not None:
            agent.video.on_frame.append(self.camera.on_frame)
            agent.video.on_hands.append(self.camera.on_hands)

    def _polygons(self) -> dict[str, list[tuple[float, float]]]:
        return {n: z.polygon for n, z in self.agent.cfg.fusion.zones.items()}

    def _devices(self) -> list[str]:
        zones: dict[str, Zone] = self.agent.cfg.fusion.zones
        return sorted({z.device for z in zones.values()} | set(self.agent.device_states.names()))

    def start(self) -> None:
        if self.server is None:
            return
        try:
            self.server.start()
        except OSError as exc:  # the page is a window on the agent: without it, the agent still works
            log.error("web page: cannot listen on %s (%s); the agent runs without its page",
                      self.agent.cfg.web.listen, exc.strerror or exc)
            self.server = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
