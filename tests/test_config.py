from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli import main
from agent.config import AgentConfig, load_config
from agent.config.loader import parse_config, read_secret
from agent.errors import ConfigError

BAD = """\
site_id: "kitchen one"
audio:
  type: wav
  paths: []
  bogus: 1
vad:
  aggressiveness: 7
  frame_ms: 25
mqtt:
  port: 70000
  extra_key: x
"""


def test_defaults_need_no_file() -> None:
    cfg = load_config(None)
    assert cfg == AgentConfig()
    assert cfg.mqtt.port == 1883 and cfg.vad.aggressiveness in range(4)


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    with pytest.raises(ConfigError) as info:
        load_config(f)
    problems = info.value.problems
    assert len(problems) == 7
    by_key = {p.split(": ")[1]: p for p in problems}
    assert by_key["site_id"].startswith(f"{f}:1:")
    assert by_key["audio.bogus"].startswith(f"{f}:5:") and "allowed keys: block_ms, loop, paths" in by_key[
        "audio.bogus"]
    assert by_key["vad.aggressiveness"].startswith(f"{f}:7:")
    assert "10, 20 or 30" in by_key["vad.frame_ms"]
    assert by_key["mqtt.port"].startswith(f"{f}:10:") and "1-65535" in by_key["mqtt.port"]
    assert by_key["mqtt.extra_key"].startswith(f"{f}:11:") and "unknown key" in by_key["mqtt.extra_key"]


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("mqtt:\n  port: [1\n  host: x\n", "c.yaml")
    assert info.value.problems[0].startswith("c.yaml:")
    assert "invalid YAML" in info.value.problems[0]


def test_top_level_must_be_mapping() -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_config("- a\n- b\n")


def test_cross_field_rule() -> None:
    with pytest.raises(ConfigError, match="min_ms must be less than max_ms"):
        parse_config("vad:\n  min_ms: 3000\n  max_ms: 1000\n")


def test_wav_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("audio:\n  type: wav\n  paths: [a.wav]\n")
    cfg = load_config(f)
    assert cfg.audio is not None and cfg.audio.type == "wav"
    assert cfg.audio.paths == [tmp_path / "a.wav"]


def test_check_config_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    assert main(["check-config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count(str(bad) + ":") == 7
    good = tmp_path / "good.yaml"
    good.write_text("site_id: kitchen\nmqtt:\n  host: broker.local\n  port: 8883\n")
    assert main(["check-config", str(good)]) == 0


def test_secret_from_file_env_and_credentials_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    assert read_secret(tmp_path / "pw", None) == "s3cret"
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert read_secret(Path("pw"), None) == "s3cret"
    monkeypatch.setenv("HA_PW", "from-env")
    assert read_secret(None, "HA_PW") == "from-env"
    with pytest.raises(ConfigError, match="password_env"):
        read_secret(None, "NOT_SET_ANYWHERE_X")
    with pytest.raises(ConfigError, match="password_file"):
        read_secret(tmp_path / "missing", None)


def test_shipped_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[1] / "deploy" / "config.example.yaml"
    cfg = load_config(example)
    assert cfg.site_id == "livingroom"
    assert set(cfg.fusion.zones) == {"lamp", "tv"}
    assert cfg.mqtt.arbitration_window_s == 0.3


def test_check_config_reports_every_missing_file_model_and_device_at_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """What 'run' would trip over one start at a time: all of it in one pass; devices only as warnings."""
    models = tmp_path / "models"  # a models folder with nothing built: every model is missing
    monkeypatch.setenv("HOMEAGENT_MODELS", str(models))
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("audio: {type: wav, paths: [gone.wav]}\n"
                   "video: {type: camera, device: 97}\n"
                   "mqtt: {password_file: /nonexistent/pw, tls: {ca_file: /nonexistent/ca.pem}}\n"
                   "ota: {public_key_file: /nonexistent/key.pem}\n"
                   "vad: {engine: silero}\n")
    assert main(["check-config", str(cfg)]) == 1
    err = capsys.readouterr().err
    for key in ("audio.paths[0]", "mqtt.password_file", "mqtt.tls.ca_file", "ota.public_key_file", "vad.engine",
                "speech.int8", "video:", "vision.landmarks", "warning: video.device"):
        assert f"{cfg}: {key}" in err, (key, err)
    assert "speech.commands" in err  # no bundle folder under the empty models dir either
    assert "bootstrap" in err and "problem(s)" in err


def test_shipped_replay_config_passes_check_config(capsys: pytest.CaptureFixture[str]) -> None:
    replay = Path(__file__).resolve().parents[1] / "deploy" / "replay" / "config.yaml"
    assert main(["check-config", str(replay)]) == 0, capsys.readouterr().err
