"""Build the silero VAD model into ``models/pretrained/speech`` (for ``vad.engine: silero``).

``python -m models.speech.fetch.fetch_vad``:

1. ``pip download --no-deps silero-vad==6.2.3`` into ``cache_dir()/wheels`` (skipped when cached) and check
   the wheel's sha256;
2. extract only ``silero_vad/data/silero_vad_16k_op15.onnx`` (the 16 kHz-only export: same outputs as the
   wheel's default ``silero_vad.onnx`` at 16 kHz, half its size) and the wheel's MIT ``LICENSE``
   (as ``LICENSE.silero-vad``), then check the model's sha256 (the runtime checks it again at load);
3. print the model's inputs and outputs as onnxruntime sees them.

Idempotent: a stamp file records the inputs; a second run with the same inputs does nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from agent.audio.vad_silero import SILERO_FILE, SILERO_SHA256
from agent.paths import cache_dir, pretrained_dir
from agent.runtime.session import describe, load_model, sha256_file

from ...wheels import extract_members, fetch_pinned_wheel, fresh_stamp, write_stamp

log = logging.getLogger(__name__)

REQUIREMENT = "silero-vad==6.2.3"
WHEEL = "silero_vad-6.2.3-py3-none-any.whl"
WHEEL_SHA256 = "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8"
MODEL_MEMBER = "silero_vad/data/silero_vad_16k_op15.onnx"
LICENSE_MEMBER = "silero_vad-6.2.3.dist-info/licenses/LICENSE"
LICENSE_FILE = "LICENSE.silero-vad"
STAMP = "vad.stamp.json"


def extract(wheel: Path, out: Path) -> None:
    extract_members(wheel, out, {SILERO_FILE: MODEL_MEMBER, LICENSE_FILE: LICENSE_MEMBER})
    digest = sha256_file(out / SILERO_FILE)
    if digest != SILERO_SHA256:
        (out / SILERO_FILE).unlink()
        raise SystemExit(f"{MODEL_MEMBER} in {wheel.name}: sha256 {digest} is not the pinned {SILERO_SHA256}")


def build(out: Path, wheels: Path, force: bool = False) -> dict[str, object]:
    stamp_path = out / STAMP
    want = {"wheel": WHEEL_SHA256, "model": SILERO_SHA256}
    files = [out / SILERO_FILE, out / LICENSE_FILE]
    if not force and (stamp := fresh_stamp(stamp_path, want, files)) is not None:
        print(f"silero VAD up to date in {out}")
        return dict(stamp.get("io", {}))
    extract(fetch_pinned_wheel(REQUIREMENT, WHEEL, WHEEL_SHA256, wheels), out)
    io = describe(load_model(out / SILERO_FILE, sha256=SILERO_SHA256, warm_up=False))
    write_stamp(stamp_path, want, files, io=io)
    print(f"silero VAD {SILERO_FILE} (sha256 {SILERO_SHA256}) in {out}:", json.dumps(io))
    return io


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="output dir (default models/pretrained/speech)")
    ap.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out = args.out or pretrained_dir("speech")
    build(out, cache_dir() / "wheels", force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
