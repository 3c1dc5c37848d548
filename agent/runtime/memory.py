"""Keep the process's resident memory near what it actually uses (glibc only; a no-op elsewhere).

Measured with ``homeagent bench`` on this machine: about 20–30 MB of RSS were heap memory already freed but
kept by glibc — every thread (audio, recognizer, video, MQTT) gets its own malloc arena, and numpy/onnxruntime
release buffers that the arenas hold on to. Two glibc settings fix that without touching the hot paths:

- :func:`limit_malloc_arenas` caps the number of arenas (``M_ARENA_MAX``, default 1: the threads allocate
  little and rarely contend); call it once, before threads start;
- :class:`Trimmer` hands freed heap pages back to the kernel (``malloc_trim``) at most once per period, from
  whichever worker thread calls :meth:`Trimmer.maybe_trim` after its big allocations (≈0.1 ms a call).

- :func:`tune_malloc` (what the CLI calls at start) does that and pins the mmap threshold at 1 MiB: buffers
  above it (the speech frontend's 1.4-4.6 MB activation blocks, once per utterance) are mapped for their use
  and unmapped at free instead of leaving holes in the shared heap; 640×480 frames (0.9 MB) stay below it.

A fixed ``M_MMAP_THRESHOLD`` alone (256 KB–4 MB) cut RSS to ~170 MB but cost ~50% more CPU per video frame:
the palm detector and landmark model took a fresh 4-5 MB block per run, page-faulted in every frame. Those two
now run on onnxruntime arenas (``load_model(arena=True)``), which keep their memory; with that, the pinned
threshold measured 177 MB where the dynamic one left 182-192 MB (homeagent bench, busy room, same CPU).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_M_TRIM_THRESHOLD = -1
MMAP_THRESHOLD = 1 << 20  # above a 640×480 BGR frame (921,600 bytes), below the speech activation blocks
TRIM_THRESHOLD = 4 << 20  # free memory at the heap's top beyond this goes back to the kernel at once
_libc: ctypes.CDLL | None = None
_looked_up = False


def _glibc() -> ctypes.CDLL | None:
    global _libc, _looked_up
    if not _looked_up:
        _looked_up = True
        name = ctypes.util.find_library("c")
        try:
            lib = ctypes.CDLL(name) if name else None
            if lib is not None and hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim"):
                _libc = lib
        except OSError:
            _libc = None
    return _libc


def limit_malloc_arenas(n: int = 1) -> bool:
    """Cap glibc malloc arenas at ``n``; True when applied. Respects a ``MALLOC_ARENA_MAX`` already set."""
    import os

    lib = _glibc()
    if lib is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(lib.mallopt(_M_ARENA_MAX, int(n)))


def tune_malloc(arenas: int = 1, mmap_threshold: int = MMAP_THRESHOLD,
                trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Cap the arenas and pin the mmap and trim thresholds (see the module doc); call once at start, before
    threads start. Settings given in the environment (``MALLOC_*``) win. True when the thresholds were set."""
    import os

    limit_malloc_arenas(arenas)
    lib = _glibc()
    if lib is None or "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    return bool(lib.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
        lib.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))


def trim() -> bool:
    """Return free heap memory to the kernel now; True when something was released."""
    lib = _glibc()
    return bool(lib.malloc_trim(0)) if lib is not None else False


class Trimmer:
    """Calls :func:`trim` at most once every ``period_s`` seconds, from any thread."""

    def __init__(self, period_s: float = 10.0) -> None:
        self.period_s = period_s
        self.trims = 0
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def maybe_trim(self) -> None:
        now = time.monotonic()
        if now - self._last < self.period_s or not self._lock.acquire(blocking=False):
            return
        try:
            self._last = now
            trim()
            self.trims += 1
        finally:
            self._lock.release()


TRIMMER = Trimmer()
"""The process-wide trimmer the pipeline's worker threads share."""
