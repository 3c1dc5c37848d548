"""Export, int8 quantization, held-out-voice evaluation, threshold calibration and bundle writing for a
grammar head. Decisions use :func:`agent.speech.grammar_recognizer.decide_row`, exactly as at runtime."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from agent.runtime.session import load_model, sha256_file
from agent.speech.bundle import GRAMMAR_KIND, PATTERN_SEP, split_pattern
from agent.speech.frontend import EMBED_DIM, HOP_S, SAMPLE_RATE
from agent.speech.grammar_recognizer import decide_row
from agent.speech.sets.base import UNKNOWN
from agent.speech.sets.grammar_set import GrammarSet

from ..data.grammar_data import CANVAS
from .bundle import quantize_head

FA_WEIGHT = 3.0  # an accepted "unknown" costs three missed commands
WRONG_WEIGHT = 1.0  # an accepted command with a wrong intent or slot costs one more
# a near-miss is one word off a command ("what time yes it"): rejecting all of them would reject many real
# commands too, so they weigh less than other speech; their false-accept rate is reported on its own
NEAR_WEIGHT = 0.5


def outputs(gs: GrammarSet) -> list[tuple[str, int]]:
    return [("intent", len(gs.labels)), *((f"slot_{v}", len(gs.slot_labels(v))) for v in gs.variables)]


def intents_meta(gs: GrammarSet) -> dict[str, dict[str, tuple[str, ...]]]:
    return {i: {"slots": tuple(gs.intent_vars(i)), "required": gs.required_vars(i),
                "patterns": tuple(PATTERN_SEP.join(p) for p in gs.slot_patterns(i))} for i in gs.intents}


def run_head(path: Path, x: np.ndarray) -> list[np.ndarray]:
    m = load_model(path)
    parts = [m(x[i:i + 256].astype(np.float32)) for i in range(0, len(x), 256)]
    return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]


def decisions(gs: GrammarSet, outs: list[np.ndarray]) -> list[tuple[str, dict[str, str], float]]:
    labels, meta = gs.labels, intents_meta(gs)
    slot_labels = {v: gs.slot_labels(v) for v in gs.variables}
    names = list(gs.variables)
    return [decide_row(outs[0][r], {v: outs[1 + k][r] for k, v in enumerate(names)}, labels, meta, slot_labels)
            for r in range(len(outs[0]))]


def score(dec: list[tuple[str, dict[str, str], float]], truth: list[tuple[str, dict[str, str]]],
          threshold: float, near: list[bool] | None = None) -> dict[str, float]:
    """Rates at ``threshold``; ``near`` marks the unknowns that are near-misses (one word off a command),
    whose false accepts are reported apart from those of other speech and noise."""
    near = near or [False] * len(truth)
    pos = [t[0] != UNKNOWN for t in truth]
    right = wrong = fa = fa_near = 0
    for (label, slots, conf), (t_label, t_slots), p, nm in zip(dec, truth, pos, near, strict=True):
        accepted = label != UNKNOWN and conf >= threshold
        if p and accepted:
            if label == t_label and slots == t_slots:
                right += 1
            else:
                wrong += 1
        elif not p and accepted:
            fa_near += nm
            fa += not nm
    n_pos = max(1, sum(pos))
    n_near = sum(near)
    n_other = max(1, len(pos) - sum(pos) - n_near)
    return {"correct_accept": round(right / n_pos, 4), "wrong_accept": round(wrong / n_pos, 4),
            "unknown_false_accept": round(fa / n_other, 4),
            "near_miss_false_accept": round(fa_near / max(1, n_near), 4),
            "commands": sum(pos), "unknowns": len(pos) - sum(pos) - n_near, "near_misses": n_near}


def argmax_metrics(dec: list[tuple[str, dict[str, str], float]],
                   truth: list[tuple[str, dict[str, str]]]) -> dict[str, float | None]:
    pos = [i for i, t in enumerate(truth) if t[0] != UNKNOWN]
    intent_ok = [dec[i][0] == truth[i][0] for i in pos]
    full_ok = [dec[i][0] == truth[i][0] and dec[i][1] == truth[i][1] for i in pos]
    return {"intent_acc": round(float(np.mean(intent_ok)), 4) if pos else None,
            "intent_and_slots_acc": round(float(np.mean(full_ok)), 4) if pos else None,
            "commands": len(pos)}


def calibrate(dec: list[tuple[str, dict[str, str], float]], truth: list[tuple[str, dict[str, str]]],
              near: list[bool] | None = None) -> float:
    best = (-1e9, 0.5)
    for t in np.arange(0.20, 0.991, 0.01):
        s = score(dec, truth, float(t), near)
        v = (s["correct_accept"] - FA_WEIGHT * s["unknown_false_accept"] - NEAR_WEIGHT * s["near_miss_false_accept"]
             - WRONG_WEIGHT * s["wrong_accept"])
        if v > best[0] + 1e-9:
            best = (v, float(t))
    return round(best[1], 2)


def evaluate(gs: GrammarSet, model: Any, data: dict[str, Any], ys: list[np.ndarray], tmp: Path,
             seed: int) -> dict[str, Any]:
    """Export float + int8, measure both on the held-out voices, pick one, calibrate its threshold."""
    from .grammar_head import export_onnx

    tmp.mkdir(parents=True, exist_ok=True)
    export_onnx(model, str(tmp / "head.float.onnx"), outputs(gs))
    x, va = data["emb"], data["val"]
    tr_idx = np.flatnonzero(~va)
    rng = np.random.default_rng(seed)
    calib = x[rng.choice(tr_idx, min(512, len(tr_idx)), replace=False)].astype(np.float32)
    quantize_head(tmp / "head.float.onnx", tmp / "head.int8.onnx", calib)
    xv = x[va]
    names = list(gs.variables)
    truth = []
    for r in np.flatnonzero(va):
        label = gs.labels[int(ys[0][r])]
        slots = {v: gs.slot_labels(v)[int(ys[1 + k][r])] for k, v in enumerate(names)}
        truth.append((label, {v: s for v, s in slots.items() if s != "absent"}))
    clean = data["strength"][va] == 0.0
    rep: dict[str, Any] = {}
    decs = {}
    for kind in ("float", "int8"):
        dec = decisions(gs, run_head(tmp / f"head.{kind}.onnx", xv))
        decs[kind] = dec
        rep[f"val_{kind}"] = argmax_metrics(dec, truth)
        rep[f"val_{kind}_clean"] = argmax_metrics([d for d, c in zip(dec, clean, strict=True) if c],
                                                  [t for t, c in zip(truth, clean, strict=True) if c])
    drop = (rep["val_float"]["intent_and_slots_acc"] or 0.0) - (rep["val_int8"]["intent_and_slots_acc"] or 0.0)
    kind = "int8" if drop <= 0.005 else "float"
    near = (data["kind"][va] == "near_miss").tolist()
    threshold = calibrate(decs[kind], truth, near)
    voices = data["voice"][va]
    rep.update({
        "shipped": kind, "threshold": threshold,
        "val_at_threshold": score(decs[kind], truth, threshold, near),
        "val_at_threshold_clean": score([d for d, c in zip(decs[kind], clean, strict=True) if c],
                                        [t for t, c in zip(truth, clean, strict=True) if c], threshold,
                                        [n for n, c in zip(near, clean, strict=True) if c]),
        "val_by_voice": {str(v): argmax_metrics([d for d, vv in zip(decs[kind], voices, strict=True) if vv == v],
                                                [t for t, vv in zip(truth, voices, strict=True) if vv == v])
                         for v in sorted(set(voices.tolist()))},
        "head_bytes_float": (tmp / "head.float.onnx").stat().st_size,
        "head_bytes_int8": (tmp / "head.int8.onnx").stat().st_size,
        "_file": f"head.{kind}.onnx",
    })
    return rep


def write_grammar_bundle(bundle: Path, gs: GrammarSet, head: Path, threshold: float) -> dict[str, object]:
    """Write ``bundle/head.onnx`` then ``bundle/manifest.json`` (each atomically; the manifest last)."""
    bundle.mkdir(parents=True, exist_ok=True)
    mpath = bundle / "manifest.json"
    digest = sha256_file(head)
    version = 1
    if mpath.is_file():
        try:
            old = json.loads(mpath.read_text())
            same = old.get("files", {}).get("head.onnx", {}).get("sha256") == digest
            version = int(old.get("version", 0)) + (0 if same else 1)
        except (ValueError, OSError):
            version = 1
    part = bundle / "head.onnx.part"
    shutil.copyfile(head, part)
    os.replace(part, bundle / "head.onnx")
    manifest = {
        "name": gs.name, "version": version,
        "human_version": f"{gs.name} {version} ({datetime.now(timezone.utc).date().isoformat()})",
        "kind": GRAMMAR_KIND, "labels": list(gs.labels),
        "slots": {v: list(gs.slot_labels(v)) for v in gs.variables},
        "intents": {k: {"slots": list(v["slots"]), "required": list(v["required"]),
                        "patterns": [list(split_pattern(p)) for p in v["patterns"]]}
                    for k, v in intents_meta(gs).items()},
        "outputs": [n for n, _ in outputs(gs)],
        "threshold": round(float(threshold), 4),
        "input": {"sample_rate": SAMPLE_RATE, "canvas_samples": CANVAS, "embedding_dim": EMBED_DIM, "hop_s": HOP_S,
                  "features": "openwakeword-0.5.1 melspectrogram + embedding_model (int8)"},
        "set": {"format": gs.format, "sha256": gs.sha256, "file": gs.path.name},
        "files": {"head.onnx": {"sha256": digest, "size": (bundle / "head.onnx").stat().st_size}},
    }
    tmpm = bundle / "manifest.json.part"
    tmpm.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmpm, mpath)
    return manifest
