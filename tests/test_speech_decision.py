"""Decision rules and calibration of the unseen-voice proxy (models.speech.measure.rules / proxy) and the opt-in
training knobs it measured (per-utterance mean normalization exported to ONNX, family-balanced rows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agent.runtime.session import load_model
from models.speech.measure import rules
from models.speech.train.head import Head, export_ensemble
from models.speech.train.metrics import decide
from models.speech.train.train import family_rows

LABELS = ["a", "b", "unknown"]


def test_current_rule_is_the_shipped_decision() -> None:
    """rules.current accepts exactly what the shipped decide() accepts at the same threshold."""
    z = np.random.default_rng(0).standard_normal((2, 500, 3)) * 3
    pred, score = rules.current(z, 2)
    probs = rules.mean_probs(z)
    for t in (0.4, 0.6, 0.8):
        shipped = decide(probs, t, 2)
        mine = np.where(score >= t, pred, 2)
        assert (shipped == mine).all()


def test_unknown_prior_shift_and_command_only_rules() -> None:
    p = np.array([[0.40, 0.05, 0.55]])
    q = rules.unknown_scaled(p, 0.25)
    assert q[0].argmax() == 0 and q.sum() == pytest.approx(1.0)
    assert q[0, 0] == pytest.approx(0.40 / (0.45 + 0.1375))
    z = np.log(p)[None]
    pred, score = rules.current(z, 2)
    assert score[0] == -np.inf  # unknown wins: never accepted
    pred, score = rules.cmd_softmax(z, 2)
    assert pred[0] == 0 and score[0] == pytest.approx(0.40 / 0.45)
    pred, score = rules.margin_unknown(z, 2)
    assert pred[0] == 0 and score[0] == pytest.approx(0.40 - 0.55)


def test_threshold_calibration_holds_the_false_accept_target() -> None:
    rng = np.random.default_rng(1)
    unk = 2
    y = np.array([0] * 200 + [unk] * 400)
    score = np.concatenate([rng.uniform(0.5, 1.0, 200), rng.uniform(0.0, 0.9, 400)])
    pred = np.zeros(600, int)
    noise = np.zeros(600, bool)
    noise[-100:] = True
    near = np.zeros(600, bool)
    windows = rng.uniform(0.0, 0.7, 50)
    t = rules.calibrate(pred, score, y, unk, noise, near, windows, max_fa=0.05)
    speech = (y == unk) & ~noise
    assert (score[speech] >= t).mean() <= 0.05 and (score[noise] >= t).mean() <= 0.01
    assert not (windows >= t).any()
    # the lowest such threshold: the next lower score breaks one of the targets
    lower = np.max(score[score < t])
    assert (score[speech] >= lower).mean() > 0.05 or (score[noise] >= lower).mean() > 0.01 or (windows >= lower).any()


def test_mean_normalized_heads_export_and_ignore_a_constant_offset(tmp_path: Path) -> None:
    torch.manual_seed(0)
    heads = [Head(3, ch=c, cmn=True).eval() for c in (64, 96)]
    export_ensemble(heads, str(tmp_path / "cmn.onnx"), LABELS)
    x = np.random.default_rng(0).standard_normal((4, 21, 96)).astype(np.float32) * 8
    offset = np.random.default_rng(1).standard_normal((4, 1, 96)).astype(np.float32) * 5
    model = load_model(tmp_path / "cmn.onnx")
    p = model(x)[0]
    with torch.no_grad():
        want = np.mean([torch.softmax(h(torch.from_numpy(x)), 1).numpy() for h in heads], 0)
    np.testing.assert_allclose(p, want, atol=1e-5)
    np.testing.assert_allclose(model(x + offset)[0], p, atol=1e-4)
    with pytest.raises(ValueError, match="mean normalization"):
        export_ensemble([heads[0], Head(3).eval()], str(tmp_path / "mixed.onnx"), LABELS)


def test_family_rows_repeat_only_the_few_voice_families() -> None:
    data = {"voice": np.array(["espeak:a", "piper:joe", "noise", "flite:rms", "espeak:b", "festival:x"])}
    tr = np.array([True, True, True, True, True, False])
    assert family_rows(data, tr, 1).tolist() == [0, 1, 2, 3, 4]
    assert sorted(family_rows(data, tr, 3).tolist()) == [0, 1, 1, 1, 2, 3, 3, 3, 4]
