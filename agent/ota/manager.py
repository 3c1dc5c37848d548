"""UpdateManager: fetch → verify → stage → self-test → switch → activate → confirm, or roll back.

It knows nothing of MQTT or the pipeline: state changes go to ``listener(OtaEvent)`` (the lead wires it to
MQTT and the Home Assistant ``update`` entity), and the new model goes live through ``activate(slot,
manifest)`` (typically :func:`model_activator` around the pipeline's :class:`~.hotswap.HotSwap`).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .. import __version__
from ..errors import AgentError, BundleError, PayloadError
from ..runtime.hotswap import HotSwap
from .announce import Announcement, parse_announcement, update_state_payload
from .bundle import Policy, check_policy, extract_verified, open_bundle
from .fetch import FetchLimits, fetch, is_url
from .fsutil import StepHook, remove_tree
from .manifest import Manifest, clip, verify_envelope
from .selftest import find_model, run_isolated, run_selftest
from .store import Store

log = logging.getLogger(__name__)

BUILT_IN = "built-in"  # the installed version while the shipped models run (no bundle installed yet)
T = TypeVar("T")


class OtaState(str, enum.Enum):
    IDLE = "idle"
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    INSTALLING = "installing"
    SELF_TEST = "self-test"
    SWITCHING = "switching"
    INSTALLED = "installed"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


BUSY = {OtaState.DOWNLOADING, OtaState.VERIFYING, OtaState.INSTALLING, OtaState.SELF_TEST, OtaState.SWITCHING}


@dataclass(frozen=True)
class OtaEvent:
    state: OtaState
    message: str
    version: int | None = None
    installed_version: int | None = None

    def to_payload(self) -> dict[str, Any]:
        return {"state": self.state.value, "message": self.message, "version": self.version,
                "installed_version": self.installed_version}


Listener = Callable[[OtaEvent], None]
Activate = Callable[[Path, Manifest], None]


@dataclass
class UpdateManager:
    store: Store
    trusted_keys: list[Ed25519PublicKey]
    activate: Activate | None = None
    listener: Listener | None = None
    limits: FetchLimits = field(default_factory=FetchLimits)
    agent_version: str = __version__
    isolate_selftest: bool = True
    auto_install: bool = False
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    step_hook: StepHook | None = None  # tests: called with each step name (the crash test SIGKILLs there)
    latest: Announcement | None = None
    state: OtaState = OtaState.IDLE
    _busy: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------ events
    def _emit(self, state: OtaState, message: str, version: int | None = None) -> None:
        self.state = state
        ev = OtaEvent(state, message, version, self.store.installed_version() or None)
        (log.warning if state in (OtaState.FAILED, OtaState.ROLLED_BACK) else log.info)(
            "ota %s: %s", state.value, message)
        if self.listener:
            try:
                self.listener(ev)
            except Exception:  # a broken listener must not break an install; it is logged, not hidden
                log.exception("OTA listener failed on %s", state.value)

    def _step(self, name: str) -> None:
        if self.step_hook:
            self.step_hook(name)

    # ------------------------------------------------------------ install
    def install(self, source: str, *, expected_size: int | None = None, expected_sha256: str | None = None,
                confirm: bool = True) -> Manifest:
        """Install a bundle from a URL, an archive or a directory. Raises BundleError/ModelError on refusal;
        the store and the running model are then unchanged."""
        if not self._busy.acquire(blocking=False):
            raise BundleError("an install is already running")
        try:
            with self.store.lock():
                return self._install(source, expected_size, expected_sha256, confirm)
        finally:
            self._busy.release()

    def install_in_background(self, source: str, *, niceness: int = 10, **kwargs: Any) -> threading.Thread:
        """Run :meth:`install` on a new thread whose CPU priority is lowered by ``niceness`` (Linux: per
        thread, inherited by the self-test child), so the frame threads keep the CPU. Join the thread to
        wait; the outcome arrives through the listener."""
        def run() -> None:
            with contextlib.suppress(OSError, AttributeError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
            try:
                self.install(source, **kwargs)
            except AgentError as exc:  # already logged and sent to the listener as FAILED/ROLLED_BACK
                log.debug("background install ended: %s", exc)

        t = threading.Thread(target=run, name="ota-install")
        t.start()
        return t

    def _install(self, source: str, size: int | None, sha: str | None, confirm: bool) -> Manifest:
        download: Path | None = None
        staging: Path | None = None
        try:
            path, download = self._obtain(source, size, sha)
            self._step("fetched")
            manifest, staging = self._verify_and_stage(path)
            self._step("staged")
            self._emit(OtaState.SELF_TEST, "running the golden self-test", manifest.version)
            report = run_isolated(staging) if self.isolate_selftest else run_selftest(staging, manifest)
            self._step("selftested")
            slot = self.store.commit_slot(staging, manifest.version)
            staging = None
            self._step("slot_committed")
            self._emit(OtaState.SWITCHING, f"self-test passed ({report}); switching", manifest.version)
            self.store.switch(manifest, hook=lambda s: self._step(f"switch_{s}"))
            self._step("switched")
        except (AgentError, OSError) as exc:
            err = exc if isinstance(exc, AgentError) else BundleError(f"install failed: {exc}")
            self._emit(OtaState.FAILED, str(err))
            if err is exc:
                raise
            raise err from exc
        finally:
            if staging is not None:
                remove_tree(staging)
            if download is not None:
                download.unlink(missing_ok=True)
        self._activate(slot, manifest)
        if confirm:
            self.store.confirm()
            self._step("confirmed")
        self._emit(OtaState.INSTALLED, f"{manifest.name} v{manifest.version} ({manifest.human_version}) "
                                       f"installed", manifest.version)
        return manifest

    def _obtain(self, source: str, size: int | None, sha: str | None) -> tuple[Path, Path | None]:
        """Download a URL into the store (returns it as the download to delete) or take a local path."""
        if is_url(source):
            self._emit(OtaState.DOWNLOADING, f"fetching {source}")
            download = self.store.new_download(".tar.gz")
            fetch(source, download, self.limits, expected_size=size, expected_sha256=sha)
            return download, download
        path = Path(source)
        if path.is_file() and path.stat().st_size > self.limits.max_bytes:
            raise BundleError(f"{path} is over the {self.limits.max_bytes}-byte cap: refused")
        return path, None

    def _verify_and_stage(self, path: Path) -> tuple[Manifest, Path]:
        """Signature, policy, then a verified copy of every file into a new staging dir."""
        self._emit(OtaState.VERIFYING, f"verifying {path.name}")
        bundle = open_bundle(path)
        try:
            envelope = bundle.envelope()
            manifest = verify_envelope(envelope, self.trusted_keys)
            st = self.store.state()
            check_policy(manifest, Policy(now=self.clock(), agent_version=self.agent_version,
                                          installed_version=self.store.installed_version(),
                                          min_version=st.min_version, expected_name=st.name))
            self._step("verified")
            self._emit(OtaState.INSTALLING, f"unpacking {manifest.name} v{manifest.version}", manifest.version)
            staging = self.store.new_staging()
            try:
                extract_verified(bundle, manifest, staging, envelope,
                                 on_file=lambda _path: self._step("file_extracted"))
            except BaseException:
                remove_tree(staging)
                raise
            return manifest, staging
        finally:
            bundle.close()

    def _activate(self, slot: Path, manifest: Manifest) -> None:
        if self.activate is None:
            return
        try:
            self.activate(slot, manifest)
        except Exception as exc:  # any failure to go live must roll back, whatever raised it
            self.store.rollback(f"activation failed: {exc}")
            self._emit(OtaState.ROLLED_BACK, f"v{manifest.version} failed to go live ({exc}); rolled back")
            raise BundleError(f"activation of v{manifest.version} failed: {exc}; rolled back") from exc
        self._step("activated")

    def confirm(self) -> None:
        """Mark the running slot healthy (call after the pipeline has run on it for a while)."""
        self.store.confirm()

    def confirm_pending(self) -> bool:
        """Confirm a switch still pending from an earlier boot (the daemon calls this once it has run healthy
        for ``ota.confirm_after_s``): without it, clean boots would count as a crash loop and roll back."""
        if self.store.state().pending is None:
            return False
        self.store.confirm()
        self._emit(OtaState.INSTALLED, f"{self.store.state().current} confirmed after a healthy run",
                   self.store.installed_version() or None)
        return True

    def rollback(self, reason: str = "requested") -> Manifest:
        with self.store.lock():
            self.store.rollback(reason)
            cur = self.store.current()
            assert cur is not None
            if self.activate is not None:
                self.activate(*cur)
        self._emit(OtaState.ROLLED_BACK, f"rolled back to v{cur[1].version}: {reason}", cur[1].version)
        return cur[1]

    # ------------------------------------------------------------ delivery
    def handle_announcement(self, raw: bytes) -> Announcement:
        """Record an announcement (MQTT payload); install it right away when ``auto_install``."""
        ann = self._authentic(parse_announcement(raw))
        name = self.store.state().name
        if name is not None and ann.name != name:
            log.debug("ignoring an announcement for %s (this store holds %s)", ann.name, name)
            return ann
        self.latest = ann
        self._emit(OtaState.IDLE, f"{ann.name} v{ann.version} ({ann.human_version}) available", ann.version)
        if self.auto_install and ann.version > max(self.store.installed_version(),
                                                   self.store.state().min_version):
            self.install_latest()
        return ann

    def _authentic(self, ann: Announcement) -> Announcement:
        """``ann`` when it carries its bundle's signed manifest, signed by a trusted key, naming the same bundle
        and versions; a PayloadError otherwise (an unsigned announcement could set any 'latest version')."""
        if ann.envelope is None:
            raise PayloadError("unsigned update announcement ignored: it must carry the bundle's signed "
                               "bundle.json as 'envelope'")
        try:
            m = verify_envelope(ann.envelope.encode(), self.trusted_keys)
        except BundleError as exc:
            raise PayloadError(f"update announcement ignored: {exc}") from exc
        if (m.name, m.version, m.human_version) != (ann.name, ann.version, ann.human_version):
            raise PayloadError(f"update announcement ignored: it names {clip(ann.name)} v{ann.version} "
                               f"({clip(ann.human_version)}), its signed manifest {m.name} v{m.version}")
        return ann

    def install_latest(self) -> Manifest:
        """What Home Assistant's install button triggers."""
        if self.latest is None:
            raise BundleError("no update has been announced")
        a = self.latest
        return self.install(a.url, expected_size=a.size, expected_sha256=a.sha256)

    def ha_state(self) -> bytes:
        cur = self.store.current()
        installed = cur[1].human_version if cur else BUILT_IN  # HA's update entity needs a string
        newer = self.latest is not None and self.latest.version > (cur[1].version if cur else 0)
        latest = self.latest.human_version if self.latest and newer else installed
        summary = self.latest.release_summary if self.latest else (cur[1].release_summary if cur else "")
        title = (self.latest.title if self.latest and self.latest.title else
                 (cur[1].name if cur else "model"))
        return update_state_payload(installed_version=installed, latest_version=latest, title=title,
                                    release_summary=summary, in_progress=self.state in BUSY,
                                    release_url=self.latest.release_url if self.latest else None)

    # ------------------------------------------------------------ start-up
    def start(self, load: Callable[[Path, Manifest], T]) -> T | None:
        """At agent start: count the boot (crash-loop rollback), load the current slot, and fall back to
        the previous slot if it cannot be loaded."""
        boot = self.store.boot()
        if boot.rolled_back:
            self._emit(OtaState.ROLLED_BACK, boot.message)
        if boot.slot is None or boot.manifest is None:
            return None
        try:
            return load(boot.slot, boot.manifest)
        except AgentError as exc:
            st = self.store.rollback(f"current slot failed to load: {exc}")
            self._emit(OtaState.ROLLED_BACK, st.last_event)
            cur = self.store.current()
            assert cur is not None
            return load(*cur)


def load_slot_model(slot: Path, manifest: Manifest, threads: int = 1) -> Any:
    """Load and warm the ONNX model of a slot (hash-checked against the manifest)."""
    from ..runtime.session import load_model

    name = find_model(list(manifest.files))
    return load_model(slot / name, threads=threads, sha256=manifest.files[name].sha256)


def model_activator(holder: HotSwap[Any], threads: int = 1) -> Activate:
    """An ``activate`` that loads and warms the slot's model off the frame thread, then swaps it in."""
    def activate(slot: Path, manifest: Manifest) -> None:
        model = load_slot_model(slot, manifest, threads)
        holder.swap(model, label=f"{manifest.name} v{manifest.version}")
    return activate
