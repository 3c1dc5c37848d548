"""Voice activity detection and utterance segmentation.

A :class:`FrameVad` engine decides speech per frame; ``vad.engine`` selects it (:func:`make_frame_vad`):
``webrtc`` (:class:`~agent.audio.vad_webrtc.WebRtcVad`, 10/20/30 ms frames) or ``silero``
(:class:`~agent.audio.vad_silero.SileroVad`, 32 ms chunks). :class:`Segmenter` is shared by both: it turns a
stream of AudioFrames of any block length into utterances with pre-roll, an onset window, hangover, min/max
length, and a hard end-of-speech timeout (``max_ms``) so a noisy room cannot hold an utterance open forever.
It also tracks the noise floor to attach an SNR estimate to each segment (fusion uses it to weight the voice).

Early endpointing: with ``pause_ms`` set, the first ``pause_ms`` of silence inside an utterance (once per pause)
leaves the utterance so far in :meth:`Segmenter.take_pause`; whoever recognizes it may close the utterance there
with :meth:`Segmenter.end_at_pause` while that pause is still going on, instead of waiting for the hangover.
The segmenter does not judge speech: whether an utterance can end there is the recognizer's question.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Protocol

import numpy as np

from ..config.schema import VadConfig
from ..types import AudioFrame, Segment
from .vad_webrtc import RATE, WebRtcVad

log = logging.getLogger(__name__)

WARM_UP_FRAMES = 4  # frames the engine is primed on when it resumes
ENGINE_HOLD_FRAMES = 8  # quiet frames the engine still runs on (pauses inside speech keep its state)

__all__ = ["RATE", "FrameVad", "Segmenter", "WebRtcVad", "make_frame_vad"]


class FrameVad(Protocol):
    """A per-frame speech decision on consecutive int16 frames of ``frame_samples`` samples at 16 kHz."""

    @property
    def frame_samples(self) -> int: ...

    @property
    def min_snr_db(self) -> float:
        """The frame SNR gate the segmenter applies when ``vad.min_snr_db`` is null."""
        ...

    def is_speech(self, frame: np.ndarray) -> bool: ...

    def reset(self) -> None:
        """Forget the engine's state (the next frame does not follow the previous one)."""
        ...


def make_frame_vad(cfg: VadConfig) -> FrameVad:
    """The engine ``cfg.engine`` names, configured from ``cfg``."""
    if cfg.engine == "silero":
        from .vad_silero import SileroVad

        return SileroVad(cfg.silero.threshold, cfg.silero.neg_threshold)
    return WebRtcVad(cfg.aggressiveness, cfg.frame_ms)


def _rms_db(x: np.ndarray) -> float:
    r = float(np.sqrt(np.mean(x.astype(np.float32) ** 2))) if len(x) else 0.0
    return 20.0 * math.log10(max(r, 1.0))


