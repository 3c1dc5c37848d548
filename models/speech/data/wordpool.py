"""A shared pool of single-word synthetic clips for the single-word built-in sets (``speech_commands_10``,
``digits``): synthesized and featurized once, labelled per set at load time.

Why: the two sets' words are each other's negatives, so one pool serves both at half the feature cost; and it
adds what measurement said matters most on real speech — many more voices (every espeak-ng accent × every
``+variant``, Piper with wide noise/length scales, flite, Festival), vocal-tract-length (formant) shifts,
8 kHz band-limiting, and thousands of varied negative words (near-misses one phone away from a command plus
common English words), with words a set's commands can sound like (homophones "for"/"four", accent or 8 kHz
variants "tree"/"free" for "three") left out of that set's negatives.
Validation uses the same held-out voices as :mod:`models.speech.data.dataset`. Shards live in
``models/cache/speech/_wordpool/<fingerprint>/``; resumable and seeded like the per-set cache.

``python -m models.speech.data.wordpool`` builds it (one process; ``nice -n 10`` recommended).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from dataclasses import asdict
from math import ceil
from pathlib import Path

import numpy as np

from agent.paths import models_dir
from agent.speech.frontend import SpeechFrontend
from agent.speech.sets.commands import CommandSet, load_command_set

from . import augment, dataset, lexicon, negatives, synth
from .dataset import Item

log = logging.getLogger(__name__)

SETS = ("speech_commands_10", "digits")
POOL_VERSION = 1
TRAIN_ACCENTS = [a for a in synth.ESPEAK_ACCENTS if a != dataset.VAL_ESPEAK_ACCENT]
# engine share of training clips (piper is the most natural voice; festival HTS is slow)
TRAIN_MIX = [("espeak", 0.5), ("piper", 0.3), ("flite", 0.12), ("festival", 0.08)]
TRAIN_FLITE = ["kal", "kal16", "awb", "slt"]
TRAIN_FESTIVAL = ["voice_kal_diphone", "voice_kal_diphone", "voice_cmu_us_slt_arctic_hts"]
VAL_VOICES = ["espeak", "flite:rms", "festival:voice_ked_diphone"]
# voice families built as supplement pools (``--family``), added to a set's data with train's --pool-family
FAMILIES = {"kokoro": ["kokoro:en-us", "kokoro:en-gb"]}


def command_texts() -> list[str]:
    return sorted({p for s in SETS for ps in load_command_set(s).intents.values() for p in ps})


def negative_texts(seed: int) -> tuple[list[str], list[str]]:
    """(near-miss words, other words): near-misses of any pool command, then common words and phrases."""
    cmds = set(command_texts())
    words = lexicon.common_words()
    near = lexicon.near_misses(cmds, words)
    rng = np.random.default_rng(seed)
    pick = [words[i] for i in rng.choice(len(words), min(len(words), 1800), replace=False)] if words else []
    extra = [n for s in SETS for n in load_command_set(s).negatives] + negatives.WORDS + pick
    other = sorted({w for w in extra if w not in cmds and w not in set(near)})
    return near, other


def _train_voice(rng: np.random.Generator) -> str:
    engine = TRAIN_MIX[int(rng.choice(len(TRAIN_MIX), p=[p for _, p in TRAIN_MIX]))][0]
    if engine == "espeak":
        accent = TRAIN_ACCENTS[int(rng.integers(len(TRAIN_ACCENTS)))]
        return f"espeak:{accent}+{synth.ESPEAK_VARIANTS[int(rng.integers(len(synth.ESPEAK_VARIANTS)))]}"
    if engine == "piper":
        return "piper:joe"
    if engine == "flite":
        return f"flite:{TRAIN_FLITE[int(rng.integers(len(TRAIN_FLITE)))]}"
    return f"festival:{TRAIN_FESTIVAL[int(rng.integers(len(TRAIN_FESTIVAL)))]}"


def _val_voice(rng: np.random.Generator) -> str:
    v = VAL_VOICES[int(rng.integers(len(VAL_VOICES)))]
    if v == "espeak":
        return f"espeak:{dataset.VAL_ESPEAK_ACCENT}+{synth.ESPEAK_VARIANTS[int(rng.integers(40))]}"
    return v


def plan(seed: int, per_command: int = 200) -> list[Item]:
    """Items (label −1: labels are per set): commands, near-misses ×2, other words ×1, noise; plus val."""
    rng = np.random.default_rng(seed + 7)
    near, other = negative_texts(seed)
    rows: list[tuple[str, str, str]] = []
    for split, scale, voice in (("train", 1.0, _train_voice), ("val", 0.08, _val_voice)):
        texts = [t for t in command_texts() for _ in range(max(2, int(per_command * scale)))]
        negs = [w for w in near for _ in range(2)] + other
        if split == "val":
            negs = [negs[i] for i in rng.choice(len(negs), int(len(negs) * 0.1), replace=False)]
        rows += [(t, voice(rng), split) for t in texts + negs]
        rows += [("", "noise", split)] * int(len(texts) * 0.06)
    order = rng.permutation(len(rows))
    return [Item(i, rows[j][0], -1, rows[j][1], rows[j][2]) for i, j in enumerate(order)]


def plan_family(family: str, seed: int, per_command: int = 70, other_words: int = 800) -> list[Item]:
    """A supplement pool of one more voice family (training rows only; validation stays on the main pool's
    held-out voices): commands ``per_command`` times each, near-misses ×2, ``other_words`` other words."""
    if family not in FAMILIES:
        raise SystemExit(f"unknown voice family {family!r}; known: {', '.join(FAMILIES)}")
    rng = np.random.default_rng([seed, 11])
    near, other = negative_texts(seed)
    pick = [other[i] for i in rng.choice(len(other), min(len(other), other_words), replace=False)]
    texts = [t for t in command_texts() for _ in range(per_command)] + [w for w in near for _ in range(2)] + pick
    voices = FAMILIES[family]
    rows = [(t, voices[int(rng.integers(len(voices)))]) for t in texts]
    order = rng.permutation(len(rows))
    return [Item(i, rows[j][0], -1, rows[j][1], "train") for i, j in enumerate(order)]


def fingerprint(items: list[Item], seed: int) -> str:
    blob = json.dumps({"v": POOL_VERSION, "seed": seed, "canvas": dataset.CANVAS,
                       "items": [asdict(i) for i in items]}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def featurize(item: Item, seed: int) -> list[tuple[np.ndarray, float]]:
    """Like :func:`dataset.featurize` with formant shifts and more 8 kHz band-limiting."""
    rng = np.random.default_rng([seed, item.idx])
    noise = dataset._W["noise"]
    if not item.text:
        segs = [(augment.noise_segment(rng, noise), s) for s in dataset.copies_for(item)]
    else:
        pcm = synth.synthesize(item.text, item.voice, rng)
        segs = []
        for s in dataset.copies_for(item):
            if s == 0.0:
                margin = np.zeros(1600, dtype=np.int16)
                segs.append((np.concatenate([margin, augment.set_peak(pcm, -3.0), margin]), s))
            else:
                segs.append((augment.augment(pcm, rng, noise, s, formant_p=0.35, telephone_p=0.3), s))
    return [(dataset._W["fe"].embed(augment.place(seg, dataset.CANVAS, rng)), s) for seg, s in segs]


def _build_shard(items: list[Item], seed: int, path: Path) -> None:
    embs, idxs, strengths = [], [], []
    for it in items:
        try:
            feats = featurize(it, seed)
        except (synth.SynthError, OSError) as exc:
            log.warning("item %d (%s, %r) skipped: %s", it.idx, it.voice, it.text, exc)
            continue
        for e, s in feats:
            embs.append(e.astype(np.float16))
            idxs.append(it.idx)
            strengths.append(s)
    part = path.with_suffix(".part.npz")
    np.savez(part, emb=np.stack(embs), idx=np.array(idxs, np.int64), strength=np.array(strengths, np.float32))
    os.replace(part, path)


def pool_dir(seed: int = 0, per_command: int = 200, family: str | None = None) -> tuple[Path, list[Item]]:
    """The main pool's folder and items, or with ``family`` that voice family's supplement pool's."""
    items = plan(seed, per_command) if family is None else plan_family(family, seed)
    return models_dir() / "cache" / "speech" / "_wordpool" / fingerprint(items, seed), items


