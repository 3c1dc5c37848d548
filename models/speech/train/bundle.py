"""Head quantization (static QDQ int8, per-channel) and bundle writing (manifest + head.onnx)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from agent.runtime.session import sha256_file
from agent.speech.frontend import CANVAS_SAMPLES, EMBED_DIM, HOP_S, SAMPLE_RATE

HEAD = "head.onnx"


def quantize_head(float_path: Path, int8_path: Path, calib: np.ndarray) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter([{"embeddings": calib[i:i + 64].astype(np.float32)}
                             for i in range(0, len(calib), 64)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(float_path), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(int8_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=[], op_types_to_quantize=["Conv", "Gemm"])


def write_bundle(bundle: Path, name: str, labels: list[str], threshold: float, head: Path) -> dict[str, object]:
    """Write ``bundle/head.onnx`` and ``bundle/manifest.json``; bump the version when the head changed."""
    bundle.mkdir(parents=True, exist_ok=True)
    mpath = bundle / "manifest.json"
    version = 1
    digest = sha256_file(head)
    if mpath.is_file():
        old = json.loads(mpath.read_text())
        same = old.get("files", {}).get(HEAD, {}).get("sha256") == digest and old.get("threshold") == threshold
        version = int(old.get("version", 0)) + (0 if same else 1)
    part = bundle / (HEAD + ".part")
    shutil.copyfile(head, part)
    os.replace(part, bundle / HEAD)
    manifest = {
        "name": name,
        "version": version,
        "human_version": f"{name} {version} ({datetime.now(timezone.utc).date().isoformat()})",
        "kind": "speech-commands",
        "labels": labels,
        "threshold": round(float(threshold), 4),
        "input": {"sample_rate": SAMPLE_RATE, "canvas_samples": CANVAS_SAMPLES, "embedding_dim": EMBED_DIM,
                  "hop_s": HOP_S, "features": "openwakeword-0.5.1 melspectrogram + embedding_model (int8)"},
        "files": {HEAD: {"sha256": digest, "size": (bundle / HEAD).stat().st_size}},
    }
    tmpm = bundle / "manifest.json.part"
    tmpm.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmpm, mpath)
    return manifest
