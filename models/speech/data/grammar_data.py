"""Synthetic training data for a grammar set: sentences sampled from its grammar with their slot values,
spoken by many voices, augmented, turned into speech embeddings and cached in shards.

Every item is (text, intent index, slot values, voice, split). Whole voices are held out for validation
(espeak's ``en-gb-x-gbcwmd`` accent, flite ``rms``, festival ``ked``). Negatives: generated other speech
(:mod:`models.speech.data.negatives`), near-misses made from the set's own sentences with a slot value or a
carrier word swapped for a word outside the set, and noise. Shards live under
``<cache>/<set sha>/<fingerprint>/``; finished shards are reused (resumable); randomness is seeded per item.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing as mp
import os
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from math import ceil
from pathlib import Path
from typing import Any

import numpy as np

from agent.speech.frontend import SpeechFrontend
from agent.speech.sets import grammar as g
from agent.speech.sets.commands import CommandSet
from agent.speech.sets.grammar_set import GrammarSet

from . import augment, negatives, synth

log = logging.getLogger(__name__)

CANVAS = 48000  # 3.0 s: sentences with slots are longer than single commands
SHARD = 100
DATA_VERSION = 1
VAL_ESPEAK_ACCENT = "en-gb-x-gbcwmd"
VAL_FIXED = ["flite:rms", "festival:voice_ked_diphone"]
TRAIN_FIXED = {"flite:kal": 1.0, "flite:kal16": 1.0, "flite:awb": 1.5, "flite:slt": 1.5,
               "festival:voice_kal_diphone": 1.0, "festival:voice_cmu_us_slt_arctic_hts": 1.5, "piper:joe": 5.0}
# Kokoro, when fetched, speaks this many more training sentences on top of the others (as a share of them): the
# one natural voice family that moved real-speech accuracy (reports/voice_families.md). On top, not instead:
# given 14% of the same budget it cost 2-3 points on the held-out synthetic voices. ~1 s CPU per sentence.
EXTRA_VOICES = ["kokoro:en-us", "kokoro:en-gb"]
EXTRA_SHARE = 0.15


def engines() -> set[str]:
    """The synthesizers a grammar set's data can use here: the installed ones, plus Kokoro when it is already
    in the cache (``python -m models.speech.fetch.kokoro``; training never downloads it)."""
    from ..fetch import kokoro

    return synth.available_engines() | ({"kokoro"} if kokoro.available() else set())


@dataclass(frozen=True)
class Item:
    idx: int
    text: str  # empty for a noise-only item
    intent: int  # index into the set's labels (the last is unknown)
    slots: dict[str, str] = field(default_factory=dict)
    voice: str = "noise"
    split: str = "train"
    kind: str = "command"  # "command" | "other" (other speech) | "near_miss" | "noise"


def voice_pools(seed: int, engines: set[str]) -> tuple[list[str], list[float], list[str]]:
    """(train voices, their weights, val voices). Val voices are whole voices never trained on."""
    rng = random.Random(seed)
    train: list[str] = []
    weights: list[float] = []
    val: list[str] = []
    if "espeak" in engines:
        for accent in synth.ESPEAK_ACCENTS:
            for var in rng.sample(synth.ESPEAK_VARIANTS, 12):
                v = f"espeak:{accent}+{var}"
                if accent == VAL_ESPEAK_ACCENT:
                    val.append(v)
                else:
                    train.append(v)
                    weights.append(1.0)
    for v, w in TRAIN_FIXED.items():
        if v.split(":")[0] in engines:
            train.append(v)
            weights.append(w)
    val += [v for v in VAL_FIXED if v.split(":")[0] in engines]
    return train, weights, val


def extra_voices(engines: set[str]) -> list[str]:
    return [v for v in EXTRA_VOICES if v.split(":")[0] in engines]


def near_misses(gs: GrammarSet, n: int, rng: random.Random) -> list[str]:
    """The set's own sentences with one word swapped for a word the set never uses ("turn on the garage
    lights" when there is no garage), or with the slot words dropped."""
    vocab = {w for ts in gs.intents.values() for t in ts for w in _words(t.node)}
    for s in gs.slots.values():
        for v in s.values:
            vocab |= _words(v.spoken)
    outside = [w for w in negatives.WORDS if w not in vocab]
    out: set[str] = set()
    intents = list(gs.intents)
    tries = 0
    while len(out) < n and tries < 20 * n:
        tries += 1
        text, _ = gs.sample(intents[rng.randrange(len(intents))], rng)
        words = text.split()
        if len(words) < 2:
            continue
        i = rng.randrange(len(words))
        words[i] = outside[rng.randrange(len(outside))]
        out.add(" ".join(words))
    return sorted(out)


def _words(node: g.Node) -> set[str]:
    return {n.text for n in g._walk(node) if isinstance(n, g.Word)}


