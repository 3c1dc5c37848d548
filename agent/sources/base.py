"""The one-method source interface (plus open/close), shared by live devices and replays."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T", covariant=True)


class Source(Protocol, Generic[T]):
    """A frame source. ``read`` returns the next frame, or None when none arrived within ``timeout``.

    ``exhausted`` becomes True when a finite source (a replay) has delivered its last frame.
    ``stats`` counts what happened (frames, overflows, stalls) for health reporting.
    """

    exhausted: bool

    def open(self) -> None: ...

    def read(self, timeout: float) -> T | None: ...

    def close(self) -> None: ...

    @property
    def stats(self) -> dict[str, int]: ...


def wait_until(due: float, timeout: float, clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> float | None:
    """Real-time pacing of replays: sleep until ``due`` (monotonic seconds).

    Returns how late we are (>= 0 s) once ``due`` has passed, or None after sleeping ``timeout`` without
    reaching it (the caller returns "no frame yet", like a live device would).
    """
    wait = due - clock()
    if wait > timeout:
        sleep(timeout)
        return None
    if wait > 0:
        sleep(wait)
        return 0.0
    return -wait
