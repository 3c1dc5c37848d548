"""The signed bundle manifest.

A bundle carries one file, ``bundle.json``, an envelope in the shape python-tuf uses for its metadata::

    {"signed": {...manifest...}, "signatures": [{"keyid": "<sha256 of raw public key>", "sig": "<base64>"}]}

The signature is Ed25519 over ``DOMAIN + canonical_json(signed)`` (sorted keys, no whitespace, UTF-8, no
NaN), so the bytes that are verified are the bytes that are parsed. The manifest names every file of the
bundle with its size and sha256: one signature covers the metadata and every byte of the content, so files
from two bundles cannot be mixed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .. import strictjson
from ..errors import BundleError

FORMAT = "homeagent-bundle/1"
DOMAIN = b"homeagent-bundle-v1\n"
ENVELOPE_NAME = "bundle.json"
MAX_ENVELOPE_BYTES = 1 << 20
MAX_FILES = 256
MAX_FILE_BYTES = 256 * 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_VERSION = re.compile(r"^\d+(\.\d+){0,3}$")


# ---------------------------------------------------------------- canonical, strict JSON

NAME_SHOWN = 120  # characters of a hostile string that reach an error message, a log line or an event


def clip(text: str, limit: int = NAME_SHOWN) -> str:
    """``text`` cut to ``limit`` characters for messages (repr, with the full length when cut)."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def strict_loads(data: bytes, what: str, max_bytes: int) -> Any:
    """Parse JSON refusing oversized input, invalid UTF-8, duplicate keys and NaN/Infinity."""
    if len(data) > max_bytes:
        raise BundleError(f"{what} is {len(data)} bytes, over the {max_bytes}-byte limit")
    try:
        return strictjson.loads(data)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise BundleError(f"{what} is not valid strict JSON: {exc}") from exc


# ---------------------------------------------------------------- keys

def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def generate_keypair(directory: Path, *, force: bool = False) -> tuple[Path, Path]:
    """Write ``private.pem`` (PKCS#8, mode 0600) and ``public.pem`` into ``directory``."""
    from .fsutil import atomic_write_bytes

    directory.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = directory / "private.pem", directory / "public.pem"
    if not force and (priv_path.exists() or pub_path.exists()):
        raise BundleError(f"{directory} already holds a key pair; pass --force to overwrite it")
    key = Ed25519PrivateKey.generate()
    priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    atomic_write_bytes(priv_path, priv, mode=0o600)
    atomic_write_bytes(pub_path, pub)
    return priv_path, pub_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise BundleError(f"cannot read private key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{path} is not an Ed25519 private key (make one with 'homeagent models keygen')")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read public key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"{path} is not an Ed25519 public key")
    return key


# ---------------------------------------------------------------- manifest

@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """The signed part of ``bundle.json``."""

    name: str
    version: int
    human_version: str
    kind: str
    created: str
    expires: str
    min_agent_version: str
    files: dict[str, FileEntry]
    spec: dict[str, Any] = field(default_factory=dict)
    selftest: str | None = None
    release_summary: str = ""

    def to_payload(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "name": self.name, "version": self.version,
            "human_version": self.human_version, "kind": self.kind, "created": self.created,
            "expires": self.expires, "min_agent_version": self.min_agent_version,
            "files": {p: {"sha256": e.sha256, "size": e.size} for p, e in sorted(self.files.items())},
            "spec": self.spec, "selftest": self.selftest, "release_summary": self.release_summary,
        }

    @classmethod
    def from_payload(cls, d: Any) -> Manifest:
        if not isinstance(d, dict):
            raise BundleError("manifest is not a JSON object")
        keys = {"format", "name", "version", "human_version", "kind", "created", "expires",
                "min_agent_version", "files", "spec", "selftest", "release_summary"}
        if set(d) != keys:
            raise BundleError(f"manifest keys differ from the format: missing {sorted(keys - set(d))}, "
                              f"unknown {sorted(set(d) - keys)}")
        if d["format"] != FORMAT:
            raise BundleError(f"unsupported bundle format {clip(str(d['format']))} (this agent reads {FORMAT})")
        name = _str(d, "name", _NAME)
        version = d["version"]
        if not isinstance(version, int) or isinstance(version, bool) or not 0 < version < 2**53:
            raise BundleError("manifest 'version' must be a positive integer")
        for k in ("created", "expires"):
            parse_time(_str(d, k))
        files = _files(d["files"])
        selftest = d["selftest"]
        if selftest is not None and (not isinstance(selftest, str) or selftest not in files):
            raise BundleError("manifest 'selftest' must name a file listed in 'files'")
        if not isinstance(d["spec"], dict):
            raise BundleError("manifest 'spec' must be an object")
        return cls(name=name, version=version, human_version=_str(d, "human_version"),
                   kind=_str(d, "kind"), created=d["created"], expires=d["expires"],
                   min_agent_version=_str(d, "min_agent_version", _VERSION), files=files, spec=d["spec"],
                   selftest=selftest, release_summary=_str(d, "release_summary", allow_empty=True))

    def summary(self) -> str:
        total = sum(e.size for e in self.files.values())
        return (f"{self.name} v{self.version} ({self.human_version}), kind {self.kind}, "
                f"{len(self.files)} files, {total} bytes, created {self.created}, expires {self.expires}, "
                f"needs agent >= {self.min_agent_version}")


