"""Train a command set's speech head and write its bundle: ``python -m models.speech.train.train --set home``.

synthesize → augment → cached embeddings (``models/cache/speech``) → torch head → ONNX → int8 static QDQ
quantization → threshold calibrated on held-out synthetic voices → ``models/bundles/<set>/`` (manifest with
labels, threshold and sha256 of every file) and a JSON training report in ``models/speech/reports/``.
Seeded and resumable (feature shards are reused). Needs torch (``pip install torch==2.13.0``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from agent.paths import bundles_dir, models_dir
from agent.speech.sets.commands import CommandSet, load_command_set

from ..data import dataset, wordpool
from .bundle import quantize_head, write_bundle
from .metrics import calibrate_threshold, calibrate_threshold_fa, summarize

log = logging.getLogger(__name__)
REPORTS = Path(__file__).resolve().parent.parent / "reports"
FLOAT_HEADS = REPORTS / "float_heads"  # the float twin of each bundle's int8 head (int8-vs-float checks)
HEAD_CHANNELS = (64, 96, 64, 96, 64)


def train_head(x: np.ndarray, y: np.ndarray, n_labels: int, seed: int, epochs: int, ch: int = 64,
               batch: int = 128, unk_weight: float = 1.0, label_smoothing: float = 0.05,
               mixup: float = 0.0, shift: float = 0.0, cmn: bool = False) -> object:
    """One head; ``unk_weight`` scales the ``unknown`` (last) class's loss weight, ``mixup`` > 0 mixes pairs
    of examples with a Beta(mixup, mixup) weight (soft targets) and ``shift`` > 0 adds to each example one
    random offset (``shift`` × the per-dimension std) shared by all its frames, a crude voice/channel change in
    embedding space — knobs measured by :mod:`models.speech.measure.proxy`."""
    import torch

    from .head import Head

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    model = Head(n_labels, ch=ch, cmn=cmn)
    counts = np.bincount(y, minlength=n_labels).astype(np.float64)
    weights = torch.tensor((counts.sum() / np.maximum(counts, 1)) ** 0.5, dtype=torch.float32)
    weights[-1] *= unk_weight
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights / weights.mean(), label_smoothing=label_smoothing)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
    steps = epochs * int(np.ceil(len(x) / batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    rng_mix = np.random.default_rng(seed)
    dim_sd = xt.std(dim=(0, 1))
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(perm), batch):
            b = perm[i:i + batch]
            xb = xt[b]
            # time masking: zero one random span of up to 3 embeddings per example
            start = torch.randint(0, xb.shape[1], (len(b),), generator=gen)
            span = torch.arange(xb.shape[1])[None, :]
            mask = (span >= start[:, None]) & (span < start[:, None] + torch.randint(0, 4, (len(b), 1),
                                                                                   generator=gen))
            xb = xb.masked_fill(mask[..., None], 0.0) + 0.02 * torch.randn(xb.shape, generator=gen)
            if shift > 0:
                xb = xb + shift * dim_sd * torch.randn((len(b), 1, xb.shape[2]), generator=gen)
            if mixup > 0:
                lam = float(rng_mix.beta(mixup, mixup))
                other = torch.randperm(len(b), generator=gen)
                out = model(lam * xb + (1 - lam) * xb[other])
                loss = lam * loss_fn(out, yt[b]) + (1 - lam) * loss_fn(out, yt[b][other])
            else:
                loss = loss_fn(model(xb), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(b)
        if ep % 5 == 4 or ep == epochs - 1:
            log.info("epoch %d/%d loss %.4f", ep + 1, epochs, total / len(xt))
    model.eval()
    return model


def load_data(cset: CommandSet, seed: int, cache: Path, workers: int, target: int,
              pool: bool, pool_shards: int | None = None, families: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The set's cached features (built if missing) plus, with ``pool``, the shared word pool's and the
    supplement pools of the voice ``families`` (``python -m models.speech.data.wordpool --family F``); rows whose
    text a real speaker's command can sound like (:func:`lexicon.confusable`: homophones, accent/8 kHz
    one-edit variants such as "free"/"tree" for "three", trained as unknown in data version 1) are dropped."""
    feat_dir, items = dataset.build_features(cset, seed, cache, workers=workers, target=target)
    data = dataset.load_features(feat_dir, items)
    if not pool:
        return data
    from ..data import lexicon

    phrases = {p for ps in cset.intents.values() for p in ps}
    texts = np.array([items[i].text for i in data["idx"]])
    homo = {t for t in set(texts.tolist()) if t and lexicon.confusable(t, phrases)}
    keep = ~np.isin(texts, sorted(homo)) if homo else np.ones(len(texts), bool)
    log.info("dropping %d rows confusable with %s's phrases: %s", int((~keep).sum()), cset.name, sorted(homo))
    data = {k: v[keep] for k, v in data.items()}
    data["text"] = texts[keep]
    extras = [wordpool.load_for_set(cset, wordpool.pool_dir(seed)[0], pool_shards)]
    extras += [wordpool.load_for_set(cset, wordpool.pool_dir(seed, family=f)[0]) for f in families]
    keys = ("emb", "label", "strength", "val", "voice", "text")
    return {k: np.concatenate([data[k]] + [e[k] if k in ("voice", "text") else e[k].astype(data[k].dtype)
                                           for e in extras]) for k in keys}


