"""Camera frames kept as the JPEG the camera sent, and their small grey look.

A USB camera sends MJPEG; OpenCV hands over the raw JPEG when asked (``CAP_PROP_CONVERT_RGB`` 0 on V4L2), and
:class:`~agent.types.VideoFrame` then decodes it only when something needs the pixels. The checks every frame
gets (is the camera repeating itself, did anything move) use :func:`grey_thumbnail`: the JPEG decoded at 1/8
scale in grey, which libjpeg does from the DC coefficients (measured on the 2-core build machine, a 640×480
frame: ~0.35 ms against ~0.9 ms for the full decode); a frame given as pixels is scaled down to the same size.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from ..errors import SourceError
from ..types import VideoFrame

log = logging.getLogger(__name__)

THUMB_SCALE = 8  # the thumbnail is 1/8 of the frame each way (80×60 for 640×480)
JPEG_SOI = b"\xff\xd8"
MAX_JPEG_BYTES = 16 * 1024 * 1024  # a camera frame larger than this is not a frame: refused before decoding


class JpegCodec:
    """Decodes JPEG bytes with OpenCV (libjpeg-turbo), which also takes the Huffman-table-less JPEGs that some
    MJPEG cameras send, as OpenCV's own V4L2 conversion does."""

    def decode(self, data: np.ndarray) -> np.ndarray:
        return self._imdecode(data, cv2.IMREAD_COLOR)

    def thumbnail(self, data: np.ndarray) -> np.ndarray:
        return self._imdecode(data, cv2.IMREAD_REDUCED_GRAYSCALE_8)

    @staticmethod
    def _imdecode(data: np.ndarray, flags: int) -> np.ndarray:
        img = cv2.imdecode(data, flags)
        if img is None:
            raise SourceError(f"a camera frame of {data.size} bytes is not a decodable JPEG")
        return img


JPEG = JpegCodec()


def as_jpeg(buf: np.ndarray | None) -> np.ndarray | None:
    """``buf`` as a flat uint8 array when it holds one JPEG (what OpenCV's raw mode returns for an MJPEG
    camera: one row of bytes), else None (pixels, or a raw format that is not JPEG)."""
    if buf is None or buf.dtype != np.uint8 or buf.ndim > 2 or (buf.ndim == 2 and min(buf.shape) != 1):
        return None
    flat = buf.reshape(-1)
    if not 2 < flat.size <= MAX_JPEG_BYTES or flat[:2].tobytes() != JPEG_SOI:
        return None
    return flat


def jpeg_frame(data: np.ndarray, t_mono: float, seq: int) -> VideoFrame:
    """A frame holding ``data`` (one JPEG), decoded on demand."""
    return VideoFrame(t_mono=t_mono, seq=seq, encoded=data, codec=JPEG)


def reduce_grey(image: np.ndarray) -> np.ndarray:
    """A BGR (or grey) image scaled to 1/:data:`THUMB_SCALE` each way, in grey: the pixel frames' thumbnail."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    h, w = grey.shape[:2]
    size = (max(1, -(-w // THUMB_SCALE)), max(1, -(-h // THUMB_SCALE)))  # as libjpeg rounds: up
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


def grey_thumbnail(frame: VideoFrame) -> np.ndarray:
    """The frame's small grey image (made once per frame, then shared by whoever asks)."""
    return frame.thumbnail(reduce_grey)
