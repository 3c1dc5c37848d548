"""Render the bench's video frames as MJPEG files, in a child process (``python -m agent.bench.render``).

A USB camera delivers MJPEG at 640×480 and OpenCV decodes every frame; the bench does the same: the frames are
synthesized and JPEG-encoded once here (quality 85), and :class:`MjpegFrames` decodes one per read, into a
fresh buffer, in the measured process. The measured process holds neither the replay media nor the frame
synthesis that makes them (measured: rendering in-process added ~17 MB of heap churn and ~7 MB of OpenCV code
pages to the bench's RSS, none of which a daemon with a camera has).

    python -m agent.bench.render DIR [--fps=F] idle=FRAMES busy=FRAMES
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

H, W = 480, 640
JPEG_QUALITY = 85


class MjpegFrames:
    """``n`` frames from ``path`` (JPEG frames back to back, their offsets in ``path.idx``); frame ``i`` is
    stored frame ``i % stored``, decoded on each read into a new array. :meth:`close` releases the data."""

    def __init__(self, path: Path, n: int) -> None:
        self.path = path
        self.n = n
        self._offsets = np.fromfile(path.with_suffix(".idx"), np.int64)
        self.stored = len(self._offsets) - 1
        if self.stored < 1:
            raise ValueError(f"{path} holds no frame: render it with 'python -m agent.bench.render'")
        self._data: bytes | None = path.read_bytes()

    def __len__(self) -> int:
        return self.n

    def jpeg(self, i: int) -> np.ndarray:
        """The encoded bytes of frame ``i`` (as a camera hands them to the decoder)."""
        if not 0 <= i < self.n:
            raise IndexError(i)
        if self._data is None:
            raise ValueError(f"{self.path} is closed")
        k = i % self.stored
        return np.frombuffer(self._data, np.uint8, int(self._offsets[k + 1] - self._offsets[k]),
                             int(self._offsets[k]))

    def __getitem__(self, i: int) -> np.ndarray:
        img = cv2.imdecode(self.jpeg(i), cv2.IMREAD_COLOR)
        if img is None or img.shape != (H, W, 3):
            raise OSError(f"{self.path}: frame {i} does not decode to a 640x480 image")
        return img

    def close(self) -> None:
        self._data = None


def render_in_child(out_dir: Path, seconds: dict[str, float], fps: float) -> dict[str, Path]:
    """Render ``{"idle": s, "busy": s}`` seconds of frames into ``out_dir`` in a child process."""
    counts = {kind: max(1, int(s * fps)) for kind, s in seconds.items()}
    args = [f"{kind}={n}" for kind, n in counts.items()]
    subprocess.run([sys.executable, "-m", "agent.bench.render", str(out_dir), f"--fps={fps}", *args], check=True)
    return {kind: out_dir / f"{kind}.mjpeg" for kind in counts}


def render(out_dir: Path, counts: dict[str, int], fps: float) -> None:
    """Write ``counts[kind]`` JPEG frames of each room to ``out_dir/KIND.mjpeg`` (+ ``.idx``)."""
    from . import media

    for kind, n in counts.items():
        frames = media.idle_room_frames(n / fps + 1.0, fps) if kind == "idle" \
            else media.busy_room_frames(n / fps + 1.0, fps)
        offsets = [0]
        with open(out_dir / f"{kind}.mjpeg", "wb") as f:
            for i in range(n):
                ok, buf = cv2.imencode(".jpg", frames[i], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if not ok:
                    raise OSError(f"cannot encode {kind} frame {i}")
                f.write(buf.tobytes())
                offsets.append(offsets[-1] + len(buf))
        np.asarray(offsets, np.int64).tofile(out_dir / f"{kind}.idx")


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
