"""Sentence sets snap a misreading to the closest sentence of the grammar (issue 24) and reject other speech."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.speech.asr_grammar import LOOSE_CER, SNAP_CER, AsrGrammarRecognizer
from agent.speech.spoken import _loop_cut, once, reading_distance
from agent.speech.whisper.model import WhisperAsr


@pytest.fixture(scope="module")
def asr() -> WhisperAsr:
    return WhisperAsr.load()


def test_reading_distance_is_small_for_misreadings_and_large_for_other_speech() -> None:
    near = [(" The actual primary rainbulb observed is said to be the effect", "the actual primary rainbow "
             "observed is said to be the effect"),
            (" He is to week to move.", "he is too weak to move"),
            (" Set a timer for well-houered when the minutes and ten seconds", "set a timer for 1 hour 20 minutes "
             "and 10 seconds"),
            (" And it had two seats and it had two seats and it had two seats and", "and it had two seats")]
    far = [(" Athena", "i can see it now"), (" Computer.", "turn on the kitchen lamp"),
           (" What time is it in Tokyo?", "what time is it"), (" The people march.", "he was a lovely man")]
    for free, sentence in near:
        assert reading_distance(free, sentence) <= SNAP_CER, (free, sentence)
    for free, sentence in far:
        assert reading_distance(free, sentence) > SNAP_CER, (free, sentence)
    loose = reading_distance(" That could cause some unfortunate.", "that can cost him a fortune")
    assert SNAP_CER < loose <= LOOSE_CER
    assert reading_distance(" I'd like a coffee.", "i would like a coffee") == 0.0  # one normalization
    assert _loop_cut(["a", "b", "c", "a", "b", "c", "a", "b"]) == ["a", "b", "c"]
    assert _loop_cut(["a", "b", "c", "d"]) == ["a", "b", "c", "d"]
    # digit strings: a loop of the whole number is cut, a doubled digit is not, "oh" next to digits is zero
    assert once(" 268 4 4 1 8 2 6 8 4 4 1 8 2 6 8 4") == "2 6 8 4 4 1 8" and once("four four") == "4 4"
    assert reading_distance(" 1, 5, 0, 4, 4, 1, 5, 0, 4, 4, 1, 5,", "one five oh four four") == 0.0


def _set(tmp_path: Path) -> Path:
    path = tmp_path / "snap.yaml"
    path.write_text("name: snap\nintents:\n"
                    "  kitchen_on: [\"turn on the kitchen lights\"]\n"
                    "  kitchen_off: [\"turn off the kitchen lights\"]\n"
                    "  garage_open: [\"open the garage door\"]\n"
                    "  stop: [\"stop\"]\n")
    return path


def test_an_extra_word_snaps_to_the_sentence_and_other_speech_is_rejected(asr: WhisperAsr, speak,
                                                                          tmp_path: Path) -> None:
    """"please" is not in the set: Whisper's free reading is then not a sentence of the set, and before snapping
    it won and the command was rejected. Speech of other things, and a single word that is not "stop", stay
    rejected."""
    rec = AsrGrammarRecognizer.from_set(_set(tmp_path), asr=asr)
    for text, intent in (("turn on the kitchen lights please", "kitchen_on"),
                         ("please open the garage door", "garage_open"),
                         ("turn off the kitchen lights", "kitchen_off")):
        scores = rec.recognize(speak(text, "en-us", 150))
        assert rec.decide(scores)[0] == intent, (text, scores)
    for text in ("my sister bought a new car yesterday", "what is the weather like tomorrow", "shop"):
        scores = rec.recognize(speak(text, "en-us", 150))
        assert rec.decide(scores)[0] is None, (text, scores)


def test_the_daemons_auto_choice_decodes_sentence_sets_with_whisper() -> None:
    from agent.speech.load import daemon_choice

    assert daemon_choice("home", "auto") == daemon_choice("devices", "auto") == "whisper"
    assert daemon_choice("digits", "auto") == daemon_choice("speech_commands_10", "auto") == "bundle"
    assert daemon_choice("home", "bundle") == "bundle" and daemon_choice("digits", "whisper") == "whisper"


def test_a_sentence_the_narrow_beam_lost_is_found_again_by_the_reading(asr: WhisperAsr, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """In noise the right prefix can fall out of the narrow beam ("It's exactly ..." for "it was exactly ...").
    When the best sentence is far from Whisper's reading, a wider beam looks again and the hypothesis closest
    to the reading is the answer if it is close enough to snap; a reading close to none stays unknown."""
    import numpy as np

    from agent.speech import asr_grammar
    from agent.speech.asr_grammar import RESCUE_BEAM, Hypothesis
    from agent.speech.whisper.model import Transcript

    rec = AsrGrammarRecognizer.from_set(_set(tmp_path), asr=asr)
    g = rec.grammar
    entry = {text: e for e, (_, _, text) in enumerate(g.entries)}
    garage = Hypothesis(entry["open the garage door"], -3.0, 5)
    kitchen_off = Hypothesis(entry["turn off the kitchen lights"], -4.0, 6)
    kitchen_on = Hypothesis(entry["turn on the kitchen lights"], -4.5, 6)
    beams: list[int] = []

    def search(asr_: WhisperAsr, kv: np.ndarray, trie: object, beam: int = 6) -> tuple[list[Hypothesis], dict]:
        beams.append(beam)
        return ([garage] if beam < RESCUE_BEAM else [garage, kitchen_off, kitchen_on]), {}

    monkeypatch.setattr(asr_grammar, "beam_search", search)
    reading = Transcript(" Turn on the kitchen light.", (1, 2, 3, 4, 5), -6.0)
    monkeypatch.setattr(g.asr, "greedy", lambda *a, **k: reading)
    audio = np.zeros(16000, np.float32)
    d = g.decode(audio)
    assert beams == [6, RESCUE_BEAM] and d.intent == "kitchen_on"
    beams.clear()
    reading = Transcript(" What a lovely day it is.", (1, 2, 3, 4, 5, 6), -6.0)
    assert g.decode(audio).intent is None and beams == [6, RESCUE_BEAM]
    beams.clear()
    reading = Transcript(" Open the garage door.", (1, 2, 3, 4), -6.0)
    assert g.decode(audio).intent == "garage_open" and beams == [6]  # the narrow beam had it: no second search


def test_a_longer_sentence_the_reading_goes_on_into_replaces_the_early_end(asr: WhisperAsr, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """In noise ending early can score best; when Whisper's free reading holds further words of a sentence
    that goes on from the best one, that sentence is the answer. Said short (the reading has no further
    words), the short sentence stays."""
    import numpy as np

    from agent.speech import asr_grammar
    from agent.speech.asr_grammar import Hypothesis
    from agent.speech.whisper.model import Transcript

    path = tmp_path / "rooms.yaml"
    path.write_text("name: rooms\nintents:\n  lights: [\"turn on the lights\"]\n"
                    "  kitchen: [\"turn on the lights in the kitchen\"]\n  garage: [\"open the garage door\"]\n")
    g = AsrGrammarRecognizer.from_set(path, asr=asr).grammar
    entry = {text: e for e, (_, _, text) in enumerate(g.entries)}
    short = Hypothesis(entry["turn on the lights"], -4.0, 5)
    longer = Hypothesis(entry["turn on the lights in the kitchen"], -6.0, 8)
    monkeypatch.setattr(asr_grammar, "beam_search", lambda *a, **k: ([short, longer], {}))
    reading = Transcript(" Turn on the light in the kitten.", (1, 2, 3, 4, 5, 6, 7), -5.0)
    monkeypatch.setattr(g.asr, "greedy", lambda *a, **k: reading)
    audio = np.zeros(16000, np.float32)
    assert g.decode(audio).intent == "kitchen"
    reading = Transcript(" Turn on the light.", (1, 2, 3, 4), -3.0)
    assert g.decode(audio).intent == "lights"
