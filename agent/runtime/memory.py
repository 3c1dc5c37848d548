"""Keep the process's resident memory near what it actually uses (glibc only; a no-op elsewhere).

glibc keeps freed heap memory: every thread (audio, recognizer, video, MQTT) gets its own malloc arena, and
numpy/onnxruntime release buffers that the arenas hold on to. Two glibc settings fix that without touching the
hot paths:

- :func:`limit_malloc_arenas` caps the number of arenas (``M_ARENA_MAX``, default 1: the threads allocate
  little and rarely contend); call it once, before threads start;
- :class:`Trimmer` hands freed heap pages back to the kernel (``malloc_trim``) at most once per period, from
  whichever worker thread calls :meth:`Trimmer.maybe_trim` after its big allocations (≈0.1 ms a call).

The mmap threshold stays dynamic: a fixed one cost CPU per frame or latency per utterance
(``models/reports/runtime.md``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # from glibc's malloc.h
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
