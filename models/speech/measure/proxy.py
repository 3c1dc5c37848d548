"""Leave-one-voice-family-out proxy for real speakers: ``python -m models.speech.measure.proxy train|table``.

Real people behave like a voice *family* the heads never heard (issue 7), and the real clips may only be
measured, never tuned on. This proxy holds out every voice of one synthesis family (``piper``, ``festival``
or ``flite``), trains heads on the rest (same data and recipe as :mod:`models.speech.train.train`, fewer epochs),
and scores the held-out family's rows. Each decision rule's threshold is calibrated exactly as the shipped
one (:func:`metrics.calibrate_threshold_fa` rule: held-out synthetic unknown speech of the *training*
families ≤ 5 % accepted, near-misses aside, noise rows ≤ 1 %, no window of the real noise recordings accepted),
then measured on the held-out family: commands accepted correctly, argmax among commands, rejected, and
unknown speech of the held-out family accepted (its false accepts).

``train`` writes the heads' logits to ``models/cache/speech/_proxy/<set>/<variant>_<family>.npz``;
``table`` prints (and with ``--md`` writes) one row per variant × rule, averaged over the families.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agent.paths import models_dir
from agent.speech.sets.commands import load_command_set

from ..data import dataset
from ..train import train
from .rules import RULES, calibrate

log = logging.getLogger(__name__)
FAMILIES = ("piper", "festival", "flite")
HEAD_CH = (64, 96)
PER_INTENT = 350  # the shipped v2 heads' data (train --per-intent 350 --word-pool): cached, never re-synthesized
# variant -> train_head keyword arguments (and "noise_keep": fraction of noise-only unknown rows kept)
VARIANTS: dict[str, dict[str, float]] = {
    "base": {},
    "unk_w0.5": {"unk_weight": 0.5},
    "noise0.3": {"noise_keep": 0.3},
    "mixup0.4": {"mixup": 0.4},
    "ls0.2": {"label_smoothing": 0.2},
    "shift0.3": {"shift": 0.3},
    "shift0.6": {"shift": 0.6},
    "fambal": {"family_repeat": 2},
    "fambal_h2": {"family_repeat": 2},  # the same, trained again with --heads 2 (compare with base's 2 heads)
    "cmn": {"cmn": 1},
}


def cache_dir(set_name: str) -> Path:
    return models_dir() / "cache" / "speech" / "_proxy" / set_name


def noise_window_embeddings(hop_s: float = 1.2) -> np.ndarray:
    """Embeddings (N, T, 96) of canvas windows slid over the real noise recordings (cached)."""
    path = models_dir() / "cache" / "speech" / "_proxy" / "noise_windows.npy"
    if path.is_file():
        return np.asarray(np.load(path))
    from agent.speech.frontend import SpeechFrontend

    from ..data.augment import NoiseBank, to_i16

    fe, hop, canvas = SpeechFrontend(int8=True, threads=1), int(hop_s * 16000), dataset.CANVAS
    wins = [to_i16(c[a:a + canvas]) for c in NoiseBank.default().clips
            for a in range(0, max(1, len(c) - canvas + hop), hop)]
    wins = [np.concatenate([w, np.zeros(canvas - len(w), np.int16)]) for w in wins]
    emb = np.stack([fe.embed(w) for w in wins]).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, emb)
    return emb


def family(voices: np.ndarray) -> np.ndarray:
    return np.array([str(v).split(":")[0] for v in voices])


def logits_of(model: object, x: np.ndarray) -> np.ndarray:
    import torch

    assert isinstance(model, torch.nn.Module)
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(x[i:i + 512].astype(np.float32))).numpy()
                               for i in range(0, len(x), 512)])


def train_fold(set_name: str, fam: str, variant: str, epochs: int, heads: int, seed: int = 0) -> Path:
    """Train ``heads`` heads without family ``fam`` and save their logits on the evaluation rows."""
    out = cache_dir(set_name) / f"{variant}_{fam}_e{epochs}.npz"
    if out.is_file():
        return out
    cset = load_command_set(set_name)
    data = train.load_data(cset, seed, models_dir() / "cache" / "speech", 1, PER_INTENT, True)
    fams, unk = family(data["voice"]), len(cset.labels) - 1
    held = fams == fam
    kw: dict[str, Any] = dict(VARIANTS[variant])
    keep = ~held & ~data["val"]
    noise_keep = kw.pop("noise_keep", 1.0)
    if noise_keep < 1.0:
        rng = np.random.default_rng(seed)
        keep &= ~((data["voice"] == "noise") & (rng.random(len(keep)) > noise_keep))
    cal = ~held & data["val"]
    x, y = data["emb"], data["label"]
    noise_x = noise_window_embeddings()
    if kw.pop("cmn", 0):  # per-utterance mean embedding removed (a voice/channel offset cannot matter)
        x = (x - x.mean(1, keepdims=True, dtype=np.float32)).astype(np.float32)
        noise_x = noise_x - noise_x.mean(1, keepdims=True)
    rows = np.flatnonzero(keep)
    repeat = int(kw.pop("family_repeat", 1))
    if repeat > 1:  # rows of the non-espeak speech families repeated: fewer voices, equal say
        few = rows[(fams[rows] != "espeak") & (fams[rows] != "noise")]
        rows = np.concatenate([rows] + [few] * (repeat - 1))
    near = train.near_miss_rows(cset, data)
    res: dict[str, list[np.ndarray]] = {"held": [], "cal": [], "noise": []}
    for k in range(heads):
        m = train.train_head(x[rows].astype(np.float32), y[rows], len(cset.labels), seed + k, epochs,
                             ch=HEAD_CH[k % len(HEAD_CH)], batch=256, **kw)
        res["held"].append(logits_of(m, x[held]))
        res["cal"].append(logits_of(m, x[cal]))
        res["noise"].append(logits_of(m, noise_x))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, held=np.stack(res["held"]), cal=np.stack(res["cal"]), noise=np.stack(res["noise"]),
             y_held=y[held], y_cal=y[cal], near_held=near[held], near_cal=near[cal],
             noise_cal=data["voice"][cal] == "noise", noise_held=data["voice"][held] == "noise", unk=unk)
    log.info("%s %s %s: %d train rows, %d held-out rows -> %s", set_name, variant, fam, len(rows),
             int(held.sum()), out)
    return out


def evaluate_rule(z: dict[str, np.ndarray], rule: Callable[..., tuple[np.ndarray, np.ndarray]],
                  heads: slice) -> dict[str, float]:
    unk = int(z["unk"])
    pc, sc = rule(z["cal"][heads], unk)
    _, sn = rule(z["noise"][heads], unk)
    t = calibrate(pc, sc, z["y_cal"], unk, z["noise_cal"], z["near_cal"], sn)
    ph, sh = rule(z["held"][heads], unk)
    y = z["y_held"]
    cmd = y != unk
    speech = ~cmd & ~z["near_held"] & ~z["noise_held"]
    acc = sh >= t
    pm = z["held"][heads].mean(0)[:, :unk].argmax(1)  # argmax among commands (rule-independent)
    return {"t": t, "correct": float((acc & (ph == y))[cmd].mean()), "argmax": float((pm == y)[cmd].mean()),
            "rejected": float((~acc)[cmd].mean()), "wrong": float((acc & (ph != y))[cmd].mean()),
            "fa_speech": float(acc[speech].mean()), "noise_win": int((sn >= t).sum()),
            "correct_at_fa": correct_at_fa(sh, ph, y, cmd, speech, 0.05)}


def correct_at_fa(s: np.ndarray, p: np.ndarray, y: np.ndarray, cmd: np.ndarray, speech: np.ndarray,
                  fa: float) -> float:
    """Oracle check of ranking quality: commands accepted correctly at the threshold where exactly ``fa`` of
    the held-out family's unknown speech is accepted."""
    t = float(np.quantile(s[speech], 1 - fa)) if speech.any() else -np.inf
    return float(((s > t) & (p == y))[cmd].mean())


