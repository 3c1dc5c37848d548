"""The one choice of speech recognizer for a command set, used by the daemon, ``homeagent recognize`` and
``homeagent eval speech``; and loading a bundle by its kind."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import AgentError, ConfigError, ModelError
from ..paths import bundles_dir
from ..types import CommandScores
from .asr_grammar import AsrGrammarRecognizer, decodes_sentences
from .asr_recognizer import AsrRecognizer
from .bundle import ASR_KIND, GRAMMAR_KIND, MANIFEST, manifest_kind
from .bundle_cache import ensure_bundle, find_bundle, train_workers
from .frontend import SpeechFrontend
from .grammar_recognizer import GrammarRecognizer
from .recognizer import CommandRecognizer, Recognizer
from .sets.base import is_grammar_file, resolve_set_path
from .sets.commands import load_command_set
from .whisper.model import asr_available

log = logging.getLogger(__name__)

Choice = Literal["bundle", "whisper", "auto"]


def daemon_choice(commands: str | Path, choice: Choice) -> Literal["bundle", "whisper"]:
    """What the daemon runs for ``speech.recognizer``: ``auto`` is the best recognizer on real voices that
    needs no training on the device — Whisper constrained to the set for sets of sentences (grammar sets,
    Rhino contexts, flat sets with multi-word phrases; nothing trained, and on real voices it is the more
    accurate and by far the fewer false accepts: ``models/speech/reports/real_sentences.md``), the set's bundle
    otherwise (single words: a head with Whisper's ranking, ``real_speech.md``), and the bundle when the
    recognizer's model is not built."""
    if choice != "auto":
        return choice
    p = Path(commands)
    if p.is_dir() or p.name == MANIFEST:
        return "bundle"
    set_path = resolve_set_path(commands)
    if set_path.is_file() and decodes_sentences(set_path):
        if asr_available():
            return "whisper"
        log.warning("speech.recognizer auto: the speech recognizer model is not built (python -m "
                    "models.speech.fetch.fetch_asr): using the trained bundle of %s", set_path)
    return "bundle"


def resolve_bundle(name_or_path: str | Path) -> Path:
    """A bundle dir from a built-in name, a bundle dir, a manifest path or a command-set YAML (its name)."""
    p = Path(name_or_path)
    if p.name == MANIFEST and p.is_file():
        return p.parent
    if p.is_dir():
        return p
    if p.suffix in (".yaml", ".yml"):
        found = find_bundle(resolve_set_path(p))
        if found is None:
            raise ModelError(f"no trained bundle for command set {p}: run 'homeagent models train-commands {p}' "
                             f"(or 'homeagent recognize --commands {p} ...', which trains it on first use)")
        return found
    return bundles_dir() / str(name_or_path)


def load_bundle(name_or_path: str | Path = "home", *, frontend: SpeechFrontend | None = None,
                threads: int = 1) -> Recognizer:
    """The recognizer of a bundle (name, dir, manifest or set YAML), by its manifest's kind."""
    d = resolve_bundle(name_or_path)
    mpath = d / MANIFEST
    if not mpath.is_file():
        have = sorted(p.parent.name for p in bundles_dir().glob(f"*/{MANIFEST}"))
        raise ModelError(f"speech bundle {name_or_path!r}: {mpath} not found "
                         f"(bundles in {bundles_dir()}: {', '.join(have) or 'none'})")
    kind = manifest_kind(mpath)
    if kind == GRAMMAR_KIND:
        return GrammarRecognizer.load(d, frontend=frontend, threads=threads)
    if kind == ASR_KIND:
        return AsrRecognizer.load(d, threads=threads)
    return CommandRecognizer.load(d, frontend=frontend, threads=threads)


def load_recognizer(commands: str | Path = "home", *, recognizer: Choice = "bundle", int8: bool = True,
                    threshold: float | None = None, bundle: str | Path | None = None) -> Recognizer:
    """The recognizer for ``commands`` (a built-in set name, a set YAML, a bundle dir or manifest).

    * ``bundle``: the set's bundle, never trained here (the daemon's ``speech.recognizer: bundle``);
    * ``whisper``: the set's sentences decoded by the real-speech recognizer (``speech.recognizer: whisper``);
    * ``auto`` (``homeagent recognize``, ``eval speech``): sets of sentences (grammar sets, Rhino contexts, flat
      sets with multi-word phrases) are decoded by the real-speech recognizer when its model is built, nothing
      trained; other sets use their bundle, trained and cached on first use when there is none.

    ``bundle`` (an OTA slot) overrides ``commands`` and the choice; ``threshold`` overrides the recognizer's.
    """
    rec: Recognizer
    if bundle is not None or recognizer == "bundle":
        rec = load_bundle(bundle or commands, frontend=SpeechFrontend(int8=int8))
    elif recognizer == "whisper":
        set_path = resolve_set_path(commands)
        if not set_path.is_file():
            raise ConfigError(f"speech.commands: {str(commands)!r} is not a command set (a built-in name or "
                              f"a YAML path), which speech.recognizer: whisper needs")
        rec = AsrGrammarRecognizer.from_set(set_path)
    else:
        rec = _auto(commands)
    if threshold is not None:
        rec.threshold = threshold
    answers = _answers(commands if bundle is None else rec)
    return AnswersOnlyWhenAsked(rec, answers) if answers else rec


class AnswersOnlyWhenAsked:
    """A recognizer whose set marks some intents as answers (``answers: [yes, no]``): :meth:`decide` never
    returns them, so they are never acted on as free-standing commands; the scores still carry them, which is
    what the fusion engine reads while a confirmation waits. Everything else is the wrapped recognizer's."""

    def __init__(self, inner: Recognizer, answers: tuple[str, ...]) -> None:
        self.inner = inner
        self.answers = answers

    @property
    def labels(self) -> tuple[str, ...]:
        return self.inner.labels

    @property
    def threshold(self) -> float:
        return self.inner.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.inner.threshold = value

    def recognize(self, pcm: np.ndarray, t_start: float = 0.0, t_end: float = 0.0,
                  snr_db: float = 30.0) -> CommandScores:
        return self.inner.recognize(pcm, t_start, t_end, snr_db)

    def decide(self, scores: CommandScores) -> tuple[str | None, float]:
        name, conf = self.inner.decide(scores)
        return (None, conf) if name in self.answers else (name, conf)

    def __getattr__(self, name: str) -> Any:  # frontend, asr, manifest, ... of the wrapped recognizer
        return getattr(self.inner, name)


def _answers(source: str | Path | Recognizer) -> tuple[str, ...]:
    """The ``answers`` of the command set behind ``source`` (a set name or file; a recognizer: its set by name)."""
    name = source if isinstance(source, str | Path) else getattr(getattr(source, "manifest", None), "name", "")
    try:
        path = resolve_set_path(name)
        return load_command_set(path).answers if path.is_file() and not is_grammar_file(path.read_text()) else ()
    except (AgentError, OSError, UnicodeDecodeError):
        return ()


def _auto(name_or_file: str | Path) -> Recognizer:
    p = Path(name_or_file)
    if not p.is_dir() and p.name != MANIFEST:
        set_path = resolve_set_path(name_or_file)
        if set_path.is_file():
            if decodes_sentences(set_path):
                if asr_available():
                    return AsrGrammarRecognizer.from_set(set_path)
                log.warning("the speech recognizer model is not built (python -m models.speech.fetch.fetch_asr): "
                            "using a trained bundle for %s", set_path)
            return load_bundle(ensure_bundle(set_path, workers=train_workers()))
    return load_bundle(name_or_file)
