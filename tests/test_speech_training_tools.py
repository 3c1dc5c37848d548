"""Training-side speech tools: homophones kept out of negatives, near-misses found, vocal-tract-length shift,
ensembles exported as one ONNX graph, and threshold calibration against a false-accept target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.speech.data import augment, lexicon
from models.speech.train.metrics import calibrate_threshold_fa


def test_homophones_and_near_misses() -> None:
    if not lexicon.pronunciations():
        pytest.fail(f"{lexicon.CMUDICT} missing: apt-get install festival festvox-kallpc16k")
    digits = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
    assert lexicon.homophone("for", digits) and lexicon.homophone("won", digits) and lexicon.homophone("to", digits)
    assert not lexicon.homophone("four", digits) and not lexicon.homophone("door", digits)
    assert lexicon.homophone("know", {"no"}) and not lexicon.homophone("now", {"no"})
    # what accents and 8 kHz audio blur is not a negative; a different consonant is
    assert lexicon.confusable("tree", digits) and lexicon.confusable("free", digits)
    assert lexicon.confusable("for", digits) and not lexicon.confusable("three", digits)
    assert not lexicon.confusable("fine", digits) and not lexicon.confusable("town", {"down"})
    near = lexicon.near_misses({"down"}, ["town", "dawn", "down", "window", "dog"])
    assert "town" in near and "dawn" in near
    assert "down" not in near and "window" not in near and "dog" not in near


def _f0(x: np.ndarray) -> float:
    """Autocorrelation pitch (Hz) of a voiced stretch."""
    seg = x[2000:6000].astype(np.float64)
    ac = np.correlate(seg, seg, "full")[len(seg) - 1:]
    lo, hi = 16000 // 400, 16000 // 60
    return 16000 / (lo + int(np.argmax(ac[lo:hi])))


def test_formant_shift_keeps_pitch_and_changes_length() -> None:
    t = np.arange(16000) / 16000
    harmonic = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 12))
    pcm = augment.to_i16(harmonic * 8000)
    out = augment.formant_shift(pcm, 1.15)
    assert abs(len(out) - len(pcm) / 1.15) < 400
    assert abs(_f0(out) - _f0(pcm)) < 10
    assert abs(_f0(augment.speaker_shift(pcm, 1.15)) - 150 * 1.15) < 12


def test_ensemble_export_averages_heads(tmp_path: Path) -> None:
    from agent.runtime.session import load_model
    from models.speech.train.head import Head, export_ensemble, export_onnx

    labels = ["a", "b", "unknown"]
    torch.manual_seed(0)
    heads = [Head(3, ch=c).eval() for c in (64, 96)]
    export_ensemble(heads, str(tmp_path / "ens.onnx"), labels)
    for i, h in enumerate(heads):
        export_onnx(h, str(tmp_path / f"h{i}.onnx"), labels)
    x = np.random.default_rng(0).standard_normal((4, 21, 96)).astype(np.float32)
    singles = [load_model(tmp_path / f"h{i}.onnx")(x)[0] for i in range(2)]
    ens = load_model(tmp_path / "ens.onnx")(x)[0]
    np.testing.assert_allclose(ens, (singles[0] + singles[1]) / 2, atol=1e-5)
    with torch.no_grad():
        np.testing.assert_allclose(singles[1], torch.softmax(heads[1](torch.from_numpy(x)), 1).numpy(), atol=1e-4)


def test_threshold_meets_the_false_accept_target() -> None:
    rng = np.random.default_rng(0)
    labels = ["a", "b", "unknown"]
    y = np.array([0] * 50 + [1] * 50 + [2] * 100)
    probs = np.full((200, 3), 0.0)
    conf = rng.uniform(0.3, 0.9, 200)
    wrong = np.where(y < 2, y, rng.integers(0, 2, 200))  # unknowns whose best label is a command
    probs[np.arange(200), wrong] = conf
    probs[np.arange(200), 2] = (1 - conf) / 2
    noise = np.zeros(200, bool)
    t, rep = calibrate_threshold_fa(probs, y, labels, noise, max_fa=0.05)
    unk_conf = conf[100:]
    assert float((unk_conf >= t).mean()) <= 0.05
    assert float((unk_conf >= t - 0.01).mean()) > 0.05  # the lowest such threshold
    assert rep["value"] == t and rep["val_unknown_false_accept"] <= 0.05


def test_combined_int8_heads_and_their_float_twin(tmp_path: Path) -> None:
    import onnx

    from agent.runtime.session import load_model
    from models.speech.train.bundle import quantize_head
    from models.speech.train.combine import check_twin, float_twin, merge
    from models.speech.train.head import Head, export_onnx

    labels = ["a", "b", "unknown"]
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    calib = rng.standard_normal((128, 21, 96)).astype(np.float32)
    for i in range(2):
        export_onnx(Head(3).eval(), str(tmp_path / f"f{i}.onnx"), labels)
        quantize_head(tmp_path / f"f{i}.onnx", tmp_path / f"q{i}.onnx", calib)
    merge([tmp_path / "q0.onnx", tmp_path / "q1.onnx"], tmp_path / "ens.onnx")
    float_twin(tmp_path / "q0.onnx", tmp_path / "twin.onnx")
    x = rng.standard_normal((6, 21, 96)).astype(np.float32)
    q = [load_model(tmp_path / f"q{i}.onnx")(x)[0] for i in range(2)]
    np.testing.assert_allclose(load_model(tmp_path / "ens.onnx")(x)[0], (q[0] + q[1]) / 2, atol=1e-6)
    twin, flt = load_model(tmp_path / "twin.onnx")(x)[0], load_model(tmp_path / "f0.onnx")(x)[0]
    assert np.abs(twin - flt).max() < 0.02
    assert not any(n.op_type.endswith("QuantizeLinear") for n in onnx.load(str(tmp_path / "twin.onnx")).graph.node)
    # the combiner refuses a float twin that belongs to another member (as v3's float report once had)
    assert check_twin(tmp_path / "q0.onnx", tmp_path / "twin.onnx", x) < 0.05
    other = Head(3).eval()
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(4.0)  # an untrained head's outputs are near uniform: make this one decide something
    export_onnx(other, str(tmp_path / "other.onnx"), labels)
    with pytest.raises(SystemExit, match="not the float twin"):
        check_twin(tmp_path / "q0.onnx", tmp_path / "other.onnx", x)


def test_kokoro_phonemes_from_espeak() -> None:
    """espeak-ng's IPA becomes Kokoro's symbols: diphthongs and affricates one symbol each, no length marks or
    tie characters left over (each would be an unknown or wrong token to the model)."""
    from models.speech.fetch import kokoro

    assert kokoro.to_kokoro("nˈa^ɪn") == "nˈIn"
    assert kokoro.to_kokoro("hˈe^ɪ hˈo^ʊm") == "hˈA hˈOm"
    assert kokoro.to_kokoro("tˈɜːn ɔnðə kˈɪt^ʃən") == "tˈɜɹn ɔnðə kˈɪʧən"
    us, gb = kokoro.phonemes("go home", "en-us"), kokoro.phonemes("go home", "en-gb")
    assert "O" in us and "Q" in gb and "^" not in us + gb and "ː" not in us + gb


def test_voice_family_pool_is_training_only_and_seeded() -> None:
    from models.speech.data import wordpool

    a, b = wordpool.plan_family("kokoro", 0), wordpool.plan_family("kokoro", 0)
    assert a == b and a != wordpool.plan_family("kokoro", 1)
    assert {i.split for i in a} == {"train"} and {i.voice for i in a} == {"kokoro:en-us", "kokoro:en-gb"}
    texts = [i.text for i in a]
    assert all(texts.count(c) == 70 for c in wordpool.command_texts())
    with pytest.raises(SystemExit, match="unknown voice family"):
        wordpool.plan_family("nope", 0)


def test_grammar_sets_add_kokoro_on_top_only_when_fetched_and_never_validate_on_it() -> None:
    from agent.speech.sets.grammar_set import load_grammar_set
    from models.speech.data import grammar_data

    gs = load_grammar_set("smart_lighting")
    base = grammar_data.plan(gs, 0, {"espeak", "piper"}, 200, 40)
    more = grammar_data.plan(gs, 0, {"espeak", "piper", "kokoro"}, 200, 40)
    assert not any(i.voice.startswith("kokoro:") for i in base)
    k = [i for i in more if i.voice.startswith("kokoro:")]
    assert k and all(i.split == "train" for i in k)
    cmds = [i for i in k if i.kind == "command"]
    assert len(cmds) == 4 * 8  # ceil(15% of 200 / 4 intents) per intent, on top of the others
    assert sum(i.voice != "noise" for i in more) - len(k) == sum(i.voice != "noise" for i in base)


def test_kokoro_is_left_out_when_missing_or_damaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    from models.speech.fetch import kokoro

    monkeypatch.setenv("HOMEAGENT_CACHE", str(tmp_path))
    kokoro.available.cache_clear()
    try:
        assert not kokoro.available()  # nothing fetched: training goes on without it, and downloads nothing
        (tmp_path / "kokoro").mkdir()
        (tmp_path / "wheels").mkdir()
        (tmp_path / "kokoro" / "kokoro-v1.0.int8.onnx").write_bytes(b"truncated")
        (tmp_path / "wheels" / kokoro.GLUE[1]).write_bytes(b"not a wheel")
        kokoro.available.cache_clear()
        assert not kokoro.available()
        assert "damaged" in caplog.text and "python -m models.speech.fetch.kokoro" in caplog.text
    finally:
        kokoro.available.cache_clear()
