"""Calibrate how readily a ``speech-asr`` bundle says "unknown", on synthetic speech only.

``python -m models.speech.train.asr_calibrate speech_commands_10 digits``

The recognizer (:mod:`agent.speech.asr_recognizer`) weighs each command against Whisper's own transcript.
Whisper tiny transcribes isolated words less well than it picks among a few (on one word it may write
"Town" for "down"), so the transcript's weight is a prior: ``unknown_bias`` (log scale) is added to it. This
script synthesizes clips with the neural voices (Piper; Kokoro when cached), mildly augmented with noise,
reverb, formant shifts and band-limiting:

* positives: each intent's phrase;
* negatives: other words and sentences (:func:`models.speech.data.negatives.generate` without the set's own
  near-misses), and noise-only clips cut from the noise recordings (free for augmentation);

and picks the most permissive bias whose false-accept rate is at most ``--max-fa`` on the speech negatives
and at most 1 % on the noise clips: the rule that sets the trained heads' thresholds (near-misses aside: a
word one sound from a command, e.g. "town", is the case no recognizer can tell from a misheard "down").
The bias and the measured rates go into the bundle's manifest; no real speech recording is used.

Why only the neural voices: Whisper was trained on real speech, and the formant and diphone synthesizers are
far from it. With every family (espeak-ng's 112 accent × variant voices dominating), 56-60 % of the
synthetic command words were accepted and right at bias 0 and the rule asked for bias +1.25 (commands need
more evidence); on real speech that bias rejected 25 % of GSC command words and 42 % of FSDD digits. With
Piper and Kokoro the rule gives -2.0. The positives only report; they do not set the bias.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import numpy as np

from agent.paths import bundles_dir
from agent.speech.asr_recognizer import AsrRecognizer
from agent.speech.bundle import MANIFEST, AsrManifest
from agent.speech.sets.base import resolve_set_path
from agent.speech.sets.commands import load_command_set
from agent.speech.whisper.model import WhisperAsr

from ..data import augment, negatives, synth

log = logging.getLogger(__name__)

BIASES = np.round(np.arange(-10.0, 4.01, 0.25), 2)
CLIPS_VERSION = 1
MAX_NOISE_FA = 0.01


def voices(families: tuple[str, ...]) -> list[str]:
    from ..fetch import kokoro

    have = synth.available_engines() & set(families)
    out: list[str] = []
    if "espeak" in have:
        out += [f"espeak:{a}+{v}" for a in synth.ESPEAK_ACCENTS for v in synth.ESPEAK_VARIANTS]
    if "flite" in have:
        out += [f"flite:{v}" for v in synth.FLITE_VOICES]
    if "festival" in have:
        out += [f"festival:{v}" for v in synth.FESTIVAL_VOICES]
    if "piper" in have:
        out += ["piper:joe"] * 20
    if "kokoro" in families and kokoro.available():
        out += ["kokoro:en-us", "kokoro:en-gb"] * 20
    if not out:
        raise SystemExit(f"none of the voice families {families} is available here (tools/bootstrap.sh)")
    return out


def clips(texts: list[str], per_text: int, seed: int, noise_clips: int,
          families: tuple[str, ...]) -> list[tuple[str, np.ndarray]]:
    """Synthesized, augmented clips (cached in ``models/cache/speech/_asrcal``, keyed by the arguments)."""
    import hashlib

    from agent.paths import models_dir

    key = hashlib.sha256(json.dumps([texts, per_text, seed, noise_clips, families, CLIPS_VERSION]).encode())
    cache = models_dir() / "cache" / "speech" / "_asrcal" / f"{key.hexdigest()[:16]}.npz"
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        bounds = np.concatenate([[0], np.cumsum(z["lengths"])])
        return [(str(t), z["pcm"][a:b]) for t, a, b in zip(z["texts"], bounds[:-1], bounds[1:], strict=True)]
    out = _make_clips(texts, per_text, seed, noise_clips, families)
    cache.parent.mkdir(parents=True, exist_ok=True)
    part = cache.with_suffix(".part.npz")
    np.savez(part, texts=np.array([t for t, _ in out]), lengths=np.array([len(p) for _, p in out]),
             pcm=np.concatenate([p for _, p in out]) if out else np.zeros(0, np.int16))
    os.replace(part, cache)
    return out


def _make_clips(texts: list[str], per_text: int, seed: int, noise_clips: int,
                families: tuple[str, ...]) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    vs = voices(families)
    bank = augment.NoiseBank.default()
    out: list[tuple[str, np.ndarray]] = []
    for t in texts:
        for _ in range(per_text):
            for _attempt in range(3):
                v = vs[int(rng.integers(len(vs)))]
                try:
                    pcm = synth.synthesize(t, v, rng)
                    break
                except (synth.SynthError, OSError) as exc:
                    log.debug("skipped %s with %s: %s", t, v, exc)
            else:
                continue
            out.append((t, augment.augment(pcm, rng, bank, strength=0.5, formant_p=0.3)))
    for _ in range(noise_clips):
        out.append(("", augment.noise_segment(rng, bank)))
    return out


def features(rec: AsrRecognizer, data: list[tuple[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(label log-scores (N, labels-1), free-transcript log-prob (N,), -inf when it is one of the phrases)."""
    per_l, free_l = [], []
    for i, (_, pcm) in enumerate(data):
        per, free = rec.scores(pcm)
        per_l.append(per)
        free_l.append(free)
        if i % 100 == 99:
            print(f"  {i + 1}/{len(data)}", flush=True)
    return np.array(per_l), np.array(free_l)


