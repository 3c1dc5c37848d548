"""The video path: camera/replay → motion gate → hand tracker → gesture tracker → gesture events.

While a hand is tracked every frame goes to the tracker. While none is, the palm detector (the costliest model)
runs only when :class:`DetectCadence` says so, driven by the motion gate: at once when something starts to
move, then backing off while the motion goes on without a hand (someone walking past), once more when it
settles (a hand that came in and then held still), and otherwise every ``still_s`` as a safety net. The gate
differences a 32×24 grey thumbnail against the previous one, at the same mean brightness, so lights changing
are not motion; it is made from the frame's 1/8-scale grey thumbnail (:func:`~agent.sources.frames.
grey_thumbnail`), which a camera frame brings along already (the camera's stall check made it from the JPEG),
so a frame the tracker does not look at is never decoded in full. When the tracker looks with no hand tracked,
the gate also tells it where things moved since its last look, when that motion is no larger than the
tracker's zoom square (a raised hand, not someone walking past): a hand too small for the full-frame look
(under ~64 px of 640×480) is looked for there once more, zoomed (:mod:`agent.vision.hands`).
Frames arriving while the previous one is still processed are counted as dropped (the freshest wins).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from ..errors import AgentError, DeviceUnavailable, SourceError
from ..runtime.memory import TRIMMER
from ..sources.base import Source
from ..sources.frames import grey_thumbnail
from ..types import GestureEvent, Hand, VideoFrame
from .audio_path import LATENCY_SAMPLES

log = logging.getLogger(__name__)


class HandTrackerLike(Protocol):
    def process(self, frame: VideoFrame, focus: tuple[float, float] | None = None) -> list[Hand]: ...


class GestureTrackerLike(Protocol):
    def update(self, hands: list[Hand], t_mono: float) -> list[GestureEvent]: ...


class MotionGate:
    """Says whether a frame differs from the previous one enough to be worth looking at: over the whole
    thumbnail (mean absolute difference at least ``threshold``) or in one place (one cell of the thumbnail,
    about 20×20 pixels of a 640×480 frame, at least ``local_threshold``). Both thumbnails are first scaled to
    the same mean brightness, so a lamp switched on or daylight fading does not count as motion.

    It also says where things moved (:meth:`take_focus`): the centre of the strongest motion since it was last
    asked, which the hand tracker zooms into to find a hand too small for its full-frame look, when that motion
    fits in ``focus_extent`` × the frame's height each way (the tracker's zoom square,
    :data:`agent.vision.hands.ZOOM_SIDE`): someone walking past moves more than that, and there is then no one
    place a small hand would be (measured in the bench's idle room: 8 of 9 looks at a walker are larger)."""

    def __init__(self, threshold: float = 4.0, size: tuple[int, int] = (32, 24),
                 local_threshold: float = 24.0, focus_extent: float = 0.4) -> None:
        self.threshold = threshold
        self.local_threshold = local_threshold
        self.size = size
        self.focus_extent = focus_extent
        self._aspect = 4 / 3  # the frames' width / height (of the last one seen)
        self._prev: np.ndarray | None = None
        self._heat: np.ndarray | None = None  # per cell, the largest difference of the moving frames not yet asked

    def forget(self) -> None:
        """Drop the reference thumbnail and the motion seen (while a hand is tracked the gate is not consulted)."""
        self._prev = None
        self._heat = None

    def take_focus(self) -> tuple[float, float] | None:
        """Where the motion since the last call was, as fractions of the frame's width and height (the centre of
        the cells that changed at least half as much as the most changed one), or None when nothing moved or
        those cells spread wider or taller than ``focus_extent`` × the frame's height."""
        heat, self._heat = self._heat, None
        if heat is None or float(heat.max()) <= 0.0:
            return None
        strong = heat >= 0.5 * float(heat.max())
        rows, cols = np.nonzero(strong)
        tall = (int(rows.max()) - int(rows.min()) + 1) / heat.shape[0]
        wide = (int(cols.max()) - int(cols.min()) + 1) / heat.shape[1] * self._aspect
        if max(tall, wide) > self.focus_extent:
            return None
        w = np.where(strong, heat, 0.0)
        ys, xs = np.indices(w.shape)
        total = float(w.sum())
        return (float((w * (xs + 0.5)).sum()) / total / w.shape[1], float((w * (ys + 0.5)).sum()) / total / w.shape[0])

    def moved(self, image: np.ndarray) -> bool:
        """``image``: the frame, in grey or BGR, at any scale (the daemon gives its 1/8-scale grey thumbnail)."""
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        self._aspect = grey.shape[1] / max(grey.shape[0], 1)
        small = cv2.resize(grey, self.size, interpolation=cv2.INTER_AREA)
        small = small.astype(np.float32)
        small = small * np.float32(128.0 / max(float(small.mean()), 1.0))
        prev, self._prev = self._prev, small
        if prev is None:
            return True
        diff = np.abs(small - prev)
        if float(diff.mean()) < self.threshold and float(diff.max()) < self.local_threshold:
            return False
        self._heat = diff if self._heat is None else np.maximum(self._heat, diff)
        return True


class DetectCadence:
    """When to run the palm detector while no hand is tracked, from the motion gate's answers.

    - Motion starting after a calm of ``calm_s``: look at once (a hand coming into view).
    - Motion going on with no hand found: look again after ``first_gap_s``, then after gaps doubling up to
      ``max_gap_s`` (someone walking past: a hand in view then is found within ``max_gap_s``).
    - Motion stopped for ``settle_s`` after frames that were not looked at: look once (a hand that came in
      and then held still).
    - Nothing moving: look every ``still_s`` (a safety net for whatever the gate missed).
    """

    def __init__(self, *, first_gap_s: float = 0.25, max_gap_s: float = 1.0, settle_s: float = 0.2,
                 calm_s: float = 1.0, still_s: float = 5.0) -> None:
        self.first_gap_s, self.max_gap_s = first_gap_s, max_gap_s
        self.settle_s, self.calm_s, self.still_s = settle_s, calm_s, still_s
        self._gap = 0.0  # 0: the next motion frame is looked at
        self._last_look = -1e9
        self._last_motion = -1e9
        self._unseen_motion = False  # motion since the last look

    def look(self, now: float, moved: bool) -> bool:
        """Whether this frame (at ``now``, moved or not) goes to the hand tracker."""
        if moved:
            if now - self._last_motion >= self.calm_s:
                self._gap = 0.0
            self._last_motion = now
            self._unseen_motion = True
            return now - self._last_look >= self._gap
        if self._unseen_motion and now - self._last_motion >= self.settle_s:
            return True
        return now - self._last_look >= self.still_s

    def looked(self, now: float, found: bool) -> None:
        """The tracker looked at a frame at ``now`` and found a hand or not."""
        self._last_look = now
        self._unseen_motion = False
        self._gap = 0.0 if found else min(max(self.first_gap_s, 2 * self._gap), self.max_gap_s)


@dataclass
class VideoStats:
    frames: int = 0
    processed: int = 0
    skipped_still: int = 0
    dropped: int = 0
    undecodable: int = 0  # camera frames whose JPEG did not decode
    events: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))  # most recent only


