"""Static int8 quantization of the hand-landmark model (build time).

What works here (and what does not): per-tensor int8 and dynamic quantization wreck the landmark regressor;
static QDQ with per-channel weights, percentile calibration on real hand crops, and the first layers plus the
output heads (fully connected) left in float keeps landmarks within about 1% of hand size.
Calibration crops come from the sign-language-digit photos (found by the float models themselves); every
sixth photo (never a calibration one) measures the int8 model against the float one
(``quant_report_<model>.json``). The photos used ship in ``models/vision/data`` (``models.repo_data``).
"""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

log = logging.getLogger(__name__)

FLOAT_FIRST_FRACTION = 0.25


def hand_crops(data: Path, every: int = 1, offset: int = 0, jitter: int = 0) -> list[np.ndarray]:
    """Landmark-model inputs (1, 224, 224, 3) cropped around hands found in the digit photos."""
    import cv2

    from agent.vision.geometry import Rect, crop_rect, rect_from_landmarks
    from agent.vision.hands import LANDMARK_MODEL_FLOAT, LANDMARK_SIZE, HandTracker, _to_input

    tracker = HandTracker(landmark_model=LANDMARK_MODEL_FLOAT)
    root = data / "sign_language_digits"
    with open(root / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rng = np.random.default_rng(7)
    out: list[np.ndarray] = []
    for i, row in enumerate(rows):
        if int(row.get("row", i)) % every != offset:  # the shipped slice keeps the full list's row numbers
            continue
        img = cv2.imread(str(root / row["path"]))
        if img is None:
            continue
        hands = tracker.process_image(img)
        if not hands:
            continue
        rect = rect_from_landmarks(hands[0].landmarks)
        rects = [rect]
        for _ in range(jitter):
            s = rect.w * (1 + rng.uniform(-0.1, 0.1))
            rects.append(Rect(rect.cx + rng.uniform(-0.08, 0.08) * rect.w, rect.cy + rng.uniform(-0.08, 0.08) * rect.h,
                              s, s, rect.rotation + rng.uniform(-0.3, 0.3)))
        out.extend(_to_input(crop_rect(img, r, LANDMARK_SIZE)) for r in rects)
    return out


class _Reader:
    def __init__(self, name: str, crops: list[np.ndarray]) -> None:
        self.name = name
        self.it = iter(crops)

    def get_next(self) -> dict[str, np.ndarray] | None:
        x = next(self.it, None)
        return None if x is None else {self.name: x}


def float_nodes(model_path: Path, first_fraction: float) -> list[str]:
    """Nodes kept in float: the first ``first_fraction`` of the convolutions and everything from the heads on."""
    nodes = onnx.load(str(model_path)).graph.node
    convs = [n.name for n in nodes if n.op_type == "Conv"]
    keep = convs[: max(1, round(len(convs) * first_fraction))]
    heads = [n.name for n in nodes if n.op_type in ("Gemm", "Sigmoid", "ReduceMean")]
    return keep + heads


def quantize_landmarks(src: Path, dst: Path, data: Path, first_fraction: float = FLOAT_FIRST_FRACTION) -> dict:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not (data / "sign_language_digits" / "labels.csv").is_file():
        raise SystemExit(f"calibration photos not found under {data}/sign_language_digits: the int8 landmark model "
                         "cannot be built (the repository ships them in models/vision/data; pass --data)")
    calib = hand_crops(data, every=8, offset=1)  # ~130 crops: percentile calibration keeps all activations in memory
    log.info("calibrating %s on %d real hand crops", src.name, len(calib))
    name = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    tmp = dst.with_suffix(".part")
    quantize_static(str(src), str(tmp), _Reader(name, calib), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.Percentile,
                    nodes_to_exclude=float_nodes(src, first_fraction),
                    extra_options={"CalibPercentile": 99.99, "ActivationSymmetric": False})
    tmp.replace(dst)
    report = compare(src, dst, hand_crops(data, every=6, offset=0))
    report["float_first_fraction"] = first_fraction
    (dst.parent / f"quant_report_{src.stem}.json").write_text(json.dumps(report, indent=1))
    log.info("int8 landmark model: %s", report)
    return report


def compare(float_path: Path, int8_path: Path, crops: list[np.ndarray]) -> dict:
    """Mean landmark error of the int8 model vs the float one, in units of hand size; and latencies."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = [ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]) for p in (float_path, int8_path)]
    errs: list[float] = []
    times: list[list[float]] = [[], []]
    for x in crops:
        outs = []
        for k, s in enumerate(sess):
            t = time.perf_counter()
            outs.append(s.run(["Identity"], {s.get_inputs()[0].name: x})[0].reshape(21, 3)[:, :2])
            times[k].append(time.perf_counter() - t)
        ref = outs[0]
        size = float(np.max(ref.max(axis=0) - ref.min(axis=0)))
        errs.append(float(np.linalg.norm(outs[1] - ref, axis=1).mean()) / size)
    return {"crops": len(crops), "mean_err_hand_size": float(np.mean(errs)),
            "p95_err_hand_size": float(np.percentile(errs, 95)),
            "float_ms": 1000 * float(np.median(times[0])), "int8_ms": 1000 * float(np.median(times[1]))}
