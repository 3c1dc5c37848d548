"""Measuring a speech bundle on labelled recordings (``path,label,speaker`` CSVs) and negative audio."""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..audio.wav import read_wav_16k
from ..errors import AgentError
from ..speech.recognizer import Recognizer
from ..speech.sets.base import UNKNOWN

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def map_label(raw: str, labels: tuple[str, ...], extra: dict[str, str] | None = None) -> str:
    """A CSV label as one of the bundle's labels: ``extra[label]``, itself, a digit 0–9 as zero…nine,
    otherwise unknown."""
    s = raw.strip().lower()
    if extra and s in extra:
        s = extra[s]
    if s.isdigit() and len(s) == 1:
        s = DIGIT_WORDS[int(s)]
    return s if s in labels else UNKNOWN


def read_labels(csv_path: Path) -> list[tuple[Path, str, str]]:
    rows = []
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows.append((csv_path.parent / row["path"], row["label"], row.get("speaker") or ""))
    return rows


@dataclass
class EvalResult:
    labels: tuple[str, ...]
    confusion: np.ndarray
    n: int = 0
    correct: int = 0
    argmax_correct_known: int = 0
    known: int = 0
    audio_s: float = 0.0
    compute_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    per_speaker: dict[str, list[int]] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        k = self.labels.index(UNKNOWN)
        unk_rows = self.confusion[k].sum()
        return {
            "clips": self.n,
            "accuracy": round(self.correct / self.n, 4) if self.n else None,
            "command_clips": self.known,
            "command_accuracy": round(float(np.trace(self.confusion[:k, :k]) / self.known), 4)
            if self.known else None,
            "command_argmax_accuracy": round(self.argmax_correct_known / self.known, 4) if self.known else None,
            "command_rejected": round(float(self.confusion[:k, k].sum() / self.known), 4) if self.known else None,
            "unknown_clips": int(unk_rows),
            "unknown_false_accept": round(float(1 - self.confusion[k, k] / unk_rows), 4) if unk_rows else None,
            "per_speaker_accuracy": {s: round(c / t, 4) for s, (c, t) in sorted(self.per_speaker.items())},
            "real_time_factor": round(self.compute_s / self.audio_s, 4) if self.audio_s else None,
            "errors": len(self.errors),
        }

    def confusion_text(self) -> str:
        width = max(len(s) for s in self.labels) + 1
        head = " " * width + " ".join(f"{s[:6]:>6}" for s in self.labels)
        lines = [head] + [f"{s:<{width}}" + " ".join(f"{v:>6d}" for v in row)
                          for s, row in zip(self.labels, self.confusion.tolist(), strict=True)]
        return "rows: true label, columns: decision\n" + "\n".join(lines)


def evaluate(rec: Recognizer, rows: list[tuple[Path, str, str]],
             extra: dict[str, str] | None = None) -> EvalResult:
    labels = rec.labels
    res = EvalResult(labels, np.zeros((len(labels), len(labels)), dtype=int))
    for path, raw, speaker in rows:
        truth = map_label(raw, labels, extra)
        try:
            pcm = read_wav_16k(path)
        except (AgentError, OSError) as exc:
            res.errors.append(f"{path}: {exc}")
            continue
        t0 = time.perf_counter()
        scores = rec.recognize(pcm)
        intent, _ = rec.decide(scores)
        res.compute_s += time.perf_counter() - t0
        res.audio_s += len(pcm) / 16000
        decision = intent or UNKNOWN
        res.confusion[labels.index(truth), labels.index(decision)] += 1
        res.n += 1
        res.correct += int(decision == truth)
        if truth != UNKNOWN:
            res.known += 1
            res.argmax_correct_known += int(scores.best()[0] == truth)
        c = res.per_speaker.setdefault(speaker or "?", [0, 0])
        c[0] += int(decision == truth)
        c[1] += 1
    return res


def false_accepts(rec: Recognizer, files: list[Path], hop_s: float = 1.2) -> dict[str, object]:
    """Slide a canvas-long window over negative audio; count accepted runs (one per consecutive hit)."""
    hop = int(hop_s * 16000)
    events, seconds, windows = 0, 0.0, 0
    hits: dict[str, int] = {}
    for f in files:
        pcm = read_wav_16k(f)
        seconds += len(pcm) / 16000
        prev = None
        starts = range(0, max(1, len(pcm) - rec.canvas + hop), hop)
        for a in starts:
            intent, _ = rec.decide(rec.recognize(pcm[a:a + rec.canvas]))
            windows += 1
            if intent is not None and intent != prev:
                events += 1
                hits[intent] = hits.get(intent, 0) + 1
            prev = intent
    hours = seconds / 3600
    return {"negative_files": len(files), "negative_hours": round(hours, 4), "windows": windows,
            "false_accepts": events, "false_accepts_per_hour": round(events / hours, 2) if hours else None,
            "by_intent": hits}
