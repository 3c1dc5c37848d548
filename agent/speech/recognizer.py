"""The :class:`Recognizer` interface every speech recognizer has, and :class:`CommandRecognizer`: a
``speech-commands`` bundle (``manifest.json`` + ``head.onnx``), a trained head over the speech embeddings.

:func:`agent.speech.load.load_bundle` loads any bundle by its kind; :func:`agent.speech.load.load_recognizer`
is the one choice of recognizer for a command set.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import ModelError
from ..runtime.session import OnnxModel, load_model
from ..types import CommandScores
from .bundle import MANIFEST, Manifest, check_files
from .frontend import CANVAS_SAMPLES, EMBED_DIM, SpeechFrontend
from .sets.base import UNKNOWN

log = logging.getLogger(__name__)


class Recognizer(Protocol):
    """Scores one utterance against a command set's labels (the last is ``unknown``) and decides."""

    threshold: float  # what :meth:`decide` needs (settable: ``speech.threshold`` overrides the bundle's)

    @property
    def labels(self) -> tuple[str, ...]: ...

    @property
    def name(self) -> str: ...  # the command set's (or bundle's) name, for reports

    @property
    def version(self) -> int: ...

    @property
    def canvas(self) -> int: ...  # samples of the window the recognizer was made for (false-accept scans)

    def recognize(self, pcm: np.ndarray, t_start: float = 0.0, t_end: float = 0.0,
                  snr_db: float = 30.0) -> CommandScores: ...

    def decide(self, scores: CommandScores) -> tuple[str | None, float]: ...


def decide_threshold(scores: CommandScores, threshold: float) -> tuple[str | None, float]:
    """(label, score), or (None, score) when the best label is unknown or under ``threshold``."""
    label, score = scores.best()
    if label == UNKNOWN or score < threshold:
        return None, score
    return label, score


def centre(pcm: np.ndarray, canvas: int) -> np.ndarray:
    """Centre shorter input in a zero canvas of the training length; longer input is used whole."""
    pcm = np.asarray(pcm)
    if len(pcm) >= canvas:
        return pcm
    out = np.zeros(canvas, dtype=np.int16)
    a = (canvas - len(pcm)) // 2
    out[a:a + len(pcm)] = pcm
    return out


def load_head(fp: Path, sha256: str, n_labels: int, threads: int) -> OnnxModel:
    """A trained head over the embeddings (hash-checked), checked to output one score per label."""
    head = load_model(fp, threads=threads, sha256=sha256, warm_up=False)
    out = head(np.zeros((1, 8, EMBED_DIM), dtype=np.float32))[0]
    if out.shape != (1, n_labels):
        raise ModelError(f"{fp}: outputs {out.shape[1:]} scores for {n_labels} labels")
    return head


class CommandRecognizer:
    """Scores one utterance against a command set; :meth:`decide` applies the calibrated threshold."""

    def __init__(self, manifest: Manifest, head: OnnxModel, frontend: SpeechFrontend, path: Path) -> None:
        self.manifest = manifest
        self.head = head
        self.frontend = frontend
        self.path = path
        self.threshold = manifest.threshold
        self.canvas = int(manifest.input.get("canvas_samples", CANVAS_SAMPLES))

    @classmethod
    def load(cls, d: Path, *, frontend: SpeechFrontend | None = None, threads: int = 1) -> CommandRecognizer:
        """The ``speech-commands`` bundle in directory ``d``."""
        mpath = d / MANIFEST
        manifest = Manifest.read(mpath)
        heads = [f for f in manifest.files if f.endswith(".onnx")]
        if len(heads) != 1:
            raise ModelError(f"{mpath}: expected exactly one .onnx file, found {heads}")
        check_files(d, manifest.files)
        head = load_head(d / heads[0], manifest.files[heads[0]]["sha256"], len(manifest.labels), threads)
        fe = frontend or SpeechFrontend(threads=threads)
        log.info("loaded speech bundle %s v%d (%d labels)", manifest.name, manifest.version,
                 len(manifest.labels))
        return cls(manifest, head, fe, d)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.manifest.labels

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> int:
        return self.manifest.version

    def prepare(self, pcm: np.ndarray) -> np.ndarray:
        return centre(pcm, self.canvas)

    def recognize(self, pcm: np.ndarray, t_start: float = 0.0, t_end: float = 0.0,
                  snr_db: float = 30.0) -> CommandScores:
        """Posteriors over :attr:`labels` for one utterance of int16 16 kHz mono PCM (e.g. a VAD
        :class:`~agent.types.Segment`'s ``pcm``, ``t_start``, ``t_end``, ``snr_db``)."""
        emb = self.frontend.embed(self.prepare(pcm))
        probs = self.head(emb[None].astype(np.float32))[0][0]
        return CommandScores(labels=self.labels, scores=tuple(float(p) for p in probs),
                             t_start=t_start, t_end=t_end, snr_db=snr_db)

    def decide(self, scores: CommandScores) -> tuple[str | None, float]:
        """(intent, confidence), or (None, confidence) when the best label is unknown or under threshold."""
        return decide_threshold(scores, self.threshold)
