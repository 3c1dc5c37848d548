"""Full sentences of real people, and real speech that must not be taken for a command:
``python -m models.speech.measure.real_sentences [--sets ...]``.

The development recordings (``models.devdata``; measuring and calibrating only, nothing is trained on them)
hold real sentences with transcripts. Each corpus becomes a command set with one intent per distinct
transcript, so every clip is an in-grammar utterance among distractors, and is recognized through the CLI's
path (:func:`agent.speech.load.load_recognizer`, Whisper constrained to the set):

- ``vctk``: 250 read sentences of VCTK speaker p239 ("Please call Stella."), 2-20 words;
- ``an4``: CMU AN4 commands and numbers by 34 speakers ("enter nine eighty nine", "repeat"; the spelled-letter
  clips are left out);

clean, and with kitchen noise (GSC ``doing_the_dishes``) mixed at 6 dB SNR. A clip is right when the decided
intent is its transcript's. False accepts per hour are counted for those sets and the built-in sentence sets
(``home``, ``smart_lighting``, ``devices``) on real non-command audio: LibriSpeech read speech of 100 people,
Mycroft Precise wake words and other words, and all the real noise in 2.4 s windows; ``home``'s answers
(yes, no) are not commands (they are acted on only when a question waits). Writes
``models/speech/reports/real_sentences.{json,md}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from agent.audio.wav import read_wav_16k
from agent.speech.load import load_recognizer
from agent.speech.recognizer import Recognizer

from ...devdata import dev_data
from .real_report import write_report

REPORTS = Path(__file__).resolve().parent.parent / "reports"
SOURCES = ("VCTK p239 (ODC-By), CMU AN4 (BSD-style), LibriSpeech (CC-BY-4.0), Mycroft Precise community data "
           "(public domain), GSC background noise (CC-BY-4.0), noise_cc0 (CC0)")
BUILT_IN = ("home", "smart_lighting", "devices")
CORPORA = ("vctk", "an4")
KITCHEN = "noise/gsc_background_noise/doing_the_dishes.wav"
SNR_DB = 6.0
WINDOW = 38400  # 2.4 s noise windows, as the single-word report slides them
ANSWERS = ("yes", "no")


def words(text: str) -> str:
    """A transcript as the phrase of a command set: lower case, letters, digits and apostrophes."""
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " ")).split())


def corpus(name: str) -> list[tuple[Path, str]]:
    """(clip, phrase) of a corpus; AN4's spelled words ("p i t t s b u r g h") are not commands and are left out."""
    d = dev_data(f"speech/{'vctk_p239' if name == 'vctk' else name}")
    rows = list(csv.DictReader((d / "labels.csv").open(encoding="utf-8")))
    if name == "an4":
        rows = [r for r in rows if not re.search(r"\b[b-hj-np-z]\b", r["label"])]
    return [(d / r["path"], words(r["label"])) for r in rows]


def write_set(name: str, phrases: list[str], folder: Path) -> Path:
    """A flat command set with one intent per phrase (``s000``...)."""
    lines = [f"name: {name}_sentences", "intents:"]
    lines += [f"  s{i:03d}: [{json.dumps(p)}]" for i, p in enumerate(phrases)]
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def mix(clean: np.ndarray, noise: np.ndarray, snr_db: float, offset: int) -> np.ndarray:
    """``clean`` (int16) with ``noise`` (float) added at ``snr_db`` (speech power over the whole clip)."""
    x = clean.astype(np.float32) / 32768.0
    n = np.resize(np.roll(noise, -offset), len(x))
    ps, pn = float(np.mean(x ** 2)) + 1e-12, float(np.mean(n ** 2)) + 1e-12
    y = x + n * np.sqrt(ps / (pn * 10 ** (snr_db / 10)))
    return np.clip(y * 32768.0, -32768, 32767).astype(np.int16)


def decide(rec: Recognizer, pcm: np.ndarray) -> str | None:
    scores = rec.recognize(pcm, 0.0, len(pcm) / 16000)
    return rec.decide(scores)[0]


