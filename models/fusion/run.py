"""Build (or load from cache) the scenario sets, fit what needs fitting, and measure the four systems.

``python -m models.fusion.run [--refit]`` or ``homeagent eval fusion``. Caches: ``models/cache/fusion/``.
Fitted parameters (committed): ``models/fusion/standin_speech.json``, ``standin_gesture.json``,
``early_fusion.json``, ``calibration.json`` and the runtime's ``agent/fusion/late_fusion.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from agent.fusion.model import DEFAULT_WEIGHTS, LateFusionModel
from agent.paths import models_dir

from ..devdata import ENV
from . import audio, fit, report, scenarios, systems, vision
from .linear import Softmax
from .vocab import FIT_VOICES, HEAD_VOICES, SNRS, TEST_NOISES, TEST_VOICES, TRAIN_NOISES

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
EARLY = HERE / "early_fusion.json"
CALIBRATION = HERE / "calibration.json"
SEED = 20261128
CACHE_VERSION = 5


def cache_dir() -> Path:
    d = models_dir() / "cache" / "fusion"
    d.mkdir(parents=True, exist_ok=True)
    return d


def speaker() -> Any:
    import agent.audio.wav
    import models.speech.data.synth
    from models.speech.data.synth import synthesize

    # synthesized clips depend on the synthesis and resampling code: a change there invalidates them
    code = hashlib.sha1(b"".join(Path(m.__file__).read_bytes() for m in (models.speech.data.synth, agent.audio.wav)
                                 if m.__file__)).hexdigest()[:8]
    clips = cache_dir() / f"clips_{code}"
    clips.mkdir(exist_ok=True)

    def speak(text: str, voice: str) -> np.ndarray:
        key = hashlib.sha1(f"{voice}|{text}".encode()).hexdigest()[:16]
        p = clips / f"{key}.npy"
        if p.is_file():
            return np.load(p)
        pcm = synthesize(text, voice, np.random.default_rng(int(key[:8], 16)))
        np.save(p, pcm)
        return pcm

    return speak


def _file_id(p: Path) -> str:
    return hashlib.sha1(p.read_bytes()).hexdigest()[:10] if p.is_file() else "none"


DEFAULT_RECOGNIZER = "home"  # the shipped speech bundle; "standin" = the stand-in head of models/fusion
STANDIN = "standin"
WHISPER = "whisper:"  # "whisper:home": Whisper constrained to the set, as speech.recognizer whisper/auto runs it


def recognizer_id(name: str) -> str:
    """Cache/profile key of a speech recognizer: the stand-in head's file, or a bundle's name and manifest
    (a retrained bundle invalidates cached scenario scores and the fitted fusion)."""
    if name == STANDIN:
        return f"standin:{_file_id(audio.STANDIN_HEAD)}"
    if name.startswith(WHISPER):  # the set's file and the decision module: a new rule rescores
        import agent.speech.asr_grammar as grammar
        from agent.speech.sets.base import resolve_set_path

        return f"{name}:{_file_id(resolve_set_path(name[len(WHISPER):]))}:{_file_id(Path(grammar.__file__))}"
    from agent.speech.bundle import MANIFEST
    from agent.speech.load import resolve_bundle

    return f"{name}:{_file_id(resolve_bundle(name) / MANIFEST)}"


def gesture_id(real_gestures: bool) -> str:
    if not real_gestures:
        return f"standin:{_file_id(vision.STANDIN_HEAD)}"
    from agent.paths import bundles_dir
    from agent.vision.classifier import DEFAULT_MODEL

    return f"real:{_file_id(bundles_dir() / DEFAULT_MODEL)}"


def tracker_id() -> str:
    """The hand tracker's measured noise (``tracker_noise.json``): the scenario hands are seen or not by it, so a
    re-measured tracker changes what the fusion is fitted on."""
    return f"tracker:{_file_id(vision.TRACKER_NOISE)}"


def load_heads(refit: bool, recognizer_name: str | None,
               real_gestures: bool = False) -> tuple[Any, vision.StandinGestures | vision.RealGestures]:
    from agent.speech.frontend import SpeechFrontend

    rng = np.random.default_rng(SEED)
    if refit or not vision.STANDIN_HEAD.is_file():
        log.info("fitting the stand-in gesture classifier")
        vision.train_standin(vision.split_blocks(vision.load_landmarks(), "head"), rng).save(
            vision.STANDIN_HEAD, data="hand_landmarks.csv head split")
    ghead: vision.StandinGestures | vision.RealGestures = (
        vision.RealGestures() if real_gestures else vision.StandinGestures(Softmax.load(vision.STANDIN_HEAD)))
    if recognizer_name and recognizer_name.startswith(WHISPER):
        from agent.speech.load import load_recognizer

        return load_recognizer(recognizer_name[len(WHISPER):], recognizer="whisper"), ghead
    if recognizer_name and recognizer_name != STANDIN:
        from agent.speech.load import load_bundle

        return load_bundle(recognizer_name), ghead
    fe = SpeechFrontend()
    if refit or not audio.STANDIN_HEAD.is_file():
        log.info("fitting the stand-in speech head on synthesized speech (%s)", HEAD_VOICES)
        speak = speaker()
        clips = [(lab, speak(ph, v)) for lab, ph, v in audio.phrase_items(HEAD_VOICES)]
        audio.train_standin(clips, audio.load_noises(TRAIN_NOISES), fe, rng).save(
            audio.STANDIN_HEAD, voices=HEAD_VOICES, noises=TRAIN_NOISES)
    return audio.StandinRecognizer(Softmax.load(audio.STANDIN_HEAD), fe), ghead


def observed(split: str, n: int, recognizer: Any, ghead: vision.StandinGestures | vision.RealGestures,
             rec_id: str) -> list[scenarios.Observed]:
    """The scenario set of a split as the systems see it. The recognizer's scores are cached per recognizer
    (``speech_<split>_<key>.npz``); the hand tracks are drawn and classified anew (a few seconds)."""
    voices, noises = (FIT_VOICES, TRAIN_NOISES) if split == "fit" else (TEST_VOICES, TEST_NOISES)
    seed = SEED + (1 if split == "fit" else 2)
    base = scenarios.draw_scenarios(n, voices, noises, np.random.default_rng(seed))
    path = cache_dir() / f"speech_{split}_{scenarios.cache_key(split, n, rec_id, seed, CACHE_VERSION)}.npz"
    if path.is_file():
        speech = scenarios.load_speech(path)
    else:
        log.info("scoring %s speech: %d scenarios x %d SNRs with %s", split, n, len(SNRS), rec_id)
        speech = scenarios.observe_speech(base, recognizer, audio.load_noises(noises), speaker(), seed)
        scenarios.save_speech(path, speech)
    return scenarios.observe(base, speech, ghead, vision.split_blocks(vision.load_landmarks(), split), seed)


def with_voice_decisions(obs: list[scenarios.Observed], recognizer: Any) -> list[scenarios.Observed]:
    """Each utterance's scores with the recognizer's own decision attached, as the daemon's audio path sends
    them to fusion (an utterance with no gesture partner is then decided as voice alone, as live)."""
    decide = getattr(recognizer, "decide", None)
    if decide is None:
        return obs
    return [o if o.speech is None else dataclasses.replace(
        o, speech=dataclasses.replace(o.speech, voice_decision=decide(o.speech))) for o in obs]


def committed_profile() -> str | None:
    """The (recognizer, gesture classifier, hand tracker noise) the committed fusion files were fitted for."""
    try:
        return str(LateFusionModel.load().meta.get("profile")) if EARLY.is_file() and CALIBRATION.is_file() else None
    except Exception:  # unreadable weights: refit
        return None


def evaluate(n_fit: int = 400, n_test: int = 300, refit: bool = False, recognizer_name: str | None = DEFAULT_RECOGNIZER,
             png: Path | None = None, refit_standins: bool = False, real_gestures: bool = True) -> dict[str, Any]:
    """Measure the four systems per SNR. The committed fusion files (late-fusion weights, early-fusion
    classifier, thresholds) belong to the default profile: the shipped speech bundle and the shipped gesture
    classifier, as the live agent runs them. They are refitted on the fit split when that profile changed (a
    retrained bundle) or on ``refit``. Any other profile (the stand-ins) is fitted on the fly and nothing
    committed is overwritten."""
    recognizer_name = recognizer_name or STANDIN
    recognizer, ghead = load_heads(refit_standins, recognizer_name, real_gestures)
    rec_id = recognizer_id(recognizer_name)
    profile = f"{rec_id}|{gesture_id(real_gestures)}|{tracker_id()}"
    default = recognizer_name == DEFAULT_RECOGNIZER and real_gestures
    need_fit = refit or not default or committed_profile() != profile
    if need_fit:
        fit_obs = with_voice_decisions(observed("fit", n_fit, recognizer, ghead, rec_id), recognizer)
        truths = [o.scenario.truth for o in fit_obs]
        late_model = fit.fit_late(fit_obs)
        early_model, early_oof = fit.fit_early(fit_obs)
        th = {"voice_only": systems.calibrate([systems.voice_only(o) for o in fit_obs], truths),
              "gesture_only": systems.calibrate([systems.gesture_only(o) for o in fit_obs], truths),
              "early": systems.calibrate(early_oof, truths)}
        late_model, _ = systems.calibrate_late(late_model, fit_obs)
        th["late"] = late_model.threshold
        late_model = dataclasses.replace(late_model, meta={
            **late_model.meta, "max_false_actions": systems.MAX_FA, "fitted_on": "models/fusion scenario fit split",
            "profile": profile})
        if default:
            early_model.save(EARLY, fit_examples=len(fit_obs))
            DEFAULT_WEIGHTS.write_text(late_model.to_json() + "\n")
            CALIBRATION.write_text(json.dumps(th, indent=1, sort_keys=True) + "\n")
    else:
        late_model = LateFusionModel.load()
        early_model = Softmax.load(EARLY)
        th = json.loads(CALIBRATION.read_text())
    test = with_voice_decisions(observed("test", n_test, recognizer, ghead, rec_id), recognizer)
    deciders = {"voice_only": systems.voice_only, "gesture_only": systems.gesture_only,
                "early": systems.early(early_model), "late": systems.late(late_model)}
    rows = [_row(snr, [o for o in test if o.snr == snr], deciders, th) for snr in SNRS]
    if png is not None:
        report.plot(rows, png)
    return {"by_snr": rows, "thresholds": th, "scenarios_per_snr": n_test,
            "families": scenarios.FAMILIES, "recognizer": rec_id, "gesture_classifier": ghead.name,
            "fitted": "now, on the fit split" if need_fit else "committed files (same profile)",
            "png": str(png) if png else None}



def _row(snr: float | None, sub: list[scenarios.Observed], deciders: dict[str, Any],
         th: dict[str, float]) -> dict[str, Any]:
    """One SNR's accuracy and false-action rate per system, and late fusion's accuracy per scenario family."""
    truths = [o.scenario.truth for o in sub]
    row: dict[str, Any] = {"snr_db": snr}
    for name, dec in deciders.items():
        decisions = [dec(o) for o in sub]
        if name == "late":  # the engine's threshold gates fused decisions only, as live
            acts, acts0 = systems.gate(decisions, th[name]), systems.gate(decisions, 0.0)
        else:
            acts, acts0 = systems.apply(decisions, th[name]), systems.apply(decisions, 0.0)
        acc, fa = systems.rates(acts, truths)
        row[name] = round(acc, 4)
        row[f"{name}_false_actions"] = round(fa, 4)
        acc0, fa0 = systems.rates(acts0, truths)  # no threshold, for reference
        row[f"{name}_no_threshold"] = round(acc0, 4)
        row[f"{name}_no_threshold_false_actions"] = round(fa0, 4)
        if name == "late":  # false actions no threshold can remove: voice or a gesture decided alone
            row["late_false_actions_alone"] = round(systems.rates(systems.gate(decisions, 1.01), truths)[1], 4)
            row["late_by_family"] = {
                fam: round(systems.rates([a for a, o in zip(acts, sub, strict=True) if o.scenario.family == fam],
                                         [o.scenario.truth for o in sub if o.scenario.family == fam])[0], 4)
                for fam in scenarios.FAMILIES}
    row["voice_only_family"] = _voice_only_family(sub, deciders, th)
    row["n"] = len(sub)
    return row


def _voice_only_family(sub: list[scenarios.Observed], deciders: dict[str, Any],
                       th: dict[str, float]) -> dict[str, float]:
    """Voice-only scenarios (a command, no command gesture; half of them show a neutral hand): late fusion with
    the camera, the voice-only system, and the recognizer's own decision, which is what the daemon does with no
    camera (issue 21: a camera in the room must not make voice worse)."""
    vo = [o for o in sub if o.scenario.family == "voice_only"]
    truths = [o.scenario.truth for o in vo]
    alone = [o.speech.voice_decision[0] if o.speech and o.speech.voice_decision and o.speech.voice_decision[0]
             else scenarios.ABSTAIN for o in vo]
    return {"late": round(systems.rates(systems.gate([deciders["late"](o) for o in vo], th["late"]), truths)[0], 4),
            "voice_only": round(systems.rates(systems.apply([systems.voice_only(o) for o in vo], th["voice_only"]),
                                              truths)[0], 4),
            "no_camera": round(systems.rates(alone, truths)[0], 4) if vo else 0.0}


def main(argv: list[str] | None = None) -> int:
    """The options of ``homeagent eval fusion``, which runs this module (the runtime never imports ``models``)."""
    ap = argparse.ArgumentParser(prog="homeagent eval fusion", description=__doc__)
    ap.add_argument("--json", action="store_true",
                    help='print one JSON object {"by_snr": [{"snr_db", "voice_only", "gesture_only", "early", '
                         '"late", "late_false_actions", ...}]} (snr_db null = clean)')
    ap.add_argument("--refit", action="store_true", help="refit the fusion weights, early fusion, thresholds")
    ap.add_argument("--refit-standins", action="store_true", help="also refit the stand-in classifiers")
    ap.add_argument("--n-fit", type=int, default=400)
    ap.add_argument("--scenarios", "--n-test", dest="n_test", type=int, default=300,
                    help="test scenarios per SNR (default 300)")
    ap.add_argument("--png", type=Path, default=Path("out/fusion_eval.png"), help="plot file")
    ap.add_argument("--recognizer", default=DEFAULT_RECOGNIZER,
                    help=f"speech bundle (default {DEFAULT_RECOGNIZER}, the shipped one) or '{STANDIN}'")
    ap.add_argument("--standin-gestures", action="store_true",
                    help="the stand-in gesture head (trained on the head split only) instead of agent.vision's "
                         "GestureClassifier (trained on every landmark row, test rows included)")
    ap.add_argument("--data", type=Path, default=None, metavar="DIR",
                    help="development data folder holding noise/ and vision/hand_landmarks/ (default: "
                         "$HOMEAGENT_DEV_DATA or ../shared/data beside the checkout)")
    args = ap.parse_args(argv)
    if args.data is not None:
        os.environ[ENV] = str(args.data)
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO, stream=sys.stderr)
    # the engine logs every decision at INFO for the daemon; thousands of scenario decisions would bury the table
    logging.getLogger("agent.fusion.engine").setLevel(logging.WARNING)
    res = evaluate(args.n_fit, args.n_test, args.refit or args.refit_standins, args.recognizer, args.png,
                   args.refit_standins, not args.standin_gestures)
    if args.json:
        print(json.dumps(res))
    else:
        print(report.table(res["by_snr"]))
        print(f"thresholds: {json.dumps(res['thresholds'])}")
        print(f"plot: {res['png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
