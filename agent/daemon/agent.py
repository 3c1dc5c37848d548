"""Building the running agent from a config, and its lifecycle.

Wiring (one direction, bounded queues inside the stages):

    audio source → Pipeline (VAD → recognizer) ─┐
                                                ├→ FusionRunner → intents → [Arbiter] → publish + ActionExecutor
    video source → VideoPath (hands → gestures) ┘                                    (MQTT: HA, zigbee2mqtt, Hermes)

Side paths: PrivacyController (mute / camera off, persisted), HomeAssistantBridge (discovery, commands,
sensors, update entity), UpdateManager (signed OTA → hot-swap of the speech model), systemd notify/watchdog.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from .. import strictjson
from ..config.fusion import Zone
from ..config.loader import read_secret
from ..config.schema import AgentConfig, HomeAssistantConfig, MicSource, ReplayVideoSource, WavSource
from ..config.schema import CameraSource as CameraCfg
from ..errors import ConfigError
from ..fusion import FusionEngine
from ..intents.actions import ActionExecutor, ActionMap, DeviceStates
from ..intents.hass import HassIntents, HttpTransport
from ..intents.publisher import IntentPublisher
from ..mqtt.arbitration import Arbiter
from ..mqtt.client import MqttClient
from ..mqtt.ha import HomeAssistantBridge
from ..mqtt.reliable import ReliablePublisher
from ..privacy import PrivacyController, PrivacyStore
from ..runtime.hotswap import HotSwap
from ..sources.base import Source
from ..sources.camera import CameraSource
from ..sources.microphone import MicrophoneSource
from ..sources.video_replay import ArrayVideoSource, VideoReplaySource
from ..sources.wav_replay import WavReplaySource
from ..types import AudioFrame, Intent, VideoFrame
from .audio_path import Pipeline, Recognizer
from .fusion_runner import FusionRunner
from .systemd import Notifier, Watchdog, watchdog_interval
from .video_path import VideoPath
from .web_wiring import AgentPage

log = logging.getLogger(__name__)

MAX_DEVICE_STATE_BYTES = 64 * 1024


def build_audio_source(cfg: AgentConfig) -> Source[AudioFrame]:
    audio = cfg.audio
    if isinstance(audio, MicSource):
        return MicrophoneSource(audio.device, audio.block_ms)
    if isinstance(audio, WavSource):
        return WavReplaySource(audio.paths, block_ms=audio.block_ms, realtime=audio.realtime, loop=audio.loop)
    raise ConfigError("audio: no audio source configured; set audio.type to microphone or wav")


def build_video_source(cfg: AgentConfig) -> Source[VideoFrame] | None:
    v = cfg.video
    if isinstance(v, CameraCfg):
        return CameraSource(v.device, v.width, v.height, v.max_fps, v.stale_after_s)
    if isinstance(v, ReplayVideoSource):
        return VideoReplaySource(v.path, v.fps, v.realtime, v.loop)
    return None


def build_recognizer(cfg: AgentConfig, bundle: str | Path | None = None) -> Recognizer:
    from ..speech.load import daemon_choice, load_recognizer

    choice = daemon_choice(cfg.speech.commands, cfg.speech.recognizer)
    return load_recognizer(cfg.speech.commands, recognizer=choice, int8=cfg.speech.int8,
                           threshold=cfg.speech.threshold, bundle=bundle)


def build_video_path(cfg: AgentConfig, source: Source[VideoFrame]) -> VideoPath:
    from ..vision import GestureTracker, HandTracker
    from ..vision.hands import landmark_models

    zones = {name: z.polygon for name, z in cfg.fusion.zones.items()}
    landmarks = landmark_models(cfg.vision.landmarks)[0]
    hands = HandTracker(threads=1, landmark_model=landmarks, zoom=cfg.vision.small_hands)
    path = VideoPath(source, hands, GestureTracker(zones=zones))
    path.retry_limit_s = cfg.source_retry_s
    return path


def event_types(cfg: AgentConfig, recognizer: Recognizer) -> tuple[list[str], list[str]]:
    """Every intent the agent can publish (the recognizer's, those a gesture means on its own, the pointing
    ones, the wake and confirm words) and every gesture it can report: Home Assistant's event entities refuse
    any other event type."""
    from ..vision import LABELS
    from ..vision.dynamic import MOTIONS

    f = cfg.fusion
    intents = [lab for lab in getattr(recognizer, "labels", ()) if lab != "unknown"]
    intents += list(f.gesture_intents.values()) + [d.intent for d in f.deictic.values()]
    gestures = [g for g in LABELS if g != "none"] + list(MOTIONS)
    return sorted(set(intents)), sorted(set(gestures))


def build_hass(cfg: HomeAssistantConfig) -> HassIntents | None:
    """Home Assistant's intent handling for the action map's ``hass`` rules; None without ``home_assistant.url``."""
    if cfg.url is None:
        return None
    token = read_secret(cfg.token_file, cfg.token_env, "home_assistant.token_file", "home_assistant.token_env")
    if not token:
        raise ConfigError("home_assistant: the access token is empty (token_file / token_env)")
    return HassIntents(HttpTransport(cfg.url, token, cfg.timeout_s))


def describe_sources(cfg: AgentConfig) -> str:
    """One line naming what the daemon listens to, sees, talks to and understands (logged at start)."""
    a, v, m = cfg.audio, cfg.video, cfg.mqtt
    if isinstance(a, MicSource):
        audio = f"microphone {a.device if a.device is not None else '(default)'}"
    elif isinstance(a, WavSource):
        audio = f"wav {', '.join(str(p) for p in a.paths)}{' (loop)' if a.loop else ''}"
    else:
        audio = "none"
    if isinstance(v, CameraCfg):
        video = f"camera {v.device} {v.width}x{v.height}"
    elif isinstance(v, ReplayVideoSource):
        video = f"replay {v.path} at {v.fps:g} fps{' (loop)' if v.loop else ''}"
    else:
        video = "none"
    return (f"audio {audio}; video {video}; broker {m.host}:{m.port}; commands {cfg.speech.commands} "
            f"(recognizer {cfg.speech.recognizer})")


class Agent:
    """The daemon: MQTT, the audio and video paths, fusion, actions, privacy, Home Assistant, OTA."""

    def __init__(self, cfg: AgentConfig, *, audio: Source[AudioFrame] | None = None,
                 video: Source[VideoFrame] | None = None, recognizer: Recognizer | None = None,
                 mqtt: MqttClient | None = None, config_path: str | Path | None = None) -> None:
        self.cfg = cfg
        self.on_acted: list[Callable[[Intent], None]] = []  # observers of every intent acted on (the page)
        self.mqtt = mqtt or MqttClient(cfg.mqtt, cfg.site_id)
        self.models: HotSwap[Recognizer] = HotSwap(recognizer or build_recognizer(cfg), label=cfg.speech.commands)
        action_map = ActionMap.load(cfg.actions)
        self.device_states = DeviceStates()
        self.hass = build_hass(cfg.home_assistant)
        self.actions = ActionExecutor(action_map, self.mqtt, states=self.device_states, hass=self.hass)
        for base in sorted({r.zigbee2mqtt.base_topic for r in action_map.cfg.actions
                            if r.zigbee2mqtt is not None and r.zigbee2mqtt.step is not None}):
            self.mqtt.subscribe(f"{base}/+", self._on_device_state)  # the states stepped actions start from
        video_source = video if video is not None else build_video_source(cfg)
        self.video = build_video_path(cfg, video_source) if video_source is not None else None
        self.fusion: FusionRunner | None = None
        if cfg.fusion.enabled and self.video is not None:
            engine = FusionEngine(cfg.fusion, site_id=cfg.site_id, wall_offset=time.time() - time.monotonic())
            self.fusion = FusionRunner(engine)
            self.fusion.report_to(self.mqtt, cfg.mqtt.topic_prefix, cfg.site_id)  # abstain/confirm reports
        self.reliable: ReliablePublisher | None = None
        if cfg.mqtt.intent_acks:  # resent until the executor acknowledges it, or stale
            self.reliable = ReliablePublisher(self.mqtt, cfg.mqtt.topic_prefix, cfg.site_id)
        self.intents = IntentPublisher(self.mqtt, cfg.mqtt.topic_prefix, hermes=cfg.mqtt.hermes,
                                       send=self.reliable.send if self.reliable is not None else None)
        self.pipeline = Pipeline.from_config(cfg, audio or build_audio_source(cfg), self.models, self.intents,
                                             fusion=self.fusion)
        self.privacy = PrivacyController(PrivacyStore(cfg.state_dir), camera=video_source,
                                         microphone=self.pipeline.audio, muted=self.pipeline.muted,
                                         camera_off=self.video.paused if self.video is not None else None)
        self.ota = self._build_ota()
        self.bridge: HomeAssistantBridge | None = None
        if cfg.home_assistant.discovery:
            intents, gestures = event_types(cfg, self.models.get())
            self.bridge = HomeAssistantBridge(self.mqtt, cfg.mqtt.topic_prefix, cfg.site_id, intents=intents,
                                              gestures=gestures, privacy=self.privacy, ota=self.ota,
                                              reload=self.reload)
            if self.ota is not None:
                self.ota.listener = self.bridge.on_ota_event
        self.arbiter: Arbiter | None = None
        if cfg.mqtt.arbitration_window_s is not None:
            key = read_secret(cfg.mqtt.arbitration_key_file, None, "mqtt.arbitration_key_file") or ""
            self.arbiter = Arbiter(self.mqtt, cfg.mqtt.topic_prefix, cfg.site_id, on_win=self.act,
                                   key=key.encode(), window_s=cfg.mqtt.arbitration_window_s)
        self._wire()
        self.web = AgentPage(self, Path(config_path) if config_path is not None else None) \
            if cfg.web.enabled else None
        self._stop = threading.Event()

    # construction helpers ----------------------------------------------------------------------------------
    def _build_ota(self) -> Any:
        o = self.cfg.ota
        if o.public_key_file is None:
            return None
        from ..ota.fetch import FetchLimits
        from ..ota.manager import UpdateManager
        from ..ota.manifest import load_public_key
        from ..ota.store import Store

        store = Store(o.store_dir or self.cfg.state_dir / "models")
        return UpdateManager(store, [load_public_key(o.public_key_file)], activate=self._activate_slot,
                             auto_install=o.auto_install, limits=FetchLimits(max_bytes=o.max_bytes))

    def _activate_slot(self, slot: Path, manifest: Any) -> None:
        """Load the speech bundle of an OTA slot off the frame thread, then swap it in between utterances."""
        self.models.swap(build_recognizer(self.cfg, slot), label=f"{manifest.name} v{manifest.version}")

    def reload(self) -> None:
        """Reload the current speech model from disk (MQTT 'reload' command)."""
        current = self.ota.store.current() if self.ota is not None else None
        self.models.swap(build_recognizer(self.cfg, current[0] if current else None), label="reload")

    def _wire(self) -> None:
        self.pipeline.on_decided = self.decided
        if self.fusion is not None:
            self.fusion.on_intent.append(lambda intent: self.decided(intent, self.pipeline.last_snr_db))
        if self.video is not None:
            if self.pipeline.wake is not None:  # a wake gesture opens the wake phrase's listening window too
                self.video.on_event.append(self.pipeline.wake.window.on_gesture)
            if self.fusion is not None:
                fusion = self.fusion
                self.video.on_event.append(fusion.push_gesture)
                self.video.on_hands.append(lambda frame, hands: fusion.hands_in_view(bool(hands), frame.t_mono))
                self.video.on_progress.append(lambda t: fusion.progress("gesture", t))
                # until the first frame is handled (model warm-up), speech waits for it at most max_lag_s
                fusion.progress("gesture", -math.inf)
            if self.bridge is not None:
                self.video.on_event.append(self.bridge.publish_gesture)

    # acting ------------------------------------------------------------------------------------------------
    def decided(self, intent: Intent, snr_db: float = 30.0) -> None:
        """An intent was decided (by the recognizer or by fusion): arbitrate with other agents, then act."""
        if self.arbiter is not None:
            self.arbiter.propose(intent, snr_db)
        else:
            self.act(intent)

    def act(self, intent: Intent) -> None:
        """Publish the intent (site and Hermes topics, HA event and sensors) and run its mapped actions."""
        slots = "".join(f" {k}={v}" for k, v in intent.slots.items())
        log.info("decided: acting on %s%s (%s, confidence %.2f)", intent.name, slots, "+".join(intent.modalities),
                 intent.confidence)
        self.intents.publish(intent)
        if self.bridge is not None:
            self.bridge.publish_intent(intent)
        self.actions.execute(intent)
        for cb in self.on_acted:
            cb(intent)

    def set_zones(self, zones: dict[str, Zone]) -> None:
        """New pointing zones (saved from the page): the gesture tracker and fusion use them from now on."""
        from ..vision import GestureTracker

        self.cfg = self.cfg.model_copy(update={"fusion": self.cfg.fusion.model_copy(update={"zones": zones})})
        if self.video is not None and isinstance(self.video.gestures, GestureTracker):
            self.video.gestures.zones = {name: z.polygon for name, z in zones.items()}
        if self.fusion is not None:
            self.fusion.set_zones(zones)

    # lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.ota is not None:
            model = self.ota.start(lambda slot, manifest: build_recognizer(self.cfg, slot))
            if model is not None:
                self.models.swap(model, label="store")
        if self.bridge is not None:
            self.bridge.start()
        if self.hass is not None:
            self.hass.start()
        self.mqtt.start()
        if self.reliable is not None:
            self.reliable.start()
        if self.arbiter is not None:
            self.arbiter.start()
        if self.fusion is not None:
            self.fusion.start()
        self.pipeline.start()
        if self.video is not None:
            self.video.start()
        self.privacy.apply()
        if self.web is not None:
            self.web.start()
        log.info("site %s started: %s", self.cfg.site_id, describe_sources(self.cfg))

    def _drain_for_flush(self, timeout: float = 3.0) -> None:
        """A finite replay ended: let the recognizer score the last utterance and a finite video finish before
        fusion decides everything still waiting."""
        self.pipeline.wait_drained(timeout)
        if self.video is not None and isinstance(self.video.source, (VideoReplaySource, ArrayVideoSource)) \
                and not self.video.source.loop:
            self.video.done.wait(timeout)

    def heartbeats(self) -> dict[str, float]:
        beats = dict(self.pipeline.heartbeats)
        if self.video is not None:
            beats.update(self.video.heartbeats)
        if self.fusion is not None:
            beats.update(self.fusion.heartbeats)
        return beats

    def _on_device_state(self, topic: str, payload: bytes, retained: bool, props: Any) -> None:
        """A zigbee2mqtt device's reported state (JSON object); anything else is ignored."""
        if len(payload) > MAX_DEVICE_STATE_BYTES:
            return
        try:
            state = strictjson.loads(payload)
        except ValueError:
            return
        if isinstance(state, dict):
            self.device_states.update(topic.rsplit("/", 1)[-1], state)

    def _healthy(self, stale_s: float = 10.0) -> bool:
        """Every stage's loop made progress within ``stale_s`` (what the systemd watchdog checks too)."""
        now = time.monotonic()
        return all(now - t <= stale_s for t in self.heartbeats().values())

    def stop(self) -> None:
        self._stop.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        self._stop.set()

    def shutdown(self) -> None:
        t0 = time.monotonic()
        if self.web is not None:
            self.web.stop()
        self.pipeline.stop(timeout=0.8)
        if self.video is not None:
            self.video.stop(timeout=0.5)
        if self.fusion is not None:
            self.fusion.stop()
        if self.arbiter is not None:
            self.arbiter.stop()
        if self.reliable is not None:
            self.reliable.stop()
        if self.bridge is not None:
            self.bridge.stop()
        if self.hass is not None:
            self.hass.stop(timeout=1.0)
        self.mqtt.stop(timeout=0.5)
        log.info("stopped in %.2f s", time.monotonic() - t0)

    def run(self, install_signals: bool = True) -> int:
        previous: dict[int, Any] = {}
        if install_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, self._on_signal)
        notifier = Notifier()
        watchdog: Watchdog | None = None
        try:
            self.start()
            notifier.ready(f"site {self.cfg.site_id}: listening")
            interval = watchdog_interval()
            if interval is not None:
                watchdog = Watchdog(notifier, self.heartbeats, interval)
                watchdog.start()
            started = time.monotonic()
            rc = 0
            while not self._stop.wait(0.2):
                if self.ota is not None and started and time.monotonic() - started >= self.cfg.ota.confirm_after_s:
                    started = 0.0  # once per run
                    if self._healthy():
                        self.ota.confirm_pending()
                failure = self.pipeline.failure or (self.video.failure if self.video is not None else None)
                if failure is not None:
                    log.error("%s: stopping with an error so that the service manager restarts the agent", failure)
                    rc = 1
                    break
                if self.pipeline.audio_done.is_set():
                    log.info("audio source finished")
                    if self.fusion is not None:
                        self._drain_for_flush()
                        self.fusion.flush()
                    break
        finally:
            notifier.stopping()
            if watchdog is not None:
                watchdog.stop()
            notifier.close()
            self.shutdown()
            for old_sig, handler in previous.items():
                signal.signal(old_sig, handler)
        return rc