def positives(rec: Recognizer, items: list[tuple[Path, str]], phrase_intent: dict[str, str],
              noise: np.ndarray | None) -> dict[str, object]:
    right = rejected = 0
    wrong: list[str] = []
    cpu = 0.0
    for k, (clip, phrase) in enumerate(items):
        pcm = read_wav_16k(clip)
        if noise is not None:
            pcm = mix(pcm, noise, SNR_DB, offset=k * 7919)
        t0 = time.process_time()
        got = decide(rec, pcm)
        cpu += time.process_time() - t0
        if got is None:
            rejected += 1
        elif got == phrase_intent[phrase]:
            right += 1
        else:
            wrong.append(f"{phrase} -> {got}")
    n = len(items)
    return {"clips": n, "accuracy": right / n, "rejected": rejected / n, "wrong": len(wrong),
            "wrong_examples": wrong[:10], "cpu_ms_per_clip": 1000 * cpu / n}


def negative_audio() -> list[tuple[str, np.ndarray]]:
    speech = dev_data("speech")
    out = [(f"librispeech/{p.name}", read_wav_16k(p))
           for p in sorted((speech / "librispeech_other_speech").glob("**/*.wav"))]
    with (speech / "mycroft_precise" / "labels.csv").open(encoding="utf-8") as f:
        out += [(f"mycroft/{r['path']}", read_wav_16k(speech / "mycroft_precise" / r["path"]))
                for r in csv.DictReader(f)]
    for p in sorted(dev_data("noise").glob("*/*.wav")):
        x = read_wav_16k(p)
        out += [(f"noise/{p.name}@{k}", x[k:k + WINDOW]) for k in range(0, len(x) - WINDOW + 1, WINDOW)]
    return out


def false_accepts(rec: Recognizer, negs: list[tuple[str, np.ndarray]]) -> dict[str, object]:
    hits: list[str] = []
    for name, pcm in negs:
        got = decide(rec, pcm)
        if got is not None and got not in ANSWERS:
            hits.append(f"{name} -> {got}")
    hours = sum(len(p) for _, p in negs) / 16000 / 3600
    return {"per_hour": len(hits) / hours, "accepted": len(hits), "hours": round(hours, 3), "examples": hits[:10]}


def markdown(report: dict[str, object]) -> str:
    lines = ["# Real sentences and real non-command speech", "",
             f"Regenerate: `python -m models.speech.measure.real_sentences` ({report['generated']}). "
             f"Development recordings, never trained on; sources: {SOURCES}.", "",
             "| set | clips | clean: right / rejected / wrong | kitchen 6 dB: right / rejected / wrong | "
             "CPU per clip (clean) | false accepts/h (h) |", "|---|---|---|---|---|---|"]
    for name, r in report["sets"].items():  # type: ignore[attr-defined]
        fa = r["false_accepts"]
        if "clean" in r:
            c, n = r["clean"], r["noisy"]
            cells = (f"{c['clips']} | {c['accuracy']:.2%} / {c['rejected']:.2%} / {c['wrong']} | "
                     f"{n['accuracy']:.2%} / {n['rejected']:.2%} / {n['wrong']} | {c['cpu_ms_per_clip']:.0f} ms")
        else:
            cells = "– | – | – | –"
        lines.append(f"| {name} | {cells} | {fa['per_hour']:.2f} ({fa['hours']}) |")
    lines += ["", "False accepts (first ten per set):", ""]
    for name, r in report["sets"].items():  # type: ignore[attr-defined]
        for e in r["false_accepts"]["examples"]:
            lines.append(f"- {name}: {e}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", nargs="+", default=[*CORPORA, *BUILT_IN], choices=[*CORPORA, *BUILT_IN])
    ap.add_argument("--out", type=Path, default=REPORTS / "real_sentences", help="output path without suffix")
    args = ap.parse_args(argv)
    negs = negative_audio()
    noise = read_wav_16k(dev_data(KITCHEN)).astype(np.float32) / 32768.0
    report: dict[str, object] = {"command": "python -m models.speech.measure.real_sentences",
                                 "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "sets": {}}
    sets: dict[str, object] = report["sets"]  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            if name in CORPORA:
                items = corpus(name)
                phrases = sorted({p for _, p in items})
                rec = load_recognizer(write_set(name, phrases, Path(tmp)), recognizer="whisper")
                intent = {p: f"s{i:03d}" for i, p in enumerate(phrases)}
                sets[name] = {"clean": positives(rec, items, intent, None),
                              "noisy": positives(rec, items, intent, noise),
                              "false_accepts": false_accepts(rec, negs)}
            else:
                rec = load_recognizer(name, recognizer="whisper")
                sets[name] = {"false_accepts": false_accepts(rec, negs)}
            print(name, json.dumps(sets[name]), flush=True)
    write_report(report, args.out, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
