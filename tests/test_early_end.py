"""Early endpointing (issue 22): an utterance ends at a short pause when the recognizer holds a whole sentence
that cannot go on, and waits for the VAD hangover when a longer sentence of the set may still follow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from agent.audio.vad import Segmenter
from agent.config.schema import AgentConfig, VadConfig
from agent.daemon.audio_path import Pipeline
from agent.daemon.early_end import EarlyEnd
from agent.intents.publisher import MemoryPublisher
from agent.sources.wav_replay import WavReplaySource
from agent.speech.asr_grammar import AsrGrammarRecognizer, goes_on
from agent.speech.grammar_recognizer import GrammarScores, decide_joint
from agent.speech.whisper.model import WhisperAsr
from agent.speech.whisper.trie import TokenTrie
from agent.types import CommandScores, Segment

SR = 16000


@pytest.fixture(scope="module")
def asr() -> WhisperAsr:
    return WhisperAsr.load()


def words(speak, text: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """espeak-ng's speech of ``text`` without the silence it adds before and after the words."""
    pcm = speak(text, "en-us", 150)
    loud = np.nonzero(np.abs(pcm.astype(np.float32)) > 0.02 * np.abs(pcm).max())[0]
    return pcm[loud[0]: loud[-1] + 1]


def room(*parts: np.ndarray | float) -> np.ndarray:
    """Speech clips and pauses (seconds) one after the other, over a quiet room tone."""
    pcm = np.concatenate([p if isinstance(p, np.ndarray) else np.zeros(int(p * SR), np.int16) for p in parts])
    tone = np.random.default_rng(0).normal(0, 30, len(pcm))
    return np.clip(pcm + tone, -32768, 32767).astype(np.int16)


def test_a_sentence_goes_on_only_into_another_meaning() -> None:
    trie = TokenTrie()
    trie.add([1, 2, 3], 0)
    trie.add([1, 2, 3, 4], 0)  # "... please": the same meaning
    assert not goes_on(trie, (1, 2, 3), 0)
    trie.add([1, 2, 3, 5, 6], 1)  # "... in the kitchen": another meaning
    assert goes_on(trie, (1, 2, 3), 0)
    assert not goes_on(trie, (1, 2, 3, 5, 6), 1)
    assert goes_on(trie, (1, 9), 0) and goes_on(trie, (1, 2), 0)  # not a path; no sentence of entry 0 ends there


def test_the_segmenter_offers_each_pause_once_and_ends_only_while_it_lasts(speak) -> None:  # type: ignore[no-untyped-def]
    a, b = words(speak, "turn on the light"), words(speak, "in the kitchen")
    pcm = room(0.5, a, 0.2, b, 1.0)
    seg = Segmenter(VadConfig(), pause_ms=64)
    src = WavReplaySource(pcm=pcm, realtime=False)
    src.open()
    t0 = src._t0
    pauses, ended = [], None
    while (f := src.read()) is not None and ended is None:
        assert seg.push(f) == []  # the hangover never comes: the utterance is ended at its last pause
        got = seg.take_pause()
        if got is not None:
            assert seg.take_pause() is None  # once per pause
            if pauses:
                assert seg.end_at_pause(pauses[0]) is None  # speech went on after the first pause
            pauses.append(got[0])
        if f.t_mono - t0 > 0.5 + (len(a) + len(b)) / SR + 0.3 and pauses:
            ended = seg.end_at_pause(pauses[-1])
    assert len(pauses) >= 2 and ended is not None
    assert abs(ended.t_end - t0 - (0.5 + (len(a) + len(b)) / SR + 0.2)) < 0.15  # ends where the words do
    assert ended.t_start - t0 < 0.5
    assert not seg.active and seg.flush() == []


def pipeline(rec: AsrGrammarRecognizer, pcm: np.ndarray, **early: object) -> Pipeline:
    cfg = AgentConfig.model_validate({"speech": {"early_end": {"pause_ms": 64, **early}}})
    p = Pipeline.from_config(cfg, WavReplaySource(pcm=pcm, realtime=False), rec, MemoryPublisher())
    p.start()
    try:
        assert p.wait_drained(60.0)
    finally:
        p.stop()
    return p


def intents(p: Pipeline) -> list[str]:
    assert isinstance(p.intents.publisher, MemoryPublisher)
    return [t.rsplit("/", 1)[1] for t in p.intents.publisher.topics() if t.startswith("homeagent/")]


@pytest.fixture(scope="module")
def lights(asr: WhisperAsr, tmp_path_factory: pytest.TempPathFactory) -> AsrGrammarRecognizer:
    path = tmp_path_factory.mktemp("sets") / "lights.yaml"
    path.write_text("name: lights\nintents:\n"
                    "  light_on: [\"turn on the light\"]\n"
                    "  kitchen_light_on: [\"turn on the light in the kitchen\"]\n"
                    "  garage_open: [\"open the garage door\"]\n")
    return AsrGrammarRecognizer.from_set(path, asr=asr)


