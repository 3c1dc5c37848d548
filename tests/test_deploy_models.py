"""The deploy scripts build every runtime model the bootstrap builds (they drift apart otherwise: the systemd
install once built neither the silero VAD, the default, nor Whisper, which the wake check and grammar sets use)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _steps(text: str) -> set[str]:
    return set(re.findall(r"models\.(?:speech|vision)\.(?:fetch_\w+|build)\b", text))


def test_deploy_scripts_build_what_the_bootstrap_builds() -> None:
    boot = _steps((ROOT / "tools" / "bootstrap.sh").read_text())
    assert {"models.speech.fetch_frontend", "models.speech.fetch_vad", "models.speech.fetch_asr",
            "models.vision.build"} <= boot
    for script in (ROOT / "deploy" / "install.sh", ROOT / "deploy" / "container" / "Containerfile"):
        missing = boot - _steps(script.read_text())
        assert not missing, f"{script.relative_to(ROOT)} does not build {sorted(missing)}"
        for step in boot:  # and each step is a module that exists
            assert (ROOT / (step.replace(".", "/") + ".py")).is_file(), step
