"""Build the vision models: ``python -m models.vision.build`` (idempotent, cached).

1. ``pip download --no-deps mediapipe==0.10.21`` (one pinned manylinux wheel, sha256-checked) into the cache;
2. extract the Apache-2.0 palm-detection and hand-landmark TFLite models (sha256-checked) and the licence;
3. convert them to ONNX (``models.vision.tflite_to_onnx``, exact to float rounding);
4. when ``ai-edge-litert`` is installed, run the original TFLite models on fixed inputs and store their outputs
   as ``reference_<model>.npz`` next to the ONNX files (the parity test compares against them);
5. quantize the landmark model (static QDQ, per-channel, percentile calibration on real hand crops; see
   ``models.vision.quantize``).

Build-time packages: ``tflite`` (flatbuffer parser), ``onnx``, optionally ``ai-edge-litert`` (parity
reference). The runtime needs none of them.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import zipfile
from pathlib import Path

import numpy as np

from agent.paths import cache_dir, pretrained_dir

from ..wheels import drop_files, fetch_pinned_wheel, fresh_stamp, keep_float_twins, write_stamp
from .tflite_to_onnx import convert_tflite

log = logging.getLogger(__name__)

MEDIAPIPE = "mediapipe==0.10.21"
WHEEL = "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
TFLITE = {
    "palm_detection_lite": ("mediapipe/modules/palm_detection/palm_detection_lite.tflite",
                            "e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18"),
    "palm_detection_full": ("mediapipe/modules/palm_detection/palm_detection_full.tflite",
                            "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54"),
    "hand_landmark_full": ("mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
                           "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3"),
    "hand_landmark_lite": ("mediapipe/modules/hand_landmark/hand_landmark_lite.tflite",
                           "048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6"),
}
LICENSE_MEMBER = "mediapipe-0.10.21.dist-info/LICENSE"
DEFAULT_DATA = Path(__file__).resolve().parent / "data"  # the calibration photos shipped in the repo


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_wheel(cache: Path) -> Path:
    return fetch_pinned_wheel(MEDIAPIPE, WHEEL, WHEEL_SHA256, cache,
                              ["--only-binary=:all:", "--platform", "manylinux_2_28_x86_64", "--python-version",
                               "3.11", "--implementation", "cp"])


def extract(wheel: Path, cache: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    with zipfile.ZipFile(wheel) as zf:
        for name, (member, digest) in TFLITE.items():
            dst = cache / f"{name}.tflite"
            if not (dst.is_file() and sha256(dst) == digest):
                dst.write_bytes(zf.read(member))
            if sha256(dst) != digest:
                raise SystemExit(f"{member} in {wheel.name} does not match its pinned sha256")
            out[name] = dst
        (cache / "LICENSE.mediapipe").write_bytes(zf.read(LICENSE_MEMBER))
    return out


def reference_inputs(shape: tuple[int, ...]) -> np.ndarray:
    """Fixed inputs for the parity check: seeded noise and a smooth gradient image (values in [0, 1])."""
    rng = np.random.default_rng(1234)
    noise = rng.random(shape, dtype=np.float32)
    h, w = shape[1], shape[2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grad = np.stack([xx / w, yy / h, (xx + yy) / (w + h)], axis=-1)[None]
    return np.concatenate([noise, grad.astype(np.float32)])


def write_reference(tflite: Path, dst: Path) -> bool:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        log.warning("ai-edge-litert not installed: no TFLite reference outputs for %s", tflite.name)
        return False
    interp = Interpreter(model_path=str(tflite), num_threads=1)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    xs = reference_inputs(tuple(int(d) for d in inp["shape"]))
    outs: dict[str, list[np.ndarray]] = {}
    for x in xs:
        interp.set_tensor(inp["index"], x[None])
        interp.invoke()
        for o in interp.get_output_details():
            outs.setdefault(o["name"], []).append(interp.get_tensor(o["index"]).copy())
    arrays = {k: np.concatenate(v) for k, v in outs.items()}
    np.savez_compressed(dst, input=xs, **arrays)  # type: ignore[arg-type]
    return True


BUILDER_VERSION = 2
LANDMARKS = ("hand_landmark_full", "hand_landmark_lite")


def build(data: Path, force: bool = False, quantize: bool = True) -> None:
    """Convert the pinned TFLite models, quantize the landmark models and keep what the install tier needs
    (the landmark models' float twins and the TFLite reference outputs only with ``HOMEAGENT_FLOAT_TWINS=1``)."""
    cache = cache_dir() / "vision"
    out_dir = pretrained_dir("vision")
    out_dir.mkdir(parents=True, exist_ok=True)
    floats = keep_float_twins()
    want = {"wheel": WHEEL_SHA256, "models": {k: v[1] for k, v in TFLITE.items()}, "builder": BUILDER_VERSION,
            "quantize": quantize, "float_twins": floats}
    files = [out_dir / "LICENSE.mediapipe", out_dir / "palm_detection_lite.onnx", out_dir / "palm_detection_full.onnx"]
    if quantize:
        files += [out_dir / f"{name}_int8.onnx" for name in LANDMARKS]
    if floats or not quantize:
        files += [out_dir / f"{name}.onnx" for name in LANDMARKS]
    stamp_path = out_dir / "build.stamp.json"
    if not force and fresh_stamp(stamp_path, want, files) is not None:
        print(f"vision models up to date in {out_dir}")
        return
    tflites = extract(fetch_wheel(cache), cache)
    (out_dir / "LICENSE.mediapipe").write_bytes((cache / "LICENSE.mediapipe").read_bytes())
    for name, src in tflites.items():
        convert_tflite(src, out_dir / f"{name}.onnx")
        if floats:
            write_reference(src, out_dir / f"reference_{name}.npz")
    if quantize:
        from .quantize import quantize_landmarks

        for name in LANDMARKS:
            quantize_landmarks(out_dir / f"{name}.onnx", out_dir / f"{name}_int8.onnx", data)
        if not floats:
            drop_files([out_dir / f"{name}.onnx" for name in LANDMARKS])
    (out_dir / "build.json").unlink(missing_ok=True)  # the stamp of builder version 1
    write_stamp(stamp_path, want, files)
    print(f"vision models ready in {out_dir}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.vision.build", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="folder holding sign_language_digits/ (calibration photos)")
    ap.add_argument("--force", action="store_true", help="rebuild everything")
    ap.add_argument("--no-quantize", action="store_true", help="skip the int8 landmark model")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    build(args.data, force=args.force, quantize=not args.no_quantize)
    return 0


if __name__ == "__main__":
    sys.exit(main())
