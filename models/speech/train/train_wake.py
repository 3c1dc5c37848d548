"""Train a wake phrase: ``python -m models.speech.train.train_wake --phrase "hey home" [--out DIR]``.

Synthetic voices only (:mod:`models.speech.data.wake_data`) → windows of
:data:`agent.speech.wake.detector.WINDOW` speech embeddings → a small MLP [wake, other] → ONNX (float; ~300 KB)
→ threshold calibrated on held-out synthetic
voices' other speech and near-misses plus real noise (``models/speech/data/noise``) so that
false accepts stay at or under ``--max-fa-per-hour`` (0.5) → bundle ``manifest.json`` + ``head.onnx``.

Positive windows end -80..+240 ms around the phrase's end; windows of the same clip that end well before or after it are
negatives, so the best window also locates the phrase's end (the command in the same breath starts there).
Seeded and resumable (cached shards). Needs torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from agent.audio.wav import read_wav_16k
from agent.paths import bundles_dir, models_dir
from agent.runtime.session import sha256_file
from agent.speech.frontend import EMBED_DIM, SpeechFrontend
from agent.speech.wake.detector import (
    KIND,
    MANIFEST,
    PAD_SAMPLES,
    WINDOW,
    first_window_after,
    padded,
    window_range,
    windows,
)

from ..data import augment, wake_data

log = logging.getLogger(__name__)
HIDDEN = 64
Clip = tuple[int, np.ndarray, int, int]


def train_rows(clips: list[Clip], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(windows (N, WINDOW, 96), labels 0 = wake / 1 = other) of training clips."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _, emb, seg, end in clips:
        ks = list(window_range(len(emb), seg))
        if end >= 0:
            k0 = first_window_after(PAD_SAMPLES + end)
            pos = [k for k in (k0 - 1, k0, k0 + 1, k0 + 2) if k in ks]
            far = [k for k in ks if k <= k0 - 4 or k >= k0 + 5]
            neg = [far[i] for i in rng.choice(len(far), min(3, len(far)), replace=False)] if far else []
        else:
            pos, neg = [], [ks[i] for i in rng.choice(len(ks), min(6, len(ks)), replace=False)] if ks else []
        for group, label in ((pos, 0), (neg, 1)):
            if group:
                xs.append(windows(emb, group))
                ys += [label] * len(group)
    return np.concatenate(xs), np.array(ys, dtype=np.int64)


def command_cache(seed: int) -> tuple[np.ndarray, list[Clip]]:
    """Other speech for free: the cached features of the ``home`` command set (``models/cache/speech/home``,
    built by ``python -m models.speech.train.train --set home``: its commands, near-miss sentences and noise by the
    same training/held-out voice split) when present. Returns (training windows, held-out canvases as clips)."""
    rng = np.random.default_rng(seed + 3)
    xs: list[np.ndarray] = []
    val: list[Clip] = []
    for d in sorted((models_dir() / "cache" / "speech" / "home").glob("*/items.json")):
        items = json.loads(d.read_text())
        held = {int(i["idx"]) for i in items if i["split"] == "val"}
        for shard in sorted(d.parent.glob("shard_*.npz")):
            if shard.name.endswith(".part.npz"):
                continue
            z = np.load(shard)
            emb, idx = z["emb"].astype(np.float32), z["idx"]
            is_val = np.isin(idx, sorted(held))
            val += [(-1, e, 0, -1) for e in emb[is_val]]
            tr = emb[~is_val]
            ks = rng.integers(WINDOW - 1, tr.shape[1], len(tr))
            xs.append(np.stack([e[k - WINDOW + 1:k + 1] for e, k in zip(tr, ks, strict=True)]))
    log.info("command-set cache: %d training windows, %d held-out canvases", sum(len(x) for x in xs), len(val))
    return (np.concatenate(xs) if xs else np.zeros((0, WINDOW, EMBED_DIM), np.float32)), val


def canvas_scores(model: object, clips: list[Clip]) -> np.ndarray:
    """Best window of each whole canvas (command-set cache clips: no padding, every window scored)."""
    import torch

    out = []
    with torch.no_grad():
        for _, emb, _, _ in clips:
            w = windows(emb, range(WINDOW - 1, len(emb)))
            out.append(float(torch.softmax(model(torch.from_numpy(w)), dim=1)[:, 0].max()))  # type: ignore[operator]
    return np.array(out)


def fit(x: np.ndarray, y: np.ndarray, seed: int, epochs: int) -> object:
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(WINDOW * EMBED_DIM, HIDDEN), nn.ReLU(),
                          nn.Dropout(0.2), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2))
    counts = np.bincount(y, minlength=2).astype(np.float64)
    w = torch.tensor(counts.sum() / np.maximum(counts, 1), dtype=torch.float32)
    loss_fn = nn.CrossEntropyLoss(weight=w / w.mean())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(perm), 256):
            b = perm[i:i + 256]
            xb = xt[b] + 0.02 * torch.randn(xt[b].shape, generator=gen)
            loss = loss_fn(model(xb), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        if ep % 10 == 9 or ep == epochs - 1:
            log.info("epoch %d/%d loss %.4f", ep + 1, epochs, total / len(xt))
    model.eval()
    return model


class Ensemble:
    """Several MLPs; called like a torch module, returns the log of their mean probabilities."""

    def __init__(self, members: list[object]) -> None:
        self.members = members

    def __call__(self, x: object) -> object:
        import torch

        p = torch.stack([torch.softmax(m(x), dim=1) for m in self.members]).mean(0)  # type: ignore[operator]
        return torch.log(p.clamp_min(1e-12))


def export(model: Ensemble, path: Path) -> None:
    """The MLPs as ONNX opset 17: ``embeddings`` (B, WINDOW, 96) → ``probs`` (B, 2) = [wake, other], averaged."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array([-1, WINDOW * EMBED_DIM], dtype=np.int64), "shape")]
    nodes = [helper.make_node("Reshape", ["embeddings", "shape"], ["x"])]
    outs = []
    for m, member in enumerate(model.members):
        lins = [layer for layer in member if hasattr(layer, "weight")]  # type: ignore[attr-defined]
        h = "x"
        for i, lin in enumerate(lins):
            p = f"m{m}.{i}"
            inits += [numpy_helper.from_array(lin.weight.detach().numpy().astype(np.float32), f"{p}.w"),
                      numpy_helper.from_array(lin.bias.detach().numpy().astype(np.float32), f"{p}.b")]
            nodes.append(helper.make_node("Gemm", [h, f"{p}.w", f"{p}.b"], [f"{p}.g"], transB=1))
            h = f"{p}.h"
            nodes.append(helper.make_node("Relu", [f"{p}.g"], [h]) if i < len(lins) - 1 else
                         helper.make_node("Softmax", [f"{p}.g"], [h], axis=1))
        outs.append(h)
    nodes.append(helper.make_node("Mean", outs, ["probs"]))
    graph = helper.make_graph(
        nodes, "wake_head", [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", WINDOW,
                                                                                            EMBED_DIM])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 2])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="homeagent")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def clip_scores(model: object, clips: list[Clip]) -> np.ndarray:
    """Per clip: the best window's wake probability (as :meth:`WakeDetector.score` does at runtime)."""
    import torch

    out = []
    with torch.no_grad():
        for _, emb, seg, _ in clips:
            ks = window_range(len(emb), seg)
            if len(ks) == 0:
                out.append(0.0)
                continue
            p = torch.softmax(model(torch.from_numpy(windows(emb, ks))), dim=1)[:, 0]  # type: ignore[operator]
            out.append(float(p.max()))
    return np.array(out)


