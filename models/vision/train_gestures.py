"""Train the static-gesture classifier: ``python -m models.vision.train_gestures [--eval]`` (build time).

Data: synthetic landmarks from the kinematic hand model (``handmodel``; every class plus many unknown shapes
for ``none``), the recorded landmarks (``hand_landmarks/landmarks.csv``; fists whose thumb sticks out
vertically are dropped for training, see ``gesture_data.real_landmarks``) and the landmarks found in the digit
photos. Real data is augmented by mirroring, foreshortening along a random direction (the hand tilted away),
point jitter and small rotations; thumbs-down is also made from thumbs-up by a half turn. The model:
standardized geometric features (``agent.vision.features``) → an ensemble of three MLPs (64-64 → softmax),
exported to ONNX with the standardization folded in. ``--eval`` first runs the leave-one-person-out evaluation
(``gesture_eval``: people, not rows, since rows are consecutive video frames), writes ``heldout_report.json``
and takes the ``none`` threshold it chose into the bundle's JSON.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from agent.paths import bundles_dir
from agent.vision.classifier import LABELS
from agent.vision.features import N_FEATURES, features_batch

from .build import DEFAULT_DATA
from .gesture_data import photo_landmarks, real_landmarks
from .gesture_eval import cross_validate, heldout_report
from .handmodel import dataset

log = logging.getLogger(__name__)


def rotate(lms: np.ndarray, angles: np.ndarray) -> np.ndarray:
    c, s = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    x, y = lms[..., 0:1], lms[..., 1:2]
    return np.concatenate([x * c - y * s, x * s + y * c], axis=-1)


def foreshorten(lms: np.ndarray, rng: np.random.Generator, p: float = 0.5, low: float = 0.65) -> np.ndarray:
    """Squash a fraction ``p`` of the hands along a random image direction (a hand tilted away from the
    camera) and jitter every point by ~1% of the hand's extent: another person's view of the same pose."""
    out = lms - lms[:, :1]
    n = len(out)
    theta = rng.uniform(0, np.pi, n)
    k = np.where(rng.random(n) < p, rng.uniform(low, 1.0, n), 1.0)
    u = np.stack([np.cos(theta), np.sin(theta)], axis=1)[:, None, :]
    along = (out * u).sum(axis=-1, keepdims=True)
    out = out + (k[:, None, None] - 1) * along * u
    extent = np.abs(out).max(axis=(1, 2))[:, None, None] + 1e-6
    return out + rng.normal(0, 0.01, out.shape) * extent


def augment(lms: np.ndarray, labels: list[str], rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """Mirror every sample; foreshorten and jitter; rotate (small for thumbs, larger otherwise); thumbs-up
    turned half round → down."""
    mir = lms.copy()
    mir[..., 0] *= -1
    xs, ys = foreshorten(np.concatenate([lms, mir]), rng), labels + labels
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


@functools.lru_cache(maxsize=4)
def synthetic_features(n_synth: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Features of one synthetic draw (cached: the cross-validation folds share the synthetic hands)."""
    s_lms, s_lab = dataset(n_synth, seed)
    return features_batch(s_lms), s_lab


def make_training_set(real: tuple[np.ndarray, list[str]], n_synth: int, seed: int, synth_seed: int,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s_feats, s_lab = synthetic_features(n_synth, synth_seed)
    r_lms, r_lab = augment(real[0], real[1], rng) if len(real[1]) else (np.zeros((0, 21, 2)), [])
    feats = np.concatenate([s_feats, features_batch(r_lms)])
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
          members: int = 3, synth_base: int = 0) -> tuple[Ensemble, np.ndarray, np.ndarray]:
    """``seed``: initialization and augmentation; ``synth_base``: which synthetic draws (``synth_base * 10 + k``
    for member k) — the run-to-run seed of the whole recipe is the pair."""
    mlps: list[MLP] = []
    mean = std = np.zeros(0)
    for k in range(members):
        x, y, w = make_training_set(real, n_synth, seed * 100 + k, synth_seed=synth_base * 10 + k)
        if k == 0:
            mean, std = x.mean(axis=0), x.std(axis=0) + 1e-3
        mlp = MLP([N_FEATURES, 64, 64, len(LABELS)], seed * 100 + k)
        mlp.fit((x - mean) / std, y, w, epochs=epochs, seed=seed * 100 + k)
        mlps.append(mlp)
    return Ensemble(mlps), mean, std


def export(model: Ensemble, mean: np.ndarray, std: np.ndarray, path: Path, min_score: float = 0.5) -> None:
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
        {"labels": LABELS, "n_features": N_FEATURES, "input": "features", "output": "probs",
         "min_score": min_score}, indent=1) + "\n")


def heldout(args: argparse.Namespace) -> float:
    """Leave-one-person-out evaluation → ``heldout_report.json`` next to the model; returns the threshold."""
    def trainer(real: tuple[np.ndarray, list[str]], fold: int) -> Callable[[np.ndarray], np.ndarray]:
        model, mean, std = train(real, args.synthetic, seed=args.seed * 1000 + fold, epochs=args.epochs,
                                 members=args.members, synth_base=args.seed)
        return lambda lms: model.predict((features_batch(lms) - mean) / std)

    oof = cross_validate(args.data, trainer)
    report = heldout_report(oof, {"synthetic_per_class": args.synthetic, "epochs": args.epochs,
                                  "members": args.members, "seed": args.seed})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    (args.out.parent / "heldout_report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "thresholds"}, indent=1))
    return float(report["min_score"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.vision.train_gestures", description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=bundles_dir() / "gestures" / "gesture_classifier.onnx")
    ap.add_argument("--synthetic", type=int, default=1500, help="synthetic samples per class")
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--members", type=int, default=3, help="MLPs in the ensemble")
    ap.add_argument("--seed", type=int, default=0, help="run seed (synthetic draws, initialization, augmentation)")
    ap.add_argument("--eval", action="store_true", help="leave-one-person-out report (and threshold) first")
    ap.add_argument("--eval-only", action="store_true", help="only the leave-one-person-out report")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    min_score = 0.5
    report_path = args.out.parent / "heldout_report.json"
    if args.eval or args.eval_only:
        min_score = heldout(args)
        if args.eval_only:
            return 0
    elif report_path.is_file():
        min_score = float(json.loads(report_path.read_text()).get("min_score", min_score))
    lms, labels, _ = real_landmarks(args.data, clean=True)
    p_lms, p_lab, _, _ = photo_landmarks(args.data)
    model, mean, std = train((np.concatenate([lms, p_lms]), labels + p_lab), args.synthetic, seed=args.seed * 1000,
                             epochs=args.epochs, members=args.members, synth_base=args.seed)
    export(model, mean, std, args.out, min_score)
    log.info("wrote %s (min_score %.2f)", args.out, min_score)
    return 0


if __name__ == "__main__":
    sys.exit(main())
