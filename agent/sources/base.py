"""The one-method source interface (plus open/close), shared by live devices and replays."""

from __future__ import annotations

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
