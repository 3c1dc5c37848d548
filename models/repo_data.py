"""Write the small slices of the development recordings that ship in the repository (run by a developer).

A user's clone has no ``../shared``: what the build and the tests need is copied here once, with its licence,
and committed. ``python -m models.repo_data`` rewrites it reproducibly:

- ``models/vision/data/sign_language_digits/``: the photos the int8 landmark model is calibrated on (every 8th
  row, offset 1) and checked on (every 6th row, offset 0), with their original row numbers;
- ``tests/data/vision/hand_landmarks/``: the landmark rows and fingertip trajectories, gzipped;
- ``models/speech/data/noise/``: the first 30 s of seven real noise recordings, 16 kHz mono (training
  augmentation on every machine, and the tests' real noise).
"""

from __future__ import annotations

import csv
import gzip
import shutil
import sys
from pathlib import Path

import numpy as np

from agent.audio.wav import read_wav_16k, write_wav

from .devdata import REPO, dev_data

PHOTOS_OUT = REPO / "models" / "vision" / "data" / "sign_language_digits"
TESTS_OUT = REPO / "tests" / "data"
NOISE_OUT = REPO / "models" / "speech" / "data" / "noise"
NOISE = {"gsc_background_noise": ["doing_the_dishes", "dude_miaowing", "exercise_bike", "running_tap"],
         "noise_cc0": ["cafe", "fridge", "traffic"]}
NOISE_SECONDS = 30


def calibration_row(i: int) -> bool:
    """Rows of the photo list used by ``models.vision.quantize`` (calibration or check)."""
    return i % 8 == 1 or i % 6 == 0


def photos(src: Path) -> int:
    with open(src / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if PHOTOS_OUT.exists():
        shutil.rmtree(PHOTOS_OUT)
    PHOTOS_OUT.mkdir(parents=True)
    kept = []
    for i, row in enumerate(rows):
        if calibration_row(i):
            dst = PHOTOS_OUT / row["path"]
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / row["path"], dst)
            kept.append({"row": i, **row})
    with open(PHOTOS_OUT / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["row", *rows[0].keys()])
        w.writeheader()
        w.writerows(kept)
    for name in ("LICENSE", "SOURCE.txt"):
        shutil.copyfile(src / name, PHOTOS_OUT / name)
    return len(kept)


def landmarks(src: Path) -> None:
    out = TESTS_OUT / "vision" / "hand_landmarks"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("landmarks.csv", "point_history_Kazuhito00.csv"):
        with open(src / name, "rb") as f, gzip.GzipFile(out / f"{name}.gz", "wb", 9, mtime=0) as g:
            shutil.copyfileobj(f, g)
    for name in ("LICENSE.Kazuhito00-Apache-2.0", "point_history_labels.txt"):
        shutil.copyfile(src / name, out / name)


def noise(src: Path) -> None:
    out = NOISE_OUT
    out.mkdir(parents=True, exist_ok=True)
    for folder, names in NOISE.items():
        for name in names:
            pcm = read_wav_16k(src / folder / f"{name}.wav")[: 16000 * NOISE_SECONDS]
            write_wav(out / f"{name}.wav", np.asarray(pcm, np.int16), 16000)
        shutil.copyfile(src / folder / "SOURCE.txt", out / f"SOURCE.{folder}.txt")


def main() -> int:
    root = dev_data()
    n = photos(root / "vision" / "sign_language_digits")
    landmarks(root / "vision" / "hand_landmarks")
    noise(root / "noise")
    print(f"repo data written: {n} photos, landmarks, {sum(map(len, NOISE.values()))} noise clips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
