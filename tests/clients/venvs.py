"""Pinned real clients, each in its own virtual environment under the cache (they pin libraries that conflict
with ours, e.g. paho-mqtt 1.5): made on first use from the package registry, reused afterwards. Each is made under
a file lock, so two test runs never build the same one at once, and a half-made one (no stamp) is made anew."""

from __future__ import annotations

import fcntl
import glob
import os
import re
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.paths import cache_dir

# name -> pip install argument lists, run in order. rhasspy-hermes-app 1.1.2 pins rhasspy-hermes 0.6.1, whose
# dataclasses-json 0.4.2 cannot parse any message on Python >= 3.9 (json.loads(encoding=...)): the app is
# installed on top of rhasspy-hermes 0.6.2 without its pin, as Hermes users run it today.
CLIENTS = {
    "hermes-0.6.2-app-1.1.2": [["rhasspy-hermes==0.6.2"], ["--no-deps", "rhasspy-hermes-app==1.1.2"]],
}


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """An exclusive lock on the client ``name`` (held while it is checked and, if need be, made)."""
    root = cache_dir() / "clients"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def client_python(name: str) -> Path:
    """The Python of the pinned client environment ``name`` (made when missing)."""
    with _locked(name):
        return _client_python(name)


def _client_python(name: str) -> Path:
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


# Home Assistant core, pinned: device-based MQTT discovery needs >= 2024.12, and since 2025.5 it needs Python >= 3.13.2
# (since 2026.3, 3.14.2). The integrations the conformance test loads have their requirements installed with it,
# from the integrations' own manifests, so that Home Assistant runs with --skip-pip and installs nothing at run time.
HA_VERSION = "2026.2.3"
HA_PYTHON = (3, 13, 2)  # at least; below 3.14
HA_INTEGRATIONS = ("http", "api", "websocket_api", "auth", "intent", "mqtt", "template", "input_boolean", "light",
                   "switch", "event", "sensor", "update", "device_automation", "config", "frontend")
BUILD_DEBS = ("build-essential", "libssl-dev", "libffi-dev", "zlib1g-dev", "libsqlite3-dev", "libbz2-dev",
              "liblzma-dev", "libreadline-dev", "libncurses-dev", "uuid-dev", "xz-utils")
REQUIREMENTS = """
import json, sys
from pathlib import Path
import homeassistant.components as c
root, todo, seen, reqs = Path(c.__file__).parent, list(sys.argv[1:]), set(), []
while todo:
    d = todo.pop()
    if d in seen:
        continue
    seen.add(d)
    m = json.loads((root / d / "manifest.json").read_text())
    reqs += m.get("requirements", [])
    todo += m.get("dependencies", [])
print("\\n".join(sorted(set(reqs))))
"""


def _version(py: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([py, "-c", "import sys; print(*sys.version_info[:3])"], capture_output=True,
                             text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return tuple(int(x) for x in out.split())


def _fits(py: str) -> bool:
    v = _version(py)
    return v is not None and HA_PYTHON <= v < (3, 14) and subprocess.run(
        [py, "-c", "import ssl, sqlite3, ctypes, venv, ensurepip"], capture_output=True, timeout=30).returncode == 0


def python313(log: list[str]) -> Path:
    """A Python >= 3.13.2 for Home Assistant: the machine's own (Debian 13's python3.13, a pyenv one) when one
    fits, else one built once from Debian trixie's source package into the cache (build_cpython.sh)."""
    built = cache_dir() / "clients" / "cpython-3.13"
    found = [str(built / "bin" / "python3.13")] if (built / ".complete").is_file() else []
    found += [p for p in (shutil.which("python3.13"), "/usr/bin/python3.13") if p]
    pyenv = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    found += sorted(glob.glob(f"{pyenv}/versions/3.13.*/bin/python3.13"), reverse=True)
    for py in found:
        if os.access(py, os.X_OK) and _fits(py):
            return Path(py)
    with _locked("cpython-3.13"):
        if (built / ".complete").is_file() and _fits(str(built / "bin" / "python3.13")):
            return built / "bin" / "python3.13"
        _install_debs(BUILD_DEBS)
        t0 = time.monotonic()
        subprocess.run(["bash", str(Path(__file__).with_name("build_cpython.sh")), str(built)], check=True,
                       timeout=1800, stdout=subprocess.DEVNULL)
        log.append(f"built CPython {(built / '.complete').read_text().strip()} from Debian trixie's source in "
                   f"{time.monotonic() - t0:.0f} s")
        return built / "bin" / "python3.13"


def _install_debs(names: tuple[str, ...]) -> None:
    missing = [n for n in names if subprocess.run(["dpkg-query", "-W", "-f=${Status}", n], capture_output=True,
                                                  text=True).stdout != "install ok installed"]
    if missing:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, timeout=600)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", *missing], check=True, timeout=900,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)


def ha_python(log: list[str]) -> Path:
    """The Python of a virtual environment holding Home Assistant core ``HA_VERSION`` and the requirements of
    ``HA_INTEGRATIONS`` (made when missing; what was done and how long it took is appended to ``log``)."""
    with _locked(f"homeassistant-{HA_VERSION}"):
        root = cache_dir() / "clients" / f"homeassistant-{HA_VERSION}"
        py, stamp = root / "bin" / "python", root / "installed.txt"
        want = f"{HA_VERSION} {' '.join(HA_INTEGRATIONS)}"
        if stamp.is_file() and stamp.read_text() == want and py.is_file() and _fits(str(py)):
            return py
        base = python313(log)
        t0 = time.monotonic()
        subprocess.run([str(base), "-m", "venv", "--clear", str(root)], check=True, timeout=300)
        pip = [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input"]
        _run_logged([*pip, f"homeassistant=={HA_VERSION}"], root / "pip.log")
        reqs = subprocess.run([str(py), "-c", REQUIREMENTS, *HA_INTEGRATIONS], capture_output=True, text=True,
                              check=True, timeout=120).stdout.split()
        constraints = py.parent.parent / "lib" / "python3.13" / "site-packages" / "homeassistant" / \
            "package_constraints.txt"
        if reqs:
            _run_logged([*pip, "--constraint", str(constraints), *reqs], root / "pip.log")
        stamp.write_text(want)
        log.append(f"made the Home Assistant {HA_VERSION} environment with {base} in {time.monotonic() - t0:.0f} s "
                   f"({', '.join(reqs) or 'no integration requirements'})")
        return py


def _run_logged(cmd: list[str], logfile: Path) -> None:
    with open(logfile, "a") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=900, check=False)
    if proc.returncode:
        tail = logfile.read_text()[-3000:]
        raise RuntimeError(f"{' '.join(cmd[:6])} ... failed ({proc.returncode}); the end of {logfile}:\n"
                           + re.sub(r"(?m)^WARNING: Location .*\n", "", tail))
