"""Write a ``speech-asr`` bundle for a flat command set: the real-speech recognizer's phrases, plus the set's
trained head when the bundle folder has one (``head.onnx`` from ``python -m models.speech.train.train`` /
``combine``): then the two are combined (see :mod:`agent.speech.asr_recognizer`).

``python -m models.speech.train.asr_bundle speech_commands_10 digits``

The phrases of each intent come from the set's YAML. Whisper writes what it hears as text, so each
single-word phrase also gets the ways the same sound is written: numerals for number words ("4") and true
homophones ("for", "to"/"too", "won", "ate", "know", "write"). A set's ``negatives`` are not candidates:
out-of-set speech is rejected by comparing with the recognizer's own transcript (see
:mod:`agent.speech.asr_recognizer`), and a negative that sounds like a command (the digits set lists "for"
and "to") cannot be told from it by sound.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from agent.paths import bundles_dir
from agent.runtime.session import sha256_file
from agent.speech.asr_recognizer import MODEL
from agent.speech.bundle import ASR_KIND, HEAD
from agent.speech.frontend import CANVAS_SAMPLES, EMBED_DIM, HOP_S
from agent.speech.sets.base import resolve_set_path
from agent.speech.sets.commands import load_command_set

THRESHOLD = 0.5  # a command wins only when it is more likely than everything else together
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
NUMERALS = {w: str(i) for i, w in enumerate(DIGITS)}
HOMOPHONES = {"one": ("won",), "two": ("to", "too"), "four": ("for",), "eight": ("ate",), "no": ("know",),
              "right": ("write",)}


def phrases_for(phrases: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for p in phrases:
        for q in (p, NUMERALS.get(p, ""), *HOMOPHONES.get(p, ())):
            if q and q not in out:
                out.append(q)
    return out


def write(set_name: str, out_root: Path) -> Path:
    cs = load_command_set(resolve_set_path(set_name))
    d = out_root / cs.name
    d.mkdir(parents=True, exist_ok=True)
    mpath = d / "manifest.json"
    phrases = {k: phrases_for(v) for k, v in cs.intents.items()}
    old = json.loads(mpath.read_text()) if mpath.is_file() else {}
    files = {}
    head_threshold = THRESHOLD
    input_spec: dict[str, object] = {"sample_rate": 16000, "features": f"{MODEL} log-mel (utterance + 1 s)"}
    if (d / HEAD).is_file():
        files[HEAD] = {"sha256": sha256_file(d / HEAD), "size": (d / HEAD).stat().st_size}
        head_input = old.get("input", {}) if isinstance(old.get("input"), dict) else {}
        input_spec.update({k: head_input.get(k, v) for k, v in
                           (("canvas_samples", CANVAS_SAMPLES), ("embedding_dim", EMBED_DIM), ("hop_s", HOP_S))})
        input_spec["head_features"] = "openwakeword-0.5.1 melspectrogram + embedding_model (int8)"
        head_threshold = float(old.get("head_threshold", old.get("threshold", THRESHOLD)))
    same = (old.get("kind") == ASR_KIND and old.get("phrases") == phrases and old.get("threshold") == THRESHOLD
            and old.get("files") == files and old.get("head_threshold", THRESHOLD) == head_threshold)
    version = int(old.get("version", 0)) + (0 if same else 1)
    manifest = {
        "name": cs.name, "version": version,
        "human_version": old.get("human_version") if same else
        f"{cs.name} {version} ({datetime.now(timezone.utc).date().isoformat()})",
        "kind": ASR_KIND, "labels": list(cs.labels), "threshold": THRESHOLD,
        "input": input_spec, "asr": {"model": MODEL}, "phrases": phrases, "files": files,
        **({"head_threshold": head_threshold} if files else {}),
    }
    part = mpath.with_suffix(".part")
    part.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(part, mpath)
    print(f"{mpath}: v{version}, {sum(len(v) for v in phrases.values())} phrases for {len(phrases)} intents"
          f"{', with ' + HEAD if files else ''}")
    return d


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="+", help="built-in set names or YAML paths (flat sets)")
    ap.add_argument("--out", type=Path, default=None, help="bundles root (default models/bundles)")
    args = ap.parse_args(argv)
    for s in args.sets:
        write(s, args.out or bundles_dir())
    return 0


if __name__ == "__main__":
    sys.exit(main())
