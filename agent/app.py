"""Building the running agent from a config: sources, recognizer, MQTT, pipeline; lifecycle and signals."""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType
from typing import Any

from .config.schema import AgentConfig, MicSource, WavSource
from .errors import ConfigError
from .mqtt.client import MqttClient
from .pipeline import Pipeline, Recognizer
from .sources.base import Source
from .sources.microphone import MicrophoneSource
from .sources.wav_replay import WavReplaySource
from .systemd import Notifier, Watchdog, watchdog_interval
from .types import AudioFrame

log = logging.getLogger(__name__)


def build_audio_source(cfg: AgentConfig) -> Source[AudioFrame]:
    audio = cfg.audio
    if isinstance(audio, MicSource):
        return MicrophoneSource(audio.device, audio.block_ms)
    if isinstance(audio, WavSource):
        return WavReplaySource(audio.paths, block_ms=audio.block_ms, realtime=audio.realtime, loop=audio.loop)
    raise ConfigError("audio: no audio source configured; set audio.type to microphone or wav")


def build_recognizer(cfg: AgentConfig) -> Recognizer:
    from .speech.frontend import SpeechFrontend
    from .speech.recognizer import CommandRecognizer

    rec = CommandRecognizer.load(cfg.speech.commands, frontend=SpeechFrontend(int8=cfg.speech.int8))
    if cfg.speech.threshold is not None:
        rec.threshold = cfg.speech.threshold
    return rec


class Agent:
    """The daemon: owns the MQTT connection and the pipeline; ``run`` blocks until a stop signal."""

    def __init__(self, cfg: AgentConfig, *, audio: Source[AudioFrame] | None = None,
                 recognizer: Recognizer | None = None, mqtt: MqttClient | None = None) -> None:
        self.cfg = cfg
        self.mqtt = mqtt or MqttClient(cfg.mqtt, cfg.site_id)
        self.pipeline = Pipeline(cfg, audio or build_audio_source(cfg), recognizer or build_recognizer(cfg),
                                 self.mqtt)
        self._stop = threading.Event()

    def start(self) -> None:
        self.mqtt.start()
        self.pipeline.start()

    def stop(self) -> None:
        self._stop.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        self._stop.set()

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
                watchdog = Watchdog(notifier, lambda: dict(self.pipeline.heartbeats), interval)
                watchdog.start()
            while not self._stop.wait(0.2):
                if self.pipeline.audio_done.is_set():
                    log.info("audio source finished")
                    break
        finally:
            notifier.stopping()
            if watchdog is not None:
                watchdog.stop()
            notifier.close()
            t0 = time.monotonic()
            self.pipeline.stop(timeout=1.0)
            self.mqtt.stop(timeout=0.8)
            log.info("stopped in %.2f s", time.monotonic() - t0)
            for old_sig, handler in previous.items():
                signal.signal(old_sig, handler)
        return 0
