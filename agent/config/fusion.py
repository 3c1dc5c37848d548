"""Configuration of the late-fusion engine (hooked into ``AgentConfig`` as ``fusion:``).

Every interaction is configurable: time windows, thresholds, deictic intents and device zones, the
confirm/cancel rules, gesture-as-wake and the direct gesture intents. Defaults need no file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Zone(_Strict):
    polygon: list[tuple[float, float]] = Field(
        ..., min_length=3, title="Polygon",
        description="Zone outline in camera-image coordinates (pixels, x right, y down), at least 3 points.")
    device: str = Field(..., min_length=1, title="Device",
                        description="Device name put in the intent's 'device' slot when the pointing ray hits.")


class DeicticIntent(_Strict):
    intent: str = Field(..., min_length=1, title="Resolved intent",
                        description="Intent emitted once the target is known (e.g. that_on -> device_on).")
    sensitive: bool = Field(False, title="Sensitive",
                            description="Always ask for confirmation before acting.")


class WakeConfig(_Strict):
    enabled: bool = Field(True, title="Gesture-as-wake", description="Let a wake gesture open a listening window.")
    gestures: list[str] = Field(["open_palm"], title="Wake gestures",
                                description="Gestures that open the listening window.")
    pointing_targets: list[str] = Field(["camera"], title="Wake pointing targets",
                                        description="A 'pointing' gesture whose target is one of these also wakes.")
    window_s: float = Field(4.0, gt=0, le=30, title="Listening window (s)",
                            description="How long after the wake gesture commands are accepted.")
    direct_delay_s: float = Field(1.5, ge=0, le=10, title="Direct-intent delay (s)",
                                  description="A wake gesture that also has a direct intent (palm = stop) acts "
                                              "alone only if no speech starts within this time.")
    threshold: float = Field(0.35, ge=0, le=1, title="Threshold while awake",
                             description="Fused-confidence threshold inside the listening window.")


class ConfirmConfig(_Strict):
    enabled: bool = Field(True, title="Confirm/cancel", description="Ask before acting on doubtful intents.")
    below: float = Field(0.0, ge=0, le=1, title="Confirm below",
                         description="Intents under this fused confidence (or under the abstain threshold, "
                                     "whichever is higher) wait for confirmation instead of acting; 0 = never "
                                     "(the default: only sensitive intents are asked, a doubtful one abstains).")
    ask_from: float = Field(1.0, ge=0, le=1, title="Ask from",
                            description="Intents under the abstain threshold but with at least this fused "
                                        "confidence are not dropped: they wait for confirmation; 1 = never "
                                        "(the default).")
    sensitive_intents: list[str] = Field(
        ["lock", "unlock"], title="Sensitive intents",
        description="Intents that always wait for confirmation by voice (yes / no) or gesture while a camera "
                    "is on (locks; add heating if wanted).")
    window_s: float = Field(5.0, gt=0, le=60, title="Confirm window (s)",
                            description="How long a pending intent waits for yes/no before it is dropped.")
    yes_gestures: list[str] = Field(["thumbs_up"], title="Yes gestures", description="Gestures that confirm.")
    no_gestures: list[str] = Field(["thumbs_down"], title="No gestures", description="Gestures that cancel.")
    yes_intents: list[str] = Field(["yes", "confirm"], title="Yes words",
                                   description="Speech intents that confirm.")
    no_intents: list[str] = Field(["no", "cancel"], title="No words", description="Speech intents that cancel.")
    min_score: float = Field(0.6, ge=0, le=1, title="Minimum yes/no score",
                             description="A yes/no gesture or word needs at least this score.")


class FusionConfig(_Strict):
    enabled: bool = Field(True, title="Fusion", description="Combine speech and gestures before acting.")
    window_s: float = Field(2.0, gt=0, le=10, title="Alignment window (s)",
                            description="Speech and a gesture are fused when their spans are at most this far apart.")
    wait_s: float = Field(1.0, ge=0, le=10, title="Wait for the other modality (s)",
                          description="How long after an event ends the engine waits for a partner before "
                                      "deciding on one modality alone.")
    no_hand_wait_s: float = Field(0.1, ge=0, le=10, title="Wait with no hand in view (s)",
                                  description="An utterance spoken while the camera saw no hand, and none since, "
                                              "waits only this long for a gesture (a gesture needs a hand to "
                                              "appear first); deictic intents ('turn that on') always wait wait_s "
                                              "for their pointing.")
    max_lag_s: float = Field(2.0, gt=0, le=30, title="Longest wait for a lagging stream (s)",
                             description="The engine waits until the other modality's stream has been processed "
                                         "up to an event's end + wait_s (stream time, not wall time); a stream "
                                         "that lags the clock by more than this is not waited for.")
    threshold: float | None = Field(None, ge=0, le=1, title="Abstain threshold",
                                    description="Fused confidence needed to act; null = the calibrated value "
                                                "stored with the weights.")
    weights: Path | None = Field(None, title="Weights file",
                                 description="Fitted late-fusion weights (JSON); null = the built-in fitted file.")
    conflict_voice_score: float | None = Field(
        None, ge=0, le=1, title="Conflict: speech score",
        description="Never act against speech this sure (its own top score) of another intent: abstain and "
                    "report a conflict; null = calibrated value.")
    conflict_gesture_score: float | None = Field(
        None, ge=0, le=1, title="Conflict: gesture score",
        description="Never act against a gesture this sure of other intents: abstain and report a conflict; "
                    "null = calibrated value.")
    gesture_alone_score: float = Field(
        0.6, ge=0, le=1, title="Gesture alone: minimum score",
        description="A stable command gesture with no speech around it is decided on its own, as the gesture "
                    "tracker reported it: it acts from this score on, else abstains.")
    gesture_intents: dict[str, str] = Field(
        {"open_palm": "music_stop", "fist": "music_pause", "victory": "music_play", "swipe_left": "previous",
         "swipe_right": "next"},
        title="Direct gesture intents", description="Gesture -> intent it means on its own.")
    deictic: dict[str, DeicticIntent] = Field(
        {k: DeicticIntent.model_validate({"intent": v}) for k, v in
         (("that_on", "device_on"), ("that_off", "device_off"), ("dim_that", "device_dim"))},
        title="Deictic intents",
        description="Speech intents that need a pointing target ('turn that on'): name -> resolved intent.")
    zones: dict[str, Zone] = Field({}, title="Device zones",
                                   description="Named zones in camera-image coordinates; pointing at one picks "
                                               "its device.")
    wake: WakeConfig = Field(default_factory=WakeConfig, title="Gesture-as-wake",
                             description="Gesture opens a short listening window (no wake word needed).")
    confirm: ConfirmConfig = Field(default_factory=ConfirmConfig, title="Confirm/cancel",
                                   description="Doubtful or sensitive intents wait for yes/no.")
    image_height: int = Field(480, ge=48, le=4096, title="Camera image height (px)",
                              description="Turns a hand size in pixels into a fraction of the image height.")
    ttl_s: float = Field(5.0, gt=0, le=300, title="Intent TTL (s)",
                         description="Intents not acted on within this time after they end are stale.")

    @field_validator("gesture_intents")
    @classmethod
    def _no_empty(cls, v: dict[str, str]) -> dict[str, str]:
        if any(not k or not x for k, x in v.items()):
            raise ValueError("gesture and intent names must not be empty")
        return v

    @model_validator(mode="after")
    def _windows(self) -> FusionConfig:
        if self.wait_s > self.window_s:
            raise ValueError("wait_s must not exceed window_s")
        return self
