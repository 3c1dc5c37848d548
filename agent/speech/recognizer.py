"""Speech command recognition from a bundle: ``models/bundles/<name>/`` = ``manifest.json`` + ``head.onnx``.

:meth:`CommandRecognizer.load` also loads grammar bundles (``kind: speech-grammar``, intent + slots) as a
:class:`~agent.speech.grammar_recognizer.GrammarRecognizer` (same interface; ``recognize`` fills ``slots``).

The manifest (``kind: speech-commands``) gives the labels (the last is ``unknown``), the calibrated
threshold, the frontend input spec and the sha256 and size of every file, which are checked at load.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..paths import bundles_dir
from ..runtime.session import OnnxModel, load_model
from ..types import CommandScores
from .frontend import CANVAS_SAMPLES, EMBED_DIM, SpeechFrontend
from .sets.base import UNKNOWN, resolve_set_path

log = logging.getLogger(__name__)

KIND = "speech-commands"
GRAMMAR_KIND = "speech-grammar"  # intent + slots: see agent.speech.grammar_recognizer
ASR_KIND = "speech-asr"  # phrases scored by the real-speech recognizer: see agent.speech.asr_recognizer
MANIFEST = "manifest.json"


def manifest_kind(path: Path) -> str:
    """The ``kind`` of a bundle manifest ("" when unreadable: the full reader then says what is wrong)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return str(data.get("kind", "")) if isinstance(data, dict) else ""
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return ""


@dataclass(frozen=True)
class Manifest:
    name: str
    version: int
    human_version: str
    labels: tuple[str, ...]
    threshold: float
    input: dict[str, Any]
    files: dict[str, dict[str, Any]]

    @staticmethod
    def base_fields(path: Path, data: Any, kind: str) -> dict[str, Any]:
        """The checked fields every speech bundle manifest has (the grammar manifest adds its own); malformed
        values raise KeyError/TypeError/ValueError for the caller to report."""
        if data["kind"] != kind:
            raise ModelError(f"{path}: bundle kind is {data['kind']!r}, expected {kind!r}")
        labels = tuple(str(v) for v in data["labels"])
        if len(labels) < 2 or labels[-1] != UNKNOWN:
            raise ModelError(f"{path}: labels must end with '{UNKNOWN}'")
        files = {str(k): dict(v) for k, v in data["files"].items()}
        for fname, meta in files.items():
            if "/" in fname or "\\" in fname or fname.startswith(".") or "sha256" not in meta:
                raise ModelError(f"{path}: bad file entry {fname!r}")
        return {"name": str(data["name"]), "version": int(data["version"]),
                "human_version": str(data.get("human_version", "")), "labels": labels,
                "threshold": float(data["threshold"]), "input": dict(data.get("input", {})), "files": files}

    @classmethod
    def read(cls, path: Path) -> Manifest:
        data = read_manifest_json(path)
        try:
            return cls(**cls.base_fields(path, data, KIND))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"{path}: invalid bundle manifest ({exc!r})") from exc


def read_manifest_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable bundle manifest ({exc})") from exc


def resolve_bundle(name_or_path: str | Path) -> Path:
    """A bundle dir from a built-in name, a bundle dir, a manifest path or a command-set YAML (its name)."""
    p = Path(name_or_path)
    if p.name == MANIFEST and p.is_file():
        return p.parent
    if p.is_dir():
        return p
    if p.suffix in (".yaml", ".yml"):
        from .bundle_cache import find_bundle

        found = find_bundle(resolve_set_path(p))
        if found is None:
            raise ModelError(f"no trained bundle for command set {p}: run 'homeagent models train-commands {p}' "
                             f"(or 'homeagent recognize --commands {p} ...', which trains it on first use)")
        return found
    return bundles_dir() / str(name_or_path)


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
    def load(cls, name_or_path: str | Path = "home", *, frontend: SpeechFrontend | None = None,
             threads: int = 1) -> CommandRecognizer:
        d = resolve_bundle(name_or_path)
        mpath = d / MANIFEST
        if not mpath.is_file():
            have = sorted(p.parent.name for p in bundles_dir().glob(f"*/{MANIFEST}"))
            raise ModelError(f"speech bundle {name_or_path!r}: {mpath} not found "
                             f"(bundles in {bundles_dir()}: {', '.join(have) or 'none'})")
        if manifest_kind(mpath) == GRAMMAR_KIND:
            from .grammar_recognizer import GrammarRecognizer

            return GrammarRecognizer.load(d, frontend=frontend, threads=threads)
        if manifest_kind(mpath) == ASR_KIND:
            from .asr_recognizer import AsrRecognizer

            return AsrRecognizer.load(d, threads=threads)
        manifest = Manifest.read(mpath)
        heads = [f for f in manifest.files if f.endswith(".onnx")]
        if len(heads) != 1:
            raise ModelError(f"{mpath}: expected exactly one .onnx file, found {heads}")
        for fname, meta in manifest.files.items():
            fp = d / fname
            if not fp.is_file():
                raise ModelError(f"speech bundle {d}: file {fname} listed in the manifest is missing")
            if "size" in meta and fp.stat().st_size != int(meta["size"]):
                raise ModelError(f"speech bundle {d}: {fname} has the wrong size: refusing to load")
        head = load_model(d / heads[0], threads=threads, sha256=manifest.files[heads[0]]["sha256"],
                          warm_up=False)
        out = head(np.zeros((1, 8, EMBED_DIM), dtype=np.float32))[0]
        if out.shape != (1, len(manifest.labels)):
            raise ModelError(f"{d / heads[0]}: outputs {out.shape[1:]} scores for {len(manifest.labels)} labels")
        fe = frontend or SpeechFrontend(threads=threads)
        log.info("loaded speech bundle %s v%d (%d labels)", manifest.name, manifest.version,
                 len(manifest.labels))
        return cls(manifest, head, fe, d)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.manifest.labels

    def prepare(self, pcm: np.ndarray) -> np.ndarray:
        """Centre shorter input in a zero canvas of the training length; longer input is used whole."""
        pcm = np.asarray(pcm)
        if len(pcm) >= self.canvas:
            return pcm
        out = np.zeros(self.canvas, dtype=np.int16)
        a = (self.canvas - len(pcm)) // 2
        out[a:a + len(pcm)] = pcm
        return out

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
        label, score = scores.best()
        if label == UNKNOWN or score < self.threshold:
            return None, score
        return label, score
