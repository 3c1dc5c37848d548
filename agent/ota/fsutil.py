"""Crash-safe file primitives: atomic replace with fsync of file and directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

StepHook = Callable[[str], None]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, hook: StepHook | None = None, mode: int = 0o644) -> None:
    """Write ``path.part``, fsync it, ``os.replace`` it over ``path``, fsync the directory.

    ``hook`` (tests only) is called with ``"part_written"`` and ``"replaced"`` between the steps.
    """
    part = path.with_name(path.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
    if hook:
        hook("part_written")
    os.replace(part, path)
    if hook:
        hook("replaced")
    fsync_dir(path.parent)


def remove_tree(path: Path) -> None:
    """Remove a directory tree (never following symlinks); a missing path is fine."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
