"""Build the bundled demo recording: spoken commands and non-commands separated by room noise.

    python -m models.demo.make_demo            # demo.wav / demo.json
    python -m models.demo.make_demo devices    # devices.wav / devices.json: the bench's sentence-set commands

Voices: espeak-ng and flite (synthetic, as the foundation issue allows for the demo). Background: the CC0
'cafe' recording from ../shared/data/noise/noise_cc0 (see NOTICE) at a low level. Writes
``agent/demo/media/demo.wav`` (16 kHz mono) and ``demo.json`` (each utterance's span and expected intent).

``devices``: commands of the ``devices`` sentence set (intents with slots), which ``homeagent bench --recognizer
whisper-set`` replays. Each clip is cut to its speech (the synthesizers add 0.1-0.4 s of silence after the
last word), so a span's end is the true end of speech that the bench's time to act is measured from.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from agent.audio.wav import read_wav_16k, write_wav

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "agent" / "demo" / "media"
NOISE = ROOT / "models" / "speech" / "data" / "noise" / "cafe.wav"  # the shipped copy (models.repo_data)

SCRIPT: list[tuple[str, str | None, str]] = [
    ("turn on the lights", "lights_on", "espeak:en-us+m3"),
    ("play some music", "music_play", "flite:slt"),
    ("turn the volume up", "volume_up", "espeak:en-gb+f2"),
    ("what time is it in london", None, "flite:kal16"),
    ("make it warmer", "heat_up", "espeak:en-us+f4"),
    ("close the blinds", "blinds_close", "flite:awb"),
    ("i will call my sister next week", None, "espeak:en-gb-x-rp+m1"),
    ("pause the music", "music_pause", "flite:rms"),
    ("volume down", "volume_down", "espeak:en-us+m5"),
    ("switch the lights off", "lights_off", "flite:slt"),
    ("the weather is lovely today", None, "espeak:en-us+f3"),
    ("open the blinds", "blinds_open", "espeak:en-gb+m2"),
    ("turn down the heat", "heat_down", "flite:kal16"),
    ("stop the music", "music_stop", "espeak:en-us+m1"),
]

DEVICES_SCRIPT: list[tuple[str, str | None, str]] = [
    ("turn on the kitchen light", "turn_on", "espeak:en-us+m3"),
    ("switch off the fan", "turn_off", "flite:slt"),
    ("make it twenty degrees", "set_temperature", "espeak:en-us+f4"),  # can go on ("... in the kitchen")
    ("turn the lamp off", "turn_off", "flite:kal16"),
    ("switch the living room tv on", "turn_on", "flite:awb"),
    ("turn off the heater", "turn_off", "espeak:en-gb-x-rp+m1"),
]
TRIM_LEVEL = 0.02  # a clip's speech: from its first to its last sample above this fraction of its peak

GAP_S = 1.5
NOISE_GAIN = 0.01


def synth(text: str, voice: str, path: Path) -> np.ndarray:
    engine, name = voice.split(":", 1)
    if engine == "espeak":
        subprocess.run(["espeak-ng", "-v", name, "-s", "150", "-w", str(path), text], check=True)
    else:
        subprocess.run(["flite", "-voice", name, "-t", text, "-o", str(path)], check=True)
    pcm = read_wav_16k(path).astype(np.float32)
    return pcm / max(1.0, np.abs(pcm).max()) * 0.5 * 32767


def trim(pcm: np.ndarray) -> np.ndarray:
    """The clip from its first to its last sample above :data:`TRIM_LEVEL` of its peak."""
    loud = np.nonzero(np.abs(pcm) > TRIM_LEVEL * np.abs(pcm).max())[0]
    return pcm[loud[0]: loud[-1] + 1] if len(loud) else pcm


def main(name: str = "demo") -> None:
    script = DEVICES_SCRIPT if name == "devices" else SCRIPT
    rng = np.random.default_rng(7)
    noise = read_wav_16k(NOISE).astype(np.float32)
    parts: list[np.ndarray] = []
    items = []
    pos = 0
    gap = int(GAP_S * 16000)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (text, intent, voice) in enumerate(script):
            parts.append(np.zeros(gap, np.float32))
            pos += gap
            speech = synth(text, voice, Path(tmp) / f"{i}.wav")
            speech = trim(speech) if name == "devices" else speech
            items.append({"start": round(pos / 16000, 3), "end": round((pos + len(speech)) / 16000, 3),
                          "text": text, "expect": intent, "voice": voice})
            parts.append(speech)
            pos += len(speech)
    parts.append(np.zeros(gap, np.float32))
    audio = np.concatenate(parts)
    start = int(rng.integers(0, len(noise) // 2))
    bed = np.resize(np.roll(noise, -start), len(audio)) * NOISE_GAIN / max(1e-6, np.abs(noise).max() / 32767)
    mixed = np.clip(audio + bed, -32768, 32767).astype(np.int16)
    OUT.mkdir(parents=True, exist_ok=True)
    write_wav(OUT / f"{name}.wav", mixed)
    (OUT / f"{name}.json").write_text(json.dumps({"sample_rate": 16000, "utterances": items}, indent=1) + "\n")
    print(f"wrote {OUT / f'{name}.wav'} ({len(mixed) / 16000:.1f} s, {len(items)} utterances)")


if __name__ == "__main__":
    import sys

    main(sys.argv[1] if len(sys.argv) > 1 else "demo")
