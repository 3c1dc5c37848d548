"""The committed ``home`` bundle: synthesized commands are recognized, other audio is rejected, and broken
bundles raise ModelError."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from agent.errors import ModelError
from agent.paths import bundles_dir
from agent.speech.load import load_bundle
from agent.speech.recognizer import CommandRecognizer
from agent.speech.sets.commands import load_command_set


@pytest.fixture(scope="module")
def home() -> CommandRecognizer:
    return load_bundle("home")


def test_labels_match_command_set(home: CommandRecognizer) -> None:
    assert home.labels == load_command_set("home").labels
    assert home.labels[-1] == "unknown"
    assert 0.0 < home.threshold < 1.0


@pytest.mark.parametrize(("text", "intent"), [("turn on the lights", "lights_on"),
                                              ("volume down", "volume_down"),
                                              ("close the blinds", "blinds_close")])
def test_synthesized_command_is_recognized(home: CommandRecognizer, speak, text: str, intent: str) -> None:
    pcm = speak(text, "en-us", 160)
    scores = home.recognize(pcm, 1.0, 2.0)
    assert scores.labels == home.labels and len(scores.scores) == len(home.labels)
    assert abs(sum(scores.scores) - 1.0) < 1e-3
    assert (scores.t_start, scores.t_end) == (1.0, 2.0)
    got, conf = home.decide(scores)
    assert got == intent, (got, conf)
    assert conf >= home.threshold


def test_noise_and_other_speech_are_rejected(home: CommandRecognizer, speak, noise_dir: Path) -> None:
    from agent.audio.wav import read_wav_16k

    rng = np.random.default_rng(3)
    white = (rng.standard_normal(32000) * 3000).astype(np.int16)
    assert home.decide(home.recognize(white))[0] is None
    assert home.decide(home.recognize(np.zeros(16000, dtype=np.int16)))[0] is None
    tap = read_wav_16k(noise_dir / "running_tap.wav")[:32000]
    assert home.decide(home.recognize(tap))[0] is None
    others = ["what is the capital of france", "my sister bought a new car", "good morning everybody"]
    rejected = sum(home.decide(home.recognize(speak(t, "en-us", 160)))[0] is None for t in others)
    assert rejected >= 2


def _copy_bundle(tmp_path: Path) -> Path:
    d = tmp_path / "home"
    shutil.copytree(bundles_dir() / "home", d)
    return d


def test_tampered_head_is_refused(tmp_path: Path) -> None:
    d = _copy_bundle(tmp_path)
    data = bytearray((d / "head.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / "head.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"sha256|size"):
        load_bundle(d)


def test_corrupt_head_with_matching_manifest_is_refused(tmp_path: Path) -> None:
    from agent.runtime.session import sha256_file

    d = _copy_bundle(tmp_path)
    (d / "head.onnx").write_bytes(b"not an onnx model at all")
    m = json.loads((d / "manifest.json").read_text())
    m["files"]["head.onnx"] = {"sha256": sha256_file(d / "head.onnx"), "size": 24}
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelError, match="not a valid ONNX"):
        load_bundle(d)


def test_missing_files_and_bad_manifest_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        load_bundle(tmp_path / "nowhere")
    with pytest.raises(ModelError):
        load_bundle("no_such_bundle")
    d = _copy_bundle(tmp_path)
    (d / "head.onnx").unlink()
    with pytest.raises(ModelError, match="missing"):
        load_bundle(d)
    d2 = tmp_path / "bad"
    shutil.copytree(bundles_dir() / "home", d2)
    (d2 / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="manifest"):
        load_bundle(d2)
    m = json.loads((bundles_dir() / "home" / "manifest.json").read_text())
    m["labels"] = m["labels"][:-1]
    (d2 / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelError, match="unknown"):
        load_bundle(d2)


@pytest.mark.parametrize("name", ["home", "speech_commands_10", "digits"])
def test_every_builtin_bundle_loads_with_its_set_labels(name: str) -> None:
    rec = load_bundle(name)
    assert rec.labels == load_command_set(name).labels
    assert rec.manifest.name == name and rec.manifest.version >= 1


def test_command_set_errors_name_the_line(tmp_path: Path) -> None:
    from agent.errors import CommandSetError

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: mine\nintents:\n  lamp_on: ['lamp on']\n  lamp_off: []\n")
    with pytest.raises(CommandSetError, match=r"bad.yaml:4"):
        load_command_set(bad)
    dup = tmp_path / "dup.yaml"
    dup.write_text("name: mine\nintents:\n  a: ['lamp on']\n  b: ['lamp on']\n")
    with pytest.raises(CommandSetError, match="both"):
        load_command_set(dup)
    with pytest.raises(CommandSetError, match="not found"):
        load_command_set("no_such_set")
