"""Wiring of the audio path: source → VAD segmenter → recognizer → intent → publisher.

Each stage runs in its own thread and talks through bounded queues, so a slow recognizer never makes the
capture thread drop audio (the segmenter is cheap and runs in the capture thread; whole utterances are
queued for recognition). ``heartbeats`` records the last progress of each loop for the watchdog.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..audio.vad import Segmenter
from ..config.schema import AgentConfig, EarlyEndConfig, VadConfig
from ..errors import AgentError, DeviceUnavailable
from ..intents.publisher import IntentPublisher, Publisher
from ..runtime.hotswap import HotSwap
from ..runtime.memory import TRIMMER
from ..sources.base import Source
from ..types import AudioFrame, CommandScores, Intent, Segment
from .early_end import EarlyEnd
from .wake_wiring import build_wake

if TYPE_CHECKING:
    from ..speech.wake.gate import WakeGate

log = logging.getLogger(__name__)

LATENCY_SAMPLES = 4096
Item = tuple[Segment, float, int | None, bool]  # (utterance, end detected, its pause number, a pause's probe)


class Recognizer(Protocol):
    def recognize(self, pcm: np.ndarray, t_start: float = 0.0, t_end: float = 0.0) -> CommandScores: ...

    def decide(self, scores: CommandScores) -> tuple[str | None, float]: ...


class SpeechSink(Protocol):
    """Where command scores go when fusion decides (instead of the recognizer's own threshold)."""

    def push_speech(self, scores: CommandScores) -> None: ...

    def voice_activity(self, active: bool, t: float) -> None: ...

    def progress(self, modality: str, t: float | None) -> None: ...


@dataclass
class PipelineStats:
    segments: int = 0
    intents: int = 0
    rejected: int = 0
    dropped_segments: int = 0
    errors: int = 0
    # the most recent samples only: a daemon runs for months (an unbounded list grew ~1 MB per 30 min of video)
    # latencies_ms: end of speech detected → intent published; endpoint_ms: end of audio → end detected
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    endpoint_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))


