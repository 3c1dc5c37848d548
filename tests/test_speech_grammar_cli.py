"""A grammar set is decoded by the real-speech recognizer without training; a set that needs a bundle (here: the
same set on a machine without that model) is trained on first use and cached by its content hash: the real
training path, on a tiny set with few utterances (HOMEAGENT_TRAIN_SCALE) so it stays fast."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.audio.wav import write_wav
from agent.cli import main

TINY = """\
name: tiny
intents:
  lamp_on: ["[please] lamp on"]
  paint: ["paint it {color}"]
slots:
  color: [red, {"(sky blue | navy)": blue}]
"""


def test_set_is_trained_once_cached_and_rebuilt_when_corrupt(tmp_path: Path, speak, monkeypatch,
                                                             capfd: pytest.CaptureFixture[str],
                                                             caplog: pytest.LogCaptureFixture) -> None:
    from agent.speech.bundle import verify
    from agent.speech.bundle_cache import cache_root, set_key

    monkeypatch.setenv("HOMEAGENT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOMEAGENT_TRAIN_SCALE", "0.02")
    monkeypatch.setenv("HOMEAGENT_TRAIN_WORKERS", "1")
    monkeypatch.setenv("HOMEAGENT_PROGRESS", "1")
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(TINY)
    wav = tmp_path / "paint.wav"
    write_wav(wav, speak("paint it red", "en-us", 150))

    assert main(["models", "train-commands", str(tiny), "--workers", "1", "--epochs", "5"]) == 0
    bundle = cache_root() / set_key(tiny)
    assert verify(bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["kind"] == "speech-grammar" and manifest["labels"] == ["lamp_on", "paint", "unknown"]
    assert manifest["slots"] == {"color": ["red", "blue", "absent"]}
    stamp = (bundle / "manifest.json").stat().st_mtime_ns
    capfd.readouterr()

    # with the recognizer model: decoded directly, nothing trained or read from the cache
    assert main(["recognize", "--commands", str(tiny), str(wav)]) == 0
    out, err = capfd.readouterr()
    assert "synthesizing" not in err
    assert json.loads(out)["intent"] == "paint" and json.loads(out)["slots"] == {"color": "red"}

    import agent.speech.load as speech_load

    monkeypatch.setattr(speech_load, "asr_available", lambda model_dir=None: False)
    assert main(["recognize", "--commands", str(tiny), str(wav)]) == 0
    out, err = capfd.readouterr()
    assert "synthesizing" not in err  # the cached bundle was used: no training
    assert "fetch_asr" in caplog.text  # and the missing model was reported
    assert (bundle / "manifest.json").stat().st_mtime_ns == stamp
    line = json.loads(out)
    assert set(line) - {"best"} == {"file", "intent", "slots", "confidence"} and line["file"] == str(wav)
    assert ("best" in line) == (line["intent"] is None)  # a rejection names the closest intent
    assert line["intent"] in ("lamp_on", "paint", None) and 0.0 <= line["confidence"] <= 1.0
    assert set(line["slots"]) <= {"color"} and set(line["slots"].values()) <= {"red", "blue"}

    (bundle / "head.onnx").write_bytes(b"partial")  # a corrupt cache entry is detected and rebuilt
    assert main(["recognize", "--commands", str(tiny), str(wav)]) == 0
    out, err = capfd.readouterr()
    assert "synthesizing" in err
    assert len(out.strip().splitlines()) == 1 and json.loads(out)["file"] == str(wav)  # stdout stays JSON only
    assert verify(bundle)
    assert not [p for p in cache_root().iterdir() if ".tmp-" in p.name]


def test_train_commands_needs_exactly_one_set(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "train-commands"]) == 1
    assert "give one command set" in capfd.readouterr().err
    assert main(["models", "train-commands", "devices", "--set", "digits"]) == 1
    assert main(["models", "train-commands", "no_such_set"]) == 1
    assert "not found" in capfd.readouterr().err
