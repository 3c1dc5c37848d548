"""The late-fusion engine: windows, reliability weights, deixis, confirm/cancel, wake, direct gestures,
conflicts, determinism. Fixed (not fitted) weights so these tests pin the rules, not a fit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from agent.fusion import Abstain, ConfirmRequest, FusionConfig, FusionEngine, LateFusionModel
from agent.fusion.model import gesture_reliability, voice_reliability
from agent.types import CommandScores, GestureEvent, Intent

LABELS = ("music_stop", "music_play", "that_on", "that_off", "heat_up", "yes", "no", "unknown")
MODEL = LateFusionModel((1.0, 0.3, 0.5, 0.5), (1.0, 1.0, 0.5, 0.5), 0.0, 0.5, {})
ZONES = {"lamp_zone": {"device": "floor_lamp", "polygon": [[0, 0], [100, 0], [100, 100], [0, 100]]},
         "tv_zone": {"device": "tv", "polygon": [[200, 0], [300, 0], [300, 100], [200, 100]]}}


def cfg(**kw: Any) -> FusionConfig:
    base: dict[str, Any] = {"zones": ZONES, "confirm": {"sensitive_intents": ["heat_up"]}}
    base.update(kw)
    return FusionConfig.model_validate(base)


def speech(label: str, p: float = 0.9, t: float = 10.0, snr: float = 25.0, dur: float = 1.0) -> CommandScores:
    rest = (1.0 - p) / (len(LABELS) - 1)
    return CommandScores(LABELS, tuple(p if x == label else rest for x in LABELS), t, t + dur, snr_db=snr)


def gesture(name: str, score: float = 0.95, t: float = 10.2, target: str | None = None, size: float = 0.2,
            vis: float = 1.0) -> GestureEvent:
    return GestureEvent(name, score, t, t + 0.6, hand_size=size, visibility=vis, pointing_target=target)


def run(engine: FusionEngine, *events: CommandScores | GestureEvent) -> list[Any]:
    for e in events:
        if isinstance(e, CommandScores):
            engine.push_speech(e)
        else:
            engine.push_gesture(e)
    return engine.flush()


def intents(outs: list[Any]) -> list[Intent]:
    return [o for o in outs if isinstance(o, Intent)]


def test_deictic_speech_plus_pointing_resolves_the_zone_device() -> None:
    outs = run(FusionEngine(cfg(), MODEL), speech("that_on"), gesture("pointing", target="lamp_zone"))
    [i] = intents(outs)
    assert i.name == "device_on" and i.slots == {"device": "floor_lamp"}
    assert i.modalities == ("voice", "gesture")


def test_deictic_without_pointing_abstains_with_no_target() -> None:
    [out] = run(FusionEngine(cfg(), MODEL), speech("that_off"))
    assert isinstance(out, Abstain) and out.reason == "no_target"


def test_pointing_outside_the_window_is_not_paired() -> None:
    outs = run(FusionEngine(cfg(window_s=1.0, wait_s=0.5), MODEL), speech("that_on", t=10.0),
               gesture("pointing", t=14.0, target="tv_zone"))
    assert [o.reason for o in outs if isinstance(o, Abstain)] == ["no_target"]
    assert not intents(outs)


def test_conflicting_confident_modalities_abstain_and_report() -> None:
    outs = run(FusionEngine(cfg(), MODEL), speech("music_play", 0.95), gesture("open_palm", 0.97, t=10.4))
    [out] = outs
    assert isinstance(out, Abstain) and out.reason == "conflict"
    assert out.detail["voice"] == "music_play" and out.detail["gesture"] == "open_palm"


def test_agreeing_modalities_beat_either_alone() -> None:
    e = FusionEngine(cfg(), MODEL)
    s, g = speech("music_stop", 0.5, snr=0.0), gesture("open_palm", 0.6, size=0.05, t=10.5)
    _, fused, pv, pg = e.fuse_scores(s, g)
    cands, *_ = e.fuse_scores(s, g)
    k = cands.index("music_stop")
    assert fused[k] > max(pv[k], pg[k])


def test_noisy_audio_and_small_hands_weigh_less() -> None:
    wv_clean, _ = MODEL.weights(voice_reliability(speech("music_stop", snr=30.0)), None)
    wv_noisy, _ = MODEL.weights(voice_reliability(speech("music_stop", snr=-5.0)), None)
    assert wv_noisy < wv_clean
    _, wg_big = MODEL.weights(None, gesture_reliability(gesture("fist", size=0.25, vis=1.0)))
    _, wg_tiny = MODEL.weights(None, gesture_reliability(gesture("fist", size=0.03, vis=0.5)))
    assert wg_tiny < wg_big
    _, wg_px = MODEL.weights(None, gesture_reliability(gesture("fist", size=120.0, vis=1.0), 480.0))
    assert wg_px == pytest.approx(wg_big)  # 120 px of a 480 px image = 0.25


def test_direct_gesture_intent_after_its_wait() -> None:
    e = FusionEngine(cfg(wake={"enabled": False}), MODEL)
    e.push_gesture(gesture("victory", t=5.0))
    assert e.step(5.7) == []  # still waiting for speech that may pair with it
    [i] = e.step(5.6 + 1.0)
    assert isinstance(i, Intent) and i.name == "music_play" and i.modalities == ("gesture",)


def test_lone_gesture_waits_while_speech_is_in_progress() -> None:
    e = FusionEngine(cfg(wake={"enabled": False}), MODEL)
    e.push_gesture(gesture("victory", t=5.0))
    e.voice_activity(True, 5.8)
    assert e.step(9.0) == []
    e.push_speech(speech("music_play", t=5.8, dur=3.0))
    e.voice_activity(False, 8.8)
    [i] = e.step(10.0)
    assert isinstance(i, Intent) and i.modalities == ("voice", "gesture")


def test_wake_palm_lowers_the_threshold_and_is_not_a_conflict() -> None:
    weak = speech("music_play", 0.35, t=10.0, snr=5.0)
    strict = cfg(threshold=0.8, confirm={"enabled": False})
    [out] = run(FusionEngine(strict, MODEL), weak)
    assert isinstance(out, Abstain) and out.reason == "low_confidence"
    outs = run(FusionEngine(strict, MODEL), gesture("open_palm", t=8.5), weak)
    assert [i.name for i in intents(outs)] == ["music_play"]


def test_wake_palm_alone_still_means_stop_after_the_direct_delay() -> None:
    e = FusionEngine(cfg(), MODEL)
    e.push_gesture(gesture("open_palm", t=3.0))
    assert e.step(3.6 + 1.0) == []
    [i] = e.step(3.6 + 1.5)
    assert isinstance(i, Intent) and i.name == "music_stop"


def test_sensitive_intent_waits_for_thumbs_up() -> None:
    e = FusionEngine(cfg(), MODEL)
    e.push_speech(speech("heat_up", 0.97))
    [req] = e.step(12.0)
    assert isinstance(req, ConfirmRequest) and req.intent.name == "heat_up"
    e.push_gesture(gesture("thumbs_up", t=12.5))
    [i] = e.step(14.5)
    assert isinstance(i, Intent) and i.name == "heat_up"


def test_confirmation_by_voice_no_cancels_and_timeout_drops() -> None:
    e = FusionEngine(cfg(), MODEL)
    e.push_speech(speech("heat_up", 0.97))
    e.step(12.0)
    e.push_speech(speech("no", 0.9, t=12.5))
    [out] = e.step(14.6)
    assert isinstance(out, Abstain) and out.reason == "cancelled"
    e.push_speech(speech("heat_up", 0.97, t=20.0))
    [req] = e.step(22.0)
    assert isinstance(req, ConfirmRequest)
    [out] = e.step(req.deadline + 0.1)
    assert isinstance(out, Abstain) and out.reason == "confirm_timeout"


def test_low_confidence_intent_asks_for_confirmation() -> None:
    e = FusionEngine(cfg(threshold=0.3, confirm={"below": 0.9}), MODEL)
    outs = run(e, speech("music_play", 0.45, snr=0.0))
    assert isinstance(outs[0], ConfirmRequest)


def test_unknown_speech_abstains() -> None:
    [out] = run(FusionEngine(cfg(), MODEL), speech("unknown", 0.9))
    assert isinstance(out, Abstain) and out.reason == "low_confidence"


def test_deterministic_outputs_and_ids() -> None:
    def once() -> list[Any]:
        e = FusionEngine(cfg(), MODEL, site_id="k", wall_offset=1000.0)
        return run(e, speech("that_on"), gesture("pointing", target="tv_zone"), gesture("victory", t=30.0))

    a, b = once(), once()
    assert a == b
    assert intents(a)[0].wall_end == pytest.approx(intents(a)[0].t_end + 1000.0)


def test_config_rejects_unknown_keys_and_bad_windows() -> None:
    with pytest.raises(ValidationError):
        FusionConfig.model_validate({"windw_s": 1})
    with pytest.raises(ValidationError):
        FusionConfig.model_validate({"window_s": 1.0, "wait_s": 2.0})
    with pytest.raises(ValidationError):
        FusionConfig.model_validate({"zones": {"z": {"device": "x", "polygon": [[0, 0], [1, 1]]}}})


def test_fitted_weights_load_and_are_sane() -> None:
    m = LateFusionModel.load()
    assert 0.0 < m.threshold <= 1.0
    assert np.isfinite(m.theta_voice).all() and np.isfinite(m.theta_gesture).all()


def test_speech_waits_for_a_lagging_gesture_stream_not_the_wall_clock() -> None:
    """The video thread is behind (CPU load): a pointing event that becomes stable after the utterance must
    still pair with it, however late it is pushed, as long as the stream lags less than max_lag_s."""
    e = FusionEngine(cfg(confirm={"enabled": False}, max_lag_s=3.0), MODEL)
    e.progress("gesture", 10.5)
    e.push_speech(speech("that_on", t=10.0, dur=1.0))  # ends at 11.0
    assert e.step(12.5) == []  # wall clock is past t_end + wait_s, the gesture stream is not
    e.push_gesture(gesture("pointing", t=11.2, target="lamp_zone"))  # ends at 11.8
    e.progress("gesture", 12.1)
    [i] = e.step(12.6)
    assert isinstance(i, Intent) and i.slots == {"device": "floor_lamp"}


def test_a_stalled_stream_is_waited_for_at_most_max_lag() -> None:
    e = FusionEngine(cfg(max_lag_s=2.0), MODEL)
    e.progress("gesture", 5.0)  # the camera froze at 5.0
    e.push_speech(speech("that_on", t=10.0))
    assert e.step(13.9) == []
    [out] = e.step(14.0)  # the stream is taken to be at least 14.0 - 2.0 = t_end + wait_s: decided without it
    assert isinstance(out, Abstain) and out.reason == "no_target"
    e.progress("gesture", None)  # camera off: nothing to wait for
    e.push_speech(speech("that_on", t=20.0))
    [out] = e.step(22.0)
    assert isinstance(out, Abstain)


def test_lone_gesture_waits_for_the_voice_stream_to_catch_up() -> None:
    """The VAD has not analysed the audio up to the gesture's end + wait yet: an utterance may be starting."""
    e = FusionEngine(cfg(wake={"enabled": False}, confirm={"enabled": False}), MODEL)
    e.progress("voice", 5.0)
    e.push_gesture(gesture("victory", t=5.0))  # ends at 5.6
    assert e.step(7.0) == []
    e.push_speech(speech("music_stop", 0.97, t=6.2, dur=0.8))  # conflicting speech, found late
    e.progress("voice", 7.5)
    [out] = e.step(8.0)
    assert isinstance(out, Abstain) and out.reason == "conflict"