def near_miss_rows(cset: CommandSet, data: dict[str, np.ndarray]) -> np.ndarray:
    """Rows whose text is one of the set's negatives or a word one phone away from one of its phrases."""
    if "text" not in data:
        return np.zeros(len(data["label"]), bool)
    from ..data import lexicon

    texts = sorted(set(data["text"].tolist()))
    near = set(lexicon.near_misses({p for ps in cset.intents.values() for p in ps}, texts)) | set(cset.negatives)
    return np.isin(data["text"], sorted(near))


def noise_window_probs(head: Path, hop_s: float = 1.2) -> np.ndarray:
    """Probabilities of canvas-long windows slid over the noise recordings (as ``homeagent eval speech``)."""
    from agent.runtime.session import load_model
    from agent.speech.frontend import SpeechFrontend

    from ..data.augment import NoiseBank, to_i16

    fe, model = SpeechFrontend(int8=True, threads=1), load_model(head)
    hop, canvas = int(hop_s * 16000), dataset.CANVAS
    wins = [to_i16(c[a:a + canvas]) for c in NoiseBank.default().clips
            for a in range(0, max(1, len(c) - canvas + hop), hop)]
    wins = [np.concatenate([w, np.zeros(canvas - len(w), np.int16)]) for w in wins]
    return np.concatenate([model(fe.embed(w)[None])[0] for w in wins])


def family_rows(data: dict[str, np.ndarray], tr: np.ndarray, repeat: int) -> np.ndarray:
    """Indices of the training rows, those of the speech families other than espeak (few voices, many rows of
    espeak variants otherwise) ``repeat`` times."""
    rows = np.flatnonzero(tr)
    if repeat <= 1:
        return rows
    fam = np.array([str(v).split(":")[0] for v in data["voice"][rows]])
    few = rows[(fam != "espeak") & (fam != "noise")]
    return np.concatenate([rows] + [few] * (repeat - 1))


