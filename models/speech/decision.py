"""Put the decision rule chosen on the unseen-voice proxy into a command bundle:
``python -m models.speech.decision --set digits --unknown-scale 0.25``.

The proxy (:mod:`models.speech.proxy`, leave-one-voice-family-out) shows that on voices unlike the training
voices the ``unknown`` class wins too often. The fix measured there is a prior shift: the unknown probability
is multiplied by ``w`` < 1 and the probabilities renormalized, then the usual rule applies (argmax incl.
unknown, accept at ≥ threshold), with the threshold recalibrated by the shipped false-accept rule
(:func:`combine.calibrate`). The shift is appended to the head's ONNX graph (``Mul`` → ``ReduceSum`` → ``Div``
after ``probs``), so the bundle format, ``CommandRecognizer.recognize``/``decide`` and every caller
(``homeagent recognize``, ``homeagent eval speech``, the daemon) stay as they are.
The float twin in ``reports/float_heads/`` gets the same nodes (int8-vs-float check).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from agent.paths import bundles_dir
from agent.speech.commands import load_command_set

from . import combine, train
from .bundle import write_bundle

log = logging.getLogger(__name__)
SCALE = "unknown_scale"


def unknown_scale_of(path: Path) -> float | None:
    """The unknown scale already in the graph at ``path`` (None when it has none)."""
    for t in onnx.load(str(path)).graph.initializer:
        if t.name == SCALE:
            return float(numpy_helper.to_array(t).reshape(-1)[-1])
    return None


def scale_unknown(src: Path, out: Path, w: float) -> None:
    """Write ``src``'s graph with its ``probs`` output's last (unknown) column multiplied by ``w`` and the row
    renormalized to sum 1."""
    if not 0.0 < w <= 1.0:
        raise ValueError(f"unknown scale must be in (0, 1], got {w}")
    m = onnx.load(str(src))
    g = m.graph
    if any(t.name == SCALE for t in g.initializer):
        raise ValueError(f"{src} already scales the unknown class: start from the unscaled head")
    name = g.output[0].name
    n_labels = int(g.output[0].type.tensor_type.shape.dim[1].dim_value)
    for node in g.node:
        for i, o in enumerate(node.output):
            if o == name:
                node.output[i] = f"{name}_raw"
    scale = np.ones((1, n_labels), np.float32)
    scale[0, -1] = w
    g.initializer.extend([numpy_helper.from_array(scale, SCALE),
                          numpy_helper.from_array(np.array([1], np.int64), f"{SCALE}_axes")])
    g.node.extend([
        helper.make_node("Mul", [f"{name}_raw", SCALE], [f"{name}_scaled"], name="unknown_prior_mul"),
        helper.make_node("ReduceSum", [f"{name}_scaled", f"{SCALE}_axes"], [f"{name}_sum"], keepdims=1,
                         name="unknown_prior_sum"),
        helper.make_node("Div", [f"{name}_scaled", f"{name}_sum"], [name], name="unknown_prior_norm"),
    ])
    onnx.checker.check_model(m)
    onnx.save(m, str(out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", required=True)
    ap.add_argument("--unknown-scale", type=float, required=True, help="w in (0, 1]: unknown probability × w")
    ap.add_argument("--head", type=Path, default=None, help="unscaled int8 head (default: the bundle's)")
    ap.add_argument("--float-head", type=Path, default=None,
                    help="its float twin (default reports/float_heads/<set>.onnx)")
    ap.add_argument("--max-fa", type=float, default=0.05)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cset = load_command_set(args.set)
    bundle = bundles_dir() / cset.name
    head = args.head or bundle / "head.onnx"
    fhead = args.float_head or train.FLOAT_HEADS / f"{cset.name}.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        scale_unknown(head, t / "head.onnx", args.unknown_scale)
        scale_unknown(fhead, t / "head.float.onnx", args.unknown_scale)
        threshold, rep = combine.calibrate(args.set, t / "head.onnx", max_fa=args.max_fa)
        manifest = write_bundle(bundle, cset.name, list(cset.labels), threshold, t / "head.onnx")
        train.FLOAT_HEADS.mkdir(parents=True, exist_ok=True)
        (train.FLOAT_HEADS / f"{cset.name}.onnx").write_bytes((t / "head.float.onnx").read_bytes())
    rpath = train.REPORTS / f"{cset.name}.json"
    old = json.loads(rpath.read_text()) if rpath.is_file() else {}
    old.update({"threshold": rep, "version": manifest["version"],
                "decision": {"unknown_scale": args.unknown_scale, "chosen_by": "models/speech/reports/proxy.md",
                             "made_with": f"python -m models.speech.decision --set {cset.name} "
                                          f"--unknown-scale {args.unknown_scale}"}})
    rpath.write_text(json.dumps(old, indent=2) + "\n")
    print(json.dumps({k: v for k, v in rep.items() if k not in ("confusion", "confusion_labels")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
