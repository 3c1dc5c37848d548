"""The on-device model store: versioned slots and one atomically replaced state file.

Layout of a store directory::

    state.json          {"current", "previous", "min_version", "pending", "name", "last_event"}
    slots/v<N>/         a verified, self-tested copy of bundle N (with its bundle.json)
    staging/            slots being built; anything here after a crash is garbage
    downloads/          bundles being fetched
    .lock               flock held by an install, a rollback or a boot

``state.json`` *is* the ``current`` pointer: it is only ever replaced whole (write ``.part``, fsync, rename,
fsync dir), so after a crash at any instant it names either the old or the new slot. ``min_version`` is the
highest version ever switched to; installs must exceed it (rollback protection survives a rollback).
``pending`` marks a switch that is not yet confirmed healthy; each boot counts an attempt and too many
unconfirmed boots roll back to ``previous`` (crash-loop protection).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import BundleError
from .fsutil import StepHook, atomic_write_bytes, fsync_dir, remove_tree
from .manifest import ENVELOPE_NAME, MAX_ENVELOPE_BYTES, Manifest, read_unverified, strict_loads

log = logging.getLogger(__name__)

STATE_NAME = "state.json"
DEFAULT_MAX_BOOT_ATTEMPTS = 3


@dataclass(frozen=True)
class Pending:
    slot: str
    boot_attempts: int = 0


@dataclass(frozen=True)
class StoreState:
    current: str | None = None
    previous: str | None = None
    min_version: int = 0
    pending: Pending | None = None
    name: str | None = None
    last_event: str = ""

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, d: Any) -> StoreState:
        if not isinstance(d, dict):
            raise BundleError("store state is not a JSON object")
        p = d.get("pending")
        return cls(current=d.get("current"), previous=d.get("previous"), min_version=int(d.get("min_version", 0)),
                   pending=Pending(p["slot"], int(p["boot_attempts"])) if isinstance(p, dict) else None,
                   name=d.get("name"), last_event=str(d.get("last_event", "")))


@dataclass(frozen=True)
class BootResult:
    slot: Path | None
    manifest: Manifest | None
    rolled_back: bool
    message: str


def slot_name(version: int) -> str:
    return f"v{version}"


class Store:
    def __init__(self, root: Path, *, max_boot_attempts: int = DEFAULT_MAX_BOOT_ATTEMPTS) -> None:
        self.root = root
        self.max_boot_attempts = max_boot_attempts
        for sub in ("slots", "staging", "downloads"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------ reading
    def state(self) -> StoreState:
        path = self.root / STATE_NAME
        if not path.exists():
            return StoreState()
        return StoreState.from_payload(strict_loads(path.read_bytes(), str(path), 1 << 20))

    def slot_path(self, name: str) -> Path:
        return self.root / "slots" / name

    def manifest_of(self, slot: str) -> Manifest:
        return read_unverified((self.slot_path(slot) / ENVELOPE_NAME).read_bytes()[: MAX_ENVELOPE_BYTES + 1])

    def current(self) -> tuple[Path, Manifest] | None:
        st = self.state()
        if st.current is None:
            return None
        return self.slot_path(st.current), self.manifest_of(st.current)

    def installed_version(self) -> int:
        cur = self.current()
        return cur[1].version if cur else 0

    # ------------------------------------------------------------ writing
    def _write(self, st: StoreState, hook: StepHook | None = None) -> None:
        atomic_write_bytes(self.root / STATE_NAME, json.dumps(st.to_payload(), indent=1).encode(), hook)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise BundleError(f"store {self.root} is busy with another install") from exc
            yield
        finally:
            os.close(fd)

    def new_staging(self) -> Path:
        path = self.root / "staging" / uuid.uuid4().hex
        path.mkdir()
        return path

    def new_download(self, suffix: str) -> Path:
        return self.root / "downloads" / (uuid.uuid4().hex + suffix)

    def commit_slot(self, staging: Path, version: int) -> Path:
        """Move a verified, self-tested staging dir to ``slots/v<N>`` (replacing a stale unused one)."""
        st = self.state()
        name = slot_name(version)
        if name in (st.current, st.previous):
            raise BundleError(f"slot {name} is in use: refusing to overwrite it")
        target = self.slot_path(name)
        remove_tree(target)
        fsync_dir(staging)
        os.replace(staging, target)
        fsync_dir(target.parent)
        return target

    def switch(self, manifest: Manifest, hook: StepHook | None = None) -> None:
        """Point ``current`` at the new slot (one atomic state write); the switch is pending until confirmed."""
        st = self.state()
        name = slot_name(manifest.version)
        new = StoreState(current=name, previous=st.current, min_version=max(st.min_version, manifest.version),
                         pending=Pending(name, 0), name=manifest.name,
                         last_event=f"switched to {manifest.name} v{manifest.version}")
        self._write(new, hook)

    def confirm(self) -> None:
        st = self.state()
        if st.pending is not None:
            self._write(replace(st, pending=None, last_event=f"confirmed {st.current}"))

    def rollback(self, reason: str) -> StoreState:
        """Point ``current`` back at ``previous``. ``min_version`` stays: the bad version cannot return."""
        st = self.state()
        if st.previous is None:
            raise BundleError("nothing to roll back to: no previous slot")
        new = StoreState(current=st.previous, previous=None, min_version=st.min_version, pending=None,
                         name=st.name, last_event=f"rolled back from {st.current}: {reason}")
        self._write(new)
        log.warning("rolled back %s -> %s: %s", st.current, st.previous, reason)
        return new

    def boot(self) -> BootResult:
        """Call once at agent start: count an unconfirmed boot, roll back a crash loop, clean up garbage."""
        st = self.state()
        rolled = False
        msg = "no bundle installed" if st.current is None else f"running {st.current}"
        pending = st.pending
        if pending is not None:
            attempts = pending.boot_attempts + 1
            if attempts > self.max_boot_attempts and st.previous is not None:
                st = self.rollback(f"{attempts - 1} boots without confirmation (crash loop)")
                rolled, msg = True, st.last_event
            else:
                st = replace(st, pending=Pending(pending.slot, attempts))
                self._write(st)
                msg = f"running {st.current}, unconfirmed boot {attempts}/{self.max_boot_attempts}"
        self.gc()
        if st.current is None:
            return BootResult(None, None, rolled, msg)
        return BootResult(self.slot_path(st.current), self.manifest_of(st.current), rolled, msg)

    def gc(self) -> None:
        """Remove staging/download leftovers and slots that are neither current nor previous."""
        st = self.state()
        keep = {st.current, st.previous}
        (self.root / (STATE_NAME + ".part")).unlink(missing_ok=True)
        for d in ("staging", "downloads"):
            for p in (self.root / d).iterdir():
                remove_tree(p)
        for p in (self.root / "slots").iterdir():
            if p.name not in keep:
                remove_tree(p)
