"""Plan, synthesize, augment and featurize a command set's synthetic training data, cached in shards.

Every item is (text, label, voice, split). Whole voices are held out for validation. Each shard of items is
turned into speech embeddings (the runtime :class:`~agent.speech.frontend.SpeechFrontend`, int8) and saved
as ``models/cache/speech/<set>/<fingerprint>/shard_XXXX.npz``; existing shards are skipped (resumable),
and each item's randomness is seeded by (seed, item index) (reproducible).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
from dataclasses import asdict, dataclass
from math import ceil
from pathlib import Path
from typing import Any

import numpy as np

from agent.speech.frontend import CANVAS_SAMPLES, SpeechFrontend
from agent.speech.sets.commands import CommandSet

from . import augment, negatives, synth

log = logging.getLogger(__name__)

CANVAS = CANVAS_SAMPLES  # 2.4 s: the training input length (the recognizer pads shorter input to it)
SHARD = 200
VAL_ESPEAK_ACCENT = "en-gb-x-gbcwmd"
VAL_FIXED = ["flite:rms", "festival:voice_ked_diphone"]
TRAIN_FIXED = {"flite:kal": 3, "flite:kal16": 3, "flite:awb": 3, "flite:slt": 3,
               "festival:voice_kal_diphone": 2, "festival:voice_cmu_us_slt_arctic_hts": 2, "piper:joe": 6}
DATA_VERSION = 1
TARGET = 450  # default training utterances per intent


@dataclass(frozen=True)
class Item:
    idx: int
    text: str  # empty for a noise-only item
    label: int
    voice: str
    split: str  # "train" | "val"


def voices(seed: int, engines: set[str]) -> tuple[dict[str, int], dict[str, int]]:
    """(train voices, val voices) → repetitions per phrase. Val voices are whole voices never trained on."""
    rng = np.random.default_rng(seed)
    train: dict[str, int] = {}
    val: dict[str, int] = {}
    for accent in synth.ESPEAK_ACCENTS:
        picks = rng.choice(len(synth.ESPEAK_VARIANTS), 10, replace=False)
        for i in picks:
            v = f"espeak:{accent}+{synth.ESPEAK_VARIANTS[i]}"
            if accent == VAL_ESPEAK_ACCENT:
                if len(val) < 6:
                    val[v] = 1
            else:
                train[v] = 1
    for v, reps in TRAIN_FIXED.items():
        if v.split(":")[0] in engines:
            train[v] = reps
    for v in VAL_FIXED:
        if v.split(":")[0] in engines:
            val[v] = 3
    return train, val


def plan(cset: CommandSet, seed: int, engines: set[str], target_per_intent: int = 450) -> list[Item]:
    """Items: each intent ≈ ``target_per_intent`` training utterances, generated negatives, noise."""
    train_v, val_v = voices(seed, engines)
    rng = np.random.default_rng(seed + 1)
    unk = len(cset.labels) - 1
    negs = negatives.generate(cset, 600, seed)
    rows: list[tuple[str, int, str, str]] = []
    for split, vs in (("train", train_v), ("val", val_v)):
        per_voice = sum(vs.values())
        for li, phrases in enumerate(cset.intents.values()):
            target = target_per_intent if split == "train" else 60
            mult = max(1, ceil(target / (len(phrases) * per_voice)))
            for v, reps in vs.items():
                rows += [(p, li, v, split) for p in phrases for _ in range(reps * mult)]
        n_pos = sum(1 for r in rows if r[3] == split)
        n_neg_voice = max(20, int(0.45 * n_pos / max(1, per_voice)))
        for v, reps in vs.items():
            pick = rng.choice(len(negs), min(len(negs), n_neg_voice * reps), replace=False)
            rows += [(negs[i], unk, v, split) for i in pick]
        rows += [("", unk, "noise", split)] * (n_pos // 10)
    order = rng.permutation(len(rows))
    return [Item(i, *rows[j]) for i, j in enumerate(order)]


def fingerprint(cset: CommandSet, seed: int, engines: set[str], target: int = TARGET) -> str:
    spec: dict[str, object] = {"set": asdict(cset), "seed": seed, "engines": sorted(engines), "v": DATA_VERSION,
                               "canvas": CANVAS}
    if target != TARGET:
        spec["target"] = target
    blob = json.dumps(spec, sort_keys=True, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


_W: dict[str, Any] = {}


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    _W["fe"] = SpeechFrontend(int8=True, threads=1)
    _W["noise"] = augment.NoiseBank.default()


def copies_for(item: Item) -> list[float]:
    """Augmentation strengths of an item's copies: train gets a light and a full copy; val a clean and a full."""
    return [0.3, 1.0] if item.split == "train" else [0.0, 1.0]


