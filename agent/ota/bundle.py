"""Bundle containers (a directory or a tar archive) and verified extraction.

Nothing in a bundle is trusted until it matches the signed manifest: extraction streams each file through
sha256 into a fresh slot with ``O_EXCL | O_NOFOLLOW``, refuses any path that is not a plain relative path
listed in the manifest, any symlink, hard link, device or FIFO, any size that differs from the manifest,
and any missing or extra file.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import stat
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import BundleError
from .manifest import (
    ENVELOPE_NAME,
    MAX_ENVELOPE_BYTES,
    MAX_FILES,
    Manifest,
    clip,
    parse_time,
    safe_relpath,
    verify_envelope,
    version_tuple,
)

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
_CHUNK = 1 << 16
# a GNU long-name / long-link or PAX header is read whole by tarfile before anything can check it: its declared
# size is bounded first (real names are under PATH_MAX, 4 KiB; PAX records a few hundred bytes)
MAX_TAR_HEADER_BYTES = 16 * 1024
_EXTENDED = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
             tarfile.SOLARIS_XHDTYPE)
class _BoundedTarInfo(tarfile.TarInfo):
    """A tar header whose extended name / PAX record is refused above :data:`MAX_TAR_HEADER_BYTES` before it
    is read into memory."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENDED and self.size > MAX_TAR_HEADER_BYTES:
            raise tarfile.HeaderError(f"an extended tar header of {self.size} bytes (over {MAX_TAR_HEADER_BYTES})")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    open: Callable[[], IO[bytes]]


class BundleSource(Protocol):
    def envelope(self) -> bytes: ...
    def entries(self) -> Iterator[Entry]: ...
    def close(self) -> None: ...


def is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


