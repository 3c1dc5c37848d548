"""Early endpointing for the audio path: end an utterance at a short pause when the recognizer says it is whole.

The VAD segmenter offers the utterance so far at the first ``speech.early_end.pause_ms`` of silence inside it
(:meth:`~agent.audio.vad.Segmenter.take_pause`, once per pause). The recognizer thread decodes it; when the
recognizer holds a whole sentence of the set that no sentence of another meaning goes on from
(:attr:`~agent.speech.grammar_recognizer.GrammarScores.final`), with ``confidence`` or more, and the pause is
still going on, the utterance ends there and is acted on at once, instead of after the VAD hangover
(:meth:`~agent.audio.vad.Segmenter.end_at_pause`). Otherwise the result is kept: if the hangover then ends the
utterance in that same pause (no speech since), the recognizer is not run again on what is the same speech
with a little more trailing silence. So a pause costs at most one extra decode, and only when speech goes on.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np

from ..config.schema import EarlyEndConfig
from ..speech.grammar_recognizer import GrammarScores
from ..types import CommandScores, Segment


class Decides(Protocol):
    def recognize(self, pcm: np.ndarray, t_start: float = 0.0, t_end: float = 0.0) -> CommandScores: ...

    def decide(self, scores: CommandScores) -> tuple[str | None, float]: ...


class EarlyEnd:
    """The early-end decision and the kept result of the last pause's decode; ``lock`` guards the segmenter
    (the audio thread pushes frames into it, the recognizer thread ends an utterance in it)."""

    def __init__(self, cfg: EarlyEndConfig) -> None:
        self.cfg = cfg
        self.lock = threading.Lock()
        self._kept: tuple[int, CommandScores] | None = None
        self.probes = 0  # pauses decoded
        self.ends = 0  # utterances ended early
        self.reused = 0  # hangover ends that reused their pause's decode

    def ends_here(self, scores: CommandScores, decision: tuple[str | None, float]) -> bool:
        """Whether an utterance decoded at a pause may end there: a decided intent, a whole sentence that cannot
        go on, and at least ``cfg.confidence``."""
        return (isinstance(scores, GrammarScores) and scores.final and decision[0] is not None
                and scores.confidence >= self.cfg.confidence)

    def keep(self, pause: int, scores: CommandScores) -> None:
        """The decode of pause number ``pause`` that did not end its utterance (the latest only)."""
        self._kept = (pause, scores)

    def reuse(self, pause: int | None, seg: Segment) -> CommandScores | None:
        """The kept decode when ``seg`` ended by the hangover in pause number ``pause``, with ``seg``'s times."""
        kept, self._kept = self._kept, None
        if pause is None or kept is None or kept[0] != pause:
            return None
        self.reused += 1
        return dataclasses.replace(kept[1], t_start=seg.t_start, t_end=seg.t_end)

    def attempt(self, recognizer: Decides, seg: Segment, pause: int,
                end: Callable[[int], Segment | None]) -> tuple[Segment, CommandScores] | None:
        """Decode ``seg``, the utterance so far at pause number ``pause`` (on the recognizer thread). When it is
        whole, ``end(pause)`` ends it in the segmenter if that pause still goes on: that utterance and its scores,
        to act on now; None when it waits for the hangover (the decode is kept) or speech went on."""
        scores = recognizer.recognize(seg.pcm, seg.t_start, seg.t_end)
        self.probes += 1
        ended = end(pause) if self.ends_here(scores, recognizer.decide(scores)) else None
        if ended is None:
            # it waits for the hangover, or speech went on (the hangover's segment will not match), or a decode
            # slower than the hangover found the utterance ended in this very pause: that segment reuses it
            self.keep(pause, scores)
            return None
        self.ends += 1
        return ended, scores
