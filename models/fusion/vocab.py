"""The evaluation scene: spoken phrases, gestures, device zones, and the train/test splits of voices, noises
and landmark recordings (nothing in the test split is seen by any fitted model)."""

from __future__ import annotations

from pathlib import Path

from ..devdata import dev_data


def landmarks_csv() -> Path:
    """The recorded hand landmark rows (development data)."""
    return dev_data("vision/hand_landmarks/landmarks.csv")


def noise_dirs() -> list[Path]:
    """The real noise recordings mixed into the scenarios (development data)."""
    return [dev_data("noise/gsc_background_noise"), dev_data("noise/noise_cc0")]


# speech labels (a subset of the home set + the deictic intents asked of speech) and their phrasings
PHRASES: dict[str, list[str]] = {
    "music_stop": ["stop the music", "stop music", "stop playing music"],
    "music_pause": ["pause the music", "pause music", "pause"],
    "music_play": ["play music", "play some music", "start the music"],
    "volume_up": ["volume up", "turn the volume up", "louder"],
    "volume_down": ["volume down", "turn the volume down", "quieter"],
    "that_on": ["turn that on", "switch that on", "turn this on", "switch it on"],
    "that_off": ["turn that off", "switch that off", "turn this off", "switch it off"],
}
NEGATIVES = ["what time is it", "good morning", "thank you", "where are my keys", "call my mother",
             "it is cold outside", "hello there", "the music was nice", "turn left at the light",
             "play with the dog", "that is not on", "switch channels"]
SPEECH_LABELS = (*PHRASES, "unknown")

# gestures: the stand-in classifier's classes (thumbs_down = thumbs_up turned upside down)
GESTURES = ("open_palm", "fist", "pointing", "thumbs_up", "thumbs_down", "victory", "ok", "none")
CSV_LABEL = {"open_palm": "open_palm", "fist": "fist", "pointing": "pointing", "thumbs_up": "thumbs_up",
             "victory": "victory", "ok": "ok", "other:DrStrange": "none"}
# the direct gesture intents of the default FusionConfig
GESTURE_INTENT = {"open_palm": "music_stop", "fist": "music_pause", "victory": "music_play"}

# device zones in a 640x480 camera image
IMAGE_W, IMAGE_H = 640, 480
ZONES: dict[str, tuple[str, list[tuple[float, float]]]] = {
    "lamp_zone": ("floor_lamp", [(20, 20), (170, 20), (170, 160), (20, 160)]),
    "tv_zone": ("tv", [(245, 20), (395, 20), (395, 160), (245, 160)]),
    "fan_zone": ("ceiling_fan", [(470, 20), (620, 20), (620, 160), (470, 160)]),
}

# splits: synthetic voices (espeak-ng and flite, spoken here) and real noise recordings
# HEAD_VOICES train the stand-in recognizer, FIT_VOICES the fusion weights, TEST_VOICES only measure
HEAD_VOICES = ["espeak:en-us+m1", "espeak:en-gb+m3", "espeak:en-029+f4", "espeak:en-us+klatt2", "flite:kal",
               "espeak:en-us+f1", "espeak:en-gb+m6", "espeak:en-us+Andy", "espeak:en-gb+f5", "espeak:en-us+grandpa",
               "espeak:en-gb-x-gbcwmd+m5", "espeak:en-us+linda"]
FIT_VOICES = ["espeak:en-us+f2", "espeak:en-gb-x-rp+m4", "flite:slt", "espeak:en-us+benjamin", "espeak:en-gb+klatt3"]
TEST_VOICES = ["espeak:en-gb-scotland+m2", "espeak:en-us-nyc+f3", "espeak:en-gb-x-gbclan+m7",
               "flite:awb", "flite:rms", "flite:kal16"]
TRAIN_NOISES = ["doing_the_dishes", "exercise_bike", "pink_noise", "cafe"]
TEST_NOISES = ["running_tap", "dude_miaowing", "white_noise", "traffic", "fridge"]
SNRS: tuple[float | None, ...] = (None, 10.0, 5.0, 0.0, -5.0)  # None = clean
