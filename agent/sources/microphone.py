"""Live microphone through sounddevice (PortAudio): 16 kHz mono int16 blocks, overflows counted."""

from __future__ import annotations

import logging
import queue
import time
from typing import Any

import numpy as np

from ..errors import DeviceUnavailable, SourceError
from ..types import AudioFrame

log = logging.getLogger(__name__)

RATE = 16000


def _sounddevice() -> Any:
    try:
        import sounddevice as sd
    except OSError as exc:  # PortAudio library missing
        raise SourceError("cannot use the microphone: the PortAudio library is missing "
                          "(install the Debian package libportaudio2)") from exc
    return sd


def resolve_device(sd: Any, device: str | int | None) -> int | None:
    """An input device index from a name substring or index; None = default."""
    if device is None or isinstance(device, int):
        return device
    if device.isdigit():
        return int(device)
    matches = [i for i, d in enumerate(sd.query_devices())
               if device.lower() in d["name"].lower() and d["max_input_channels"] > 0]
    if not matches:
        names = [d["name"] for d in sd.query_devices() if d["max_input_channels"] > 0]
        raise DeviceUnavailable(f"no input device matches {device!r}; available: {names or 'none'}")
    return matches[0]


class MicrophoneSource:
    def __init__(self, device: str | int | None = None, block_ms: int = 32, max_queue: int = 200) -> None:
        self.device = device
        self.block = RATE * block_ms // 1000
        self._queue: queue.Queue[AudioFrame] = queue.Queue(maxsize=max_queue)
        self._stream: Any = None
        self._seq = 0
        self._overflows = 0
        self._dropped = 0
        self.exhausted = False

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        now = time.monotonic()
        if status and status.input_overflow:
            self._overflows += 1
        frame = AudioFrame(pcm=indata[:, 0].copy(), sample_rate=RATE, t_mono=now - frames / RATE, seq=self._seq)
        self._seq += 1
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            self._dropped += 1

    def open(self) -> None:
        sd = _sounddevice()
        index = resolve_device(sd, self.device)
        try:
            self._stream = sd.InputStream(samplerate=RATE, channels=1, dtype="int16", blocksize=self.block,
                                          device=index, callback=self._callback)
            self._stream.start()
        except Exception as exc:  # PortAudioError and friends
            self._stream = None
            raise DeviceUnavailable(f"cannot open microphone {self.device!r}: {exc}; "
                                    "check it is plugged in and the user is in the 'audio' group") from exc
        log.info("microphone %r open (%d-sample blocks)", self.device, self.block)

    def read(self, timeout: float = 1.0) -> AudioFrame | None:
        if self._stream is None:  # e.g. reopening after the privacy switch failed: the caller retries
            raise DeviceUnavailable(f"microphone {self.device!r} is not open")
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            if self._stream is not None and not self._stream.active:
                raise DeviceUnavailable(f"microphone {self.device!r} stopped delivering audio") from None
            return None

    def close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            except Exception as exc:  # closing an unplugged device may fail; it is closed either way
                log.warning("closing microphone: %s", exc)
            self._stream = None

    @property
    def stats(self) -> dict[str, int]:
        return {"frames": self._seq, "overflows": self._overflows, "dropped": self._dropped}
