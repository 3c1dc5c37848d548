"""The committed grammar bundles: intent + slots from speech of a voice never trained on (espeak's
``en-gb-x-gbcwmd`` accent is held out of training), rejection of other audio, broken bundles refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from agent.errors import ModelError
from agent.paths import bundles_dir
from agent.speech.grammar_recognizer import GrammarRecognizer, GrammarScores
from agent.speech.load import load_bundle
from agent.speech.recognizer import CommandRecognizer
from agent.speech.sets.grammar_set import load_grammar_set

HELD_OUT = "en-gb-x-gbcwmd"


@pytest.fixture(scope="module")
def lights() -> CommandRecognizer:
    return load_bundle("smart_lighting")


@pytest.fixture(scope="module")
def devices() -> CommandRecognizer:
    return load_bundle("devices")


def test_grammar_bundle_loads_with_the_set_labels(lights: CommandRecognizer) -> None:
    gs = load_grammar_set("smart_lighting")
    assert isinstance(lights, GrammarRecognizer)
    assert lights.labels == gs.labels and 0.0 < lights.threshold < 1.0
    assert lights.manifest.slots == {v: gs.slot_labels(v) for v in gs.variables}
    assert lights.manifest.set_info["sha256"] == gs.sha256 and lights.manifest.set_info["format"] == "rhino"


@pytest.mark.parametrize(("text", "intent", "slots"), [
    ("turn off the lights in the kitchen", "changeLightState", {"state": "off", "location": "kitchen"}),
    ("make the bedroom lights blue", "changeColor", {"location": "bedroom", "color": "blue"}),
    ("switch on the living room lights", "changeLightState", {"state": "on", "location": "living room"}),
    ("dim the lights", "changeIntensity", {"intensity": "dim"}),
    ("set the colour to green", "changeColor", {"color": "green"}),
])
def test_held_out_voice_gets_intent_and_slots(lights: CommandRecognizer, speak, text: str, intent: str,
                                              slots: dict[str, str]) -> None:
    scores = lights.recognize(speak(text, HELD_OUT, 150), 1.0, 2.5)
    assert isinstance(scores, GrammarScores) and (scores.t_start, scores.t_end) == (1.0, 2.5)
    assert abs(sum(scores.scores) - 1.0) < 1e-3
    got, conf = lights.decide(scores)
    assert (got, dict(scores.slots)) == (intent, slots), conf
    assert conf >= lights.threshold


@pytest.mark.parametrize(("text", "intent", "slots"), [
    ("turn on the living room lamp", "turn_on", {"room": "living_room", "device": "lamp"}),
    ("please switch off the kitchen fan", "turn_off", {"room": "kitchen", "device": "fan"}),
    ("what time is it", "get_time", {}),
    ("set the bedroom temperature to twenty", "set_temperature", {"room": "bedroom", "temperature": "20"}),
])
def test_hassil_style_set_with_synonyms(devices: CommandRecognizer, speak, text: str, intent: str,
                                        slots: dict[str, str]) -> None:
    """The best intent and its slots are right; when the calibrated threshold accepts, it accepts that.
    (This set's threshold is conservative: "please switch off the kitchen fan" is recognized right with a
    joint confidence under it, and is rejected; see models/speech/reports/devices.grammar.json.)"""
    scores = devices.recognize(speak(text, HELD_OUT, 150))
    assert (scores.best()[0], dict(scores.slots)) == (intent, slots)
    assert devices.decide(scores)[0] in (intent, None)


def test_noise_and_other_speech_are_rejected(lights: CommandRecognizer, speak) -> None:
    rng = np.random.default_rng(5)
    assert lights.decide(lights.recognize((rng.standard_normal(32000) * 3000).astype(np.int16)))[0] is None
    assert lights.decide(lights.recognize(np.zeros(24000, dtype=np.int16)))[0] is None
    others = ["what is the capital of france", "my sister bought a new car", "good morning everybody",
              "the weather is nice today"]
    rejected = sum(lights.decide(lights.recognize(speak(t, HELD_OUT, 150)))[0] is None for t in others)
    assert rejected >= 3


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "smart_lighting"
    shutil.copytree(bundles_dir() / "smart_lighting", d)
    return d


def test_broken_grammar_bundles_are_refused(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    data = bytearray((d / "head.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / "head.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"sha256|size"):
        load_bundle(d)
    m = json.loads((bundles_dir() / "smart_lighting" / "manifest.json").read_text())
    for field, value, msg in [("outputs", ["intent"], "outputs"),
                              ("slots", {**m["slots"], "color": ["red"]}, "absent"),
                              ("intents", {"changeColor": m["intents"]["changeColor"]}, "every label")]:
        d2 = _copy(tmp_path / field)
        (d2 / "manifest.json").write_text(json.dumps({**m, field: value}))
        with pytest.raises(ModelError, match=msg):
            load_bundle(d2)


def test_slots_are_decided_jointly_over_the_grammar_patterns() -> None:
    """"turn on the {device}" / "turn on the {room} lights": neither slot is required, but exactly one is filled.
    Deciding each slot on its own would report none (both heads lean to absent) or both."""
    from agent.speech.grammar_recognizer import decide_row

    labels = ("on", "unknown")
    slot_labels = {"device": ("lamp", "fan", "absent"), "room": ("kitchen", "hall", "absent")}
    meta = {"on": {"slots": ("device", "room"), "required": (), "patterns": ("device", "room")}}
    old = {"on": {"slots": ("device", "room"), "required": ()}}
    intent = np.array([0.9, 0.1])
    both_absent = {"device": np.array([0.35, 0.05, 0.6]), "room": np.array([0.1, 0.1, 0.8])}
    assert decide_row(intent, both_absent, labels, old, slot_labels)[1] == {}  # the old rule: no slot at all
    label, slots, conf = decide_row(intent, both_absent, labels, meta, slot_labels)
    assert (label, slots) == ("on", {"device": "lamp"})
    assert conf == pytest.approx(0.9 * 0.35 * 0.8)
    both_present = {"device": np.array([0.7, 0.1, 0.2]), "room": np.array([0.1, 0.6, 0.3])}
    assert decide_row(intent, both_present, labels, old, slot_labels)[1] == {"device": "lamp", "room": "hall"}
    assert decide_row(intent, both_present, labels, meta, slot_labels)[1] == {"device": "lamp"}


def test_shipped_grammar_bundles_carry_their_slot_patterns() -> None:
    for name in ("smart_lighting", "devices"):
        rec = load_bundle(name)
        assert isinstance(rec, GrammarRecognizer)
        gs = load_grammar_set(Path(__file__).resolve().parents[1] / "agent" / "speech" / "sets" / f"{name}.yaml")
        for intent in gs.intents:
            pats = rec.manifest.intents[intent]["patterns"]
            assert pats == tuple("+".join(p) for p in gs.slot_patterns(intent))