class VideoPath:
    """Runs the vision stages in one thread; ``on_event`` listeners get every GestureEvent."""

    def __init__(self, source: Source[VideoFrame], hands: HandTrackerLike, gestures: GestureTrackerLike, *,
                 motion: MotionGate | None = None, cadence: DetectCadence | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # OpenCV's own thread pool: its per-frame work here is a few small resizes and warps, and the pool's
        # worker thread cost ~0.01 core-s/s of wake-ups and spinning (homeagent bench, busy room)
        cv2.setNumThreads(1)
        self.source = source
        self.hands = hands
        self.gestures = gestures
        self.motion = motion or MotionGate()
        self.cadence = cadence or DetectCadence()
        self.clock = clock
        self.stats = VideoStats()
        self.heartbeats: dict[str, float] = {}
        self.thread_cpu_s: dict[str, float] = {}
        self.on_event: list[Callable[[GestureEvent], None]] = []
        self.on_hands: list[Callable[[VideoFrame, list[Hand]], None]] = []
        self.on_frame: list[Callable[[VideoFrame], None]] = []  # every frame read (the page's camera view)
        # how far the gesture stream is complete (frame time of the last frame handled; None = no camera running)
        self.on_progress: list[Callable[[float | None], None]] = []
        self.done = threading.Event()
        self.paused = threading.Event()  # camera off (privacy): no frame is read while set
        self.retry_s = 2.0
        self.retry_limit_s = 120.0  # a camera lost this long is given up: ``failure`` says why, the daemon exits
        self.failure: str | None = None
        self._lost_since: float | None = None
        self._need_reopen = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tracking = False
        self._last_seq = -1

    def start(self) -> None:
        if not self.paused.is_set():  # a persisted "camera off" never opens the camera, not even briefly
            try:
                self.source.open()
            except DeviceUnavailable as exc:  # unplugged at start: keep running, retry in the loop
                log.error("%s; retrying every %.0f s", exc, self.retry_s)
                self._need_reopen = True
        self._thread = threading.Thread(target=self._loop, name="pipeline-video", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.source.close()

    def _loop(self) -> None:
        try:
            self._frames()
        except Exception as exc:  # a bug or an unexpected device error: the daemon must not go on blind
            self.failure = f"the video loop failed: {exc!r}"
            log.exception("video loop failed")
        finally:
            self._progress(None)
            self.thread_cpu_s["video"] = time.thread_time()
            self.done.set()

    def _frames(self) -> None:
        while not self._stop.is_set():
            self.heartbeats["video"] = self.clock()
            if self.paused.is_set():
                self._progress(None)
                self._stop.wait(0.1)
                continue
            if self._need_reopen:
                self._progress(None)
                if not self._reopen():
                    return
                continue
            try:
                frame = self.source.read(timeout=0.2)
            except DeviceUnavailable as exc:
                log.error("%s; reopening every %.0f s", exc, self.retry_s)
                self.source.close()
                self._need_reopen = True
                continue
            if frame is None:
                if self.source.exhausted and not self.paused.is_set():
                    if getattr(self.source, "loop", False):
                        self.failure = "the looping video replay ran out of readable frames (files gone?)"
                    break
                continue
            self.handle(frame)
            TRIMMER.maybe_trim()

    def _progress(self, t: float | None) -> None:
        for listener in self.on_progress:
            listener(t)

    def _reopen(self) -> bool:
        """One retry of the lost camera; False when it stayed lost for ``retry_limit_s`` (``failure`` says why)
        or the path is stopping."""
        now = time.monotonic()
        self._lost_since = self._lost_since if self._lost_since is not None else now
        if self._stop.wait(self.retry_s):
            return False
        try:
            self.source.open()
        except AgentError as exc:
            if time.monotonic() - self._lost_since >= self.retry_limit_s:
                self.failure = f"the camera stayed unavailable for {self.retry_limit_s:.0f} s: {exc}"
                return False
            log.warning("camera still unavailable: %s", exc)
            return True
        self._need_reopen = False
        self._lost_since = None
        log.info("camera reopened")
        return True

    def handle(self, frame: VideoFrame) -> list[GestureEvent]:
        """Process one frame (also usable without the thread, e.g. in benchmarks and tests)."""
        self.stats.frames += 1
        if self._last_seq >= 0 and frame.seq > self._last_seq + 1:
            self.stats.dropped += frame.seq - self._last_seq - 1
        self._last_seq = frame.seq
        for watch in self.on_frame:
            watch(frame)
        try:
            hands = self._look(frame)
        except SourceError as exc:  # a camera frame that does not decode: as if it had not come
            self.stats.undecodable += 1
            log.warning("video frame %d skipped: %s", frame.seq, exc)
            hands = None
        if hands is None:
            events = self.gestures.update([], frame.t_mono)
        else:
            for cb in self.on_hands:
                cb(frame, hands)
            events = self.gestures.update(hands, frame.t_mono)
        self.stats.latencies_ms.append((self.clock() - frame.t_mono) * 1000.0)
        for ev in events:
            self.stats.events += 1
            for listener in self.on_event:
                listener(ev)
        self._progress(frame.t_mono)  # after the events: every gesture ending by this frame has been delivered
        return events

    def _look(self, frame: VideoFrame) -> list[Hand] | None:
        """The hands in ``frame``, or None when the cadence skips it (only its small grey thumbnail was looked
        at: a camera's JPEG is then never decoded in full)."""
        if self._tracking:  # the tracker looks at this frame anyway: spare the gate
            self.motion.forget()
            moved = True
        else:
            moved = self.motion.moved(grey_thumbnail(frame))
        now = frame.t_mono  # stream time: a replay flat out keeps the cadence of its frames
        if not (self._tracking or self.cadence.look(now, moved)):
            self.stats.skipped_still += 1
            return None
        hands = self.hands.process(frame, None if self._tracking else self.motion.take_focus())
        self._tracking = bool(hands)
        self.cadence.looked(now, self._tracking)
        self.stats.processed += 1
        return hands