def table(set_names: list[str], epochs: int, variants: list[str]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for set_name in set_names:
        for variant in variants:
            zs = [load_fold(set_name, variant, f, epochs) for f in FAMILIES]
            n = zs[0]["held"].shape[0]
            for name, rule in RULES.items():
                for hs, tag in ((slice(0, 1), "1 head"), (slice(0, n), f"{n} heads")):
                    if (name == "agree" and hs.stop == 1) or (n == 1 and tag != "1 head") \
                            or ("+" in variant and hs.stop == 1):
                        continue
                    per = [evaluate_rule(z, rule, hs) for z in zs]
                    row: dict[str, object] = {"set": set_name, "variant": variant, "rule": name, "heads": tag}
                    for key in per[0]:
                        row[key] = round(float(np.mean([p[key] for p in per])), 4)
                    row["by_family"] = {f: round(p["correct"], 4) for f, p in zip(FAMILIES, per, strict=True)}
                    rows.append(row)
    return rows


def load_fold(set_name: str, variant: str, fam: str, epochs: int) -> dict[str, np.ndarray]:
    """One fold's saved logits; ``a+b`` stacks the heads of variants ``a`` and ``b`` (an ensemble of both)."""
    parts = [dict(np.load(cache_dir(set_name) / f"{v}_{fam}_e{epochs}.npz")) for v in variant.split("+")]
    z = parts[0]
    for other in parts[1:]:
        assert (other["y_held"] == z["y_held"]).all() and (other["y_cal"] == z["y_cal"]).all()
        for key in ("held", "cal", "noise"):
            z[key] = np.concatenate([z[key], other[key]])
    return z


def to_markdown(rows: list[dict[str, object]]) -> str:
    head = ("| set | variant | rule | heads | accepted correct | argmax (cmds) | rejected | wrong accept | "
            "FA unknown speech (held-out family) | noise windows accepted | correct @ 5 % FA (oracle) | "
            "correct by family |")
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append(f"| {r['set']} | {r['variant']} | {r['rule']} | {r['heads']} | {r['correct']:.2%} | "
                     f"{r['argmax']:.2%} | {r['rejected']:.2%} | {r['wrong']:.2%} | {r['fa_speech']:.2%} | "
                     f"{r['noise_win']} | {r['correct_at_fa']:.2%} | {json.dumps(r['by_family'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cmd", choices=("train", "table"))
    ap.add_argument("--set", action="append", default=[], help="command set (repeatable)")
    ap.add_argument("--variant", action="append", default=[], help=f"one of {sorted(VARIANTS)} (repeatable)")
    ap.add_argument("--family", action="append", default=[], help=f"held-out family (default {FAMILIES})")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--md", type=Path, default=None, help="also write the table as markdown here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sets = args.set or ["digits", "speech_commands_10"]
    variants = args.variant or ["base"]
    if args.cmd == "train":
        for s in sets:
            for v in variants:
                for f in args.family or FAMILIES:
                    train_fold(s, f, v, args.epochs, args.heads)
        return 0
    rows = table(sets, args.epochs, variants)
    md = to_markdown(rows)
    print(md)
    if args.md:
        args.md.write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