def test_pointing_stays_a_partner_for_the_whole_window() -> None:
    """Point first, speak 1.5 s later (beyond wait_s, within window_s): still one deictic intent."""
    e = FusionEngine(cfg(window_s=2.0, wait_s=1.0, confirm={"enabled": False}), MODEL)
    e.push_gesture(gesture("pointing", t=10.0, target="tv_zone"))  # ends at 10.6
    assert e.step(11.9) == []
    e.push_speech(speech("that_off", t=12.1, dur=0.8))
    [i] = e.step(14.0)
    assert isinstance(i, Intent) and i.name == "device_off" and i.slots == {"device": "tv"}
    e.push_gesture(gesture("pointing", t=20.0, target="tv_zone"))
    assert e.step(22.7) == [] and e._gestures == []  # a lone pointing does nothing and is dropped after the window


def test_swipes_are_previous_and_next() -> None:
    e = FusionEngine(cfg(confirm={"enabled": False}), MODEL)
    outs = run(e, gesture("swipe_left", 1.0, t=1.0), gesture("swipe_right", 1.0, t=20.0))
    assert [i.name for i in intents(outs)] == ["previous", "next"]


def test_pointing_at_the_camera_wakes_without_a_wake_word() -> None:
    weak = speech("music_play", 0.35, t=10.0, snr=5.0)
    strict = cfg(threshold=0.8, confirm={"enabled": False}, zones={})
    [out] = run(FusionEngine(strict, MODEL), weak)
    assert isinstance(out, Abstain)
    outs = run(FusionEngine(strict, MODEL), gesture("pointing", t=8.5, target="camera"), weak)
    assert [i.name for i in intents(outs)] == ["music_play"]
    no_wake = cfg(threshold=0.8, confirm={"enabled": False}, zones={}, wake={"enabled": False})
    assert not intents(run(FusionEngine(no_wake, MODEL), gesture("pointing", t=8.5, target="camera"), weak))