def _str(d: dict[str, Any], key: str, pattern: re.Pattern[str] | None = None,
         allow_empty: bool = False) -> str:
    v = d[key]
    if not isinstance(v, str) or (not v and not allow_empty) or len(v) > 1024:
        raise BundleError(f"manifest {clip(str(key))} must be a non-empty string of at most 1024 characters")
    if pattern is not None and not pattern.match(v):
        raise BundleError(f"manifest {clip(str(key))} = {clip(str(v))} has an invalid form")
    return v


def safe_relpath(p: Any) -> str:
    """Return ``p`` if it is a plain relative POSIX path inside the bundle, else raise BundleError."""
    if not isinstance(p, str) or not p or len(p) > 255 or "\\" in p or "\x00" in p:
        raise BundleError(f"unsafe path {clip(str(p))} in bundle")
    pure = PurePosixPath(p)
    if pure.is_absolute() or pure.as_posix() != p or any(part in ("", ".", "..") for part in p.split("/")):
        raise BundleError(f"unsafe path {clip(str(p))} in bundle: it could escape the slot")
    if p == ENVELOPE_NAME:
        raise BundleError(f"{ENVELOPE_NAME} cannot list itself")
    return p


def _files(raw: Any) -> dict[str, FileEntry]:
    if not isinstance(raw, dict) or not raw or len(raw) > MAX_FILES:
        raise BundleError(f"manifest 'files' must list 1..{MAX_FILES} files")
    out: dict[str, FileEntry] = {}
    for p, e in raw.items():
        safe_relpath(p)
        if not isinstance(e, dict) or set(e) != {"sha256", "size"}:
            raise BundleError(f"manifest entry for {clip(str(p))} must be {{sha256, size}}")
        sha, size = e["sha256"], e["size"]
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise BundleError(f"manifest entry for {clip(str(p))} has an invalid sha256")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_FILE_BYTES:
            raise BundleError(f"manifest entry for {clip(str(p))} has an invalid size")
        out[p] = FileEntry(sha, size)
    lower = [p.lower() for p in out]
    if len(set(lower)) != len(lower):
        raise BundleError("manifest lists paths that differ only in case")
    prefixes = {str(a) for p in out for a in PurePosixPath(p).parents}
    if prefixes & set(out):
        raise BundleError("manifest lists a path that is also a directory of another path")
    return out


def parse_time(s: str) -> datetime:
    try:
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BundleError(f"invalid timestamp {clip(str(s))} in manifest (use ISO 8601 UTC)") from exc
    if t.tzinfo is None:
        raise BundleError(f"timestamp {clip(str(s))} has no timezone")
    return t


def format_time(t: datetime) -> str:
    return t.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def version_tuple(v: str) -> tuple[int, ...]:
    if not _VERSION.match(v):
        raise BundleError(f"invalid version string {clip(str(v))}")
    return tuple(int(x) for x in v.split("."))


# ---------------------------------------------------------------- envelope

def sign_envelope(manifest: Manifest, key: Ed25519PrivateKey) -> bytes:
    signed = manifest.to_payload()
    sig = key.sign(DOMAIN + canonical_json(signed))
    env = {"signed": signed,
           "signatures": [{"keyid": key_id(key.public_key()), "sig": base64.b64encode(sig).decode()}]}
    return json.dumps(env, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False).encode() + b"\n"


def unsigned_envelope(manifest: Manifest) -> bytes:
    env = {"signed": manifest.to_payload(), "signatures": []}
    return json.dumps(env, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False).encode() + b"\n"


def add_signature(envelope: bytes, key: Ed25519PrivateKey) -> bytes:
    """Sign an existing envelope (e.g. one packed with ``--unsigned`` on a build host)."""
    env = strict_loads(envelope, ENVELOPE_NAME, MAX_ENVELOPE_BYTES)
    manifest = Manifest.from_payload(env.get("signed") if isinstance(env, dict) else None)
    return sign_envelope(manifest, key)


def verify_envelope(envelope: bytes, trusted: list[Ed25519PublicKey]) -> Manifest:
    """Check the signature with the trusted keys, then parse the manifest. Raises BundleError."""
    env = strict_loads(envelope, ENVELOPE_NAME, MAX_ENVELOPE_BYTES)
    if not isinstance(env, dict) or set(env) != {"signed", "signatures"}:
        raise BundleError(f"{ENVELOPE_NAME} must be an object with exactly 'signed' and 'signatures'")
    sigs = env["signatures"]
    if not isinstance(sigs, list) or not sigs:
        raise BundleError("bundle is unsigned: sign it with 'homeagent models sign'")
    if not trusted:
        raise BundleError("no trusted public key configured")
    message = DOMAIN + canonical_json(env["signed"])
    by_id = {key_id(k): k for k in trusted}
    for s in sigs[:8]:
        if not isinstance(s, dict) or not isinstance(s.get("keyid"), str) or not isinstance(s.get("sig"), str):
            continue
        key = by_id.get(s["keyid"])
        if key is None:
            continue
        try:
            key.verify(base64.b64decode(s["sig"], validate=True), message)
        except (InvalidSignature, binascii.Error, ValueError) as exc:
            raise BundleError("bundle signature is invalid: the manifest was altered or signed "
                              "by another key") from exc
        return Manifest.from_payload(env["signed"])
    raise BundleError("bundle is not signed by a trusted key (wrong key?)")


def read_unverified(envelope: bytes) -> Manifest:
    """Parse the manifest without checking the signature (for tools that re-sign)."""
    env = strict_loads(envelope, ENVELOPE_NAME, MAX_ENVELOPE_BYTES)
    return Manifest.from_payload(env.get("signed") if isinstance(env, dict) else None)