def build(seed: int = 0, per_command: int = 200, family: str | None = None, part: tuple[int, int] = (0, 1)) -> Path:
    """Build the missing shards; ``part`` = (k, n) builds only shards whose number is k mod n, so n processes
    can share the work."""
    d, items = pool_dir(seed, per_command, family)
    d.mkdir(parents=True, exist_ok=True)
    (d / "items.json").write_text(json.dumps([asdict(i) for i in items]))
    todo = [k for k in range(0, len(items), dataset.SHARD)
            if not (d / f"shard_{k // dataset.SHARD:04d}.npz").is_file() and (k // dataset.SHARD) % part[1] == part[0]]
    log.info("word pool: %d items, %d shards under %s; %d to build", len(items),
             ceil(len(items) / dataset.SHARD), d, len(todo))
    dataset._W["fe"] = SpeechFrontend(int8=True, threads=1)
    dataset._W["noise"] = augment.NoiseBank.default()
    for n, k in enumerate(todo, 1):
        _build_shard(items[k:k + dataset.SHARD], seed, d / f"shard_{k // dataset.SHARD:04d}.npz")
        log.info("built shard %d (%d/%d)", k // dataset.SHARD, n, len(todo))
    return d


def load_for_set(cset: CommandSet, d: Path, max_shards: int | None = None) -> dict[str, np.ndarray]:
    """The pool's finished shards (the first ``max_shards`` of them: items are shuffled, so any prefix is a
    random sample) labelled for ``cset``: its phrases → intent index, texts confusable with them dropped,
    everything else unknown. Same keys as :func:`dataset.load_features`."""
    items = [Item(**i) for i in json.loads((d / "items.json").read_text())]
    phrase_label = {p: li for li, ps in enumerate(cset.intents.values()) for p in ps}
    unk = len(cset.labels) - 1
    phrases = set(phrase_label)
    parts = [np.load(p) for p in sorted(d.glob("shard_*.npz")) if not p.name.endswith(".part.npz")]
    parts = parts[:max_shards] if max_shards else parts
    if not parts:
        raise FileNotFoundError(f"no word-pool shards in {d}: run python -m models.speech.data.wordpool")
    out = {k: np.concatenate([p[k] for p in parts]) for k in ("emb", "idx", "strength")}
    texts = [items[i].text for i in out["idx"]]
    drop = {t for t in set(texts) if t and lexicon.confusable(t, phrases)}
    keep = np.array([t not in drop for t in texts])
    out = {k: v[keep] for k, v in out.items()}
    texts = [t for t, k in zip(texts, keep, strict=True) if k]
    out["label"] = np.array([phrase_label.get(t, unk) for t in texts], np.int64)
    out["val"] = np.array([items[i].split == "val" for i in out["idx"]])
    out["voice"] = np.array([items[i].voice for i in out["idx"]])
    out["text"] = np.array(texts)
    log.info("word pool for %s: %d rows from %d shards (%d confusable texts dropped: %s)", cset.name,
             len(texts), len(parts), len(drop), ", ".join(sorted(drop)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-command", type=int, default=200, help="training clips per command word")
    ap.add_argument("--family", choices=sorted(FAMILIES), default=None,
                    help="build this voice family's supplement pool instead of the main pool")
    ap.add_argument("--part", default="0/1", help="K/N: build only shards numbered K mod N (parallel processes)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    k, _, n = args.part.partition("/")
    print(build(args.seed, args.per_command, args.family, (int(k), int(n or 1))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