def test_notes_become_reports_not_actions() -> None:
    from agent.daemon.fusion_runner import note_report

    [out] = run(FusionEngine(cfg(), MODEL), speech("music_play", 0.95), gesture("open_palm", 0.97, t=10.4))
    assert isinstance(out, Abstain)
    kind, rep = note_report(out, "room")
    assert kind == "abstain" and rep["reason"] == "conflict" and rep["detail"]["gesture"] == "open_palm"
    e = FusionEngine(cfg(), MODEL)
    e.push_speech(speech("heat_up", 0.97))
    [req] = e.flush()
    assert isinstance(req, ConfirmRequest)
    kind, rep = note_report(req, "room")
    assert kind == "confirm" and rep["intent"] == "heat_up" and rep["deadline"] > 11.0


def test_thumbs_down_cancels_and_yes_confirms() -> None:
    e = FusionEngine(cfg(), MODEL)
    e.push_speech(speech("heat_up", 0.97))
    [req] = e.step(12.0)
    assert isinstance(req, ConfirmRequest)
    e.push_gesture(gesture("thumbs_down", t=12.5))
    [out] = e.step(14.5)
    assert isinstance(out, Abstain) and out.reason == "cancelled"
    e.push_speech(speech("heat_up", 0.97, t=20.0))
    [req] = e.step(22.0)
    e.push_speech(speech("yes", 0.9, t=22.5))
    [i] = e.step(24.6)
    assert isinstance(i, Intent) and i.name == "heat_up"
    # a lone thumbs-up with nothing pending does nothing
    e.push_gesture(gesture("thumbs_up", t=30.0))
    assert e.step(40.0) == []


