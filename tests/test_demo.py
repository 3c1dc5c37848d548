"""The demo and the daemon end to end: real VAD, real int8 encoder, real Mosquitto."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from agent.audio.wav import read_wav_16k, write_wav
from agent.cli import main
from agent.demo.run import MEDIA, run_demo
from agent.mqtt.broker import LocalBroker

ROOT = Path(__file__).resolve().parents[1]


def test_demo_recognizes_commands_and_rejects_the_rest(broker: LocalBroker) -> None:
    out = io.StringIO()
    result = run_demo(host=broker.host, port=broker.port, out=out)
    text = out.getvalue()
    n_cmd = sum(1 for u in result.expected if u["expect"])
    ok_cmd = sum(1 for u, got in result.matches() if u["expect"] and got == u["expect"])
    rejected = sum(1 for u, got in result.matches() if not u["expect"] and got is None)
    assert n_cmd == 11 and ok_cmd >= 10, text
    assert rejected == 3, text
    assert result.false_intents() == [], text
    assert all(d.topic == f"homeagent/demo/intent/{d.intent.name}" for d in result.delivered)
    assert "summary (expected → recognized)" in text
    # the action map really switched devices: every recognized command produced a device message
    assert len(result.actions) >= ok_cmd
    assert ("homeassistant/light/demo_lights/set", b"ON") in result.actions


def test_demo_cli_starts_its_own_broker(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    script = MEDIA / "demo.json"
    utts = json.loads(script.read_text())["utterances"][:2]
    audio = read_wav_16k(MEDIA / "demo.wav")[: int((utts[-1]["end"] + 1.0) * 16000)]
    tmp = tmp_path
    write_wav(tmp / "a.wav", audio)
    (tmp / "a.json").write_text(json.dumps({"utterances": utts}))
    rc = main(["demo", "--audio", str(tmp / "a.wav"), "--script", str(tmp / "a.json")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "started local Mosquitto on 127.0.0.1:" in out
    assert "commands recognized: 2/2" in out


def test_run_daemon_stops_cleanly_on_sigterm(broker: LocalBroker, tmp_path: Path) -> None:
    wav = tmp_path / "loop.wav"
    write_wav(wav, read_wav_16k(MEDIA / "demo.wav")[: 16000 * 4])
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"site_id: hall\naudio: {{type: wav, paths: [loop.wav], loop: true}}\n"
                   f"mqtt: {{host: {broker.host}, port: {broker.port}}}\nstate_dir: {tmp_path}\n")
    proc = subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        seen = b""
        assert proc.stdout is not None
        while b"acting on lights_on" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        # at the default log level: one line naming what it runs on, then one per intent acted on
        assert b"acting on lights_on (voice" in seen, seen.decode()
        started = (f"site hall started: audio wav {tmp_path / 'loop.wav'} (loop); video none; "
                   f"broker {broker.host}:{broker.port}; commands home (recognizer bundle)")
        assert started.encode() in seen, seen.decode()
        t = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=5)
        assert time.monotonic() - t < 2.0
        assert rc == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_silence_only_gives_no_intent(broker: LocalBroker, tmp_path: Path) -> None:
    wav = tmp_path / "quiet.wav"
    write_wav(wav, (np.random.default_rng(0).normal(0, 30, 16000 * 3)).astype(np.int16))
    (tmp_path / "q.json").write_text(json.dumps({"utterances": []}))
    result = run_demo(host=broker.host, port=broker.port, audio=wav, script=tmp_path / "q.json",
                      out=io.StringIO())
    assert result.delivered == []


@pytest.mark.slow
def test_documented_replay_config_acts_on_every_command(broker: LocalBroker, tmp_path: Path) -> None:
    """``homeagent run`` on deploy/replay/config.yaml (the demo recording as microphone, a replayed camera of
    an empty room) acts on each of the recording's commands, as the demo without a camera does."""
    import yaml

    src = ROOT / "deploy" / "replay" / "config.yaml"
    data = yaml.safe_load(src.read_text())
    data["audio"]["paths"] = [str((src.parent / p).resolve()) for p in data["audio"]["paths"]]
    data["video"]["path"] = str((src.parent / data["video"]["path"]).resolve())
    data["mqtt"].update(host=broker.host, port=broker.port)
    data["state_dir"] = str(tmp_path)
    cfg = tmp_path / "replay.yaml"
    cfg.write_text(yaml.safe_dump(data))
    expected = [u["expect"] for u in json.loads((MEDIA / "demo.json").read_text())["utterances"] if u["expect"]]
    r = subprocess.run([sys.executable, "-m", "agent", "run", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=180, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    acted = re.findall(r"acting on (\w+) \(voice", r.stderr)
    assert acted == expected, r.stderr[-3000:]
    assert "video replay" in r.stderr