def test_a_prefix_of_a_longer_sentence_waits_for_the_rest(lights: AsrGrammarRecognizer, speak) -> None:  # type: ignore[no-untyped-def]
    """"turn on the light", a short pause, "in the kitchen": one utterance, the long sentence. The pause was
    tried (the whole sentence "turn on the light" was heard there) and not ended: the set goes on from it."""
    pcm = room(0.5, words(speak, "turn on the light"), 0.2, words(speak, "in the kitchen"), 1.0)
    p = pipeline(lights, pcm)
    assert intents(p) == ["kitchen_light_on"]
    assert p.early is not None and p.early.probes >= 2 and p.early.ends == 0
    assert p.stats.segments == 1


def test_a_whole_sentence_ends_at_the_pause_and_a_prefix_alone_at_the_hangover(
        lights: AsrGrammarRecognizer, speak) -> None:  # type: ignore[no-untyped-def]
    pcm = room(0.5, words(speak, "open the garage door"), 1.0, words(speak, "turn on the light"), 1.0)
    p = pipeline(lights, pcm)
    assert intents(p) == ["garage_open", "light_on"]
    assert p.early is not None and p.early.ends == 1  # the garage; the light could have gone on
    assert p.early.reused == 1  # the light's hangover end reused its pause's decode: one decode per pause
    assert p.stats.endpoint_ms[0] < 60  # the garage door's end was found within a frame or two of its t_end


def test_early_end_off_and_config_bounds(lights: AsrGrammarRecognizer, speak) -> None:  # type: ignore[no-untyped-def]
    p = pipeline(lights, room(0.5, words(speak, "open the garage door"), 1.0), enabled=False)
    assert intents(p) == ["garage_open"] and p.early is None and p.segmenter.pause_frames == 0
    assert AgentConfig().speech.early_end.enabled
    for bad in ({"pause_ms": 10}, {"confidence": 0.2}, {"pause": 64}):
        with pytest.raises(ValidationError):
            AgentConfig.model_validate({"speech": {"early_end": bad}})
    # a pause as long as the hangover is no error: the hangover simply comes first
    AgentConfig.model_validate({"vad": {"hangover_ms": 60}, "speech": {"early_end": {"pause_ms": 600}}})


def test_the_home_and_devices_sets_end_early_only_where_they_cannot_go_on(asr: WhisperAsr, speak) -> None:  # type: ignore[no-untyped-def]
    rec = AsrGrammarRecognizer.from_set(Path(__file__).parents[1] / "agent/speech/sets/devices.yaml", asr=asr)
    whole = rec.recognize(room(0.3, words(speak, "turn off the heater"), 0.1))
    assert rec.decide(whole)[0] == "turn_off" and whole.final  # type: ignore[attr-defined]
    cut = rec.recognize(room(0.3, words(speak, "turn on the kitchen"), 0.1))  # "... light" not said yet
    assert not cut.final  # type: ignore[attr-defined]
    number = rec.recognize(room(0.3, words(speak, "set the temperature to twenty"), 0.1))  # "... one"?
    assert not number.final  # type: ignore[attr-defined]


def test_a_pause_decodes_once_even_when_the_hangover_came_first() -> None:
    """A decode slower than the hangover finds the utterance already ended in its pause: the hangover's segment,
    queued behind it, reuses the decode instead of running the recognizer again."""
    class Whole:
        calls = 0

        def recognize(self, pcm: np.ndarray, t_start: float = 0.0, t_end: float = 0.0) -> CommandScores:
            self.calls += 1
            return GrammarScores(labels=("on", "unknown"), scores=(0.99, 0.01), t_start=t_start, t_end=t_end,
                                 confidence=0.99, final=True)

        def decide(self, scores: CommandScores) -> tuple[str | None, float]:
            return decide_joint(scores, 0.5)

    early = EarlyEnd(AgentConfig().speech.early_end)
    rec = Whole()
    probe = Segment(pcm=np.zeros(8000, np.int16), sample_rate=SR, t_start=1.0, t_end=1.5)
    assert early.attempt(rec, probe, 3, lambda pause: None) is None  # the hangover ended it meanwhile
    final = Segment(pcm=np.zeros(10000, np.int16), sample_rate=SR, t_start=1.0, t_end=1.62)
    assert early.reuse(2, final) is None and early.reuse(3, final) is None  # another pause's; used up
    early.attempt(rec, probe, 3, lambda pause: None)
    got = early.reuse(3, final)
    assert got is not None and got.t_end == 1.62 and rec.calls == 2 and early.reused == 1
    ended = early.attempt(rec, probe, 4, lambda pause: probe)
    assert ended is not None and ended[0] is probe and early.ends == 1
