"""Train the static-gesture classifier: ``python -m models.vision.train_gestures`` (build time).

Data: synthetic landmarks from the kinematic hand model (``handmodel``; every class plus many unknown shapes
for ``none``), the recorded landmarks (``hand_landmarks/landmarks.csv``; fists whose thumb sticks out
vertically are dropped for training, see ``gesture_data.real_landmarks``) and the landmarks found in the digit
photos. Real data is augmented by mirroring and small rotations; thumbs-down is also made from thumbs-up by a
half turn. The model: standardized geometric features (``agent.vision.features``) → an ensemble of three MLPs
(64-64 → softmax), exported to ONNX with the standardization folded in. ``--eval`` first reports
leave-one-person-out accuracy (people, not rows: the rows are consecutive video frames).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from agent.paths import bundles_dir
from agent.vision.classifier import LABELS
from agent.vision.features import N_FEATURES, features_batch

from .build import DEFAULT_DATA
from .gesture_data import photo_landmarks, real_landmarks
from .handmodel import dataset

log = logging.getLogger(__name__)


def rotate(lms: np.ndarray, angles: np.ndarray) -> np.ndarray:
    c, s = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    x, y = lms[..., 0:1], lms[..., 1:2]
    return np.concatenate([x * c - y * s, x * s + y * c], axis=-1)


def augment(lms: np.ndarray, labels: list[str], rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Mirror every sample; rotate (small for thumbs, larger otherwise); thumbs-up turned half round → down."""
    mir = lms.copy()
    mir[..., 0] *= -1
    xs, ys = np.concatenate([lms, mir]), labels + labels
    thumbs = np.array([y in ("thumbs_up", "thumbs_down") for y in ys])
    ang = np.where(thumbs, rng.normal(0, 0.25, len(ys)), rng.normal(0, 0.6, len(ys)))
    xs = rotate(xs, ang)
    up = np.array([y == "thumbs_up" for y in ys])
    down = rotate(xs[up], np.pi + rng.normal(0, 0.25, int(up.sum())))
    return np.concatenate([xs, down]), ys + ["thumbs_down"] * int(up.sum())


class MLP:
    """A tiny numpy MLP (ReLU) trained with Adam on softmax cross-entropy."""

    def __init__(self, sizes: list[int], seed: int = 0) -> None:
        r = np.random.default_rng(seed)
        self.w = [r.normal(0, np.sqrt(2 / a), (a, b)).astype(np.float32) for a, b in itertools.pairwise(sizes)]
        self.b = [np.zeros(b, np.float32) for b in sizes[1:]]

    def forward(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        acts = [x]
        for i, (w, b) in enumerate(zip(self.w, self.b, strict=False)):
            x = x @ w + b
            if i < len(self.w) - 1:
                x = np.maximum(x, 0)
            acts.append(x)
        z = x - x.max(axis=1, keepdims=True)
        p = np.exp(z)
        return acts, p / p.sum(axis=1, keepdims=True)

    def fit(self, x: np.ndarray, y: np.ndarray, wts: np.ndarray, epochs: int = 40, lr: float = 3e-3,
            batch: int = 256, l2: float = 1e-4, seed: int = 0) -> None:
        r = np.random.default_rng(seed)
        params = self.w + self.b
        m: list[np.ndarray] = [np.zeros_like(p) for p in params]
        v: list[np.ndarray] = [np.zeros_like(p) for p in params]
        step = 0
        for ep in range(epochs):
            order = r.permutation(len(x))
            rate = lr * (0.5 * (1 + np.cos(np.pi * ep / epochs)))
            for s in range(0, len(x), batch):
                idx = order[s:s + batch]
                acts, p = self.forward(x[idx])
                g = p.copy()
                g[np.arange(len(idx)), y[idx]] -= 1
                g *= (wts[idx] / wts[idx].sum())[:, None]
                gw: list[np.ndarray] = []
                gb: list[np.ndarray] = []
                for i in range(len(self.w) - 1, -1, -1):
                    gw.insert(0, acts[i].T @ g + l2 * self.w[i])
                    gb.insert(0, g.sum(axis=0))
                    if i:
                        g = (g @ self.w[i].T) * (acts[i] > 0)
                step += 1
                for k, (p_, g_) in enumerate(zip(params, gw + gb, strict=False)):
                    m[k] = 0.9 * m[k] + 0.1 * g_
                    v[k] = 0.999 * v[k] + 0.001 * g_ * g_
                    p_ -= rate * (m[k] / (1 - 0.9 ** step)) / (np.sqrt(v[k] / (1 - 0.999 ** step)) + 1e-8)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)[1]