def noise_clips(passes: int, seed: int) -> list[Clip]:
    """Real noise (``models/speech/data/noise``) cut into 2.5 s segments at random levels, ``passes`` times."""
    fe = SpeechFrontend(threads=1)
    rng = np.random.default_rng(seed + 99)
    out: list[Clip] = []
    files = [p for d in augment.NOISE_DIRS if d.is_dir() for p in sorted(d.glob("*.wav"))]
    for _ in range(passes):
        for f in files:
            x = read_wav_16k(f)
            for a in range(int(rng.integers(0, 8000)), len(x) - 16000, 40000):
                seg = augment.set_peak(x[a:a + 40000], float(rng.uniform(-35, -1)))
                out.append((-1, fe.embed(padded(seg)), len(seg), -1))
    return out


def calibrate(neg: np.ndarray, hours: float, pos: np.ndarray, max_fa: float) -> tuple[float, dict[str, object]]:
    """Lowest threshold with at most ``max_fa`` false accepts per hour of held-out negatives (never under 0.5)."""
    allowed = math.floor(max_fa * hours)
    ranked = np.sort(neg)[::-1]
    thr = float(ranked[allowed]) + 1e-4 if allowed < len(ranked) else 0.5
    thr = min(0.999, max(0.5, thr))
    return thr, {"threshold": round(thr, 4), "negative_hours": round(hours, 3), "allowed_false_accepts": allowed,
                 "false_accepts": int((neg >= thr).sum()), "fa_per_hour": round(float((neg >= thr).sum()) / hours, 3),
                 "val_hit_rate": round(float((pos >= thr).mean()), 4), "val_positives": len(pos)}


