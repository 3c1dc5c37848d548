"""Combine trained heads of one command set into one bundle whose probabilities are their mean:
``python -m models.speech.combine --set digits --member OLD/head.onnx --member NEW/head.onnx
[--float-member NEW.float.onnx ...]``.

Heads trained on different data (e.g. the first data version and the word-pool version) make different
mistakes on real voices; averaging them is a cheap ensemble. The threshold is calibrated as in
``train --max-fa`` (held-out synthetic voices, the word pool's validation rows, windows of the noise
recordings). A member without a float twin gets one made from its int8 graph (weights dequantized, activation
quantize/dequantize pairs removed) for the int8-vs-float check.
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
from onnx import compose, helper, numpy_helper

from agent.paths import bundles_dir, models_dir
from agent.runtime.session import load_model
from agent.speech.commands import load_command_set

from . import train
from .bundle import write_bundle
from .metrics import calibrate_threshold_fa

log = logging.getLogger(__name__)


def merge(paths: list[Path], out: Path) -> None:
    """One ONNX graph (input ``embeddings``, output ``probs``) averaging the heads at ``paths``."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    outs = []
    ref = onnx.load(str(paths[0]))
    for k, p in enumerate(paths):
        m = compose.add_prefix(onnx.load(str(p)), f"m{k}_")
        nodes.append(helper.make_node("Identity", ["embeddings"], [f"m{k}_embeddings"]))
        nodes += list(m.graph.node)
        inits += list(m.graph.initializer)
        outs.append(f"m{k}_probs")
    nodes.append(helper.make_node("Mean", outs, ["probs"]))
    g = helper.make_graph(nodes, "command_head", list(ref.graph.input), list(ref.graph.output), inits)
    model = helper.make_model(g, opset_imports=list(ref.opset_import), producer_name="homeagent")
    model.ir_version = ref.ir_version
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def float_twin(int8_path: Path, out: Path) -> None:
    """A float graph from a static-QDQ head: weight DequantizeLinear nodes become float initializers and
    activation QuantizeLinear→DequantizeLinear pairs are bypassed."""
    m = onnx.load(str(int8_path))
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    rename: dict[str, str] = {}
    new_inits: list[onnx.TensorProto] = []
    keep = []
    producers = {o: n for n in m.graph.node for o in n.output}
    for n in m.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in init:
            q, scale, zp = (init[i] for i in n.input[:3])
            axis = next((helper.get_attribute_value(a) for a in n.attribute if a.name == "axis"), 1)
            shape = [1] * q.ndim
            if scale.ndim:
                shape[axis] = -1
            w = (q.astype(np.float64) - zp.reshape(shape)) * scale.reshape(shape)
            new_inits.append(numpy_helper.from_array(w.astype(np.float32), n.output[0]))
        elif n.op_type == "DequantizeLinear" and producers.get(n.input[0], n).op_type == "QuantizeLinear":
            rename[n.output[0]] = producers[n.input[0]].input[0]
        elif n.op_type != "QuantizeLinear":
            keep.append(n)
    for n in keep:
        for i, name in enumerate(n.input):
            n.input[i] = rename.get(name, name)
    g = helper.make_graph(keep, "command_head", list(m.graph.input), list(m.graph.output), new_inits)
    model = helper.make_model(g, opset_imports=list(m.opset_import), producer_name="homeagent")
    model.ir_version = m.ir_version
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def calibrate(set_name: str, head: Path, seed: int = 0, max_fa: float = 0.05) -> tuple[float, dict[str, object]]:
    cset = load_command_set(set_name)
    data = train.load_data(cset, seed, models_dir() / "cache" / "speech", 1, 350, True)
    va = data["val"]
    x = data["emb"][va].astype(np.float32)
    model = load_model(head)
    probs = np.concatenate([model(x[i:i + 256])[0] for i in range(0, len(x), 256)])
    return calibrate_threshold_fa(probs, data["label"][va], list(cset.labels), data["voice"][va] == "noise",
                                  max_fa, train.near_miss_rows(cset, data)[va],
                                  hard_noise=train.noise_window_probs(head))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", required=True)
    ap.add_argument("--member", type=Path, action="append", required=True, help="int8 head (repeatable)")
    ap.add_argument("--float-member", type=Path, action="append", default=[],
                    help="float twin of the member at the same position (missing ones are derived)")
    ap.add_argument("--max-fa", type=float, default=0.05)
    ap.add_argument("--out", type=Path, default=None, help="bundle dir (default models/bundles/<set>)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cset = load_command_set(args.set)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        floats = []
        for k, member in enumerate(args.member):
            if k < len(args.float_member):
                floats.append(args.float_member[k])
            else:
                float_twin(member, t / f"f{k}.onnx")
                floats.append(t / f"f{k}.onnx")
        merge(args.member, t / "head.onnx")
        merge(floats, t / "head.float.onnx")
        threshold, rep = calibrate(args.set, t / "head.onnx", max_fa=args.max_fa)
        bundle = args.out or bundles_dir() / cset.name
        manifest = write_bundle(bundle, cset.name, list(cset.labels), threshold, t / "head.onnx")
        fpath = train.FLOAT_HEADS / f"{cset.name}.onnx" if args.out is None else bundle.with_name(
            bundle.name + ".float.onnx")
        fpath.parent.mkdir(parents=True, exist_ok=True)
        fpath.write_bytes((t / "head.float.onnx").read_bytes())
    rpath = train.REPORTS / f"{cset.name}.json" if args.out is None else bundle.with_name(bundle.name + ".report.json")
    old = json.loads(rpath.read_text()) if rpath.is_file() else {}
    old.update({"ensemble_of": [str(m) for m in args.member], "threshold": rep, "version": manifest["version"]})
    rpath.write_text(json.dumps(old, indent=2) + "\n")
    print(json.dumps({k: v for k, v in rep.items() if k not in ("confusion", "confusion_labels")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