class Pipeline:
    """The running audio pipeline. ``on_intent``/``on_reject`` listeners see every decision."""

    def __init__(self, vad: VadConfig, audio: Source[AudioFrame], recognizer: Recognizer | HotSwap[Recognizer],
                 intents: IntentPublisher, *, site_id: str = "default", ttl_s: float = 5.0,
                 segmenter: Segmenter | None = None, fusion: SpeechSink | None = None,
                 wake: WakeGate | None = None, early_end: EarlyEndConfig | None = None) -> None:
        self.vad = vad
        self.site_id = site_id
        self.ttl_s = ttl_s
        self.audio = audio
        # the recognizer sits in a hot-swap holder: an OTA update replaces it between two utterances
        self.models: HotSwap[Recognizer] = recognizer if isinstance(recognizer, HotSwap) else HotSwap(recognizer)
        self.intents = intents
        intents.listeners.append(self._published)
        self.fusion = fusion
        self.last_snr_db = 30.0
        # early endpointing (speech.early_end): not with a wake phrase, which is stripped from whole utterances
        self.early = EarlyEnd(early_end) if early_end is not None and early_end.enabled and wake is None else None
        self.segmenter = segmenter or Segmenter(vad, pause_ms=self.early.cfg.pause_ms if self.early else 0)
        self._seg_lock = self.early.lock if self.early else threading.Lock()
        self._probe_done = threading.Event()
        self.stats = PipelineStats()
        self.heartbeats: dict[str, float] = {}
        self.thread_cpu_s: dict[str, float] = {}  # CPU time of each loop's thread when it ended
        self.on_intent: list[Callable[[Intent], None]] = []
        self.on_reject: list[Callable[[Segment, CommandScores], None]] = []
        self.on_segment: list[Callable[[Segment, float], None]] = []  # every utterance found, and when
        # when set, decided intents go here (the agent arbitrates, publishes and acts) instead of straight to
        # the intent publisher
        self.on_decided: Callable[[Intent, float], None] | None = None
        self._segments: queue.Queue[Item | None] = queue.Queue(maxsize=8)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.audio_done = threading.Event()
        self.retry_s = 2.0
        self.retry_limit_s = 120.0  # a device lost this long is given up: ``failure`` says why, the daemon exits
        self.failure: str | None = None
        self._need_reopen = False
        # a replay running flat out (evaluation) waits for the recognizer; live capture never blocks
        self.lossless = getattr(audio, "realtime", True) is False
        self.muted = threading.Event()
        # fusion watermark: audio analysed up to _heard (None = stream not running); utterances found but not yet
        # scored (their t_start) hold it back, so fusion never decides a gesture before the speech next to it
        self._heard: float | None = None
        self._in_flight: list[float] = []
        self._progress_lock = threading.Lock()
        # wake phrase (speech.wake; None = off): strips the phrase from an utterance and opens the listening
        # window; with speech.wake.required an utterance outside every window reaches neither recognizer nor fusion
        self.wake = wake

    @classmethod
    def from_config(cls, cfg: AgentConfig, audio: Source[AudioFrame], recognizer: Recognizer | HotSwap[Recognizer],
                    publisher: Publisher | IntentPublisher, **kw: object) -> Pipeline:
        """The audio path of an agent config: its VAD section, its intent publisher and, with ``speech.wake``,
        its wake gate (sharing the recognizer's models)."""
        intents = publisher if isinstance(publisher, IntentPublisher) else \
            IntentPublisher(publisher, cfg.mqtt.topic_prefix, hermes=cfg.mqtt.hermes)
        models = recognizer if isinstance(recognizer, HotSwap) else HotSwap(recognizer)
        wake = kw.pop("wake", None) or build_wake(cfg, models.get())
        path = cls(cfg.vad, audio, models, intents, site_id=cfg.site_id, ttl_s=cfg.mqtt.intent_ttl_s,
                   wake=wake, early_end=cfg.speech.early_end, **kw)  # type: ignore[arg-type]
        path.retry_limit_s = cfg.source_retry_s
        return path

    # lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        if not self.muted.is_set():  # a persisted mute never opens the microphone, not even briefly
            try:
                self.audio.open()
            except DeviceUnavailable as exc:  # unplugged at start: keep running, retry in the audio loop
                log.error("%s; retrying every %.0f s", exc, self.retry_s)
                self._need_reopen = True
        for name, target in (("audio", self._audio_loop), ("recognizer", self._recognize_loop)):
            t = threading.Thread(target=target, name=f"pipeline-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        self.audio.close()

    def wait_drained(self, timeout: float) -> bool:
        """For finite sources: wait until the source is exhausted and every utterance was handled."""
        if not self.audio_done.wait(timeout):
            return False
        for t in self._threads:
            t.join(timeout)
        return not any(t.is_alive() for t in self._threads)

    # loops ---------------------------------------------------------------------------------------------
    def _audio_loop(self) -> None:
        try:
            self._audio_frames()
        except Exception as exc:  # a bug or an unexpected device error: the daemon must not go on deaf
            self.failure = f"the audio loop failed: {exc!r}"
            log.exception("audio loop failed")
        finally:
            self._report_progress(None)
            self.thread_cpu_s["audio"] = time.thread_time()
            self._segments.put(None)
            self.audio_done.set()

    def _audio_frames(self) -> None:
        while not self._stop.is_set():
            self.heartbeats["audio"] = time.monotonic()
            if self.muted.is_set():  # the privacy controller closed the source
                self._report_progress(None)
                self._stop.wait(0.1)
                continue
            if self._need_reopen:
                if not self._reopen_audio():
                    return
                continue
            try:
                frame = self.audio.read(timeout=0.2)
            except DeviceUnavailable as exc:
                log.error("%s; retrying every %.0f s for up to %.0f s", exc, self.retry_s, self.retry_limit_s)
                if not self._reopen_audio():
                    return
                continue
            if frame is None:
                if self.audio.exhausted:
                    break
                continue
            with self._seg_lock:  # the recognizer thread may end an utterance early (speech.early_end)
                was_active = self.segmenter.active
                segs = self.segmenter.push(frame)
                ended_in, active = self.segmenter.ended_pause, self.segmenter.active
                pause = self.segmenter.take_pause()
            for seg in segs:
                self._enqueue(seg, ended_in if seg is segs[-1] else None)
            if pause is not None and self.early is not None:
                self._probe(*pause)
            if self.fusion is not None and active != was_active:
                self.fusion.voice_activity(active, frame.t_mono)
            if not active:  # while speech goes on, the watermark stays before its start
                self._report_progress(frame.t_mono + len(frame.pcm) / frame.sample_rate)
        with self._seg_lock:
            segs = self.segmenter.flush()
        for seg in segs:
            self._enqueue(seg)

    def _report_progress(self, heard: float | None) -> None:
        """Tell fusion how far the voice stream is complete. A segment that has not started yet may still get a
        t_start up to a pre-roll (plus one VAD frame) before the last frame analysed."""
        if self.fusion is None:
            return
        with self._progress_lock:
            self._heard = heard
            self._send_progress()

    def _send_progress(self) -> None:
        assert self.fusion is not None
        frame_ms = float(getattr(self.segmenter, "frame_ms", self.vad.frame_ms))  # the engine's own frame
        t = math.inf if self._heard is None else self._heard - (self.vad.pre_roll_ms + frame_ms) / 1000.0
        if self._in_flight:
            t = min(t, self._in_flight[0])
        self.fusion.progress("voice", None if math.isinf(t) else t)

    def _reopen_audio(self) -> bool:
        """Retry the lost audio source every ``retry_s``; False when it stayed lost for ``retry_limit_s`` (then
        ``failure`` says why) or the path is stopping."""
        self._report_progress(None)  # no device: nothing to wait for
        self.audio.close()
        self._need_reopen = True
        since = time.monotonic()
        while not self._stop.wait(self.retry_s):
            self.heartbeats["audio"] = time.monotonic()  # waiting for a device is progress, not a hang
            try:
                self.audio.open()
            except AgentError as exc:
                if time.monotonic() - since >= self.retry_limit_s:
                    self.failure = f"the audio source stayed unavailable for {self.retry_limit_s:.0f} s: {exc}"
                    return False
                log.warning("audio source still unavailable: %s", exc)
                continue
            self._need_reopen = False
            log.info("audio source reopened")
            return True
        return False

    def _found(self, seg: Segment) -> float:
        """An utterance's end was found (now, returned): count it, tell the listeners, hold fusion for it."""
        self.stats.segments += 1
        now = time.monotonic()
        self.stats.endpoint_ms.append((now - seg.t_end) * 1000.0)
        for cb in self.on_segment:
            cb(seg, now)
        self._flight(seg.t_start, add=True)
        return now

    def _probe(self, pause: int, seg: Segment) -> None:
        """Have the recognizer try the utterance so far at pause number ``pause``. A flat-out replay waits for its
        verdict (evaluation must not depend on thread timing); live capture never waits (nor probes when behind)."""
        self._probe_done.clear()
        try:
            self._segments.put_nowait((seg, time.monotonic(), pause, True))
        except queue.Full:
            return
        while self.lossless and not self._probe_done.wait(0.2) and not self._stop.is_set():
            continue

    def _enqueue(self, seg: Segment, pause: int | None = None) -> None:
        """Queue a finished utterance; ``pause``: the number of the pause whose hangover ended it."""
        now = self._found(seg)
        if self.lossless:
            self._segments.put((seg, now, pause, False))
            return
        try:
            self._segments.put_nowait((seg, now, pause, False))
        except queue.Full:
            self._flight(seg.t_start, add=False)
            self.stats.dropped_segments += 1
            log.warning("recognizer is behind: utterance at %.2f s dropped", seg.t_start)

    def _flight(self, t_start: float, *, add: bool) -> None:
        """An utterance found by the VAD but not yet given to fusion (``add``), or given (not ``add``)."""
        if self.fusion is None:
            return
        with self._progress_lock:
            if add:
                self._in_flight.append(t_start)
                self._in_flight.sort()
            elif t_start in self._in_flight:
                self._in_flight.remove(t_start)
            self._send_progress()

    def _recognize_loop(self) -> None:
        try:
            self._recognize_items()
        finally:
            self.thread_cpu_s["recognizer"] = time.thread_time()

    def _recognize_items(self) -> None:
        while True:
            self.heartbeats["recognizer"] = time.monotonic()
            try:
                item = self._segments.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is None:
                return
            seg, detected, pause, probe = item
            try:
                if probe:
                    self._early_end(seg, pause)
                else:
                    self.handle_segment(seg, detected, pause)
            except AgentError as exc:
                self.stats.errors += 1
                log.error("recognition failed for the utterance at %.2f s: %s", seg.t_start, exc)
            finally:
                if probe:
                    self._probe_done.set()
                else:
                    self._flight(seg.t_start, add=False)
                TRIMMER.maybe_trim()  # the frontend's buffers are freed now: give the pages back

    def _early_end(self, seg: Segment, pause: int | None) -> None:
        """A pause's probe (:mod:`.early_end`): end the utterance there and act on it when it is whole."""
        assert self.early is not None and pause is not None
        recognizer = self.models.get()
        got = self.early.attempt(recognizer, seg, pause, self._end_at_pause)
        if got is None:
            return
        ended, scores = got
        if self.fusion is not None:
            self.fusion.voice_activity(False, ended.t_end)
        try:
            self._act(ended, scores, recognizer, self._found(ended))
        finally:
            self._flight(ended.t_start, add=False)

    def _end_at_pause(self, pause: int) -> Segment | None:
        with self._seg_lock:  # the audio thread pushes frames into the segmenter meanwhile
            return self.segmenter.end_at_pause(pause)

    def handle_segment(self, seg: Segment, detected: float | None = None, pause: int | None = None) -> Intent | None:
        """Recognize one utterance; publish its intent. ``detected``: when its end of speech was found;
        ``pause``: the pause whose hangover ended it (its decode at that pause is reused, :mod:`.early_end`)."""
        recognizer = self.models.get()
        if self.wake is not None:  # the command after the wake phrase, the utterance itself, or nothing
            admitted = self.wake.admit(seg)
            if admitted is None:
                return None
            seg = admitted
        scores = self.early.reuse(pause, seg) if self.early is not None else None
        if scores is None:
            scores = recognizer.recognize(seg.pcm, seg.t_start, seg.t_end)
        return self._act(seg, scores, recognizer, detected)

    def _act(self, seg: Segment, scores: CommandScores, recognizer: Recognizer,
             detected: float | None) -> Intent | None:
        """Decide an utterance's scores: to fusion, or published as an intent (or rejected)."""
        name, confidence = recognizer.decide(scores)
        if self.fusion is not None:
            self.last_snr_db = seg.snr_db
            self.fusion.push_speech(dataclasses.replace(scores, snr_db=seg.snr_db,
                                                        voice_decision=(name, confidence)))
            return None
        if name is None:
            self.stats.rejected += 1
            log.info("decided: abstained (low_confidence): %s at %.2f from voice", scores.best()[0], confidence)
            for cb in self.on_reject:
                cb(seg, scores)
            return None
        intent = Intent.create(name, confidence, seg.t_start, seg.t_end, slots=dict(scores.slots),
                               modalities=("voice",), site_id=self.site_id, ttl_s=self.ttl_s)
        if self.on_decided is not None:
            self.on_decided(intent, seg.snr_db)
        else:
            self.intents.publish(intent)
        if detected is not None:
            self.stats.latencies_ms.append((time.monotonic() - detected) * 1000.0)
        return intent

    def _published(self, intent: Intent) -> None:
        self.stats.intents += 1
        for cb in self.on_intent:
            cb(intent)

