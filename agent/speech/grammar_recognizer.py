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
from typing import Any

import numpy as np

from ..errors import ModelError
from ..runtime.session import load_model
from ..types import CommandScores
from .frontend import EMBED_DIM, SpeechFrontend
from .recognizer import MANIFEST, CommandRecognizer, Manifest, read_manifest_json
from .sets.base import UNKNOWN

log = logging.getLogger(__name__)

KIND = "speech-grammar"
ABSENT = "absent"
PATTERN_SEP = "+"  # a slot pattern in memory: its variables joined ("" = no slot); variables are identifiers


def split_pattern(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split(PATTERN_SEP)) if pattern else ()


@dataclass(frozen=True)
class GrammarScores(CommandScores):
    """:class:`CommandScores` plus the joint confidence of the decided intent and slots."""

    confidence: float = 0.0
    slot_scores: dict[str, tuple[float, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class GrammarManifest(Manifest):
    slots: dict[str, tuple[str, ...]] = field(default_factory=dict)
    intents: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    set_info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> GrammarManifest:
        data = read_manifest_json(path)
        try:
            base = Manifest.base_fields(path, data, KIND)
            labels = base["labels"]
            slots = {str(k): tuple(str(x) for x in v) for k, v in data["slots"].items()}
            if any(not v or v[-1] != ABSENT for v in slots.values()):
                raise ModelError(f"{path}: every slot's labels must end with '{ABSENT}'")
            intents = {str(k): {"slots": tuple(v["slots"]), "required": tuple(v["required"]),
                                **({"patterns": tuple(PATTERN_SEP.join(p) for p in v["patterns"])}
                                   if "patterns" in v else {})}
                       for k, v in data["intents"].items()}
            if set(intents) != set(labels[:-1]) or any(s not in slots for v in intents.values() for s in v["slots"]):
                raise ModelError(f"{path}: 'intents' must list every label's slots, all of them in 'slots'")
            if any(var not in v["slots"] for v in intents.values() for p in v.get("patterns", ())
                   for var in split_pattern(p)):
                raise ModelError(f"{path}: an intent's 'patterns' may only name that intent's slots")
            outputs = tuple(str(v) for v in data["outputs"])
            if outputs != ("intent", *(f"slot_{v}" for v in slots)):
                raise ModelError(f"{path}: 'outputs' must be intent then slot_<variable> for every slot")
            return cls(**base, slots=slots, intents=intents, outputs=outputs, set_info=dict(data.get("set", {})))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"{path}: invalid bundle manifest ({exc!r})") from exc


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


class GrammarRecognizer(CommandRecognizer):
    """A :class:`CommandRecognizer` for grammar bundles: :meth:`recognize` fills ``slots``."""

    manifest: GrammarManifest

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
        if list(manifest.files) != ["head.onnx"]:
            raise ModelError(f"{mpath}: a grammar bundle holds exactly one file, head.onnx")
        fp = d / "head.onnx"
        if not fp.is_file():
            raise ModelError(f"grammar bundle {d}: file head.onnx listed in the manifest is missing")
        if "size" in manifest.files["head.onnx"] and fp.stat().st_size != int(manifest.files["head.onnx"]["size"]):
            raise ModelError(f"grammar bundle {d}: head.onnx has the wrong size: refusing to load")
        head = load_model(fp, threads=threads, sha256=manifest.files["head.onnx"]["sha256"], warm_up=False)
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
