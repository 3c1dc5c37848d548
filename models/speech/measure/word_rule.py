"""Calibrate :mod:`agent.speech.word_rule` on the development recordings: ``python -m models.speech.measure.word_rule``.

For every clip of the development set (``models.devdata``), with each single-word bundle that has a trained
head (``speech_commands_10``, ``digits``): the rule's features of the utterance as the recognizer reads it
(Whisper on at least :data:`~agent.speech.word_rule.MIN_WINDOW_FRAMES`, the head), and whether the chosen
command is right. Positives: the Speech Commands clips of the set's words, FSDD for ``digits``. Negatives
(right = never): other Speech Commands words, 2.4 s windows every 1.2 s of real noise, Mycroft
``not_wake_word`` and LibriSpeech speech, Mycroft wake words, VCTK read sentences, AN4 utterances that are not
a command of the set. A logistic regression (Newton steps, a little L2) over both sets at once fits the weights;
it prints them as :mod:`agent.speech.word_rule` holds them, and per threshold the accepted-and-right share of
each set's positives and the accepted negatives by source, from which :data:`~agent.speech.word_rule.ACCEPT`
is chosen (the lowest with no accepted real negative). Measuring and calibration only, never weights of a
network: the development set's rule (``../shared/data/README.md``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from agent.audio.wav import read_wav_16k
from agent.bench.speech_eval import map_label, read_labels
from agent.paths import bundles_dir
from agent.speech import word_rule
from agent.speech.asr_recognizer import AsrRecognizer
from agent.speech.load import load_bundle

from ...devdata import dev_data

log = logging.getLogger(__name__)
SETS = ("digits", "speech_commands_10")
CANVAS = 38400


def clips(name: str, labels: tuple[str, ...]) -> Iterator[tuple[str, str, np.ndarray]]:
    """(kind, label, 16 kHz PCM) of every development clip for the set ``name``: kind ``pos`` or ``neg:<source>``."""
    d = dev_data() / "speech"
    if name == "digits":
        for p, lab, _ in read_labels(d / "fsdd" / "labels.csv"):
            yield "pos", map_label(lab, labels), read_wav_16k(p)
    for p, lab, _ in read_labels(d / "gsc_v001" / "labels.csv"):
        m = map_label(lab, labels)
        yield ("pos" if m != "unknown" else "neg:other_words"), m, read_wav_16k(p)
    for p, _, _ in read_labels(d / "vctk_p239" / "labels.csv"):
        yield "neg:vctk", "unknown", read_wav_16k(p)
    for p, lab, _ in read_labels(d / "an4" / "labels.csv"):
        if name != "digits" and map_label(lab, labels) == "unknown" and len(lab.split()) > 1:
            yield "neg:an4", "unknown", read_wav_16k(p)
    mycroft = read_labels(d / "mycroft_precise" / "labels.csv")
    for p, lab, _ in mycroft:
        if lab != "not_wake_word":
            yield "neg:wake_words", "unknown", read_wav_16k(p)
    long = sorted((dev_data() / "noise").rglob("*.wav")) + [p for p, lab, _ in mycroft if lab == "not_wake_word"]
    long += [p for p, _, _ in read_labels(d / "librispeech_other_speech" / "labels.csv")]
    for f in long:
        pcm = read_wav_16k(f)
        kind = "neg:speech" if "librispeech" in str(f) or "mycroft" in str(f) else "neg:noise"
        for a in range(0, max(1, len(pcm) - CANVAS + CANVAS // 2), CANVAS // 2):
            yield kind, "unknown", pcm[a:a + CANVAS]


def measure(name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(features, right, kind) of every clip for one set."""
    rec = load_bundle(bundles_dir() / name, threads=1)
    assert isinstance(rec, AsrRecognizer) and rec.trained is not None, f"{name}: a speech-asr bundle with a head"
    xs, ys, kinds = [], [], []
    for kind, label, pcm in clips(name, rec.labels):
        x, k = word_rule.features(rec.word_reading(pcm))
        xs.append(x)
        ys.append(kind == "pos" and rec.labels[k] == label)
        kinds.append(kind)
    log.info("%s: %d clips", name, len(xs))
    return np.array(xs), np.array(ys, np.float64), kinds


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 50) -> tuple[np.ndarray, ...]:
    """Logistic regression on standardized features (Newton steps): (weights with the bias last, means,
    spreads)."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.c_[(x - mu) / sd, np.ones(len(x))]
    w = np.zeros(z.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ w))
        grad = z.T @ (p - y) / len(y) + l2 * np.r_[w[:-1], 0]
        hess = (z * (p * (1 - p))[:, None]).T @ z / len(y) + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return w, mu, sd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("models/cache/word_rule.npz"),
                    help="features measured before (delete it after a model change)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = {}
    if args.cache.is_file():
        z = np.load(args.cache, allow_pickle=False)
        data = {s: (z[f"{s}_x"], z[f"{s}_y"], list(z[f"{s}_k"])) for s in SETS}
    else:
        data = {s: measure(s) for s in SETS}
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"{s}_{k}": np.array(v) for s, d in data.items() for k, v in zip("xyk", d, strict=True)}
        np.savez(args.cache, **arrays)  # type: ignore[arg-type]  # numpy stubs: the keyword arrays
    w, mu, sd = fit(np.concatenate([d[0] for d in data.values()]), np.concatenate([d[1] for d in data.values()]))
    np.set_printoptions(precision=8, floatmode="fixed", linewidth=110)
    print(f"WEIGHTS = {w!r}\nMEANS = {mu!r}\nSPREADS = {sd!r}")
    for t in (0.5, 0.55, 0.6, 0.65, 0.7):
        for s, (x, y, kinds) in data.items():
            p = np.array([word_rule.probability(v, w, mu, sd) for v in x])
            pos = np.array([k == "pos" for k in kinds])
            neg = {k: int(((p >= t) & (np.array(kinds) == k)).sum()) for k in sorted(set(kinds)) if k != "pos"}
            print(f"accept >= {t}: {s}: right {((p >= t) & pos & (y > 0)).sum()}/{pos.sum()} "
                  f"({100 * ((p >= t) & pos & (y > 0)).sum() / pos.sum():.2f}%), wrong "
                  f"{((p >= t) & pos & (y == 0)).sum()}; accepted negatives {neg}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