class Segmenter:
    """Stateful VAD segmenter. Feed frames with :meth:`push`; it returns finished segments."""

    def __init__(self, cfg: VadConfig | None = None, vad: FrameVad | None = None, pause_ms: int = 0) -> None:
        """``pause_ms``: silence after which the utterance so far is offered for an early end (0 = never)."""
        self.cfg = cfg or VadConfig()
        self.vad = vad or make_frame_vad(self.cfg)
        self.n = self.vad.frame_samples
        self.frame_ms = self.n * 1000 / RATE  # the engine's frame: 10/20/30 ms (webrtc) or 32 ms (silero)
        self.min_snr_db = self.vad.min_snr_db if self.cfg.min_snr_db is None else self.cfg.min_snr_db
        self._pending = np.zeros(0, np.int16)
        self._pending_t = 0.0
        self._pre: deque[tuple[np.ndarray, bool]] = deque(maxlen=self._frames_in(self.cfg.pre_roll_ms))
        self._onset: deque[bool] = deque(maxlen=self._frames_in(self.cfg.start_ms))
        self._active = False
        self._frames: list[np.ndarray] = []
        self._flags: list[bool] = []
        self._silence = 0
        self._t_start = 0.0
        self._noise_db = 30.0
        self.forced_ends = 0
        # frames quieter than the noise floor + min_snr_db cannot be speech: the engine is not run on them
        # (silero costs ~0.15 ms a frame, ~5 ms CPU per second of audio when run on everything); when frames
        # get loud again its state is reset and warmed up on the frames just before
        self._recent: deque[np.ndarray] = deque(maxlen=WARM_UP_FRAMES)
        self._engine_idle = False
        self._quiet = 0
        self.engine_frames = 0
        self.skipped_frames = 0
        # early endpointing: pauses are numbered; _pause_open is the one going on (None: speech since, or none)
        self.pause_frames = self._frames_in(pause_ms) if pause_ms > 0 else 0
        self._pauses = 0
        self._pause_open: int | None = None
        self._pause_seg: Segment | None = None
        self._offered: tuple[int, Segment] | None = None
        self.ended_pause: int | None = None  # the pause a segment just ended by the hangover was (its audio)

    def _frames_in(self, ms: float) -> int:
        """Whole frames in ``ms`` (at least one)."""
        return max(1, int(ms // self.frame_ms))

    @property
    def active(self) -> bool:
        return self._active

    def push(self, frame: AudioFrame) -> list[Segment]:
        if len(self._pending) == 0:
            self._pending_t = frame.t_mono
        self._pending = np.concatenate([self._pending, frame.pcm.astype(np.int16, copy=False)])
        out: list[Segment] = []
        while len(self._pending) >= self.n:
            chunk, self._pending = self._pending[:self.n], self._pending[self.n:]
            t = self._pending_t
            self._pending_t += self.n / RATE
            seg = self._step(chunk, t)
            if seg is not None:
                out.append(seg)
        return out

    def _step(self, chunk: np.ndarray, t: float) -> Segment | None:
        cfg = self.cfg
        level = _rms_db(chunk)
        # a frame must stand out of the noise floor (webrtcvad alone fires on babble and clatter), and only
        # such frames are worth running the engine on
        loud = level >= self._noise_db + self.min_snr_db
        self._quiet = 0 if loud else self._quiet + 1
        if self._quiet <= ENGINE_HOLD_FRAMES:  # loud, or only just quiet: the engine keeps its state going
            voiced = self._engine(chunk)
        else:
            voiced = False
            self._engine_idle = True
            self.skipped_frames += 1
        self._recent.append(chunk)
        speech = voiced and loud
        if not self._active:
            # noise floor: fast to fall, slow to rise (minimum-statistics style)
            rate = 0.2 if level < self._noise_db else 0.01
            self._noise_db += rate * (level - self._noise_db)
            self._pre.append((chunk, speech))
            self._onset.append(speech)
            need = max(1, math.ceil(0.67 * (self._onset.maxlen or 1)))
            if sum(self._onset) >= need:
                self._active = True
                self._frames = [c for c, _ in self._pre]
                self._flags = [f for _, f in self._pre]
                self._t_start = t - (len(self._frames) - 1) * self.n / RATE
                self._silence = 0
                self._pre.clear()
                self._onset.clear()
            return None
        self._frames.append(chunk)
        self._flags.append(speech)
        self._silence = 0 if speech else self._silence + 1
        if speech:
            self._pause_open = None
        elif self._silence == self.pause_frames:
            self._pause_at()
        length_ms = len(self._frames) * self.frame_ms
        # end of speech: the hangover window is (almost) all silence; a stray noise blip does not reset it
        hang = self._frames_in(cfg.hangover_ms)
        tail = self._flags[-hang:]
        if len(tail) == hang and sum(tail) <= hang // 5 and not tail[-1]:
            self._silence = max(self._silence, next(i for i, f in enumerate(reversed(tail)) if f) if any(tail)
                                else hang)
            return self._finish(t, forced=False)
        if self._silence * self.frame_ms >= cfg.hangover_ms:
            return self._finish(t, forced=False)
        if length_ms >= cfg.max_ms:
            return self._finish(t, forced=True)
        return None

    def _engine(self, chunk: np.ndarray) -> bool:
        if self._engine_idle:  # resume: fresh state, primed on the frames just before this one
            self.vad.reset()
            for prev in self._recent:
                self.vad.is_speech(prev)
            self._engine_idle = False
        self.engine_frames += 1
        return self.vad.is_speech(chunk)

    def _pause_at(self) -> None:
        """A pause of ``pause_frames`` began: offer the utterance so far (when long enough to be one) up to one
        frame after its last speech: ending there, the utterance ends (``t_end``) where its speech did, not where
        the pause was noticed (fusion waits for a gesture partner from ``t_end``)."""
        keep = len(self._frames) - self._silence + 1
        seg = self._segment(self._frames[:keep], self._flags[:keep], forced=False)
        if seg is not None:
            self._pauses += 1
            self._pause_open = self._pauses
            self._pause_seg = seg
            self._offered = (self._pauses, seg)

    def take_pause(self) -> tuple[int, Segment] | None:
        """The utterance so far at the pause that has just begun, and that pause's number; each pause once."""
        got, self._offered = self._offered, None
        return got

    def end_at_pause(self, pause: int) -> Segment | None:
        """End the open utterance now if pause number ``pause`` is still going on (no speech since it began):
        its segment as offered then (the silence heard since is dropped). None when speech went on or the
        utterance already ended."""
        if not self._active or self._pause_open != pause or self._pause_seg is None:
            return None
        seg = self._pause_seg
        self._reset_utterance()
        return seg

    def _reset_utterance(self) -> None:
        self._active = False
        self._frames, self._flags = [], []
        self._pause_open, self._pause_seg, self._offered = None, None, None

    def _finish(self, t: float, forced: bool) -> Segment | None:
        frames, flags = self._frames, self._flags
        if not forced:  # trim the trailing silence, keep a little of it
            keep = len(frames) - self._silence + self._frames_in(150)
            frames, flags = frames[:keep], flags[:keep]
        self.ended_pause = self._pause_open if not forced else None
        self._reset_utterance()
        seg = self._segment(frames, flags, forced)
        self.forced_ends += forced and seg is not None  # max_ms cuts and utterances still open at the stream's end
        return seg

    def _segment(self, frames: list[np.ndarray], flags: list[bool], forced: bool) -> Segment | None:
        """The segment of these frames (None when it has too little speech to be an utterance)."""
        speech_frames = int(sum(flags))
        if speech_frames * self.frame_ms < self.cfg.min_ms:
            return None
        pcm = np.concatenate(frames)
        voiced = np.concatenate([f for f, s in zip(frames, flags, strict=True) if s]) if speech_frames else pcm
        snr = _rms_db(voiced) - self._noise_db
        t_end = self._t_start + len(pcm) / RATE
        return Segment(pcm=pcm, sample_rate=RATE, t_start=self._t_start, t_end=t_end,
                       speech_ratio=speech_frames / len(flags), snr_db=snr, forced_end=forced)

    def flush(self) -> list[Segment]:
        """End of stream: close an open utterance."""
        if self._active:
            seg = self._finish(self._pending_t, forced=True)
            return [seg] if seg is not None else []
        return []
