"""``homeagent recognize``: JSON lines for any WAV format, errors for unreadable files, others still done."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.signal import resample_poly

from agent.cli import main


def _write_wav(path: Path, x: np.ndarray, rate: int) -> None:
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(x.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(x.astype("<i2").tobytes())


def test_recognize_prints_json_lines(tmp_path: Path, speak, capsys: pytest.CaptureFixture[str]) -> None:
    pcm = speak("turn off the lights", "en-us", 160)
    stereo44 = resample_poly(pcm.astype(np.float32), 441, 160)
    stereo44 = np.clip(np.stack([stereo44, stereo44], 1), -32768, 32767)
    good = tmp_path / "cmd_44k_stereo.wav"
    _write_wav(good, stereo44, 44100)
    noise = tmp_path / "noise.wav"
    _write_wav(noise, (np.random.default_rng(0).standard_normal((24000, 1)) * 2000), 16000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    missing = tmp_path / "missing.wav"
    rc = main(["recognize", "--commands", "home", str(good), str(corrupt), str(missing), str(noise)])
    out, err = capsys.readouterr()
    lines = [json.loads(s) for s in out.strip().splitlines()]
    assert rc == 1
    assert [d["file"] for d in lines] == [str(good), str(noise)]
    assert lines[0]["intent"] == "lights_off" and lines[0]["slots"] == {}
    assert 0.0 <= lines[0]["confidence"] <= 1.0
    assert lines[1]["intent"] is None
    assert "corrupt.wav" in err and "missing.wav" in err


def test_recognize_unknown_bundle_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = tmp_path / "x.wav"
    _write_wav(wav, np.zeros((16000, 1)), 16000)
    assert main(["recognize", "--commands", "no_such_set", str(wav)]) == 1
    assert "no_such_set" in capsys.readouterr().err


def test_eval_speech_reports_accuracy(tmp_path: Path, speak, capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["path,label,speaker"]
    for i, (text, label) in enumerate([("seven", "7"), ("two", "2"), ("hello there", "hello")]):
        pcm = speak(text, "en-us", 150)
        _write_wav(tmp_path / f"{i}.wav", pcm[:, None], 16000)
        rows.append(f"{i}.wav,{label},espeak")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    neg = tmp_path / "neg"
    neg.mkdir()
    _write_wav(neg / "n.wav", np.random.default_rng(1).standard_normal((48000, 1)) * 1000, 16000)
    rc = main(["eval", "speech", "--commands", "digits", "--labels", str(tmp_path / "labels.csv"),
               "--negatives", str(neg), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["clips"] == 3 and out["command_clips"] == 2 and out["unknown_clips"] == 1
    assert 0.0 <= out["accuracy"] <= 1.0 and out["real_time_factor"] > 0
    assert out["negatives"]["negative_files"] == 1 and out["negatives"]["windows"] >= 1
    assert "seven" in out["confusion"]


def test_recognize_grammar_set_prints_intent_and_slots(tmp_path: Path, speak, monkeypatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A Rhino-style context given by name or as a file (any file name): the committed bundle made from the
    same bytes is used (nothing is trained), and each line carries the slots."""
    import shutil

    from agent.speech.sets.base import SETS_DIR

    monkeypatch.setenv("HOMEAGENT_CACHE", str(tmp_path / "cache"))
    ctx = tmp_path / "My Lights Context.yml"
    shutil.copyfile(SETS_DIR / "smart_lighting.yaml", ctx)
    wav = tmp_path / "cmd.wav"
    _write_wav(wav, speak("turn off the lights in the kitchen", "en-gb-x-gbcwmd", 150)[:, None], 16000)
    for commands in ("smart_lighting", str(ctx)):
        assert main(["recognize", "--commands", commands, str(wav)]) == 0
        line = json.loads(capsys.readouterr().out)
        assert line == {"file": str(wav), "intent": "changeLightState",
                        "slots": {"state": "off", "location": "kitchen"}, "confidence": line["confidence"]}
        assert 0.0 < line["confidence"] <= 1.0
    assert not (tmp_path / "cache").exists()


def test_a_rejection_reports_the_closest_intent_of_the_set(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           speak: Any) -> None:
    """Issue 24: a rejection said 'intent: null, confidence: 0.9997', the confidence of 'unknown'; it now also
    names the set's closest intent and its own score."""
    from agent.audio.wav import write_wav
    from agent.cli import main

    wav = tmp_path / "chat.wav"
    write_wav(wav, speak("the weather is lovely today", "en-us"))
    assert main(["recognize", "--commands", "home", str(wav)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["intent"] is None and set(line["best"]) == {"intent", "slots", "confidence"}
    assert line["best"]["intent"] not in (None, "unknown") and 0.0 <= line["best"]["confidence"] < 1.0


def test_yes_and_no_are_never_free_standing_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     speak: Any) -> None:
    """Issue 24: nearly all false accepts on real non-command speech were 'yes'/'no' (the name 'jarvis' read
    as yes). The home set marks them as answers: recognized, but decided on only while a confirmation waits
    (the fusion engine reads them from the scores), never acted on alone."""
    from agent.audio.wav import write_wav
    from agent.speech.load import load_recognizer

    for name, choice in (("head", "bundle"), ("whisper", "whisper")):
        rec = load_recognizer("home", recognizer=choice)  # type: ignore[arg-type]
        for text in ("yes", "no thanks"):
            scores = rec.recognize(speak(text, "en-us"))
            assert rec.decide(scores)[0] is None, (name, text)
            assert scores.best()[0] in ("yes", "no"), (name, text, scores.best())
        assert rec.decide(rec.recognize(speak("turn on the lights", "en-us")))[0] == "lights_on", name
    wav = tmp_path / "yes.wav"
    write_wav(wav, speak("yes please", "en-us"))
    assert main(["recognize", "--commands", "home", str(wav)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["intent"] is None and line["best"]["intent"] == "yes"