def plan(gs: GrammarSet, seed: int, engines: set[str], n_train: int, n_val: int) -> list[Item]:
    """``n_train``/``n_val`` positive sentences (spread evenly over intents) plus ~40% negatives and noise."""
    rng = random.Random(seed)
    train_v, train_w, val_v = voice_pools(seed, engines)
    intents = list(gs.intents)
    unk = len(intents)
    positives = set()
    for intent in intents:
        if gs.count(intent) <= 2000:
            positives |= {t for t, _ in gs.expand(intent)}
    flat = CommandSet(gs.name, "", {i: () for i in intents}, gs.negatives)
    others = [s for s in negatives.generate(flat, 800, seed) if s not in positives]
    misses = [s for s in near_misses(gs, 400, rng) if s not in positives]
    rows: list[tuple[str, int, dict[str, str], str, str, str]] = []
    extra = extra_voices(engines)
    splits: list[tuple[str, int, Callable[[], str]]] = [
        ("train", n_train, lambda: rng.choices(train_v, train_w)[0]),
        ("val", n_val, lambda: val_v[rng.randrange(len(val_v))])]
    if extra:
        splits.append(("train", ceil(EXTRA_SHARE * n_train), lambda: extra[rng.randrange(len(extra))]))
    for split, n, pick in splits:
        per_intent = ceil(n / len(intents))
        for k, intent in enumerate(intents):
            for j in range(per_intent):
                text, slots = gs.sample(intent, rng, uniform=j % 3 == 2)
                rows.append((text, k, slots, pick(), split, "command"))
        n_neg = int(0.35 * per_intent * len(intents))
        for j in range(n_neg):
            near = j % 3 == 0 and bool(misses)
            pool = misses if near else others
            rows.append((pool[rng.randrange(len(pool))], unk, {}, pick(), split, "near_miss" if near else "other"))
        rows += [("", unk, {}, "noise", split, "noise")] * max(4, n // 12)
    rng.shuffle(rows)
    return [Item(i, *r) for i, r in enumerate(rows)]


def fingerprint(gs: GrammarSet, seed: int, engines: set[str], n_train: int, n_val: int) -> str:
    spec: dict[str, object] = {"set": gs.sha256, "seed": seed, "engines": sorted(engines), "v": DATA_VERSION,
                               "canvas": CANVAS, "n": [n_train, n_val]}
    if extra := extra_voices(engines):
        spec["extra"] = [EXTRA_SHARE, *extra]
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


_W: dict[str, Any] = {}


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    with contextlib.suppress(OSError):
        os.nice(10)
    _W["fe"] = SpeechFrontend(int8=True, threads=1)
    _W["noise"] = augment.NoiseBank.default()


def featurize(item: Item, seed: int) -> list[tuple[np.ndarray, float]]:
    """Two embedding sequences per item: train = a light and a full augmentation; val = clean and full."""
    rng = np.random.default_rng([seed, item.idx])
    strengths = [0.3, 1.0] if item.split == "train" else [0.0, 1.0]
    if not item.text:
        segs = [(augment.noise_segment(rng, _W["noise"]), s) for s in strengths]
    else:
        pcm = synth.synthesize(item.text, item.voice, rng)
        segs = []
        for s in strengths:
            if s == 0.0:
                margin = np.zeros(1600, dtype=np.int16)
                segs.append((np.concatenate([margin, augment.set_peak(pcm, -3.0), margin]), s))
            else:
                segs.append((augment.augment(pcm, rng, _W["noise"], s), s))
    return [(_W["fe"].embed(augment.place(seg, CANVAS, rng)), s) for seg, s in segs]


def build_shard(args: tuple[list[Item], int, Path]) -> int:
    items, seed, path = args
    embs, idxs, strengths = [], [], []
    for it in items:
        try:
            feats = featurize(it, seed)
        except (synth.SynthError, OSError, ValueError) as exc:
            log.warning("item %d (%s, %r) skipped: %s", it.idx, it.voice, it.text, exc)
            continue
        for e, s in feats:
            embs.append(e.astype(np.float16))
            idxs.append(it.idx)
            strengths.append(s)
    part = path.with_name(path.stem + f".{os.getpid()}.part.npz")
    np.savez(part, emb=np.stack(embs), idx=np.array(idxs, np.int64), strength=np.array(strengths, np.float32))
    os.replace(part, path)
    return len(items)


def build_features(gs: GrammarSet, items: list[Item], seed: int, d: Path, workers: int,
                   progress: Callable[[int], None] | None = None) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "items.json").write_text(json.dumps([asdict(i) for i in items]))
    jobs = [(items[k:k + SHARD], seed, d / f"shard_{k // SHARD:04d}.npz") for k in range(0, len(items), SHARD)]
    done = len(items) - sum(len(j[0]) for j in jobs if not j[2].is_file())
    if progress:
        progress(done)
    jobs = [j for j in jobs if not j[2].is_file()]
    log.info("%s: %d items, %d shards to build under %s", gs.name, len(items), len(jobs), d)
    if not jobs:
        return
    if workers <= 1:
        _init_worker()
        for j in jobs:
            n = build_shard(j)
            if progress:
                progress(n)
        return
    with mp.get_context("fork").Pool(workers, initializer=_init_worker) as pool:
        for n in pool.imap_unordered(build_shard, jobs):
            if progress:
                progress(n)


def load_features(d: Path, items: list[Item]) -> dict[str, Any]:
    parts = [np.load(p) for p in sorted(d.glob("shard_*.npz")) if ".part." not in p.name]
    out: dict[str, Any] = {k: np.concatenate([p[k] for p in parts]) for k in ("idx", "strength")}
    out["emb"] = [e for p in parts for e in p["emb"]]  # one (T, 96) array per row; T is the same (canvas)
    out["emb"] = np.stack(out["emb"])
    out["val"] = np.array([items[i].split == "val" for i in out["idx"]])
    out["voice"] = np.array([items[i].voice for i in out["idx"]])
    out["kind"] = np.array([items[i].kind for i in out["idx"]])
    return out
