"""Speech bundles on disk: ``<dir>/manifest.json`` plus the files it lists.

A manifest's ``kind`` says which recognizer reads it: ``speech-commands`` (a trained head over the speech
embeddings), ``speech-grammar`` (intent + slot heads) or ``speech-asr`` (phrases scored by Whisper, optionally
with a trained head). Every manifest gives the labels (the last is ``unknown``), the calibrated threshold, the
frontend input spec and the sha256 and size of every file; :func:`check_files` is the one check of those files
that every kind uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..runtime.session import sha256_file
from .sets.base import UNKNOWN

KIND = "speech-commands"
GRAMMAR_KIND = "speech-grammar"  # intent + slots: see agent.speech.grammar_recognizer
ASR_KIND = "speech-asr"  # phrases scored by the real-speech recognizer: see agent.speech.asr_recognizer
MANIFEST = "manifest.json"
HEAD = "head.onnx"
ASR_MODEL = "whisper-tiny.en"  # the acoustic model a speech-asr bundle names
ABSENT = "absent"  # the last label of every slot of a grammar bundle
PATTERN_SEP = "+"  # a slot pattern in memory: its variables joined ("" = no slot); variables are identifiers


def manifest_kind(path: Path) -> str:
    """The ``kind`` of a bundle manifest ("" when unreadable: the full reader then says what is wrong)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return str(data.get("kind", "")) if isinstance(data, dict) else ""
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return ""


def read_manifest_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable bundle manifest ({exc})") from exc


def check_files(d: Path, files: dict[str, dict[str, Any]], *, what: str = "speech bundle",
                sha256: bool = False) -> None:
    """Every file the manifest lists exists in ``d`` with its size (where given) and, with ``sha256``, its hash
    (loaders leave the hash of an ONNX file to :func:`~agent.runtime.session.load_model`)."""
    for fname, meta in files.items():
        fp = d / fname
        if not fp.is_file():
            raise ModelError(f"{what} {d}: file {fname} listed in the manifest is missing")
        if "size" in meta and fp.stat().st_size != int(meta["size"]):
            raise ModelError(f"{what} {d}: {fname} has the wrong size: refusing to load")
        if sha256 and sha256_file(fp) != meta["sha256"]:
            raise ModelError(f"{what} {d}: {fname} does not match its sha256: refusing to load")


def verify(d: Path) -> bool:
    """Whether ``d`` holds a complete bundle whose files match their manifest sha256 and size."""
    try:
        files = json.loads((d / MANIFEST).read_text(encoding="utf-8"))["files"]
        if not files or any("size" not in meta for meta in files.values()):
            return False
        check_files(d, files, sha256=True)
        return True
    except (ModelError, OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def split_pattern(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split(PATTERN_SEP)) if pattern else ()


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
            base = Manifest.base_fields(path, data, GRAMMAR_KIND)
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


@dataclass(frozen=True)
class AsrManifest(Manifest):
    phrases: dict[str, tuple[str, ...]] = None  # type: ignore[assignment]
    model: str = ASR_MODEL
    unknown_bias: float = 0.0
    head_threshold: float = 0.5

    @classmethod
    def read(cls, path: Path) -> AsrManifest:
        data = read_manifest_json(path)
        try:
            base = Manifest.base_fields(path, data, ASR_KIND)
            phrases = {str(k): tuple(str(p) for p in v) for k, v in data["phrases"].items()}
            if list(phrases) != list(base["labels"][:-1]) or any(not v or not all(p.strip() for p in v)
                                                                  for v in phrases.values()):
                raise ModelError(f"{path}: 'phrases' must give every label but '{UNKNOWN}' at least one phrase, "
                                 f"in label order")
            model = str(data["asr"]["model"])
            if model != ASR_MODEL:
                raise ModelError(f"{path}: needs the recognizer {model!r}; this version has {ASR_MODEL!r}")
            return cls(**base, phrases=phrases, model=model, unknown_bias=float(data.get("unknown_bias", 0.0)),
                       head_threshold=float(data.get("head_threshold", base["threshold"])))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"{path}: invalid bundle manifest ({exc!r})") from exc
