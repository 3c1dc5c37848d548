"""Combine trained heads of one command set into one bundle whose probabilities are their mean:
``python -m models.speech.train.combine --set digits --member OLD/head.onnx --member NEW/head.onnx``.

Heads trained on different data (e.g. the first data version and the word-pool version) make different
mistakes on real voices; averaging them is a cheap ensemble. The threshold is calibrated as in
``train --max-fa`` (held-out synthetic voices, the word pool's validation rows, windows of the noise
recordings). A member without a float twin gets one made from its int8 graph (weights dequantized, activation
quantize/dequantize pairs removed) for the int8-vs-float check; a head written by ``train --out DIR`` has
its float twin in ``DIR.float.onnx``, which is used. (The v3 bundles were combined with the v2 twin given for
both members, so their float twin averaged v2 with itself; the int8-vs-float figure of v3 compared unlike
models.)
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
from agent.speech.sets.commands import load_command_set

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


def twin_of(member: Path, scratch: Path, given: Path | None = None) -> Path:
    """The float twin of an int8 head: ``given``, else the one ``train --out DIR`` wrote next to it
    (``DIR.float.onnx``), else one derived from the int8 graph into ``scratch``."""
    if given is not None:
        return given
    beside = member.parent.with_name(member.parent.name + ".float.onnx")
    if member.name == "head.onnx" and beside.is_file():
        return beside
    log.info("%s: no float twin beside it, deriving one from its int8 graph", member)
    float_twin(member, scratch)
    return scratch


def check_twin(int8_head: Path, float_head: Path, x: np.ndarray) -> float:
    """The 95th percentile over the sequences ``x`` of the largest probability difference between the two
    heads; SystemExit when they are not one model (a float twin given for the wrong member). Measured on
    validation speech: an int8 head and its twin 0.007; the v1 digits head and the v2 twin 0.31."""
    a, b = load_model(int8_head), load_model(float_head)
    diff = float(np.percentile(np.abs(a(x)[0] - b(x)[0]).max(axis=1), 95))
    if diff > 0.05:
        raise SystemExit(f"{float_head} is not the float twin of {int8_head}: their probabilities differ by "
                         f"{diff:.3f} (95th percentile on validation speech; one model: < 0.05)")
    return diff


def validation_data(set_name: str, seed: int = 0) -> dict[str, np.ndarray]:
    return train.load_data(load_command_set(set_name), seed, models_dir() / "cache" / "speech", 1, 350, True)


def calibrate(set_name: str, head: Path, data: dict[str, np.ndarray],
              max_fa: float = 0.05) -> tuple[float, dict[str, object]]:
    cset = load_command_set(set_name)
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
                    help="float twin of the member at the same position; for the others a member DIR/head.onnx "
                         "written by train --out uses DIR.float.onnx and any other gets one derived")
    ap.add_argument("--max-fa", type=float, default=0.05)
    ap.add_argument("--out", type=Path, default=None, help="bundle dir (default models/bundles/<set>)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cset = load_command_set(args.set)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        if len(args.float_member) > len(args.member):
            ap.error(f"{len(args.float_member)} --float-member for {len(args.member)} --member")
        floats = [twin_of(m, t / f"f{k}.onnx", args.float_member[k] if k < len(args.float_member) else None)
                  for k, m in enumerate(args.member)]
        data = validation_data(args.set)
        sample = data["emb"][data["val"]][:256].astype(np.float32)
        for m, f in zip(args.member, floats, strict=True):
            log.info("%s vs its float twin %s: probability difference p95 %.4f", m, f, check_twin(m, f, sample))
        merge(args.member, t / "head.onnx")
        merge(floats, t / "head.float.onnx")
        threshold, rep = calibrate(args.set, t / "head.onnx", data, max_fa=args.max_fa)
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
