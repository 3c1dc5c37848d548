"""Pinned real clients, each in its own virtual environment under the cache (they pin libraries that conflict
with ours, e.g. paho-mqtt 1.5): made on first use from the package registry, reused afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

from agent.paths import cache_dir

# name -> pip install argument lists, run in order. rhasspy-hermes-app 1.1.2 pins rhasspy-hermes 0.6.1, whose
# dataclasses-json 0.4.2 cannot parse any message on Python >= 3.9 (json.loads(encoding=...)): the app is
# installed on top of rhasspy-hermes 0.6.2 without its pin, as Hermes users run it today.
CLIENTS = {
    "hermes-0.6.2-app-1.1.2": [["rhasspy-hermes==0.6.2"], ["--no-deps", "rhasspy-hermes-app==1.1.2"]],
}


def client_python(name: str) -> Path:
    """The Python of the pinned client environment ``name`` (made when missing)."""
    root = cache_dir() / "clients" / name
    py = root / "bin" / "python"
    stamp = root / "installed.txt"
    want = repr(CLIENTS[name])
    if stamp.is_file() and stamp.read_text() == want and py.is_file():
        return py
    venv.EnvBuilder(clear=True, with_pip=False).create(root)
    base = getattr(sys, "_base_executable", sys.executable)
    for args in CLIENTS[name]:
        subprocess.run([base, "-m", "pip", "--python", str(py), "install", "--quiet", "--disable-pip-version-check",
                        *args], check=True, timeout=600, env={**os.environ, "PIP_NO_INPUT": "1"})
    stamp.write_text(want)
    return py


ZHC = "zigbee-herdsman-converters@26.112.0"  # the converter library of zigbee2mqtt 2.14


def zhc_dir() -> Path:
    """A node_modules folder holding the pinned zigbee-herdsman-converters (npm-installed when missing)."""
    root = cache_dir() / "clients" / ZHC.replace("@", "-")
    if not (root / "node_modules" / "zigbee-herdsman-converters" / "package.json").is_file():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(root), "--no-audit", "--no-fund", "--silent", ZHC],
                       check=True, timeout=600)
    return root
