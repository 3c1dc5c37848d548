"""Synthetic training data for a wake phrase: plan, synthesize, augment, embed; cached in resumable shards.

Each clip is one VAD-like segment: the wake phrase (positives) or other speech (near-misses such as "hey rome",
"okay home", the phrase's words alone, spoken commands without the phrase, other sentences) or real noise,
optionally followed in the same voice by a spoken command (as in "hey home turn on the lights"). The phrase's
end is tracked through every time-changing augmentation, so the head can be trained on windows that end just
after it (:mod:`agent.speech.wake.detector` defines the window geometry shared with the runtime). Whole voices are held
out for validation and threshold calibration (:func:`models.speech.data.dataset.voices`). Shards hold the padded
embedding sequence of each clip (float16) plus where the phrase ends; seeded per (seed, item) and resumable.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from agent.speech.frontend import SpeechFrontend
from agent.speech.sets.commands import load_command_set
from agent.speech.wake.detector import PAD_SAMPLES, padded

from . import augment, dataset, lexicon, negatives, synth

log = logging.getLogger(__name__)

SR = 16000
SHARD = 100
DATA_VERSION = 1
# share of clips per engine (piper is the most natural voice; measured on issue 7 to matter most with espeak)
ENGINE_SHARE = {"espeak": 0.5, "piper": 0.25, "flite": 0.15, "festival": 0.1}
FIRST_WORDS = ["okay", "hi", "hello", "hey", "a", "oh", "say", "stay", "they", "play"]
# (kind, split) -> clips at scale 1
EXTRA = {("pos", "train"): 1200}  # a second batch of positives (another seed): voice variety is the lever
COUNTS = {("pos", "train"): 650, ("neg", "train"): 900, ("noise", "train"): 150,
          ("pos", "val"): 150, ("neg", "val"): 250, ("noise", "val"): 50}


@dataclass(frozen=True)
class WakeItem:
    idx: int
    kind: str  # pos | neg | noise
    text: str
    cont: str  # speech following in the same breath ("" = none)
    voice: str
    split: str  # train | val


def normalize_phrase(phrase: str) -> str:
    return " ".join(phrase.lower().split())


def near_miss_phrases(phrase: str, n: int = 120) -> list[str]:
    """Phrases that sound close to ``phrase`` but are not it: one word swapped for a word one phone away, the
    first word swapped for another greeting, words dropped. Homophones of the phrase are left out."""
    words = phrase.split()
    vocab = lexicon.common_words()
    out: list[str] = []
    for i, w in enumerate(words):
        subs = lexicon.near_misses({w}, vocab)[:25] if vocab else []
        subs += [f for f in FIRST_WORDS if i == 0 and f != w]
        out += [" ".join([*words[:i], s, *words[i + 1:]]) for s in subs]
    if len(words) > 1:
        out += [" ".join(words[:i] + words[i + 1:]) for i in range(len(words))]
        out += [*words, " ".join(reversed(words))]
    keep = [p for p in dict.fromkeys(out) if p != phrase and not lexicon.homophone(p, {phrase})]
    return keep[:n]


def extends_phrase(text: str, phrase: str) -> bool:
    """Whether ``text`` starts with the sounds of ``phrase`` ("hey homes", "hey homer" for "hey home"): such
    clips are not used as negatives, since "hey home" + "switch on the light" starts the same way."""
    if text == phrase or text.startswith(phrase):
        return text != phrase
    mine, theirs = lexicon.phrase_phones(text), lexicon.phrase_phones(phrase)
    return any(a[:len(b)] == b and len(a) > len(b) for a in mine for b in theirs)


def other_speech(seed: int) -> tuple[list[str], list[str]]:
    """(spoken commands of the built-in ``home`` set, other sentences and word strings)."""
    home = load_command_set("home")
    commands = sorted({p for ps in home.intents.values() for p in ps})
    return commands, negatives.generate(home, 400, seed)


def plan(phrase: str, seed: int, scale: float, counts: dict[tuple[str, str], int] | None = None) -> list[WakeItem]:
    engines = synth.available_engines()
    train_v, val_v = dataset.voices(seed, engines)
    rng = np.random.default_rng(seed + 7)
    near = near_miss_phrases(phrase)
    commands, sentences = other_speech(seed)
    items: list[WakeItem] = []
    for (kind, split), count in (counts or COUNTS).items():
        vs = train_v if split == "train" else val_v
        names = list(vs)
        per_engine = {e: sum(1 for v in names if v.startswith(e + ":")) for e in ENGINE_SHARE}
        w = np.array([ENGINE_SHARE.get(v.split(":")[0], 0.1) / max(1, per_engine.get(v.split(":")[0], 1))
                      for v in names])
        for _ in range(max(2, round(count * scale))):
            voice = str(names[rng.choice(len(names), p=w / w.sum())])
            cont = commands[int(rng.integers(len(commands)))] if rng.random() < 0.55 else ""
            if kind == "pos":
                text = phrase
            elif kind == "noise":
                text, cont, voice = "", "", "noise"
            else:
                r = rng.random()
                pool = near if r < 0.5 else commands if r < 0.7 else sentences
                text = pool[int(rng.integers(len(pool)))]
                cont = cont if pool is near else ""
            items.append(WakeItem(len(items), kind, text, cont, voice, split))
    return items


def fingerprint(phrase: str, seed: int, scale: float, counts: dict[tuple[str, str], int] | None = None) -> str:
    spec: dict[str, object] = {"phrase": phrase, "seed": seed, "scale": scale, "v": DATA_VERSION, "pad": PAD_SAMPLES,
                               "engines": sorted(synth.available_engines())}
    if counts is not None:
        spec["counts"] = sorted(f"{k}:{s}:{n}" for (k, s), n in counts.items())
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def perturb(x: np.ndarray, end: int, rng: np.random.Generator, strength: float) -> tuple[np.ndarray, int]:
    """Speaker, pitch, tempo and room changes; ``end`` (the phrase's end) follows every time scaling."""
    def scaled(y: np.ndarray) -> int:
        return round(end * len(y) / max(1, len(x)))

    if rng.random() < 0.15 * strength:
        y = augment.formant_shift(x, float(rng.uniform(0.87, 1.15)))
        x, end = y, scaled(y)
    if rng.random() < 0.45 * strength:
        y = augment.speaker_shift(x, float(rng.uniform(0.88, 1.14)))
        x, end = y, scaled(y)
    if rng.random() < 0.3 * strength:
        x = augment.sox(x, "pitch", str(int(rng.integers(-300, 301))))
    if rng.random() < 0.3 * strength:
        y = augment.sox(x, "tempo", "-s", f"{rng.uniform(0.8, 1.25):.3f}")
        x, end = y, scaled(y)
    if rng.random() < 0.25 * strength:
        x = augment.reverb(x, rng)
    return augment.set_peak(x, float(rng.uniform(-25, -1))), end


def make_clip(item: WakeItem, seed: int, noise: augment.NoiseBank) -> tuple[np.ndarray, int]:
    """(segment int16, sample where the wake phrase ends or -1) of one item."""
    rng = np.random.default_rng([seed, item.idx])
    if item.kind == "noise":
        return augment.noise_segment(rng, noise), -1
    a = synth.synthesize(item.text, item.voice, rng)
    x, end = a, len(a)
    if item.cont:
        b = synth.synthesize(item.cont, item.voice, rng)
        x = np.concatenate([a, np.zeros(int(rng.uniform(0.0, 0.25) * SR), dtype=np.int16), b])
    strength = 0.3 if rng.random() < 0.3 else 1.0
    x, end = perturb(x, end, rng, strength)
    lead = np.zeros(int(rng.uniform(0.1, 0.45) * SR), dtype=np.int16)
    x = np.concatenate([lead, x, np.zeros(int(rng.uniform(0.1, 0.5) * SR), dtype=np.int16)])
    end += len(lead)
    if rng.random() < 0.7 * strength:
        x = augment.mix_at_snr(x, noise.sample(len(x), rng), float(rng.uniform(3, 30)))
    if rng.random() < 0.12 * strength:
        x = augment.telephone(x)
    return x, end if item.kind == "pos" else -1


def build_shard(items: list[WakeItem], seed: int, path: Path, fe: SpeechFrontend,
                noise: augment.NoiseBank) -> None:
    embs, rows = [], []
    for it in items:
        try:
            pcm, end = make_clip(it, seed, noise)
        except (synth.SynthError, OSError) as exc:
            log.warning("item %d (%s, %r) skipped: %s", it.idx, it.voice, it.text, exc)
            continue
        e = fe.embed(padded(pcm))
        embs.append(e.astype(np.float16))
        rows.append((it.idx, len(e), len(pcm), end))
    part = path.with_suffix(".part.npz")
    meta = np.array(rows, dtype=np.int64).reshape(-1, 4)
    np.savez(part, emb=np.concatenate(embs) if embs else np.zeros((0, 96), np.float16), meta=meta)
    part.replace(path)


def build(phrase: str, seed: int, scale: float, cache: Path,
          counts: dict[tuple[str, str], int] | None = None) -> tuple[Path, list[WakeItem]]:
    """Build missing shards (one process) and return (shard dir, items). ``counts``: clips per (kind, split)
    instead of :data:`COUNTS` (e.g. extra positives with another seed)."""
    from tqdm import tqdm

    items = plan(phrase, seed, scale, counts)
    d = cache / fingerprint(phrase, seed, scale, counts)
    d.mkdir(parents=True, exist_ok=True)
    (d / "items.json").write_text(json.dumps([asdict(i) for i in items]))
    todo = [k for k in range(0, len(items), SHARD) if not (d / f"shard_{k // SHARD:04d}.npz").is_file()]
    log.info("wake phrase %r: %d clips in %s, %d shards to build", phrase, len(items), d, len(todo))
    if todo:
        fe = SpeechFrontend(int8=True, threads=1)
        noise = augment.NoiseBank.default()
        for k in tqdm(todo, desc="wake data (shards)", unit="shard", file=__import__("sys").stderr):
            build_shard(items[k:k + SHARD], seed, d / f"shard_{k // SHARD:04d}.npz", fe, noise)
    return d, items


def load(d: Path) -> list[tuple[int, np.ndarray, int, int]]:
    """[(item idx, padded embeddings (T, 96) float32, segment samples, phrase end or -1)] of every clip."""
    out = []
    for p in sorted(d.glob("shard_*.npz")):
        if p.name.endswith(".part.npz"):
            continue
        z = np.load(p)
        emb, meta = z["emb"], z["meta"]
        off = 0
        for idx, n, seg, end in meta:
            out.append((int(idx), emb[off:off + n].astype(np.float32), int(seg), int(end)))
            off += int(n)
    return out