def write_bundle(out: Path, phrase: str, head: Path, threshold: float, report: dict[str, object]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = head.read_bytes()
    (out / "head.onnx").write_bytes(data)
    name = out.name
    old = out / MANIFEST
    version = 1
    if old.is_file():
        prev = json.loads(old.read_text())
        version = int(prev.get("version", 0)) + 1
    manifest = {"name": name, "version": version, "kind": KIND, "phrase": phrase, "threshold": round(threshold, 4),
                "human_version": f"{name} {version} ({datetime.now(timezone.utc).date().isoformat()})",
                "input": {"window": WINDOW, "pad_samples": PAD_SAMPLES, "embedding_dim": EMBED_DIM,
                          "features": "openwakeword-0.5.1 melspectrogram + embedding_model (int8)"},
                "files": {"head.onnx": {"sha256": sha256_file(out / "head.onnx"), "size": len(data)}},
                "report": report}
    (out / (MANIFEST + ".part")).write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(out / (MANIFEST + ".part"), old)


def run(phrase: str, out: Path, seed: int, scale: float, epochs: int, max_fa: float,
        heads: int = 3) -> dict[str, object]:
    phrase = wake_data.normalize_phrase(phrase)
    cache = models_dir() / "cache" / "speech" / "_wake"
    batches = [wake_data.build(phrase, seed, scale, cache)]
    if scale >= 1.0:  # a second batch of positives with another seed: more voices and prosody per phrase
        batches.append(wake_data.build(phrase, seed + 1, scale, cache, wake_data.EXTRA))
    clips: list[Clip] = []
    items: list[wake_data.WakeItem] = []
    for b, (d, its) in enumerate(batches):
        off = b * 1_000_000  # item indices are per batch
        clips += [(i + off, e, n, end) for i, e, n, end in wake_data.load(d)]
        items += [dataclasses.replace(it, idx=it.idx + off) for it in its]
    split = {i.idx: i.split for i in items}
    extends = {i.idx for i in items if i.kind == "neg" and wake_data.extends_phrase(i.text, phrase)}
    clips = [c for c in clips if c[0] not in extends]
    log.info("left out %d negative clips that start with the phrase's sounds", len(extends))
    train = [c for c in clips if split[c[0]] == "train"]
    val = [c for c in clips if split[c[0]] == "val"]
    x, y = train_rows(train, seed)
    cx, cval = command_cache(seed) if scale >= 1.0 else (np.zeros((0, WINDOW, EMBED_DIM), np.float32), [])
    x, y = np.concatenate([x, cx]), np.concatenate([y, np.ones(len(cx), dtype=np.int64)])
    log.info("wake training: %d windows (%d wake) from %d clips", len(x), int((y == 0).sum()), len(train))
    model = Ensemble([fit(x, y, seed + k, epochs) for k in range(heads)])
    noise = noise_clips(max(1, round(6 * scale)), seed)
    # false accepts per hour are set on natural audio: held-out voices' other speech and commands, and noise;
    # one-phone near-misses ("hey rome") are adversarial, not an hour of speech: their accept rate is reported
    near = set(wake_data.near_miss_phrases(phrase))
    text = {i.idx: i.text for i in items}
    neg_clips = [c for c in val if c[3] < 0 and text[c[0]] not in near] + noise
    hours = (sum(c[2] for c in neg_clips) / 16000 + len(cval) * 2.4) / 3600
    pos = clip_scores(model, [c for c in val if c[3] >= 0])
    neg = np.concatenate([clip_scores(model, neg_clips), canvas_scores(model, cval)])
    thr, report = calibrate(neg, hours, pos, max_fa)
    near_scores = clip_scores(model, [c for c in val if c[3] < 0 and text[c[0]] in near])
    report.update({"phrase": phrase, "seed": seed, "scale": scale, "epochs": epochs, "heads": heads,
                   "train_windows": len(x),
                   "train_clips": len(train), "val_clips": len(val), "noise_segments": len(noise),
                   "command_cache_val_canvases": len(cval),
                   "near_miss_accept_rate": round(float((near_scores >= thr).mean()), 4) if len(near_scores) else None,
                   "near_misses": len(near_scores)})
    with tempfile.TemporaryDirectory() as tmp:
        export(model, Path(tmp) / "head.onnx")
        write_bundle(out, phrase, Path(tmp) / "head.onnx", thr, report)
    return report


def default_out(phrase: str) -> Path:
    return bundles_dir() / ("wake_" + "_".join(wake_data.normalize_phrase(phrase).split()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phrase", required=True, help='the wake phrase, e.g. "hey home"')
    ap.add_argument("--out", type=Path, default=None, help="bundle dir (default models/bundles/wake_<phrase>)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=float, default=1.0, help="< 1 trains on fewer clips (tests)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--max-fa-per-hour", type=float, default=0.5)
    ap.add_argument("--heads", type=int, default=3, help="MLPs trained with different seeds and averaged")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    report = run(args.phrase, args.out or default_out(args.phrase), args.seed, args.scale, args.epochs,
                 args.max_fa_per_hour, max(1, args.heads))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