def featurize(item: Item, seed: int) -> list[tuple[np.ndarray, float]]:
    rng = np.random.default_rng([seed, item.idx])
    noise = _W["noise"]
    if not item.text:
        segs = [(augment.noise_segment(rng, noise), s) for s in copies_for(item)]
    else:
        pcm = synth.synthesize(item.text, item.voice, rng)
        segs = []
        for s in copies_for(item):
            if s == 0.0:
                margin = np.zeros(1600, dtype=np.int16)
                segs.append((np.concatenate([margin, augment.set_peak(pcm, -3.0), margin]), s))
            else:
                segs.append((augment.augment(pcm, rng, noise, s), s))
    return [(_W["fe"].embed(augment.place(seg, CANVAS, rng)), s) for seg, s in segs]


def build_shard(args: tuple[list[Item], int, Path]) -> str:
    items, seed, path = args
    embs, labels, idxs, strengths = [], [], [], []
    for it in items:
        try:
            feats = featurize(it, seed)
        except (synth.SynthError, OSError) as exc:
            log.warning("item %d (%s, %r) skipped: %s", it.idx, it.voice, it.text, exc)
            continue
        for e, s in feats:
            embs.append(e.astype(np.float16))
            labels.append(it.label)
            idxs.append(it.idx)
            strengths.append(s)
    part = path.with_suffix(".part.npz")
    np.savez(part, emb=np.stack(embs), label=np.array(labels, np.int64), idx=np.array(idxs, np.int64),
             strength=np.array(strengths, np.float32))
    os.replace(part, path)
    return path.name


def build_features(cset: CommandSet, seed: int, cache: Path, workers: int = 2,
                   target: int = TARGET) -> tuple[Path, list[Item]]:
    engines = synth.available_engines()
    items = plan(cset, seed, engines, target)
    d = cache / cset.name / fingerprint(cset, seed, engines, target)
    d.mkdir(parents=True, exist_ok=True)
    (d / "items.json").write_text(json.dumps([asdict(i) for i in items]))
    jobs = []
    for k in range(0, len(items), SHARD):
        path = d / f"shard_{k // SHARD:04d}.npz"
        if not path.is_file():
            jobs.append((items[k:k + SHARD], seed, path))
    n_shards = ceil(len(items) / SHARD)
    log.info("%s: %d items in %d shards under %s; %d to build (engines: %s)", cset.name, len(items),
             n_shards, d, len(jobs), ",".join(sorted(engines)))
    if jobs:
        with mp.get_context("fork").Pool(workers, initializer=_init_worker) as pool:
            for i, name in enumerate(pool.imap_unordered(build_shard, jobs), 1):
                log.info("built %s (%d/%d)", name, i, len(jobs))
    return d, items


def load_features(d: Path, items: list[Item]) -> dict[str, np.ndarray]:
    parts = [np.load(p) for p in sorted(d.glob("shard_*.npz")) if not p.name.endswith(".part.npz")]
    out = {k: np.concatenate([p[k] for p in parts]) for k in ("emb", "label", "idx", "strength")}
    split = np.array([items[i].split == "val" for i in out["idx"]])
    out["val"] = split
    out["voice"] = np.array([items[i].voice for i in out["idx"]])
    return out
