"""Everything ``run`` will need from outside the config file, checked at once (``homeagent check-config``).

Schema validation only proves that the YAML is well formed. ``run`` then also needs files that the config names
(password, TLS, OTA key, replay media, action map), the models that its recognizer, VAD and hand tracker load,
and, ideally, the devices. :func:`preflight` lists every problem in one pass, so that a user fixes them all
before starting, instead of one per failed start. Devices are only warned about: they may be plugged in later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config.schema import AgentConfig, CameraSource, MicSource, ReplayVideoSource, WavSource
from ..paths import pretrained_dir

REBUILD = "run 'bash tools/bootstrap.sh' to build the models"


@dataclass(frozen=True)
class Finding:
    """One problem (``run`` would fail) or warning (it may work later), named by its config key."""

    key: str
    message: str
    warning: bool = False

    def line(self, file: str) -> str:
        return f"{file}: {'warning: ' if self.warning else ''}{self.key}: {self.message}"


def _readable(path: Path, key: str, what: str, hint: str) -> list[Finding]:
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        return [Finding(key, f"cannot read {what} {path} ({exc.strerror}); {hint}")]
    return []


def _credential(path: Path) -> Path:
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    return path if path.is_absolute() or not cred_dir else Path(cred_dir) / path


def _files(cfg: AgentConfig) -> list[Finding]:
    out: list[Finding] = []
    m = cfg.mqtt
    if m.password_file is not None:
        out += _readable(_credential(m.password_file), "mqtt.password_file", "the password file",
                         "create it (mode 0600) or use mqtt.password_env")
    if m.arbitration_key_file is not None:
        out += _readable(_credential(m.arbitration_key_file), "mqtt.arbitration_key_file", "the arbitration key",
                         "create it with the same secret on every agent ('openssl rand -hex 32')")
    if m.password_env is not None and m.password_env not in os.environ:
        out.append(Finding("mqtt.password_env", f"environment variable {m.password_env} is not set"))
    if m.tls is not None:
        for name in ("ca_file", "cert_file", "key_file"):
            p = getattr(m.tls, name)
            if p is not None:
                out += _readable(p, f"mqtt.tls.{name}", "the PEM file", "give the right path")
    if cfg.web.enabled and cfg.web.token_file is not None:
        out += _readable(_credential(cfg.web.token_file), "web.token_file", "the page's token file",
                         "create it (mode 0600) with 'openssl rand -hex 32'")
    h = cfg.home_assistant
    if h.url is not None and h.token_file is not None:
        out += _readable(_credential(h.token_file), "home_assistant.token_file", "the access token file",
                         "create it (mode 0600) with a long-lived token from Home Assistant's profile page")
    if h.url is not None and h.token_env is not None and h.token_env not in os.environ:
        out.append(Finding("home_assistant.token_env", f"environment variable {h.token_env} is not set"))
    if cfg.ota.public_key_file is not None:
        out += _public_key(cfg.ota.public_key_file)
    if isinstance(cfg.audio, WavSource):
        for i, p in enumerate(cfg.audio.paths):
            out += _readable(p, f"audio.paths[{i}]", "the WAV file", "give an existing recording")
    if isinstance(cfg.video, ReplayVideoSource) and not Path(cfg.video.path).exists():
        out.append(Finding("video.path", f"{cfg.video.path} does not exist; give a video file or a folder of images"))
    if cfg.actions is not None:
        out += _readable(Path(cfg.actions), "actions", "the action map", "give an existing YAML file or null")
    return out


def _public_key(path: Path) -> list[Finding]:
    from ..errors import AgentError
    from ..ota.manifest import load_public_key

    try:
        load_public_key(path)
    except AgentError as exc:
        return [Finding("ota.public_key_file", f"{exc}; make one with 'homeagent models keygen DIR'")]
    return []


def _speech_models(cfg: AgentConfig) -> list[Finding]:
    from ..audio.vad_silero import SILERO_FILE
    from ..speech.frontend import EMBED_FLOAT_FILE, EMBED_INT8_FILE, MEL_FILE
    from ..speech.load import daemon_choice
    from ..speech.whisper.model import model_files

    speech = pretrained_dir("speech")
    need: dict[str, list[str]] = {}
    if cfg.vad.engine == "silero":
        need.setdefault("vad.engine", []).append(SILERO_FILE)
    whisper = list(model_files()[2:])
    if daemon_choice(cfg.speech.commands, cfg.speech.recognizer) == "whisper":
        need.setdefault("speech.recognizer", []).extend(whisper)
    else:
        need.setdefault("speech.int8", []).extend([MEL_FILE, EMBED_INT8_FILE if cfg.speech.int8 else EMBED_FLOAT_FILE])
        out = _bundle(cfg.speech.commands)
        if out:
            return out + _missing(speech, need)
    if cfg.speech.wake is not None and cfg.speech.wake.verify == "whisper":
        need.setdefault("speech.wake.verify", []).extend(whisper)
    return _missing(speech, need)


def _bundle(commands: str) -> list[Finding]:
    from ..errors import AgentError
    from ..speech.load import resolve_bundle

    if commands.endswith((".yaml", ".yml")):
        return []  # a set without a bundle is trained on first use (or decoded by Whisper)
    try:
        d = resolve_bundle(commands)
    except AgentError as exc:
        return [Finding("speech.commands", str(exc))]
    if not (d / "manifest.json").is_file():
        return [Finding("speech.commands", f"{commands!r} is not a built-in set or a bundle directory "
                                           f"({d} has no manifest.json)")]
    return []


def _missing(folder: Path, need: dict[str, list[str]]) -> list[Finding]:
    return [Finding(key, f"model {folder / name} is missing; {REBUILD}")
            for key, names in need.items() for name in dict.fromkeys(names) if not (folder / name).is_file()]


def _vision_models(cfg: AgentConfig) -> list[Finding]:
    if cfg.video is None:
        return []
    from ..vision.hands import PALM_MODEL, landmark_models

    need = {"video": [PALM_MODEL], "vision.landmarks": [landmark_models(cfg.vision.landmarks)[0]]}
    return _missing(pretrained_dir("vision"), need)


def _devices(cfg: AgentConfig) -> list[Finding]:
    out: list[Finding] = []
    if isinstance(cfg.audio, MicSource):
        out += _microphone(cfg.audio.device)
    if isinstance(cfg.video, CameraSource):
        dev = cfg.video.device
        path = Path(f"/dev/video{dev}") if isinstance(dev, int) else Path(dev)
        if (isinstance(dev, int) or str(dev).startswith("/dev/")) and not path.exists():
            out.append(Finding("video.device", f"no camera at {path} now (it may be plugged in later)", True))
    return out


def _microphone(device: str | int | None) -> list[Finding]:
    try:
        import sounddevice as sd

        inputs = [d for d in sd.query_devices() if d.get("max_input_channels", 0) > 0]
    except Exception as exc:  # PortAudio missing or broken: what run would hit too
        return [Finding("audio.device", f"cannot list audio devices ({exc}); install libportaudio2", True)]
    if not inputs:
        return [Finding("audio.device", "no audio input device now (it may be plugged in later)", True)]
    if isinstance(device, str) and not any(device.lower() in str(d.get("name", "")).lower() for d in inputs):
        names = ", ".join(repr(d.get("name")) for d in inputs)
        return [Finding("audio.device", f"no input device matches {device!r} now (have: {names})", True)]
    if isinstance(device, int) and not any(d.get("index") == device for d in inputs):
        return [Finding("audio.device", f"no input device with index {device} now", True)]
    return []


def preflight(cfg: AgentConfig) -> list[Finding]:
    """Every problem and warning that ``run`` would meet with this config, in config order."""
    return _files(cfg) + _speech_models(cfg) + _vision_models(cfg) + _devices(cfg)
