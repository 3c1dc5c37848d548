"""``homeagent eval speech --png`` and the real-speech report's pieces (latency, int8-vs-float, markdown)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agent.audio.wav import write_wav
from agent.cli import main
from agent.speech.load import load_bundle
from models.speech.measure import real_report


def test_eval_speech_writes_a_confusion_png(tmp_path: Path, speak, capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["path,label,speaker"]
    for i, (text, label) in enumerate([("three", "3"), ("eight", "8")]):
        write_wav(tmp_path / f"{i}.wav", speak(text, "en-us", 150))
        rows.append(f"{i}.wav,{label},espeak")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    png = tmp_path / "out" / "confusion.png"
    assert main(["eval", "speech", "--commands", "digits", "--labels", str(tmp_path / "labels.csv"),
                 "--png", str(png), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["clips"] == 2 and out["confusion_png"] == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_latency_float_twin_and_markdown(tmp_path: Path) -> None:
    """Latency on the shipped digits bundle; the float-twin pass of a head bundle (``train --out DIR`` writes
    ``DIR.float.onnx``, which the report finds), on a head bundle built here from the home set's."""
    import shutil

    from agent.paths import bundles_dir

    rec = load_bundle("digits")
    lat = real_report.latency_ms(rec, runs=3)
    assert 0 < lat["cpu_p50_ms"] <= lat["cpu_p95_ms"] and lat["p50_ms"] > 0
    head = load_bundle("home")
    shutil.copytree(bundles_dir() / "home", tmp_path / "home")
    flt = real_report.float_recognizer(head, tmp_path / "home" / "head.onnx")
    assert not flt.frontend.int8 and flt.labels == head.labels
    pcm = (np.random.default_rng(0).standard_normal(16000) * 1000).astype(np.int16)
    a, b = head.recognize(pcm).scores, flt.recognize(pcm).scores
    assert abs(sum(b) - 1) < 1e-3 and np.abs(np.array(a) - np.array(b)).max() < 0.5
    summary = {"clips": 2, "accuracy": 0.5, "command_argmax_accuracy": 1.0, "command_rejected": 0.5,
               "real_time_factor": 0.01, "per_speaker_accuracy": {"x": 0.5}}
    report = {"command": "python -m models.speech.measure.real_report", "generated": "now", "sets": {"digits": {
        "version": 3, "int8": summary, "float": dict(summary, accuracy=1.0), "confusion": "rows: …",
        "negatives": {"false_accepts_per_hour": 0.0, "negative_hours": 0.1},
        "latency_2s": {"p50_ms": 30.0, "p95_ms": 40.0, "cpu_p50_ms": 17.0, "cpu_p95_ms": 19.0}}}}
    md = real_report.markdown(report)
    assert ("| digits v3 | 2 | 50.00% | 100.00% | 50.00% | 100.00% | 0.0 (0.1) | 0.01 | 17.0 / 19.0 ms, 30.0 ms "
            "| – |") in md
    report["sets"]["digits"]["latency_2s_word"] = {"text": "zero", "cpu_p50_ms": 12.0, "cpu_p95_ms": 13.0}
    assert "| 17.0 / 19.0 ms, 30.0 ms | 12.0 / 13.0 ms |" in real_report.markdown(report)
    word = real_report.spoken_word("seven")
    assert word is not None and len(word) == 32000 and np.abs(word).max() > 1000
