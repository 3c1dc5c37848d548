"""The one list of model-build steps that ``tools/bootstrap.sh``, ``deploy/install.sh`` and the Containerfile
all run, in order: each is a module run as ``python -m MODULE`` (idempotent, stamped, cached).

``python -m models.build_steps`` prints ``MODULE DESCRIPTION`` lines (the bootstrap runs each as its own
step); ``python -m models.build_steps --run`` runs them all, stopping at the first that fails.
"""

from __future__ import annotations

import subprocess
import sys

STEPS: tuple[tuple[str, str], ...] = (
    ("models.speech.fetch.fetch_frontend", "building the speech frontend (openWakeWord mel + int8 embedding)"),
    ("models.speech.fetch.fetch_vad", "extracting the silero VAD"),
    ("models.speech.fetch.fetch_asr", "building the speech recognizer (Whisper tiny.en, int8)"),
    ("models.vision.build", "building the hand models (MediaPipe palm + int8 landmarks)"),
)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["--run"]):
        print("usage: python -m models.build_steps [--run]", file=sys.stderr)
        return 2
    for module, desc in STEPS:
        if not args:
            print(module, desc)
            continue
        print(f"{desc} ...", flush=True)
        rc = subprocess.run([sys.executable, "-m", module], check=False).returncode
        if rc:
            print(f"build step {module} failed (exit {rc})", file=sys.stderr)
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