def test_confirmation_is_configurable() -> None:
    off = FusionEngine(cfg(confirm={"enabled": False}), MODEL)
    [i] = run(off, speech("heat_up", 0.97))
    assert isinstance(i, Intent)  # no confirmation asked when it is switched off
    custom = FusionEngine(cfg(confirm={"sensitive_intents": ["music_play"], "yes_gestures": ["ok"]}), MODEL)
    custom.push_speech(speech("music_play", 0.97))
    [req] = custom.step(12.0)
    assert isinstance(req, ConfirmRequest)
    custom.push_gesture(gesture("ok", t=12.5))
    [i] = custom.step(14.5)
    assert isinstance(i, Intent) and i.name == "music_play"


def test_doubtful_intent_under_the_threshold_is_asked_not_dropped() -> None:
    weak = speech("music_play", 0.6, snr=10.0)
    [out] = run(FusionEngine(cfg(threshold=0.95, confirm={"ask_from": 0.3}), MODEL), weak)
    assert isinstance(out, ConfirmRequest) and out.intent.name == "music_play"
    [out] = run(FusionEngine(cfg(threshold=0.95, confirm={"ask_from": 0.99}), MODEL), weak)
    assert isinstance(out, Abstain) and out.reason == "low_confidence"
    [out] = run(FusionEngine(cfg(threshold=0.95, confirm={"enabled": False, "ask_from": 0.3}), MODEL), weak)
    assert isinstance(out, Abstain)  # without confirmation the threshold is the threshold


