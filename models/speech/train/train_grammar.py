"""Train a grammar set's intent + slot heads and write its bundle:
``python -m models.speech.train.train_grammar SET.yaml [--out DIR]``.

Sentences sampled from the set's grammar (with their slot values) → many synthetic voices → augmentation →
cached embeddings → :class:`~models.speech.train.grammar_head.GrammarHead` (torch, one thread) → ONNX → int8
static QDQ (kept when the held-out accuracy stays within 0.5 point of float) → threshold on the joint
confidence calibrated on held-out voices → bundle (``kind: speech-grammar``) + ``report.json``.
Needs torch (``pip install torch==2.13.0``). Seeded; feature shards are reused (resumable).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from agent.paths import bundles_dir, cache_dir
from agent.speech.sets.grammar_set import GrammarSet, load_grammar_set

from ..data import grammar_data as gd
from .grammar_eval import evaluate, write_grammar_bundle

log = logging.getLogger(__name__)
REPORTS = Path(__file__).resolve().parent.parent / "reports"


def sizes(gs: GrammarSet, scale: float) -> tuple[int, int]:
    """(train, val) positive sentences: more intents and slot values need more sentences."""
    n_vals = sum(len(gs.slot_labels(v)) for v in gs.variables)
    n_train = min(1500, max(500, 250 * len(gs.intents) + 20 * n_vals))
    n_val = min(240, max(100, 50 * len(gs.intents)))
    return max(12, int(n_train * scale)), max(8, int(n_val * scale))


def targets(gs: GrammarSet, items: list[gd.Item], idx: np.ndarray) -> list[np.ndarray]:
    """Per row: intent index, then per variable the index of its canonical value (or of ``absent``)."""
    out = [np.array([items[i].intent for i in idx], np.int64)]
    for var in gs.variables:
        labels = gs.slot_labels(var)
        pos = {v: k for k, v in enumerate(labels)}
        out.append(np.array([pos.get(items[i].slots.get(var, "absent"), len(labels) - 1) for i in idx], np.int64))
    return out


def train_model(gs: GrammarSet, x: np.ndarray, ys: list[np.ndarray], seed: int, epochs: int) -> object:
    import torch

    from .grammar_head import GrammarHead

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = GrammarHead(len(gs.labels), [len(gs.slot_labels(v)) for v in gs.variables])
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
    bs = 128
    steps = epochs * int(np.ceil(len(x) / bs))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    xt = torch.from_numpy(x.astype(np.float32))
    yts = [torch.from_numpy(y) for y in ys]
    gen = torch.Generator().manual_seed(seed)
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(perm), bs):
            b = perm[i:i + bs]
            xb = xt[b]
            start = torch.randint(0, xb.shape[1], (len(b),), generator=gen)
            span = torch.arange(xb.shape[1])[None, :]
            width = torch.randint(0, 3, (len(b), 1), generator=gen)
            mask = (span >= start[:, None]) & (span < start[:, None] + width)
            xb = xb.masked_fill(mask[..., None], 0.0) + 0.02 * torch.randn(xb.shape, generator=gen)
            outs = model(xb)
            loss = sum(loss_fn(o, y[b]) for o, y in zip(outs, yts, strict=True))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(b)
        if ep % 5 == 4 or ep == epochs - 1:
            log.info("epoch %d/%d loss %.4f", ep + 1, epochs, total / len(xt))
    model.eval()
    return model


def _progress(total: int, desc: str) -> Any:
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="utt", file=sys.stderr, dynamic_ncols=True,
               disable=os.environ.get("HOMEAGENT_PROGRESS") == "0", mininterval=1.0)
    return bar


def run(set_file: str, out: Path | None, seed: int, epochs: int, workers: int, scale: float,
        cache: Path | None = None) -> dict[str, object]:
    t0 = time.time()
    gs = load_grammar_set(set_file)
    engines = gd.engines()
    n_train, n_val = sizes(gs, scale)
    items = gd.plan(gs, seed, engines, n_train, n_val)
    feat_dir = (cache or cache_dir() / "commands" / "features") / gs.name / gd.fingerprint(gs, seed, engines,
                                                                                        n_train, n_val)
    log.info("%s: %d intents, %d slot variables, %d sentences in the grammar; %d items (engines %s)", gs.name,
             len(gs.intents), len(gs.variables), gs.count(), len(items), ",".join(sorted(engines)))
    bar = _progress(len(items), f"synthesizing {gs.name}")
    gd.build_features(gs, items, seed, feat_dir, workers, progress=bar.update)
    bar.close()
    data = gd.load_features(feat_dir, items)
    t_feat = time.time() - t0
    ys = targets(gs, items, data["idx"])
    tr = ~data["val"]
    model = train_model(gs, data["emb"][tr], [y[tr] for y in ys], seed, epochs)
    t_train = time.time() - t0 - t_feat
    bundle = out or bundles_dir() / gs.name
    report = evaluate(gs, model, data, ys, feat_dir / "export", seed)
    write_grammar_bundle(bundle, gs, feat_dir / "export" / report.pop("_file"), float(report["threshold"]))
    report.update({"set": gs.name, "format": gs.format, "sentences_in_grammar": gs.count(), "seed": seed,
                   "epochs": epochs, "scale": scale, "items": len(items), "train_rows": int(tr.sum()),
                   "val_rows": int((~tr).sum()), "feature_seconds": round(t_feat, 1),
                   "train_seconds": round(t_train, 1), "total_seconds": round(time.time() - t0, 1),
                   "val_voices": sorted({str(v) for v in data["voice"][~tr]})})
    in_repo = bundle.resolve().parent == bundles_dir().resolve()
    rpath = REPORTS / f"{gs.name}.grammar.json" if in_repo else bundle / "report.json"
    rpath.parent.mkdir(parents=True, exist_ok=True)
    rpath.write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set", help="command set: built-in name or YAML path (Rhino-style context or ours)")
    ap.add_argument("--out", type=Path, default=None, help="bundle dir (default models/bundles/<set name>)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--workers", type=int, default=1, help="synthesis/feature processes (at most 2)")
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the default number of utterances")
    ap.add_argument("--cache", type=Path, default=None, help="feature cache dir (default <cache>/commands/features)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    report = run(args.set, args.out, args.seed, args.epochs, min(2, max(1, args.workers)), args.scale,
                 args.cache)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