def rates(per: np.ndarray, free: np.ndarray, truth: np.ndarray, bias: float,
          threshold: float) -> tuple[float, float, float]:
    """(accepted-and-right rate on the positives, accepted rate on the speech negatives (truth -1), on the
    noise clips (truth -2)) at ``bias``."""
    unk = free + bias
    allp = np.concatenate([per, unk[:, None]], axis=1)
    post = np.exp(allp - np.logaddexp.reduce(allp, axis=1, keepdims=True))
    best = post.argmax(1)
    ok = (best < per.shape[1]) & (post.max(1) >= threshold)
    pos = truth >= 0

    def mean(mask: np.ndarray) -> float:
        return float(np.mean(mask)) if len(mask) else 0.0

    return (mean(ok[pos] & (best[pos] == truth[pos])), mean(ok[truth == -1]), mean(ok[truth == -2]))


def calibrate(set_name: str, per_word: int, n_neg: int, noise_clips: int, max_fa: float, seed: int,
              asr: WhisperAsr, families: tuple[str, ...] = ("piper", "kokoro")) -> dict[str, object]:
    d = bundles_dir() / set_name
    manifest = AsrManifest.read(d / MANIFEST)
    rec = AsrRecognizer(manifest, asr, d)
    cs = load_command_set(resolve_set_path(set_name))
    skip = {p for v in manifest.phrases.values() for p in v} | set(cs.negatives)
    negs = [n for n in negatives.generate(cs, n_neg + len(cs.negatives), seed) if n not in skip][:n_neg]
    pos_texts = [v[0] for v in cs.intents.values()]
    print(f"{set_name}: synthesizing {len(pos_texts)}×{per_word} positives, {len(negs)} negatives, {noise_clips} noise")
    data = clips(pos_texts, per_word, seed, 0, families) + clips(negs, 1, seed + 1, noise_clips, families)
    truth = np.array([pos_texts.index(t) if t in pos_texts else (-2 if t == "" else -1) for t, _ in data])
    per, free = features(rec, data)
    table = [(float(b), *rates(per, free, truth, float(b), manifest.threshold)) for b in BIASES]
    ok = [row for row in table if row[2] <= max_fa and row[3] <= MAX_NOISE_FA]
    bias, acc, fa, nfa = min(ok, key=lambda r: r[0]) if ok else table[-1]
    names = ("accepted_right", "false_accept_rate", "noise_false_accept_rate")
    report = {"unknown_bias": bias, "synthetic_positives": int((truth >= 0).sum()),
              "synthetic_negatives": int((truth == -1).sum()), "noise_clips": int((truth == -2).sum()),
              **dict(zip(names, (round(acc, 4), round(fa, 4), round(nfa, 4)), strict=True)),
              "max_fa": max_fa, "max_noise_fa": MAX_NOISE_FA, "seed": seed, "voices": list(families),
              "met": bool(ok),
              "at_bias_0": dict(zip(names, (round(x, 4) for x in rates(per, free, truth, 0.0, manifest.threshold)),
                                    strict=True))}
    data_json = json.loads((d / MANIFEST).read_text())
    data_json["unknown_bias"] = bias
    data_json["calibration"] = report
    part = (d / MANIFEST).with_suffix(".part")
    part.write_text(json.dumps(data_json, indent=2) + "\n")
    os.replace(part, d / MANIFEST)
    print(f"{set_name}: {json.dumps(report)}")
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--per-word", type=int, default=10)
    ap.add_argument("--negatives", type=int, default=300)
    ap.add_argument("--noise", type=int, default=100)
    ap.add_argument("--max-fa", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--families", default="piper,kokoro",
                    help="voice families (espeak, flite, festival, piper, kokoro); default the neural ones")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    asr = WhisperAsr.load()
    for s in args.sets:
        calibrate(s, args.per_word, args.negatives, args.noise, args.max_fa, args.seed, asr,
                  tuple(f.strip() for f in args.families.split(",") if f.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