def voiced(label: str | None, p: float = 0.9, t: float = 10.0) -> CommandScores:
    """An utterance with the recognizer's own decision attached, as the daemon's audio path sends it."""
    s = speech(label or "unknown", p, t)
    return CommandScores(s.labels, s.scores, s.t_start, s.t_end, snr_db=s.snr_db, voice_decision=(label, p))


def test_voice_with_no_gesture_partner_is_decided_as_voice_alone() -> None:
    """A hand in view that makes no command gesture (here: a 'none' pose and a pointing gesture at no zone, far
    outside the window) is no evidence against speech: the recognizer's decision stands, even at a confidence
    the fused model would have asked about or dropped."""
    e = FusionEngine(cfg(), MODEL)
    e.push_gesture(gesture("none", 0.9, t=10.3))
    e.push_speech(voiced("music_play", 0.62))
    [i] = e.step(12.0)
    assert isinstance(i, Intent) and i.name == "music_play" and i.modalities == ("voice",)
    assert i.confidence == pytest.approx(0.62)


def test_voice_alone_rejection_and_deictic_without_target_abstain() -> None:
    e = FusionEngine(cfg(), MODEL)
    e.push_speech(voiced(None, 0.4))
    [a] = e.step(12.0)
    assert isinstance(a, Abstain) and a.reason == "low_confidence" and a.detail["modalities"] == "voice"
    e.push_speech(voiced("that_on", 0.95, t=20.0))
    [b] = e.step(22.0)
    assert isinstance(b, Abstain) and b.reason == "no_target"


def test_sensitive_voice_alone_asks_and_a_spoken_yes_confirms() -> None:
    e = FusionEngine(cfg(), MODEL)
    e.push_speech(voiced("heat_up", 0.97))
    [req] = e.step(12.0)
    assert isinstance(req, ConfirmRequest) and req.intent.name == "heat_up"
    e.push_speech(voiced("yes", 0.9, t=13.0))
    [i] = e.step(15.0)
    assert isinstance(i, Intent) and i.name == "heat_up"


def test_speech_with_no_hand_in_view_is_decided_without_the_full_wait() -> None:
    """A camera that sees no hand: a command is acted on no_hand_wait_s after it ends, not wait_s (the camera
    in the room must not slow voice down). A hand in view, a deictic command or a pending gesture: full wait."""
    e = FusionEngine(cfg(confirm={"enabled": False}), MODEL)
    e.hands_in_view(False, 10.0)
    e.push_speech(speech("music_play", t=10.0, dur=1.0))  # ends at 11.0
    e.progress("gesture", 11.05)
    assert e.step(11.05) == []
    e.progress("gesture", 11.12)
    [i] = e.step(11.12)
    assert isinstance(i, Intent) and i.name == "music_play"
    # a hand seen shortly before the utterance: it may still gesture, so the engine waits as before
    e.hands_in_view(True, 19.5)
    e.push_speech(speech("music_play", t=20.0, dur=1.0))
    e.progress("gesture", 21.2)
    assert e.step(21.2) == []
    e.progress("gesture", 22.05)
    assert intents(e.step(22.05))
    # no hand, but "turn that on" needs a pointing that may still come
    e.hands_in_view(False, 30.0)
    e.push_speech(speech("that_on", t=30.0, dur=1.0))
    e.progress("gesture", 31.2)
    assert e.step(31.2) == []
    # without hand reports (no camera wired), the configured wait holds
    f = FusionEngine(cfg(confirm={"enabled": False}), MODEL)
    f.push_speech(speech("music_play", t=10.0, dur=1.0))
    f.progress("gesture", 11.2)
    assert f.step(11.2) == []
