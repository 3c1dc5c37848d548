"""Recognition of a grammar set (intent + slots) from a ``speech-grammar`` bundle.

The bundle's ``head.onnx`` maps the utterance's speech embeddings to an intent posterior (intents +
``unknown``) and one posterior per slot variable (its canonical values + ``absent``). The decision
(:func:`decide_row`, shared with training so the calibrated threshold means the same thing):

- intent = argmax; rejected (None) when it is ``unknown`` or the confidence is under the threshold;
- slots: when the manifest lists the intent's slot ``patterns`` (the combinations of variables its sentences
  can fill together), the most probable pattern is chosen jointly: each variable in it takes its best value,
  each variable outside it scores ``absent``; so "turn on the {device}" / "turn on the {room} lights" never
  comes out with neither slot, nor with both. Older manifests without patterns: each variable of the intent
  whose head's argmax is a value; a variable every template requires takes its best value even when
  ``absent`` scores higher;
- confidence = p(intent) × the probability of each of its slot decisions (a joint score).

Manifest (``kind: speech-grammar``): ``labels`` (intents + ``unknown``), ``slots`` {variable: labels ending
with ``absent``}, ``intents`` {intent: {slots: [...], required: [...]}}, ``outputs`` (ONNX output names in
order: ``intent`` then ``slot_<variable>``), ``threshold``, ``input``, ``set`` (source format and sha256),
``files`` (sha256 and size of every file, checked at load).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..runtime.session import OnnxModel, load_model
from ..types import CommandScores
from .bundle import ABSENT, HEAD, MANIFEST, GrammarManifest, check_files, split_pattern
from .frontend import CANVAS_SAMPLES, EMBED_DIM, SpeechFrontend
from .recognizer import centre
from .sets.base import UNKNOWN

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class GrammarScores(CommandScores):
    """:class:`CommandScores` plus the joint confidence of the decided intent and slots."""

    confidence: float = 0.0
    slot_scores: dict[str, tuple[float, ...]] = field(default_factory=dict)
    # the utterance may end where it was cut: a whole sentence that no other goes on from (early endpointing)
    final: bool = False


def decide_joint(scores: CommandScores, threshold: float) -> tuple[str | None, float]:
    """(intent, joint confidence of the intent with its slots), or (None, confidence) when the best label is
    unknown or the confidence is under ``threshold``."""
    label, best = scores.best()
    conf = scores.confidence if isinstance(scores, GrammarScores) else best
    if label == UNKNOWN or conf < threshold:
        return None, conf
    return label, conf


def decide_row(intent_probs: np.ndarray, slot_probs: dict[str, np.ndarray], labels: tuple[str, ...],
               intents: dict[str, dict[str, tuple[str, ...]]],
               slot_labels: dict[str, tuple[str, ...]]) -> tuple[str, dict[str, str], float]:
    """(argmax label, its slot values, joint confidence) for one utterance (threshold not applied)."""
    i = int(np.argmax(intent_probs))
    label = labels[i]
    conf = float(intent_probs[i])
    if label == UNKNOWN:
        return label, {}, conf
    meta = intents[label]
    if meta.get("patterns"):
        score, filled = _best_pattern(meta["slots"], meta["patterns"], slot_probs, slot_labels)
        return label, filled, conf * score
    values: dict[str, str] = {}
    for var in meta["slots"]:
        p = slot_probs[var]
        j = int(np.argmax(p[:-1])) if var in meta["required"] else int(np.argmax(p))
        conf *= float(p[j])
        if slot_labels[var][j] != ABSENT:
            values[var] = slot_labels[var][j]
    return label, values, conf


def _best_pattern(variables: tuple[str, ...], patterns: tuple[str, ...], slot_probs: dict[str, np.ndarray],
                  slot_labels: dict[str, tuple[str, ...]]) -> tuple[float, dict[str, str]]:
    """The most probable (score, values) over the grammar's slot patterns; the slot heads are independent, so a
    pattern scores the product of its variables' best values and the others' ``absent``."""
    best_value = {v: int(np.argmax(slot_probs[v][:-1])) for v in variables}
    best: tuple[float, dict[str, str]] = (-1.0, {})
    for pattern in patterns:
        filled = split_pattern(pattern)
        score = 1.0
        for v in variables:
            p = slot_probs[v]
            score *= float(p[best_value[v]]) if v in filled else float(p[-1])
        if score > best[0]:
            best = (score, {v: slot_labels[v][best_value[v]] for v in filled})
    return best


class GrammarRecognizer:
    """A :class:`~agent.speech.recognizer.Recognizer` for grammar bundles: :meth:`recognize` fills ``slots``."""

    def __init__(self, manifest: GrammarManifest, head: OnnxModel, frontend: SpeechFrontend, path: Path) -> None:
        self.manifest = manifest
        self.head = head
        self.frontend = frontend
        self.path = path
        self.threshold = manifest.threshold
        self.canvas = int(manifest.input.get("canvas_samples", CANVAS_SAMPLES))

    @classmethod
    def load(cls, name_or_path: str | Path = "", *, frontend: SpeechFrontend | None = None,
             threads: int = 1) -> GrammarRecognizer:
        d = Path(name_or_path)
        if d.name == MANIFEST:
            d = d.parent
        mpath = d / MANIFEST
        if not mpath.is_file():
            raise ModelError(f"grammar bundle {d}: {MANIFEST} not found")
        manifest = GrammarManifest.read(mpath)
        if list(manifest.files) != [HEAD]:
            raise ModelError(f"{mpath}: a grammar bundle holds exactly one file, {HEAD}")
        check_files(d, manifest.files, what="grammar bundle")
        fp = d / HEAD
        head = load_model(fp, threads=threads, sha256=manifest.files[HEAD]["sha256"], warm_up=False)
        if head.output_names != list(manifest.outputs):
            raise ModelError(f"{fp}: outputs {head.output_names} do not match the manifest {list(manifest.outputs)}")
        outs = head(np.zeros((1, 8, EMBED_DIM), dtype=np.float32))
        sizes = [len(manifest.labels), *(len(v) for v in manifest.slots.values())]
        if [o.shape[1] for o in outs] != sizes:
            raise ModelError(f"{fp}: output sizes {[o.shape[1] for o in outs]} do not match the labels {sizes}")
        fe = frontend or SpeechFrontend(threads=threads)
        log.info("loaded grammar bundle %s v%d (%d intents, %d slots)", manifest.name, manifest.version,
                 len(manifest.labels) - 1, len(manifest.slots))
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
                  snr_db: float = 30.0) -> GrammarScores:
        emb = self.frontend.embed(self.prepare(pcm))
        outs = self.head(emb[None].astype(np.float32))
        probs = outs[0][0]
        slot_probs = {v: o[0] for v, o in zip(self.manifest.slots, outs[1:], strict=True)}
        _, values, conf = decide_row(probs, slot_probs, self.labels, self.manifest.intents, self.manifest.slots)
        return GrammarScores(labels=self.labels, scores=tuple(float(p) for p in probs), t_start=t_start,
                             t_end=t_end, slots=values, snr_db=snr_db, confidence=conf,
                             slot_scores={v: tuple(float(x) for x in p) for v, p in slot_probs.items()})

    def decide(self, scores: CommandScores) -> tuple[str | None, float]:
        """(intent, joint confidence), or (None, confidence) when unknown or under the threshold."""
        return decide_joint(scores, self.threshold)
