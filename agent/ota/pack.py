"""Build and sign bundles from a model directory (the build-host side of OTA)."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .. import __version__
from ..errors import BundleError
from .bundle import DirSource, Entry, TarSource, is_archive, open_bundle, tar_bytes
from .fsutil import atomic_write_bytes, fsync_dir, remove_tree
from .manifest import (
    ENVELOPE_NAME,
    FileEntry,
    Manifest,
    add_signature,
    format_time,
    sign_envelope,
    unsigned_envelope,
)
from .selftest import SELFTEST_NAME, find_model, make_golden

log = logging.getLogger(__name__)

MODEL_MANIFEST = "manifest.json"


def pack(src: Path, out: Path, *, version: int, key: Ed25519PrivateKey | None,
         human_version: str | None = None, name: str | None = None, kind: str | None = None,
         expires_days: float = 365.0, min_agent_version: str = __version__, release_summary: str = "",
         now: datetime | None = None) -> Manifest:
    """Make a bundle of the model directory ``src`` at ``out`` (a directory, or ``.tar[.gz]``/``.tgz``).

    A golden ``selftest.json`` is generated from the model unless ``src`` already has one. Identity and
    spec (``name``, ``kind``, ``labels``, ``threshold``, ``input``) come from ``src/manifest.json`` when
    present; the arguments override them.
    """
    if not src.is_dir():
        raise BundleError(f"{src} is not a model directory")
    if os.path.lexists(out):
        raise BundleError(f"{out} already exists: choose another --out or remove it")
    files = {e.path: _read(e) for e in DirSource(src).entries()}
    if not files:
        raise BundleError(f"{src} holds no files")
    meta = _model_meta(files.get(MODEL_MANIFEST))
    if SELFTEST_NAME not in files:
        model = find_model(list(files))
        golden = make_golden(src / model, model)
        files[SELFTEST_NAME] = json.dumps(golden, separators=(",", ":")).encode()
    now = now or datetime.now(timezone.utc)
    manifest = Manifest(
        name=name or str(meta.get("name") or src.name),
        version=version,
        human_version=human_version or str(meta.get("human_version") or version),
        kind=kind or str(meta.get("kind") or "model"),
        created=format_time(now),
        expires=format_time(now + timedelta(days=expires_days)),
        min_agent_version=min_agent_version,
        files={p: FileEntry(hashlib.sha256(d).hexdigest(), len(d)) for p, d in sorted(files.items())},
        spec={k: meta[k] for k in ("input", "labels", "threshold") if k in meta},
        selftest=SELFTEST_NAME,
        release_summary=release_summary,
    )
    Manifest.from_payload(manifest.to_payload())  # same validation the device applies
    envelope = sign_envelope(manifest, key) if key is not None else unsigned_envelope(manifest)
    write_bundle(out, envelope, files)
    log.info("packed %s", manifest.summary())
    return manifest


def _read(entry: Entry) -> bytes:
    with entry.open() as f:
        return f.read()


def _model_meta(raw: bytes | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        raise BundleError(f"{MODEL_MANIFEST} of the model directory is not valid JSON: {exc}") from exc
    return meta if isinstance(meta, dict) else {}


def write_bundle(out: Path, envelope: bytes, files: dict[str, bytes]) -> None:
    """Write a bundle atomically: an archive via ``.part`` + rename, a directory via a temp dir + rename."""
    if is_archive(out):
        data = tar_bytes({ENVELOPE_NAME: envelope, **files})
        if out.name.endswith((".gz", ".tgz")):
            data = gzip.compress(data, mtime=0)
        atomic_write_bytes(out, data)
        return
    tmp = out.with_name(out.name + ".part")
    remove_tree(tmp)
    tmp.mkdir(parents=True)
    for rel, data in {**files, ENVELOPE_NAME: envelope}.items():
        target = tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, out)
    fsync_dir(out.parent)


def sign_bundle(path: Path, key: Ed25519PrivateKey) -> Manifest:
    """(Re-)sign an existing bundle in place with ``key``; content hashes are not recomputed."""
    source = open_bundle(path)
    try:
        old = source.envelope()
        if isinstance(source, TarSource):
            files = {e.path: _read(e) for e in source.entries()}
    finally:
        source.close()
    envelope = add_signature(old, key)
    if isinstance(source, DirSource):
        atomic_write_bytes(path / ENVELOPE_NAME, envelope)
    else:
        tmp = path.with_name(path.name + ".resign" + "".join(path.suffixes))
        write_bundle(tmp, envelope, files)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    from .manifest import read_unverified

    return read_unverified(envelope)
