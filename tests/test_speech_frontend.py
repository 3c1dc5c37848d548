"""Speech frontend: shapes, input checks, and int8-vs-float embedding parity on fresh speech."""

from __future__ import annotations

import numpy as np
import pytest

from agent.errors import AudioFormatError
from agent.paths import pretrained_dir
from agent.speech.frontend import EMBED_DIM, EMBED_INT8_FILE, SpeechFrontend


@pytest.fixture(scope="module")
def frontends() -> tuple[SpeechFrontend, SpeechFrontend]:
    if not (pretrained_dir("speech") / EMBED_INT8_FILE).is_file():
        pytest.fail("speech frontend models missing: run 'python -m models.speech.fetch.fetch_frontend'")
    return SpeechFrontend(int8=True), SpeechFrontend(int8=False)


def test_shapes_follow_80ms_hops(frontends: tuple[SpeechFrontend, SpeechFrontend]) -> None:
    fe, _ = frontends
    rng = np.random.default_rng(0)
    sizes = {}
    for seconds in (1.0, 2.0, 2.4, 4.0):
        pcm = (rng.standard_normal(int(16000 * seconds)) * 2000).astype(np.int16)
        mel = fe.melspec(pcm)
        emb = fe.embed(pcm)
        assert mel.ndim == 2 and mel.shape[1] == 32 and mel.dtype == np.float32
        assert emb.shape[1] == EMBED_DIM and emb.dtype == np.float32
        assert emb.shape[0] == (mel.shape[0] - 76) // 8 + 1
        sizes[seconds] = emb.shape[0]
    # one more embedding per 80 ms of audio
    assert sizes[4.0] - sizes[2.0] == 25


def test_short_input_is_padded_and_bad_input_refused(frontends: tuple[SpeechFrontend, SpeechFrontend]) -> None:
    fe, _ = frontends
    assert fe.embed(np.zeros(1000, dtype=np.int16)).shape == (1, EMBED_DIM)
    with pytest.raises(AudioFormatError):
        fe.embed(np.zeros(16000, dtype=np.float32))
    with pytest.raises(AudioFormatError):
        fe.embed(np.zeros((16000, 2), dtype=np.int16))


def test_int8_matches_float(frontends: tuple[SpeechFrontend, SpeechFrontend], speak) -> None:
    q8, fl = frontends
    rng = np.random.default_rng(1)
    clips = [speak("please close the kitchen window", "en-gb-scotland"), speak("seven hundred and two", "en-us")]
    noisy = clips[0].astype(np.float32) + rng.standard_normal(len(clips[0])) * 500
    clips.append(np.clip(noisy, -32768, 32767).astype(np.int16))
    cos = []
    for pcm in clips:
        a, b = fl.embed(pcm), q8.embed(pcm)
        cos.extend(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))
    assert float(np.mean(cos)) >= 0.99
    assert float(np.min(cos)) >= 0.95