class DirSource:
    """A bundle laid out as a directory: ``bundle.json`` next to the files."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def envelope(self) -> bytes:
        return _read_regular(self.root / ENVELOPE_NAME, MAX_ENVELOPE_BYTES)

    def entries(self) -> Iterator[Entry]:
        count = 0
        stack = [""]
        while stack:
            rel_dir = stack.pop()
            with os.scandir(self.root / rel_dir if rel_dir else self.root) as it:
                for de in sorted(it, key=lambda d: d.name):
                    rel = f"{rel_dir}/{de.name}" if rel_dir else de.name
                    if rel == ENVELOPE_NAME:
                        continue
                    st = os.lstat(de.path)
                    if stat.S_ISLNK(st.st_mode):
                        raise BundleError(f"bundle entry {clip(rel)} is a symlink: refused")
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(rel)
                        continue
                    if not stat.S_ISREG(st.st_mode):
                        raise BundleError(f"bundle entry {clip(rel)} is not a regular file: refused")
                    count += 1
                    if count > MAX_FILES:
                        raise BundleError(f"bundle has more than {MAX_FILES} files")
                    path = de.path
                    yield Entry(rel, st.st_size, lambda p=path: _open_nofollow(p))  # type: ignore[misc]

    def close(self) -> None:
        pass


class TarSource:
    """A bundle packed as a tar (optionally gzip) archive, read as a stream in one pass.

    ``bundle.json`` must be the first member; every later member is checked (regular file, safe path,
    no duplicate) before its data is read, and :func:`verify_contents` refuses it before reading when it
    is not in the signed manifest or its size differs. So a hostile archive (a decompression bomb, a
    million members) costs at most the signed sizes to read, never more.
    """

    def __init__(self, path: Path) -> None:
        self.name = path.name
        try:
            self.tar = tarfile.open(path, "r|*", tarinfo=_BoundedTarInfo)  # noqa: SIM115 (closed by close())
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BundleError(f"{path.name} is not a readable tar archive: {exc}") from exc
        self.seen: set[str] = set()
        self.count = 0

    def _next(self) -> tuple[str, tarfile.TarInfo] | None:
        while True:
            try:
                m = self.tar.next()
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                raise BundleError(f"{clip(self.name)} is not a readable tar archive: {exc}") from exc
            if m is None:
                return None
            self.count += 1
            if self.count > 2 * MAX_FILES:
                raise BundleError(f"archive {self.name} has too many members")
            name = m.name[2:] if m.name.startswith("./") else m.name
            if m.issym() or m.islnk():
                raise BundleError(f"archive member {clip(m.name)} is a link (-> {clip(m.linkname)}): refused")
            if m.isdir():
                if name.rstrip("/") not in ("", "."):  # 'tar -C dir .' adds the root itself
                    safe_relpath(name.rstrip("/"))
                continue
            if not m.isreg():
                raise BundleError(f"archive member {clip(m.name)} is not a regular file: refused")
            if name in self.seen:
                raise BundleError(f"archive member {clip(m.name)} appears twice: refused")
            self.seen.add(name)
            if name != ENVELOPE_NAME:
                safe_relpath(name)
            return name, m

    def envelope(self) -> bytes:
        first = self._next()
        if first is None or first[0] != ENVELOPE_NAME:
            raise BundleError(f"archive does not start with {ENVELOPE_NAME}: it is not a signed bundle")
        if first[1].size > MAX_ENVELOPE_BYTES:
            raise BundleError(f"{ENVELOPE_NAME} is over {MAX_ENVELOPE_BYTES} bytes")
        with self._open(first[1]) as f:
            return f.read(MAX_ENVELOPE_BYTES + 1)

    def _open(self, m: tarfile.TarInfo) -> IO[bytes]:
        f = self.tar.extractfile(m)
        if f is None:
            raise BundleError(f"cannot read archive member {clip(m.name)}")
        return f

    def entries(self) -> Iterator[Entry]:
        """The members after ``bundle.json`` (call :meth:`envelope` first)."""
        while (item := self._next()) is not None:
            name, m = item
            if name == ENVELOPE_NAME:
                raise BundleError(f"{ENVELOPE_NAME} appears twice in the archive")
            yield Entry(name, m.size, lambda m=m: self._open(m))  # type: ignore[misc]

    def close(self) -> None:
        self.tar.close()


def open_bundle(path: Path) -> BundleSource:
    st = os.lstat(path) if os.path.lexists(path) else None
    if st is None:
        raise BundleError(f"bundle {path} not found")
    if stat.S_ISDIR(st.st_mode):
        return DirSource(path)
    if stat.S_ISREG(st.st_mode):
        return TarSource(path)
    raise BundleError(f"bundle {path} is neither a directory nor a regular file")


def _open_nofollow(path: str) -> IO[bytes]:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    return os.fdopen(fd, "rb")


def _read_regular(path: Path, limit: int) -> bytes:
    if not os.path.lexists(path):
        raise BundleError(f"bundle has no {path.name}: it is not a signed bundle")
    try:
        with _open_nofollow(str(path)) as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise BundleError(f"{path.name} is not a regular file")
            data = f.read(limit + 1)
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc} (a symlink is refused)") from exc
    if len(data) > limit:
        raise BundleError(f"{path.name} is over {limit} bytes")
    return data


# ---------------------------------------------------------------- verification

@dataclass(frozen=True)
class Policy:
    """What a bundle must satisfy beyond its signature."""

    now: datetime
    agent_version: str
    installed_version: int = 0
    min_version: int = 0
    expected_name: str | None = None
    max_clock_skew_s: float = 300.0


def check_policy(m: Manifest, p: Policy) -> None:
    """Refuse an expired, future-dated, rolled-back, foreign or too-new-for-this-agent bundle."""
    if p.expected_name is not None and m.name != p.expected_name:
        raise BundleError(f"bundle is for {m.name!r}, this store holds {p.expected_name!r}")
    if parse_time(m.expires) <= p.now:
        raise BundleError(f"bundle {m.name} v{m.version} expired at {m.expires}")
    if (parse_time(m.created) - p.now).total_seconds() > p.max_clock_skew_s:
        raise BundleError(f"bundle was created in the future ({m.created}): check the clock")
    if m.version <= p.installed_version:
        raise BundleError(f"bundle version {m.version} is not newer than the installed version "
                          f"{p.installed_version}: rollback refused")
    if m.version <= p.min_version:
        raise BundleError(f"bundle version {m.version} is not above the minimum version {p.min_version} "
                          f"this device has accepted: rollback refused")
    if version_tuple(m.min_agent_version) > version_tuple(p.agent_version):
        raise BundleError(f"bundle needs agent >= {m.min_agent_version}, this is {p.agent_version}: "
                          f"upgrade the agent first")


def verify_contents(source: BundleSource, manifest: Manifest, dest: Path | None = None,
                    on_file: Callable[[str], None] | None = None) -> None:
    """Stream every file through sha256 (into ``dest`` when given) and compare with the manifest."""
    seen: set[str] = set()
    for entry in source.entries():
        expected = manifest.files.get(entry.path)
        if expected is None:
            raise BundleError(f"file {clip(entry.path)} is not in the signed manifest: refused")
        if entry.size != expected.size:
            raise BundleError(f"file {clip(entry.path)} is {entry.size} bytes, the manifest says {expected.size}")
        seen.add(entry.path)
        digest = _copy_hashed(entry, expected.size, None if dest is None else dest / entry.path, dest)
        if digest != expected.sha256:
            raise BundleError(f"file {clip(entry.path)} does not match its sha256 in the manifest: "
                              f"tampered or from another bundle")
        if on_file:
            on_file(entry.path)
    missing = sorted(set(manifest.files) - seen)
    if missing:
        raise BundleError(f"bundle is missing files listed in its manifest: {missing}")


def _copy_hashed(entry: Entry, size: int, target: Path | None, root: Path | None) -> str:
    h = hashlib.sha256()
    out: IO[bytes] | None = None
    if target is not None and root is not None:
        _mkdirs_inside(root, target.parent)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        out = os.fdopen(fd, "wb")
    try:
        with entry.open() as f:
            left = size
            while left >= 0:
                chunk = _read_chunk(f, min(_CHUNK, left + 1), entry.path)
                if not chunk:
                    break
                left -= len(chunk)
                if left < 0:
                    raise BundleError(f"file {clip(entry.path)} is longer than the manifest says")
                h.update(chunk)
                if out is not None:
                    out.write(chunk)
            if left != 0:
                raise BundleError(f"file {clip(entry.path)} is shorter than the manifest says")
        if out is not None:
            out.flush()
            os.fsync(out.fileno())
    finally:
        if out is not None:
            out.close()
    return h.hexdigest()


def _read_chunk(f: IO[bytes], n: int, path: str) -> bytes:
    try:
        return f.read(n)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:  # a truncated or damaged download
        raise BundleError(f"archive is truncated or damaged while reading {clip(path)}: {exc}") from exc


def _mkdirs_inside(root: Path, d: Path) -> None:
    rel = d.relative_to(root)
    cur = root
    for part in rel.parts:
        cur = cur / part
        if os.path.lexists(cur):
            if not stat.S_ISDIR(os.lstat(cur).st_mode):
                raise BundleError(f"{cur} exists and is not a directory")
        else:
            os.mkdir(cur, 0o755)


def verify_bundle(path: Path, trusted: list[Ed25519PublicKey], policy: Policy | None = None, *,
                  into: Path | None = None) -> Manifest:
    """Verify a bundle (signature, policy when given, every file) and return its manifest; with ``into`` (an
    empty directory) also write the verified copy there."""
    source = open_bundle(path)
    try:
        envelope = source.envelope()
        manifest = verify_envelope(envelope, trusted)
        if policy is not None:
            check_policy(manifest, policy)
        if into is not None:
            extract_verified(source, manifest, into, envelope)
        else:
            verify_contents(source, manifest)
        return manifest
    finally:
        source.close()


def extract_verified(source: BundleSource, manifest: Manifest, dest: Path, envelope: bytes,
                     on_file: Callable[[str], None] | None = None) -> None:
    """Write a verified copy of the bundle into the empty directory ``dest``."""
    verify_contents(source, manifest, dest, on_file)
    fd = os.open(dest / ENVELOPE_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(envelope)
        f.flush()
        os.fsync(f.fileno())


def tar_bytes(files: dict[str, bytes]) -> bytes:
    """A deterministic tar (gzip when used by ``pack``) of name → content, in the given order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
