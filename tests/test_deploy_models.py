"""The bootstrap and the deploy scripts build the runtime's models from the one step list
(``models.build_steps``): they drifted apart when each wrote its own (the systemd install once built neither the
silero VAD, the default, nor Whisper)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from models.build_steps import STEPS

ROOT = Path(__file__).resolve().parents[1]


def test_every_install_path_runs_the_one_step_list() -> None:
    for script in (ROOT / "tools" / "bootstrap.sh", ROOT / "deploy" / "install.sh",
                   ROOT / "deploy" / "container" / "Containerfile"):
        text = script.read_text()
        assert "models.build_steps" in text, f"{script.relative_to(ROOT)} does not run models.build_steps"
        assert "models.speech.fetch.fetch_" not in text and "models.vision.build" not in text, script


def test_the_step_list_names_existing_modules() -> None:
    modules = [m for m, _ in STEPS]
    assert {"models.speech.fetch.fetch_frontend", "models.speech.fetch.fetch_vad", "models.speech.fetch.fetch_asr",
            "models.vision.build"} <= set(modules)
    for m in modules:
        assert importlib.util.find_spec(m) is not None, m
