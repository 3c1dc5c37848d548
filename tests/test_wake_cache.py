"""A custom wake phrase is trained on first use and cached by phrase; the shipped phrase never trains; a
corrupt cached bundle is rebuilt. The trainer itself is replaced by a stub that writes a valid bundle (the real
training run takes minutes: ``python -m models.speech.train.train_wake``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agent.config.schema import AgentConfig
from agent.errors import ModelError
from agent.speech.wake import gate as wake_gate
from agent.speech.wake.detector import WakeDetector
from agent.speech.wake.gate import WakeGate, committed_wake_bundle, ensure_wake_bundle, find_wake_bundle


@pytest.fixture
def trainer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Count training runs; each writes the shipped bundle relabelled with the requested phrase."""
    monkeypatch.setenv("HOMEAGENT_CACHE", str(tmp_path / "cache"))
    calls: list[str] = []
    src = committed_wake_bundle("hey home")
    assert src is not None

    def fake_train(phrase: str, dest: Path) -> None:
        calls.append(phrase)
        shutil.copytree(src, dest, dirs_exist_ok=True)
        m = json.loads((dest / "manifest.json").read_text())
        m["phrase"] = phrase
        (dest / "manifest.json").write_text(json.dumps(m))

    monkeypatch.setattr(wake_gate, "_train", fake_train)
    return calls


def test_shipped_phrase_is_not_trained(trainer: list[str]) -> None:
    assert ensure_wake_bundle("hey home") == committed_wake_bundle("hey home")
    assert trainer == []


def test_custom_phrase_trained_once_then_cached(trainer: list[str]) -> None:
    assert find_wake_bundle("ok lamp") is None
    first = ensure_wake_bundle("ok lamp")
    assert trainer == ["ok lamp"]
    assert ensure_wake_bundle("ok lamp") == first == find_wake_bundle("ok lamp")
    assert trainer == ["ok lamp"]  # cached
    assert WakeDetector.load(first).phrase == "ok lamp"
    other = ensure_wake_bundle("hello house")
    assert other != first and trainer == ["ok lamp", "hello house"]


def test_corrupt_cached_bundle_is_rebuilt(trainer: list[str]) -> None:
    d = ensure_wake_bundle("ok lamp")
    (d / "head.onnx").write_bytes(b"truncated")
    assert find_wake_bundle("ok lamp") is None
    assert ensure_wake_bundle("ok lamp") == d
    assert trainer == ["ok lamp", "ok lamp"]
    assert WakeDetector.load(d).phrase == "ok lamp"


def test_failed_training_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOMEAGENT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(wake_gate, "_train", lambda phrase, dest: None)  # writes nothing
    with pytest.raises(ModelError, match="no valid bundle"):
        ensure_wake_bundle("ok lamp")


def test_gate_from_config_uses_the_phrase_bundle(trainer: list[str]) -> None:
    cfg = AgentConfig.model_validate({"speech": {"wake": {"phrase": "OK Lamp", "required": False,
                                                          "threshold": 0.9}},
                                      "fusion": {"wake": {"gestures": ["victory"], "pointing_targets": []}}})
    gate = WakeGate.from_config(cfg.speech.wake, cfg.fusion.wake)
    assert gate is not None and trainer == ["ok lamp"]
    assert gate.detector.phrase == "ok lamp" and gate.detector.threshold == 0.9 and not gate.required
    assert gate.window.gestures == ("victory",) and gate.window.pointing_targets == ()
    off = AgentConfig.model_validate({"speech": {"wake": {"gestures": False}}})
    g2 = WakeGate.from_config(off.speech.wake, off.fusion.wake)
    assert g2 is not None and g2.window.gestures == () and trainer == ["ok lamp"]
    assert WakeGate.from_config(AgentConfig().speech.wake, AgentConfig().fusion.wake) is None
