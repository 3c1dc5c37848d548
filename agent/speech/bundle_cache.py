"""Find or train the bundle of a command set given as a YAML file, cached by the set's content hash.

Lookup order for a set file: a committed bundle in ``models/bundles/<name>/`` made from exactly this content
(grammar bundles record the set's sha256; a flat bundle — trained heads or the real-speech recognizer's
phrases — is used when its labels match the set's), then
``<cache>/commands/<key>/`` (``$HOMEAGENT_CACHE``, default ``~/.cache/homeagent``), where ``key`` hashes the
set's bytes and the training version. :func:`ensure_bundle` trains a missing one (``python -m
models.speech.train.train_grammar`` in a child process: the runtime never imports torch) into a temporary folder
that is renamed into place, under a file lock, so concurrent runs neither corrupt nor duplicate it. A cached
bundle that fails verification (partial, tampered) is deleted and rebuilt.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import AgentError, ModelError
from ..paths import bundles_dir, cache_dir, models_dir
from .bundle import ASR_KIND, GRAMMAR_KIND, KIND, MANIFEST, manifest_kind, verify
from .sets.base import SETS_DIR
from .sets.commands import CommandSet
from .sets.loader import load_any_set

log = logging.getLogger(__name__)

TRAIN_VERSION = 1
SCALE_ENV = "HOMEAGENT_TRAIN_SCALE"  # < 1 trains on fewer utterances (tests); part of the cache key
WORKERS_ENV = "HOMEAGENT_TRAIN_WORKERS"  # training processes for a set trained on first use (1 or 2)


def train_scale() -> float:
    raw = os.environ.get(SCALE_ENV, "1")
    try:
        scale = float(raw)
    except ValueError as exc:
        raise AgentError(f"{SCALE_ENV}={raw!r} is not a number") from exc
    if not 0.0 < scale <= 4.0:
        raise AgentError(f"{SCALE_ENV}={raw!r} must be in (0, 4]")
    return scale


def train_workers() -> int:
    raw = os.environ.get(WORKERS_ENV, "2")
    if not raw.isdigit() or not 1 <= int(raw) <= 2:
        raise AgentError(f"{WORKERS_ENV}={raw!r} must be 1 or 2")
    return int(raw)


def set_key(path: Path) -> str:
    h = hashlib.sha256(path.read_bytes())
    h.update(f"|train-v{TRAIN_VERSION}".encode())
    scale = train_scale()
    if scale != 1.0:
        h.update(f"|scale{scale}".encode())
    return h.hexdigest()[:20]


def cache_root() -> Path:
    return cache_dir() / "commands"


def _committed(path: Path) -> Path | None:
    cset = load_any_set(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    for m in sorted(bundles_dir().glob(f"*/{MANIFEST}")):  # a grammar bundle made from these exact bytes
        if manifest_kind(m) == GRAMMAR_KIND:
            info = json.loads(m.read_text(encoding="utf-8")).get("set", {})
            if isinstance(info, dict) and info.get("sha256") == sha:
                return m.parent
    d = bundles_dir() / cset.name
    kind = manifest_kind(d / MANIFEST)
    if not kind:
        return None
    data = json.loads((d / MANIFEST).read_text(encoding="utf-8"))
    builtin = SETS_DIR / f"{cset.name}.yaml"
    if kind in (KIND, ASR_KIND) and (
            (builtin.is_file() and builtin.read_bytes() == path.read_bytes())
            or (isinstance(cset, CommandSet) and tuple(data.get("labels", ())) == tuple(cset.labels))):
        return d
    return None


def find_bundle(path: Path) -> Path | None:
    """The committed or cached bundle trained from exactly this set file, or None."""
    found = _committed(path)
    if found is not None:
        return found
    d = cache_root() / set_key(path)
    return d if verify(d) else None


def run_training(module: str, args: list[str], what: str, kind: str, *, hint: str = "", note: str = "") -> None:
    """Train a bundle with ``python -m <module> <args>`` in a child process (the runtime never imports torch or
    ``models``), from the repository checkout that holds the training code; ``what`` names the set or phrase
    in messages, ``kind`` what it is ("a command set")."""
    root = models_dir().parent
    if not (root / (module.replace(".", "/") + ".py")).is_file():
        raise ModelError(f"{what} has no trained bundle and the training code is not under "
                         f"{root}/models/speech: train it from a repository checkout")
    try:
        import torch  # noqa: F401  (a heavy optional import: is it installed?)
    except ImportError as exc:
        raise ModelError(f"training {kind} needs torch: pip install 'homeagent[train]'{hint}") from exc
    cmd = [sys.executable, "-m", module, *args]
    log.info("training %s%s: %s", what, note, " ".join(cmd))
    # the child's stdout (its JSON report) goes to our stderr: our stdout is one JSON object per file
    proc = subprocess.run(cmd, cwd=root, stdout=2, check=False)
    if proc.returncode != 0:
        raise ModelError(f"training {what} failed (exit {proc.returncode}); see the messages above")


def _train(path: Path, dest: Path, workers: int) -> None:
    run_training("models.speech.train.train_grammar",
                 [str(path.resolve()), "--out", str(dest), "--workers", str(workers), "--scale", str(train_scale())],
                 f"command set {path}", "a command set",
                 hint=" (or pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu)")


def ensure_bundle(path: Path, *, workers: int = 1) -> Path:
    """The bundle for set file ``path``, training and caching it first if there is none."""
    found = _committed(path)
    if found is not None:
        return found
    return build_cached(cache_root(), set_key(path), lambda out: _train(path, out, workers),
                        f"command set {path}")


def build_cached(root: Path, key: str, train: Callable[[Path], None], what: str) -> Path:
    """``root/key`` as a verified bundle: built by ``train(tmp_dir)`` under a file lock when it is missing or
    corrupt, then moved into place atomically (a concurrent run waits, then finds the finished bundle)."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / key
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if verify(final):
            return final
        if final.exists():
            log.warning("cached bundle of %s in %s is incomplete or corrupt: rebuilding it", what, final)
            shutil.rmtree(final, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{key}.tmp-", dir=root))
        try:
            train(tmp)
            if not verify(tmp):
                raise ModelError(f"training {what} produced no valid bundle in {tmp}")
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final
