"""Build the speech frontend models into ``models/pretrained/speech``.

``python -m models.speech.fetch.fetch_frontend``:

1. ``pip download --no-deps openwakeword==0.5.1`` into ``cache_dir()/wheels`` (skipped when cached) and check
   the wheel's sha256;
2. extract only ``melspectrogram.onnx`` and ``embedding_model.onnx`` (Apache-2.0; the wake-word heads in the
   wheel are CC BY-NC-SA and are never extracted);
3. build ``embedding_model.int8.onnx`` by static QDQ per-channel quantization, calibrated on the committed
   ``models/speech/calibration_mel.npz`` (so no synthesizer is needed here), and print its parity to float.

Idempotent: a stamp file records the inputs; a second run with the same inputs does nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from agent.paths import cache_dir, pretrained_dir
from agent.runtime.session import sha256_file
from agent.speech.frontend import EMBED_FLOAT_FILE, EMBED_INT8_FILE, MEL_FILE, mel_windows

from ...wheels import drop_files, extract_members, fetch_pinned_wheel, fresh_stamp, keep_float_twins, write_stamp

log = logging.getLogger(__name__)

REQUIREMENT = "openwakeword==0.5.1"
WHEEL = "openwakeword-0.5.1-py3-none-any.whl"
WHEEL_SHA256 = "015467e49f08b0ef8efa433690ce70566abb72f7c36501a6fa893762b4ddc559"
MEMBERS = {
    MEL_FILE: "openwakeword/resources/models/melspectrogram.onnx",
    EMBED_FLOAT_FILE: "openwakeword/resources/models/embedding_model.onnx",
}
CALIBRATION = Path(__file__).with_name("calibration_mel.npz")
STAMP = "frontend.stamp.json"


def calibration_windows(path: Path = CALIBRATION) -> np.ndarray:
    """(N, 76, 32, 1) float32 mel windows from the committed calibration file."""
    data = np.load(path)
    mel = data["mel"].astype(np.float32)
    bounds = np.concatenate([[0], np.cumsum(data["lengths"])])
    wins = [mel_windows(mel[a:b]) for a, b in itertools.pairwise(bounds)]
    return np.concatenate(wins)


def quantize_embedding(float_path: Path, int8_path: Path, windows: np.ndarray) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter([{"input_1": windows[i:i + 16]} for i in range(0, len(windows), 16)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(float_path), str(pre), skip_symbolic_shape=True)
        part = int8_path.with_suffix(".part")
        quantize_static(str(pre), str(part), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        os.replace(part, int8_path)


def parity(out: Path, windows: np.ndarray) -> dict[str, object]:
    """Cosine similarity and relative speed of the int8 embedding model against float, one thread."""
    import time

    from agent.runtime.session import load_model

    f = load_model(out / EMBED_FLOAT_FILE)
    q = load_model(out / EMBED_INT8_FILE)
    a = f(windows)[0].reshape(len(windows), -1)
    b = q(windows)[0].reshape(len(windows), -1)
    cos = np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-9)

    def timeit(m: object) -> float:
        one = windows[:1]
        t0 = time.perf_counter()
        for _ in range(50):
            m(one)  # type: ignore[operator]
        return (time.perf_counter() - t0) / 50 * 1000

    tf, tq = timeit(f), timeit(q)
    rep: dict[str, object] = {"cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()), "windows": len(windows),
            "float_ms_per_window": round(tf, 3), "int8_ms_per_window": round(tq, 3),
            "float_bytes": (out / EMBED_FLOAT_FILE).stat().st_size,
            "int8_bytes": (out / EMBED_INT8_FILE).stat().st_size}
    return rep


def build(out: Path, wheels: Path, force: bool = False) -> dict[str, object]:
    import onnxruntime

    stamp_path = out / STAMP
    floats = keep_float_twins()
    want = {"wheel": WHEEL_SHA256, "calibration": sha256_file(CALIBRATION), "ort": onnxruntime.__version__,
            "float_twins": floats}
    files = [out / MEL_FILE, *([out / EMBED_FLOAT_FILE] if floats else []), out / EMBED_INT8_FILE]
    if not force and (stamp := fresh_stamp(stamp_path, want, files)) is not None:
        print(f"speech frontend up to date in {out}")
        return dict(stamp.get("parity", {}))
    extract_members(fetch_pinned_wheel(REQUIREMENT, WHEEL, WHEEL_SHA256, wheels), out, MEMBERS)
    windows = calibration_windows()
    quantize_embedding(out / EMBED_FLOAT_FILE, out / EMBED_INT8_FILE, windows)
    report = parity(out, windows)
    if not floats:
        drop_files([out / EMBED_FLOAT_FILE])
    write_stamp(stamp_path, want, files, parity=report)
    print("int8 vs float embedding parity:", json.dumps(report))
    return report


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
