"""A thread-safe holder for the live model, swapped between frames.

The pipeline's consumer thread calls :meth:`HotSwap.get` once per frame and uses that object for the whole
frame; the updater loads and warms the new model *off* that thread and then calls :meth:`HotSwap.swap`,
which only replaces a reference under a lock. No frame waits for a model load, none is dropped, and a frame
never sees half of one model and half of another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Held(Generic[T]):
    value: T
    generation: int
    label: str


class HotSwap(Generic[T]):
    def __init__(self, initial: T, label: str = "initial") -> None:
        self._lock = threading.Lock()
        self._held = Held(initial, 0, label)
        self._listeners: list[Callable[[Held[T]], None]] = []

    def get(self) -> T:
        return self._held.value  # one reference read: atomic under the GIL, no lock on the hot path

    def held(self) -> Held[T]:
        return self._held

    def swap(self, new: T, label: str = "") -> T:
        """Install ``new`` and return the previous value (keep it to swap back on a failed confirm)."""
        with self._lock:
            old = self._held
            self._held = Held(new, old.generation + 1, label)
            listeners = list(self._listeners)
        for fn in listeners:
            fn(self._held)
        return old.value

    def subscribe(self, fn: Callable[[Held[T]], None]) -> None:
        with self._lock:
            self._listeners.append(fn)