def run(set_name: str, seed: int, epochs: int, workers: int, out: Path | None,
        target: int = dataset.TARGET, pool: bool = False, heads: int = 1,
        max_fa: float | None = None, pool_shards: int | None = None, cmn: bool = False,
        family_repeat: int = 1, families: tuple[str, ...] = (),
        head_seed: int | None = None) -> dict[str, object]:
    """Train ``heads`` heads (averaged in one ONNX graph) and write the bundle; ``max_fa`` picks the threshold
    by :func:`calibrate_threshold_fa` instead of :func:`calibrate_threshold`."""
    cset = load_command_set(set_name)
    labels = list(cset.labels)
    cache = models_dir() / "cache" / "speech"
    t0 = time.time()
    data = load_data(cset, seed, cache, workers, target, pool, pool_shards, families)
    t_feat = time.time() - t0
    tr, va = ~data["val"], data["val"]
    x, y = data["emb"].astype(np.float32), data["label"]
    log.info("features: %d train rows, %d val rows (%.0f s)", int(tr.sum()), int(va.sum()), t_feat)
    rows = family_rows(data, tr, family_repeat)
    hs = seed if head_seed is None else head_seed
    models = [train_head(x[rows], y[rows], len(labels), hs + k, epochs, ch=HEAD_CHANNELS[k % len(HEAD_CHANNELS)],
                         batch=128 if heads == 1 else 256, cmn=cmn) for k in range(heads)]
    bundle = out or bundles_dir() / cset.name
    tmp = cache / cset.name / ("export" if out is None else f"export-{out.name}")  # candidates can train at once
    tmp.mkdir(parents=True, exist_ok=True)
    from .head import export_ensemble

    export_ensemble(models, str(tmp / "head.float.onnx"), labels)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    calib = x[tr][rng.choice(int(tr.sum()), min(512, int(tr.sum())), replace=False)]
    quantize_head(tmp / "head.float.onnx", tmp / "head.onnx", calib)
    report = summarize(tmp, x, y, data, labels)
    val_probs = report.pop("_val_probs")
    assert isinstance(val_probs, np.ndarray)
    if max_fa is None:
        threshold, thr_report = calibrate_threshold(val_probs, y[va], labels)
    else:
        threshold, thr_report = calibrate_threshold_fa(val_probs, y[va], labels, data["voice"][va] == "noise",
                                                       max_fa, near_miss_rows(cset, data)[va],
                                                       hard_noise=noise_window_probs(tmp / "head.onnx"))
    report["threshold"] = thr_report
    report.update({"set": cset.name, "seed": seed, "head_seed": hs, "epochs": epochs, "per_intent": target,
                   "word_pool": pool,
                   "word_pool_shards": pool_shards, "pool_families": list(families), "heads": heads, "cmn": cmn,
                   "family_repeat": family_repeat, "feature_seconds": round(t_feat, 1),
                   "train_rows": int(tr.sum()), "val_rows": int(va.sum()),
                   "val_voices": sorted({str(v) for v in data["voice"][va]})})
    write_bundle(bundle, cset.name, labels, threshold, tmp / "head.onnx")
    float_head = FLOAT_HEADS / f"{cset.name}.onnx" if out is None else bundle.with_name(bundle.name + ".float.onnx")
    float_head.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmp / "head.float.onnx", float_head)
    rpath = REPORTS / f"{cset.name}.json" if out is None else bundle.with_name(bundle.name + ".report.json")
    rpath.write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", required=True, help="command set: built-in name or YAML path")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--head-seed", type=int, default=None,
                    help="seed of the heads' initialization and batches (default --seed); the data stays --seed's")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2, help="feature-extraction processes (at most 2)")
    ap.add_argument("--out", type=Path, default=None, help="bundle dir (default models/bundles/<set>)")
    ap.add_argument("--per-intent", type=int, default=dataset.TARGET,
                    help="training utterances per intent before augmentation copies")
    ap.add_argument("--word-pool", action="store_true",
                    help="add the shared single-word pool (python -m models.speech.data.wordpool) to the set's data")
    ap.add_argument("--pool-shards", type=int, default=None, help="use only the word pool's first N shards")
    ap.add_argument("--pool-family", action="append", default=[], choices=sorted(wordpool.FAMILIES),
                    help="with --word-pool: add this voice family's supplement pool (repeatable)")
    ap.add_argument("--heads", type=int, default=1, help="heads trained with different seeds and averaged")
    ap.add_argument("--max-fa", type=float, default=None,
                    help="threshold = lowest with held-out synthetic unknown speech false accepts <= this "
                         "(near-misses aside; e.g. 0.05), noise rows <= 1%% and no noise-recording window accepted")
    ap.add_argument("--family-repeat", type=int, default=1,
                    help="repeat the training rows of non-espeak voice families N times "
                         "(see models.speech.measure.proxy)")
    ap.add_argument("--cmn", action="store_true",
                    help="heads subtract each utterance's mean embedding first (see models.speech.measure.proxy)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    report = run(args.set, args.seed, args.epochs, min(2, max(1, args.workers)), args.out, args.per_intent,
                 args.word_pool, max(1, args.heads), args.max_fa, args.pool_shards, args.cmn,
                 args.family_repeat, tuple(args.pool_family), args.head_seed)
    print(json.dumps({k: v for k, v in report.items() if k != "confusion"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
