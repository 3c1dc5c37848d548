"""Frozen message types passed between pipeline stages.

All timestamps named ``t_*`` are seconds on ``time.monotonic()``; ``wall_*`` are Unix seconds.
Types that travel over the wire have ``to_payload()`` / ``from_payload()``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .errors import PayloadError

INTENT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class AudioFrame:
    """A block of 16-bit mono PCM. ``t_mono`` is the monotonic time of its first sample."""

    pcm: np.ndarray
    sample_rate: int
    t_mono: float
    seq: int

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.sample_rate


class FrameCodec(Protocol):
    """Decodes a camera's encoded frame (a JPEG): in full to BGR pixels, or small and grey (about 1/8 of
    each side) for the checks most frames get and no more: motion, and a camera repeating itself."""

    def decode(self, data: np.ndarray) -> np.ndarray: ...

    def thumbnail(self, data: np.ndarray) -> np.ndarray: ...


class VideoFrame:
    """A frame captured at ``t_mono``: a BGR uint8 image (H, W, 3), given as pixels or as the camera's encoded
    bytes (``encoded``, with the ``codec`` that decodes them), decoded on first use of :attr:`image`.

    Why lazy: a USB camera sends MJPEG, and most frames of a room with no hand in view are only looked at
    small and grey (the motion gate, the stall fingerprint), which a JPEG decodes to at 1/8 scale for a
    third of the cost of a full decode; only the frames the hand tracker runs on are decoded in full.
    Immutable once made; the decodes are cached (decoding twice in a race between threads is harmless).
    """

    __slots__ = ("_image", "_thumb", "codec", "encoded", "seq", "t_mono")

    def __init__(self, image: np.ndarray | None = None, t_mono: float = 0.0, seq: int = 0, *,
                 encoded: np.ndarray | None = None, codec: FrameCodec | None = None) -> None:
        if image is None and (encoded is None or codec is None):
            raise ValueError("a VideoFrame needs its image, or its encoded bytes and their codec")
        for name, value in (("t_mono", t_mono), ("seq", seq), ("encoded", encoded), ("codec", codec),
                            ("_image", image), ("_thumb", None)):
            object.__setattr__(self, name, value)

    t_mono: float
    seq: int
    encoded: np.ndarray | None
    codec: FrameCodec | None
    _image: np.ndarray | None
    _thumb: np.ndarray | None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"VideoFrame is immutable (setting {name!r})")

    def __repr__(self) -> str:
        kind = "pixels" if self.encoded is None else f"encoded {len(self.encoded.reshape(-1))} bytes"
        return f"VideoFrame(t_mono={self.t_mono!r}, seq={self.seq!r}, {kind})"

    @property
    def decoded(self) -> bool:
        """Whether the full image exists yet (given as pixels, or decoded already)."""
        return self._image is not None

    @property
    def image(self) -> np.ndarray:
        """The BGR image, decoded from ``encoded`` on first use."""
        if self._image is None:
            assert self.codec is not None and self.encoded is not None
            object.__setattr__(self, "_image", self.codec.decode(self.encoded))
        assert self._image is not None
        return self._image

    def thumbnail(self, reduce: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """The small grey image: the codec's reduced decode of ``encoded``, or ``reduce(image)`` for a frame
        given as pixels; made once per frame (the camera's stall check and the motion gate share it)."""
        if self._thumb is None:
            small = self.codec.thumbnail(self.encoded) if self.codec is not None and self.encoded is not None \
                else reduce(self.image)
            object.__setattr__(self, "_thumb", small)
        assert self._thumb is not None
        return self._thumb


@dataclass(frozen=True)
class Segment:
    """One utterance cut by the VAD segmenter."""

    pcm: np.ndarray
    sample_rate: int
    t_start: float
    t_end: float
    speech_ratio: float = 1.0
    snr_db: float = 30.0
    forced_end: bool = False

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.sample_rate


@dataclass(frozen=True)
class CommandScores:
    """Posteriors of one utterance over a command set's labels (the last label may be ``unknown``)."""

    labels: tuple[str, ...]
    scores: tuple[float, ...]
    t_start: float
    t_end: float
    slots: dict[str, str] = field(default_factory=dict)
    snr_db: float = 30.0
    # the recognizer's own decision (intent or None, confidence), as the voice-only agent would act on it; set by
    # the audio path so that fusion decides an utterance with no gesture partner exactly as voice alone
    voice_decision: tuple[str | None, float] | None = None

    def best(self) -> tuple[str, float]:
        i = int(np.argmax(self.scores))
        return self.labels[i], float(self.scores[i])


@dataclass(frozen=True)
class Hand:
    """One detected hand: 21 landmarks in image pixels (x right, y down)."""

    landmarks: np.ndarray
    handedness: str
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class GestureEvent:
    """A stable gesture (static pose, swipe or pointing) over ``[t_start, t_end]``."""

    gesture: str
    score: float
    t_start: float
    t_end: float
    hand_size: float = 0.0
    visibility: float = 1.0
    pointing_target: str | None = None


def _require(payload: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in payload:
        raise PayloadError(f"intent payload: missing key '{key}'")
    value = payload[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise PayloadError(f"intent payload: key '{key}' has type {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Intent:
    """A recognized intent, ready to publish."""

    name: str
    confidence: float
    t_start: float
    t_end: float
    slots: dict[str, str] = field(default_factory=dict)
    modalities: tuple[str, ...] = ("voice",)
    site_id: str = "default"
    wall_start: float = 0.0
    wall_end: float = 0.0
    ttl_s: float = 5.0
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def create(cls, name: str, confidence: float, t_start: float, t_end: float, **kw: Any) -> Intent:
        """Build an intent, filling wall-clock times from the monotonic span."""
        offset = time.time() - time.monotonic()
        return cls(name=name, confidence=confidence, t_start=t_start, t_end=t_end,
                   wall_start=t_start + offset, wall_end=t_end + offset, **kw)

    def expires_at_wall(self) -> float:
        return self.wall_end + self.ttl_s

    def to_payload(self) -> dict[str, Any]:
        return {
            "schema": INTENT_SCHEMA_VERSION,
            "id": self.id,
            "intent": {"intentName": self.name, "confidenceScore": round(self.confidence, 4)},
            "name": self.name,
            "slots": dict(self.slots),
            "confidence": self.confidence,
            "modalities": list(self.modalities),
            "siteId": self.site_id,
            "t_start": self.t_start,
            "t_end": self.t_end,
            "wall_start": self.wall_start,
            "wall_end": self.wall_end,
            "ttl_s": self.ttl_s,
        }

    @classmethod
    def from_payload(cls, payload: Any) -> Intent:
        if not isinstance(payload, dict):
            raise PayloadError("intent payload must be a JSON object")
        schema = _require(payload, "schema", int)
        if schema != INTENT_SCHEMA_VERSION:
            raise PayloadError(f"intent payload: schema {schema} unsupported (expected {INTENT_SCHEMA_VERSION})")
        slots = _require(payload, "slots", dict)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in slots.items()):
            raise PayloadError("intent payload: slots must map strings to strings")
        modalities = _require(payload, "modalities", list)
        if not all(isinstance(m, str) for m in modalities):
            raise PayloadError("intent payload: modalities must be strings")
        num = (int, float)
        return cls(
            id=_require(payload, "id", str),
            name=_require(payload, "name", str),
            slots=dict(slots),
            confidence=float(_require(payload, "confidence", num)),
            modalities=tuple(modalities),
            site_id=_require(payload, "siteId", str),
            t_start=float(_require(payload, "t_start", num)),
            t_end=float(_require(payload, "t_end", num)),
            wall_start=float(_require(payload, "wall_start", num)),
            wall_end=float(_require(payload, "wall_end", num)),
            ttl_s=float(_require(payload, "ttl_s", num)),
        )