def make_training_set(real: tuple[np.ndarray, list[str]], n_synth: int, seed: int,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s_lms, s_lab = dataset(n_synth, seed)
    r_lms, r_lab = augment(real[0], real[1], rng) if len(real[1]) else (np.zeros((0, 21, 2)), [])
    feats = np.concatenate([features_batch(s_lms), features_batch(r_lms)])
    y = np.array([LABELS.index(v) for v in s_lab + r_lab])
    # real and synthetic halves weigh the same in total; classes balanced inside each half
    wts = np.ones(len(y), np.float32)
    for lo, hi in ((0, len(s_lab)), (len(s_lab), len(y))):
        if hi > lo:
            counts = np.bincount(y[lo:hi], minlength=len(LABELS)).astype(np.float32)
            wts[lo:hi] = 1.0 / counts[y[lo:hi]]
            wts[lo:hi] /= wts[lo:hi].sum()
    return feats, y, wts


class Ensemble:
    """A few MLPs trained on different synthetic draws; their probabilities are averaged."""

    def __init__(self, members: list[MLP]) -> None:
        self.members = members

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.mean([m.predict(x) for m in self.members], axis=0)


def train(real: tuple[np.ndarray, list[str]], n_synth: int = 2500, seed: int = 0, epochs: int = 40,
          members: int = 3) -> tuple[Ensemble, np.ndarray, np.ndarray]:
    mlps: list[MLP] = []
    mean = std = np.zeros(0)
    for k in range(members):
        x, y, w = make_training_set(real, n_synth, seed * 100 + k)
        if k == 0:
            mean, std = x.mean(axis=0), x.std(axis=0) + 1e-3
        mlp = MLP([N_FEATURES, 64, 64, len(LABELS)], seed * 100 + k)
        mlp.fit((x - mean) / std, y, w, epochs=epochs, seed=seed * 100 + k)
        mlps.append(mlp)
    return Ensemble(mlps), mean, std


def export(model: Ensemble, mean: np.ndarray, std: np.ndarray, path: Path) -> None:
    inits = [numpy_helper.from_array(mean.astype(np.float32), "mean"),
             numpy_helper.from_array(std.astype(np.float32), "std")]
    nodes = [helper.make_node("Sub", ["features", "mean"], ["c"]), helper.make_node("Div", ["c", "std"], ["x"])]
    outs = []
    for k, mlp in enumerate(model.members):
        h = "x"
        for i, (w, b) in enumerate(zip(mlp.w, mlp.b, strict=True)):
            inits += [numpy_helper.from_array(w, f"W{k}_{i}"), numpy_helper.from_array(b, f"B{k}_{i}")]
            nodes.append(helper.make_node("Gemm", [h, f"W{k}_{i}", f"B{k}_{i}"], [f"z{k}_{i}"]))
            h = f"h{k}_{i + 1}"
            if i == len(mlp.w) - 1:
                nodes.append(helper.make_node("Softmax", [f"z{k}_{i}"], [h], axis=1))
            else:
                nodes.append(helper.make_node("Relu", [f"z{k}_{i}"], [h]))
        outs.append(h)
    nodes.append(helper.make_node("Mean", outs, ["probs"]))
    graph = helper.make_graph(nodes, "gesture_mlp",
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", N_FEATURES])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", len(LABELS)])],
                              inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="homeagent")
    m.ir_version = 8
    onnx.checker.check_model(m)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(path))
    (path.parent / "gesture_classifier.json").write_text(json.dumps(
        {"labels": LABELS, "n_features": N_FEATURES, "input": "features", "output": "probs"}, indent=1) + "\n")


def evaluate_people(data: Path, n_synth: int, epochs: int) -> dict:
    """Leave one person (landmark CSV) / one fold of photo speakers out; accuracy per class on the held-out."""
    lms, labels, persons = real_landmarks(data)
    c_lms, c_labels, c_persons = real_landmarks(data, clean=True)
    p_lms, p_lab, _, p_spk = photo_landmarks(data)
    spk_fold = {s: i % 4 for i, s in enumerate(sorted(set(p_spk)))}
    report: dict = {}
    for fold, person in enumerate(sorted(set(persons))):
        keep = [p != person for p in persons]
        c_keep = [p != person for p in c_persons]
        pk = [spk_fold[s] != fold for s in p_spk]
        real_lab = [lab for lab, k in zip(c_labels, c_keep, strict=True) if k]
        real = (np.concatenate([c_lms[c_keep], p_lms[pk]]),
                real_lab + [lab for lab, k in zip(p_lab, pk, strict=True) if k])
        model, mean, std = train(real, n_synth, seed=fold, epochs=epochs)
        held_lab = [lab for lab, k in zip(labels, keep, strict=True) if not k]
        for name, x, ys in ((person, lms[[not k for k in keep]], held_lab),
                            (f"photos_fold{fold}", p_lms[[not k for k in pk]],
                             [lab for lab, k in zip(p_lab, pk, strict=False) if not k])):
            pred = model.predict((features_batch(x) - mean) / std).argmax(axis=1)
            for lab in sorted(set(ys)):
                idx = [i for i, v in enumerate(ys) if v == lab]
                acc = float(np.mean([LABELS[pred[i]] == lab for i in idx]))
                report.setdefault(name, {})[lab] = round(acc, 4)
                log.info("held out %-18s %-12s n=%4d acc=%.3f", name, lab, len(idx), acc)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.vision.train_gestures", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=bundles_dir() / "gestures" / "gesture_classifier.onnx")
    ap.add_argument("--synthetic", type=int, default=2500, help="synthetic samples per class")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--eval", action="store_true", help="report leave-one-person-out accuracy first")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.eval:
        report = evaluate_people(args.data, args.synthetic, args.epochs)
        print(json.dumps(report, indent=1))
        (args.out.parent / "heldout_report.json").write_text(json.dumps(
            {"method": "leave one person out (landmarks.csv, uncleaned labels) / 4 folds of photo speakers",
             "synthetic_per_class": args.synthetic, "epochs": args.epochs, "accuracy": report}, indent=1) + "\n")
    lms, labels, _ = real_landmarks(args.data, clean=True)
    p_lms, p_lab, _, _ = photo_landmarks(args.data)
    model, mean, std = train((np.concatenate([lms, p_lms]), labels + p_lab), args.synthetic, epochs=args.epochs)
    export(model, mean, std, args.out)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
