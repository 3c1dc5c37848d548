"""Vision models: ONNX parity with the original TFLite, int8 landmark error, corrupt model → ModelError.

Parity: when ``ai-edge-litert`` is importable the TFLite models in the build cache are run directly; otherwise
the ONNX outputs are compared with the TFLite outputs stored at build time (``reference_<model>.npz``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.errors import ModelError
from agent.paths import cache_dir, pretrained_dir
from agent.runtime.session import load_model

VISION = pretrained_dir("vision")
MODELS = ["palm_detection_lite", "palm_detection_full", "hand_landmark_full", "hand_landmark_lite"]







def _tflite_outputs(name: str, xs: np.ndarray) -> dict[str, np.ndarray] | None:
    src = cache_dir() / "vision" / f"{name}.tflite"
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    if not src.is_file():
        return None
    it = Interpreter(model_path=str(src), num_threads=1)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    outs: dict[str, list[np.ndarray]] = {}
    for x in xs:
        it.set_tensor(inp["index"], x[None])
        it.invoke()
        for o in it.get_output_details():
            outs.setdefault(o["name"], []).append(it.get_tensor(o["index"]).copy())
    return {k: np.concatenate(v) for k, v in outs.items()}


@pytest.mark.parametrize("name", MODELS)
def test_onnx_matches_tflite(name: str) -> None:
    ref_path = VISION / f"reference_{name}.npz"
    assert ref_path.is_file(), (f"no stored TFLite reference for {name}: build the models with ai-edge-litert "
                                "installed (tools/bootstrap.sh does)")
    ref = dict(np.load(ref_path))
    xs = ref.pop("input")
    live = _tflite_outputs(name, xs)
    if live is not None:
        ref = live
    model = load_model(VISION / f"{name}.onnx")
    for i, x in enumerate(xs):
        outs = dict(zip(model.output_names, model(x[None]), strict=True))
        for key, want in ref.items():
            got = outs[key]
            scale = max(1.0, float(np.abs(want[i]).max()))
            assert np.abs(got - want[i : i + 1]).max() <= 1e-4 * scale, (name, key)


def test_int8_landmarks_close_to_float(digit_photo: Path) -> None:
    import cv2

    from agent.vision.geometry import crop_rect, rect_from_landmarks
    from agent.vision.hands import LANDMARK_MODEL_FLOAT, HandTracker, _to_input

    tracker = HandTracker(landmark_model=LANDMARK_MODEL_FLOAT)
    img = cv2.imread(str(digit_photo))
    hands = tracker.process_image(img)
    assert hands
    x = _to_input(crop_rect(img, rect_from_landmarks(hands[0].landmarks), 224))
    f = load_model(VISION / "hand_landmark_full.onnx")(x)[0].reshape(21, 3)[:, :2]
    q = load_model(VISION / "hand_landmark_full_int8.onnx")(x)[0].reshape(21, 3)[:, :2]
    size = float(np.ptp(f, axis=0).max())
    assert np.linalg.norm(q - f, axis=1).mean() / size < 0.02


def test_corrupt_model_raises_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "hand_landmark_full.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 100)
    with pytest.raises(ModelError):
        load_model(bad)
    from agent.vision.classifier import GestureClassifier

    with pytest.raises(ModelError):
        GestureClassifier(bad)
    with pytest.raises(ModelError):
        GestureClassifier(tmp_path / "missing.onnx")
