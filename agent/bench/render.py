"""Render the bench's video frames into raw files, in a child process (``python -m agent.bench.render``).

The bench reads the frames back one at a time (:class:`FileFrames`), each into a fresh buffer as a camera
hands one over, so the measured process holds neither the replay media nor the JPEG decoding and frame
synthesis that make them (measured: rendering in-process added ~17 MB of heap churn and ~7 MB of OpenCV code
pages to the bench's RSS, none of which a daemon with a camera has).

    python -m agent.bench.render DIR idle=FRAMES busy=FRAMES
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

H, W = 480, 640
FRAME_BYTES = H * W * 3


class FileFrames:
    """``n`` frames read from a raw file of ``stored`` 640×480 BGR frames (frame ``i`` is stored frame
    ``i % stored``); each read returns a new array. :meth:`close` releases the file."""

    def __init__(self, path: Path, n: int) -> None:
        self.path = path
        self.n = n
        self.stored = path.stat().st_size // FRAME_BYTES
        if self.stored < 1:
            raise ValueError(f"{path} holds no 640x480 frame: render it with 'python -m agent.bench.render'")
        self._fd: int | None = os.open(path, os.O_RDONLY)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < self.n:
            raise IndexError(i)
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        buf = np.empty((H, W, 3), np.uint8)
        got = os.preadv(self._fd, [buf.data], (i % self.stored) * FRAME_BYTES)
        if got != FRAME_BYTES:
            raise OSError(f"{self.path}: short read of frame {i} ({got} bytes)")
        return buf

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def render_in_child(out_dir: Path, seconds: dict[str, float], fps: float) -> dict[str, Path]:
    """Render ``{"idle": s, "busy": s}`` seconds of frames into ``out_dir`` in a child process."""
    counts = {kind: max(1, int(s * fps)) for kind, s in seconds.items()}
    args = [f"{kind}={n}" for kind, n in counts.items()]
    subprocess.run([sys.executable, "-m", "agent.bench.render", str(out_dir), f"--fps={fps}", *args], check=True)
    return {kind: out_dir / f"{kind}.raw" for kind in counts}


def render(out_dir: Path, counts: dict[str, int], fps: float) -> None:
    """Write ``counts[kind]`` frames of each kind to ``out_dir/KIND.raw`` (idle: only its first
    ``media.IDLE_DISTINCT`` frames, which then repeat)."""
    from . import media

    for kind, n in counts.items():
        if kind == "idle":
            n = min(n, media.IDLE_DISTINCT)
        frames = media.idle_frames(n / fps + 1.0, fps) if kind == "idle" else media.busy_frames(n / fps + 1.0, fps)
        with open(out_dir / f"{kind}.raw", "wb") as f:
            for i in range(n):
                f.write(np.ascontiguousarray(frames[i]).tobytes())


def main(argv: list[str]) -> int:
    out_dir, fps = Path(argv[0]), 15.0
    counts: dict[str, int] = {}
    for arg in argv[1:]:
        if arg.startswith("--fps="):
            fps = float(arg.split("=", 1)[1])
        else:
            kind, n = arg.split("=", 1)
            if kind not in ("idle", "busy"):
                raise SystemExit(f"unknown frame kind {kind!r}: use idle=N or busy=N")
            counts[kind] = int(n)
    render(out_dir, counts, fps)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
