"""Wake phrase (issue 7 item 5): the shipped ``hey home`` bundle on synthesized speech, the listening window,
the pipeline gate (one breath, two utterances, no wake, window expiry, wake gesture) and configuration errors."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from agent.config.schema import AgentConfig
from agent.daemon.audio_path import Pipeline
from agent.errors import ModelError
from agent.intents.publisher import MemoryPublisher
from agent.sources.wav_replay import WavReplaySource
from agent.speech.load import load_bundle
from agent.speech.recognizer import CommandRecognizer
from agent.speech.wake.detector import CANDIDATE_THRESHOLD, ListeningWindow, WakeDetector
from agent.speech.wake.gate import WakeGate, committed_wake_bundle, frame_db, has_speech
from agent.speech.wake.verify import WakeVerifier, spellings
from agent.speech.whisper.model import WhisperAsr
from agent.types import GestureEvent, Segment

SR = 16000
T0 = time.monotonic()


@pytest.fixture(autouse=True)
def _clock_from_test_start() -> None:
    """Segment times count from each test's start, not the module's import: in a full suite run the module is
    imported minutes before its tests run, and intents older than their TTL are (rightly) not published."""
    global T0
    T0 = time.monotonic()


def silence(s: float) -> np.ndarray:
    return np.zeros(int(s * SR), dtype=np.int16)


def seg(pcm: np.ndarray, t0: float) -> Segment:
    """A VAD-like segment: 0.3 s pre-roll and 0.4 s hangover around the speech, ``t0`` seconds after the test
    test started (intents carry a TTL on the monotonic clock: they must be recent to be published)."""
    x = np.concatenate([silence(0.3), pcm, silence(0.4)])
    t0 += T0
    return Segment(pcm=x, sample_rate=SR, t_start=t0, t_end=t0 + len(x) / SR)


@pytest.fixture(scope="module")
def home() -> CommandRecognizer:
    return load_bundle("home")


@pytest.fixture(scope="module")
def detector(home: CommandRecognizer) -> WakeDetector:
    bundle = committed_wake_bundle("hey home")
    assert bundle is not None, "models/bundles/wake_hey_home is missing"
    return WakeDetector.load(bundle, frontend=home.frontend)  # type: ignore[attr-defined]


def wake_cfg(**wake: object) -> AgentConfig:
    return AgentConfig.model_validate({"speech": {"wake": {"phrase": "hey home", **wake}}})


def pipeline(cfg: AgentConfig, home: CommandRecognizer, detector: WakeDetector,
             audio: np.ndarray | None = None) -> Pipeline:
    w = cfg.speech.wake
    assert w is not None
    g = cfg.fusion.wake
    gate = WakeGate(detector, ListeningWindow(w.window_s, gestures=tuple(g.gestures),
                                              pointing_targets=tuple(g.pointing_targets)), required=w.required)
    source = WavReplaySource(pcm=silence(0.1) if audio is None else audio, realtime=False)
    return Pipeline.from_config(cfg, source, home, MemoryPublisher(), wake=gate)


def intent_names(p: Pipeline) -> list[str]:
    assert isinstance(p.intents.publisher, MemoryPublisher)
    return [t.rsplit("/", 1)[1] for t in p.intents.publisher.topics() if t.startswith("homeagent/")]


# detector -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("voice", ["en-us", "en-gb", "en-us+f3"])
def test_wake_phrase_is_detected_and_located(detector: WakeDetector, speak, voice: str) -> None:
    phrase = speak("hey home", voice, 150)
    hit = detector.detect(seg(phrase, 0.0).pcm)
    assert hit is not None, detector.score(seg(phrase, 0.0).pcm)
    assert hit.score >= detector.threshold
    # the cut lies within 0.25 s of where the phrase's sound ends (espeak pads its output with silence)
    db = frame_db(phrase)
    end = 0.3 * SR + (int(np.nonzero(db >= db.max() - 30)[0][-1]) + 1) * 320
    assert abs(hit.cut - end) <= 0.25 * SR, (hit.cut, end)


def test_commands_other_speech_and_noise_do_not_wake(detector: WakeDetector, speak, noise_dir: Path) -> None:
    from agent.audio.wav import read_wav_16k

    for text in ("turn on the lights", "what time is it", "close the blinds"):
        assert detector.detect(seg(speak(text, "en-us", 150), 0.0).pcm) is None, text
    tap = read_wav_16k(noise_dir / "running_tap.wav")[: 3 * SR]
    assert detector.detect(tap) is None
    assert detector.detect(silence(1.0)) is None


def test_has_speech_tells_a_command_from_a_silent_tail(speak) -> None:
    cmd = speak("turn on the lights", "en-us", 150)
    ref = float(frame_db(cmd).max())
    assert has_speech(cmd, ref)
    hiss = (np.random.default_rng(0).standard_normal(SR) * 30).astype(np.int16)  # ~40 dB under the speech
    assert not has_speech(hiss, ref) and not has_speech(silence(0.5), ref)
    assert not has_speech(cmd[: int(0.1 * SR)], ref)  # 100 ms is no command


# the Whisper check (second stage) ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def asr() -> WhisperAsr:
    return WhisperAsr.load()


def test_spellings_cover_how_whisper_writes_the_phrase() -> None:
    assert spellings("hey home") == [" hey home", " hey, home", " Hey home", " Hey, home", " Hey Home", " Hey, Home"]
    assert spellings("computer") == [" computer", " Computer"]
    assert {" OK home", " Okay, home", " ok home"} <= set(spellings("ok home"))  # one word, three spellings


def test_whisper_check_accepts_the_phrase_and_rejects_other_starts(asr: WhisperAsr, speak,
                                                                   noise_dir: Path) -> None:
    from agent.audio.wav import read_wav_16k

    check = WakeVerifier(asr, "hey home")
    for voice in ("en-us", "en-us+m3"):  # Whisper writes "Hey home" for these espeak voices
        v = check.check(seg(speak("hey home turn on the lights", voice, 150), 0.0).pcm)
        assert v.accepted and v.margin >= 0, v
    for text in ("turn on the lights", "okay home", "what time is it", "home"):
        v = check.check(seg(speak(text, "en-us", 150), 0.0).pcm)
        assert not v.accepted and v.margin < -check.max_margin, (text, v)
    tap = read_wav_16k(noise_dir / "running_tap.wav")[: 3 * SR]
    assert not check.check(tap).accepted and not check.check(silence(1.0)).accepted
    with pytest.raises(ModelError, match="empty"):
        check.check(silence(0.0))
    ok = WakeVerifier(asr, "ok home")  # Whisper writes "Ok", "OK" or "Okay": all are the phrase
    assert ok.check(speak("okay home turn on the lights", "en-us", 150)).accepted
    assert ok.check(speak("OK home, what time is it", "en-us", 150)).accepted
    assert not ok.check(speak("hey home turn on the lights", "en-us", 150)).accepted


def test_wake_check_shares_the_recognizers_whisper(asr: WhisperAsr) -> None:
    from agent.speech.asr_grammar import AsrGrammarRecognizer
    from agent.speech.sets.base import SETS_DIR

    rec = AsrGrammarRecognizer.from_set(SETS_DIR / "devices.yaml", asr=asr)
    p = Pipeline.from_config(wake_cfg(), WavReplaySource(pcm=silence(0.1)), rec, MemoryPublisher())
    assert p.wake is not None and p.wake.detector.verifier is not None
    assert p.wake.detector.verifier.asr is asr  # one Whisper in memory, not two


def test_two_stage_detector_proposes_with_the_head_and_decides_with_whisper(asr: WhisperAsr, home: CommandRecognizer,
                                                                           speak) -> None:
    bundle = committed_wake_bundle("hey home")
    assert bundle is not None
    det = WakeDetector.load(bundle, frontend=home.frontend)  # type: ignore[attr-defined]
    with pytest.raises(ModelError, match="verifier"):
        det.verify_with(WakeVerifier(asr, "hey computer"))
    det.verify_with(WakeVerifier(asr, "hey home"))
    pcm = seg(np.concatenate([speak("hey home", "en-us", 150), silence(0.08),
                              speak("turn on the lights", "en-us", 150)]), 0.0).pcm
    hit = det.detect(pcm)
    assert hit is not None and det.last_verdict is not None and det.last_verdict.accepted
    assert hit.score >= det.candidate_threshold and 0.3 * SR < hit.cut < len(pcm)
    assert det.detect(seg(speak("turn on the lights", "en-us", 150), 0.0).pcm) is None
    det.candidate_threshold = 0.999999  # the head must propose first: nothing reaches Whisper
    assert det.detect(pcm) is None and det.last_verdict is None
    p = pipeline(wake_cfg(), home, det)  # one breath through the gate, both stages
    det.candidate_threshold = CANDIDATE_THRESHOLD
    intent = p.handle_segment(seg(np.concatenate([speak("hey home", "en-us", 150), silence(0.08),
                                                  speak("close the blinds", "en-us", 150)]), 30.0))
    assert intent is not None and intent.name == "blinds_close"


def test_a_phrase_with_no_head_and_no_way_to_train_one_is_checked_by_whisper_alone(
        asr: WhisperAsr, home: CommandRecognizer, speak, monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.speech.wake.gate as wg

    def no_torch(phrase: str) -> Path:
        raise ModelError("training a wake phrase needs torch: pip install 'homeagent[train]'")

    monkeypatch.setattr(wg, "ensure_wake_bundle", no_torch)
    with pytest.raises(ModelError, match="torch"):  # no Whisper check allowed: the error stands
        Pipeline.from_config(wake_cfg(phrase="ok home", verify="off"), WavReplaySource(pcm=silence(0.1)), home,
                 MemoryPublisher())
    p = Pipeline.from_config(wake_cfg(phrase="ok home"), WavReplaySource(pcm=silence(0.1)), home, MemoryPublisher())
    assert p.wake is not None and isinstance(p.wake.detector, wg.WhisperWakeDetector)
    det = p.wake.detector
    pcm = seg(np.concatenate([speak("okay home", "en-us", 150), silence(0.08),
                              speak("turn on the lights", "en-us", 150)]), 0.0).pcm
    hit = det.detect(pcm)
    assert hit is not None and 0.3 * SR < hit.cut < len(pcm) - SR // 2 and 0 < hit.score <= 1
    assert det.detect(seg(speak("turn on the lights", "en-us", 150), 0.0).pcm) is None
    assert p.handle_segment(seg(speak("okay home", "en-us", 150), 40.0)) is None  # opens the window
    intent = p.handle_segment(seg(speak("close the blinds", "en-us", 150), 42.0))
    assert intent is not None and intent.name == "blinds_close"


# listening window -----------------------------------------------------------------------------------------
def test_listening_window_opens_and_expires() -> None:
    w = ListeningWindow(5.0, gestures=("open_palm",), pointing_targets=("camera",))
    assert not w.is_open(10.0)
    w.open(10.0)
    assert w.is_open(10.0) and w.is_open(15.0)
    assert not w.is_open(15.1) and not w.is_open(9.0)
    w.on_gesture(GestureEvent("fist", 0.9, 30.0, 30.5))
    assert not w.is_open(31.0)
    w.on_gesture(GestureEvent("pointing", 0.9, 40.0, 40.5, pointing_target="lamp"))
    assert not w.is_open(41.0)
    w.on_gesture(GestureEvent("pointing", 0.9, 50.0, 50.5, pointing_target="camera"))
    assert w.is_open(51.0) and not w.is_open(56.0)
    for k in range(1000):  # months of gestures keep only the recent windows
        w.on_gesture(GestureEvent("open_palm", 0.9, 100.0 + 10 * k, 100.5 + 10 * k))
    assert len(w._spans) <= 8 and w.is_open(10092.0) and not w.is_open(10076.0)
    w.close()
    assert not w.is_open(10092.0)


# pipeline gate ----------------------------------------------------------------------------------------------
def test_one_breath_wake_and_command(home: CommandRecognizer, detector: WakeDetector, speak) -> None:
    p = pipeline(wake_cfg(), home, detector)
    pcm = np.concatenate([speak("hey home", "en-us", 150), silence(0.08), speak("turn on the lights", "en-us", 150)])
    intent = p.handle_segment(seg(pcm, 100.0))
    assert intent is not None and intent.name == "lights_on"
    assert intent.t_start > T0 + 100.3  # the command's span starts after the phrase
    assert p.wake is not None and (p.wake.stats.wakes, p.wake.stats.in_breath) == (1, 1)
    assert intent_names(p) == ["lights_on"]


def test_wake_then_command_in_two_utterances(home: CommandRecognizer, detector: WakeDetector, speak) -> None:
    p = pipeline(wake_cfg(), home, detector)
    assert p.handle_segment(seg(speak("hey home", "en-gb", 150), 10.0)) is None  # only opens the window
    intent = p.handle_segment(seg(speak("close the blinds", "en-us", 150), 12.0))
    assert intent is not None and intent.name == "blinds_close"
    assert intent_names(p) == ["blinds_close"]


def test_command_without_wake_is_ignored_when_required(home: CommandRecognizer, detector: WakeDetector,
                                                        speak) -> None:
    p = pipeline(wake_cfg(), home, detector)
    assert p.handle_segment(seg(speak("turn on the lights", "en-us", 150), 5.0)) is None
    assert p.wake is not None and p.wake.stats.ignored == 1
    assert intent_names(p) == []
    optional = pipeline(wake_cfg(required=False), home, detector)
    intent = optional.handle_segment(seg(speak("turn on the lights", "en-us", 150), 5.0))
    assert intent is not None and intent.name == "lights_on"


def test_listening_window_expires(home: CommandRecognizer, detector: WakeDetector, speak) -> None:
    p = pipeline(wake_cfg(window_s=2.0), home, detector)
    assert p.handle_segment(seg(speak("hey home", "en-us", 150), 0.0)) is None
    assert p.handle_segment(seg(speak("turn on the lights", "en-us", 150), 4.0)) is None  # window closed
    assert intent_names(p) == []
    assert p.wake is not None and p.wake.stats.ignored == 1


def test_wake_gesture_opens_the_window(home: CommandRecognizer, detector: WakeDetector, speak) -> None:
    p = pipeline(wake_cfg(), home, detector)
    assert p.wake is not None
    p.wake.window.on_gesture(GestureEvent("open_palm", 0.9, T0 + 20.0, T0 + 20.6))
    intent = p.handle_segment(seg(speak("turn off the lights", "en-us", 150), 21.0))
    assert intent is not None and intent.name == "lights_off"


def test_replay_through_vad_one_breath_and_two_utterances(home: CommandRecognizer, detector: WakeDetector,
                                                           speak) -> None:
    """The live path: WAV replay → VAD segmenter → wake gate → recognizer → published intents."""
    audio = np.concatenate([
        silence(0.8), speak("turn on the lights", "en-us", 150), silence(1.5),  # no wake: ignored
        speak("hey home", "en-us", 150), silence(0.08), speak("close the blinds", "en-us", 150), silence(1.5),
        speak("hey home", "en-us", 150), silence(1.2), speak("turn off the lights", "en-us", 150), silence(1.0)])
    p = pipeline(wake_cfg(), home, detector, audio)
    p.start()
    try:
        assert p.wait_drained(30.0)
    finally:
        p.stop()
    assert intent_names(p) == ["blinds_close", "lights_off"]


# configuration ------------------------------------------------------------------------------------------------
def test_wake_config_defaults_and_errors() -> None:
    assert AgentConfig().speech.wake is None  # absent = no wake phrase needed (as before)
    w = AgentConfig.model_validate({"speech": {"wake": {"phrase": "  Hey   HOME "}}}).speech.wake
    assert w is not None and (w.phrase, w.required, w.window_s, w.threshold) == ("hey home", True, 5.0, None)
    assert (w.verify, w.candidate_threshold, w.verify_margin) == ("auto", None, None)
    bad = [{"phrase": "hey 9000"}, {"phrase": "a b c d e f"}, {"phrase": ""}, {"window_s": 0},
           {"window_s": 120}, {"threshold": 1.5}, {"required": "maybe"}, {"wake_word": "x"},
           {"verify": "maybe"}, {"candidate_threshold": 1.5}, {"verify_margin": 0}]
    for b in bad:
        with pytest.raises(ValidationError):
            AgentConfig.model_validate({"speech": {"wake": b}})


def test_broken_wake_bundles_are_refused(tmp_path: Path) -> None:
    src = committed_wake_bundle("hey home")
    assert src is not None
    d = tmp_path / "wake"
    shutil.copytree(src, d)
    data = bytearray((d / "head.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / "head.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"sha256|size"):
        WakeDetector.load(d)
    shutil.copyfile(src / "head.onnx", d / "head.onnx")
    m = json.loads((d / "manifest.json").read_text())
    m["input"]["window"] = 7
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelError, match="retrain"):
        WakeDetector.load(d)
    with pytest.raises(ModelError, match="not found"):
        WakeDetector.load(tmp_path / "nothing")


def test_configured_pipeline_loads_the_shipped_bundle(home: CommandRecognizer) -> None:
    p = Pipeline.from_config(wake_cfg(window_s=3.0), WavReplaySource(pcm=silence(0.1)), home, MemoryPublisher())
    assert p.wake is not None and p.wake.detector.phrase == "hey home" and p.wake.window.window_s == 3.0
    assert p.wake.required and p.wake.window.gestures == ("open_palm",)
    d = p.wake.detector  # the bootstrap builds Whisper, so "auto" checks with it
    assert d.verifier is not None and d.candidate_threshold == CANDIDATE_THRESHOLD and d.verifier.max_margin == 3.0
    tuned = Pipeline.from_config(wake_cfg(candidate_threshold=0.5, verify_margin=1.5),
                                 WavReplaySource(pcm=silence(0.1)), home, MemoryPublisher())
    assert tuned.wake is not None and tuned.wake.detector.candidate_threshold == 0.5
    assert tuned.wake.detector.verifier is not None and tuned.wake.detector.verifier.max_margin == 1.5
    off = Pipeline.from_config(wake_cfg(verify="off"), WavReplaySource(pcm=silence(0.1)), home, MemoryPublisher())
    assert off.wake is not None and off.wake.detector.verifier is None
    assert Pipeline.from_config(AgentConfig(), WavReplaySource(pcm=silence(0.1)), home, MemoryPublisher()).wake is None
