"""Shared fixtures: a real Mosquitto on a free loopback port, leak checks, synthesized speech."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.audio.wav import read_wav_16k
from agent.mqtt.broker import LocalBroker

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"  # real recordings the tests need, shipped with their licences
PHOTOS = REPO / "models" / "vision" / "data" / "sign_language_digits"  # the int8 model's calibration photos


def _children() -> set[int]:
    pids: set[int] = set()
    task_dir = Path(f"/proc/{os.getpid()}/task")
    for task in task_dir.iterdir():
        try:
            pids |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            continue
    return pids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves threads or child processes behind."""
    threads_before = set(threading.enumerate())
    children_before = _children()
    yield
    deadline = time.monotonic() + 3.0
    while True:
        extra = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        procs = [p for p in _children() - children_before if _alive(p)]
        if not extra and not procs:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not extra, f"test leaked threads: {[t.name for t in extra]}"
    assert not procs, f"test leaked child processes: {procs}"


@pytest.fixture
def broker() -> Iterator[LocalBroker]:
    """A real Mosquitto on 127.0.0.1 (free port), stopped after the test."""
    b = LocalBroker().start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="session")
def speak(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """speak(text, voice='en-us') -> 16 kHz int16 PCM synthesized by espeak-ng."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is required by the tests: run tools/bootstrap.sh")
    d = tmp_path_factory.mktemp("speech")
    n = [0]

    def _speak(text: str, voice: str = "en-us", speed: int = 150) -> np.ndarray:
        n[0] += 1
        path = d / f"{n[0]}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
        return read_wav_16k(path)

    return _speak


@pytest.fixture(scope="session")
def noise_dir() -> Path:
    """Real noise recordings shipped in the repository (30 s each, 16 kHz mono; ``models/speech/data/noise``)."""
    return REPO / "models" / "speech" / "data" / "noise"


@pytest.fixture(scope="session")
def vision_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vision data folder laid out as ``eval gestures`` reads it: the shipped landmark rows and fingertip
    trajectories (unpacked) and the shipped photos of real hands."""
    root = tmp_path_factory.mktemp("vision")
    (root / "hand_landmarks").mkdir()
    for gz in sorted((TEST_DATA / "vision" / "hand_landmarks").glob("*.csv.gz")):
        with gzip.open(gz, "rb") as f:
            (root / "hand_landmarks" / gz.stem).write_bytes(f.read())
    (root / "sign_language_digits").symlink_to(PHOTOS, target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def digit_photo(vision_data: Path) -> Path:
    """A real photo of a hand showing ASL 1 (pointing)."""
    return sorted((vision_data / "sign_language_digits" / "1").iterdir())[0]
