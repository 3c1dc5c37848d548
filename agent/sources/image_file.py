"""Decode user-given image files and video frames with bounded memory.

An image file is hostile input: a 100-byte header can claim 100000 x 100000 pixels, and OpenCV would try to
allocate tens of GB (or fail with a ``cv2.error`` traceback). :func:`read_image` therefore reads the
dimensions from the header first (PNG IHDR, JPEG SOF, BMP, GIF, WebP, TIFF), refuses anything above
:data:`MAX_IMAGE_PIXELS` and only then decodes. Formats whose header we do not parse are refused rather than
decoded blind. :func:`check_video_size` applies the same bound to a video's frame size. Every failure is a
:class:`~agent.errors.SourceError` with a one-line message.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from ..errors import SourceError

MAX_IMAGE_PIXELS = 40_000_000
"""Most pixels (width x height) of an image or video frame we decode: above any camera or phone photo,
and small enough that the decoded BGR image (3 bytes a pixel) stays around 120 MB."""

MAX_IMAGE_BYTES = 256 * 1024 * 1024
"""Largest image file read: an uncompressed image of :data:`MAX_IMAGE_PIXELS` fits well below it."""

FORMATS = "PNG, JPEG, BMP, GIF, WebP or TIFF"

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first SOF segment, walking segment lengths (thumbnails in APP1 are skipped)."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # standalone markers
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any SOF
            return None
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker in _JPEG_SOF:
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        pos += 2 + length
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first IFD's ImageWidth/ImageLength tags."""
    end = "<" if data[:2] == b"II" else ">"
    if len(data) < 8:
        return None
    ifd = struct.unpack(end + "I", data[4:8])[0]
    if ifd + 2 > len(data):
        return None
    count = struct.unpack(end + "H", data[ifd:ifd + 2])[0]
    dims: dict[int, int] = {}
    for i in range(count):
        at = ifd + 2 + 12 * i
        if at + 12 > len(data):
            return None
        tag, typ = struct.unpack(end + "HH", data[at:at + 4])
        if tag in (256, 257):
            dims[tag] = (struct.unpack(end + "H", data[at + 8:at + 10])[0] if typ == 3
                         else struct.unpack(end + "I", data[at + 8:at + 12])[0])
    return (dims[256], dims[257]) if len(dims) == 2 else None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25:
        bits = struct.unpack("<I", data[21:25])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) declared by an image's header, or None when the format is not one we parse."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return w, h
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg_size(data)
    if data[:2] == b"BM" and len(data) >= 26:
        if struct.unpack("<I", data[14:18])[0] == 12:  # OS/2 BITMAPCOREHEADER
            w16, h16 = struct.unpack("<HH", data[18:22])
            return w16, h16
        w, h = struct.unpack("<ii", data[18:26])
        return abs(w), abs(h)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return w, h
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_size(data)
    return None


def is_image(path: Path) -> bool:
    """Whether the file starts with the signature of an image format :func:`read_image` decodes."""
    try:
        with path.open("rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return (head[:8] == b"\x89PNG\r\n\x1a\n" or head[:3] == b"\xff\xd8\xff" or head[:2] == b"BM"
            or head[:6] in (b"GIF87a", b"GIF89a") or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
            or head[:4] in (b"II*\x00", b"MM\x00*"))


def check_pixels(path: Path | str, width: int, height: int, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Refuse a frame size above ``max_pixels`` (or an empty one) with a one-line :class:`SourceError`."""
    if width <= 0 or height <= 0:
        raise SourceError(f"{path}: image declares {width}x{height} pixels: the file is corrupt")
    if width * height > max_pixels:
        raise SourceError(f"{path}: image of {width}x{height} pixels is larger than the {max_pixels / 1e6:g} "
                          "megapixel limit: scale it down first")


def read_image(path: Path | str, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image file as BGR, refusing oversize or unparsable headers before decoding."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise SourceError(f"{p}: image file of {size} bytes is larger than the {MAX_IMAGE_BYTES} byte limit")
        data = p.read_bytes()
    except OSError as exc:
        raise SourceError(f"{p}: cannot read image ({exc.strerror or exc})") from exc
    dims = image_size(data)
    if dims is None:
        raise SourceError(f"{p}: not a readable image (unknown or corrupt header); give a {FORMATS} file")
    check_pixels(p, *dims, max_pixels=max_pixels)
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "decoder error"
        raise SourceError(f"{p}: cannot decode image ({first})") from exc
    if img is None:
        raise SourceError(f"{p}: cannot decode image (corrupt or truncated {FORMATS} file)")
    check_pixels(p, img.shape[1], img.shape[0], max_pixels)  # the header and the decoded size may differ
    return img


def check_video_size(path: Path | str, cap: cv2.VideoCapture, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Refuse an opened video whose frames are larger than ``max_pixels`` before any frame is read."""
    width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width or height:  # 0 x 0 when the backend cannot tell: each frame is checked as it comes
        check_pixels(path, width, height, max_pixels)
