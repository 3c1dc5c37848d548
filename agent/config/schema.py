"""The configuration schema. Every field has a title and description; unknown keys are errors.

Defaults are chosen so that ``homeagent demo`` needs no file at all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .fusion import FusionConfig
from .web import WebConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MicSource(Strict):
    type: Literal["microphone"] = Field("microphone", title="Source type", description="A live microphone.")
    device: str | int | None = Field(
        None, title="Device", description="sounddevice input name (substring) or index; null = system default.")
    block_ms: int = Field(32, ge=10, le=100, title="Block length (ms)",
                          description="Capture block length; the VAD cuts its own frames from it (silero 32 ms, "
                                      "webrtc 10/20/30 ms). 32 ms = one silero frame per wake-up.")


class WavSource(Strict):
    type: Literal["wav"] = Field("wav", title="Source type", description="Replay WAV files.")
    paths: list[Path] = Field(..., min_length=1, title="Files", description="WAV files replayed in order.")
    realtime: bool = Field(True, title="Real-time pacing",
                           description="Pace frames at real time (true) or run as fast as possible (false).")
    block_ms: int = Field(32, ge=10, le=100, title="Block length (ms)", description="Frame length delivered.")
    loop: bool = Field(False, title="Loop", description="Start again from the first file at the end.")


class CameraSource(Strict):
    type: Literal["camera"] = Field("camera", title="Source type", description="OpenCV capture.")
    device: str | int = Field(0, title="Device",
                              description="Camera index, device path, video file or stream URL.")
    width: int = Field(640, ge=64, le=4096, title="Width", description="Requested frame width in pixels.")
    height: int = Field(480, ge=48, le=4096, title="Height", description="Requested frame height in pixels.")
    max_fps: float = Field(15.0, gt=0, le=120, title="Frame-rate cap", description="Frames per second at most.")
    stale_after_s: float = Field(2.0, gt=0, le=60, title="Stale timeout (s)",
                                 description="A camera that delivers no new (different) frame for this long "
                                             "is reported as stalled.")


class ReplayVideoSource(Strict):
    type: Literal["replay"] = Field("replay", title="Source type",
                                    description="Replay a video file or a folder of images.")
    path: Path = Field(..., title="Path", description="A video file or a directory of images.")
    fps: float = Field(15.0, gt=0, le=120, title="Frame rate", description="Replay frame rate.")
    realtime: bool = Field(True, title="Real-time pacing", description="Pace frames at real time.")
    loop: bool = Field(False, title="Loop", description="Start again at the end.")


class SileroVadConfig(Strict):
    threshold: float = Field(0.5, gt=0, lt=1, title="Speech threshold",
                             description="A 32 ms chunk starts counting as speech when silero's speech "
                                         "probability reaches this (0-1; higher = fewer false alarms).")
    neg_threshold: float = Field(0.35, gt=0, lt=1, title="Release threshold",
                                 description="Once speech, chunks stay speech while the probability is at least "
                                             "this (0-1, at most threshold).")

    @model_validator(mode="after")
    def _order(self) -> SileroVadConfig:
        if self.neg_threshold > self.threshold:
            raise ValueError("neg_threshold must not exceed threshold")
        return self


class VadConfig(Strict):
    engine: Literal["webrtc", "silero"] = Field(
        "silero", title="VAD engine",
        description="Per-frame speech decision: webrtc (webrtcvad, 10-30 ms frames) or silero (silero ONNX "
                    "model, 32 ms frames, fewer false alarms on music and clatter; built by "
                    "'python -m models.speech.fetch.fetch_vad').")
    aggressiveness: int = Field(2, ge=0, le=3, title="webrtcvad aggressiveness",
                                description="0 (least) to 3 (most aggressive at filtering non-speech); engine webrtc.")
    frame_ms: Literal[10, 20, 30] = Field(30, title="VAD frame (ms)",
                                          description="webrtcvad frame length (engine silero always uses 32 ms).")
    silero: SileroVadConfig = Field(default_factory=SileroVadConfig, title="silero VAD",
                                    description="Thresholds of engine silero.")
    min_snr_db: float | None = Field(
        None, ge=0, le=40, title="Minimum frame SNR (dB)",
        description="A frame counts as speech only this far above the tracked noise floor; null = the engine's "
                    "own (6 for webrtc, which fires on clatter; 3 for silero).")
    pre_roll_ms: int = Field(300, ge=0, le=2000, title="Pre-roll (ms)",
                             description="Audio kept before speech onset.")
    hangover_ms: int = Field(400, ge=30, le=3000, title="Hangover (ms)",
                             description="Silence that ends an utterance.")
    start_ms: int = Field(90, ge=10, le=1000, title="Onset (ms)",
                          description="Speech needed within the onset window to start an utterance.")
    min_ms: int = Field(250, ge=50, le=5000, title="Minimum length (ms)",
                        description="Shorter utterances are dropped.")
    max_ms: int = Field(4000, ge=500, le=30000, title="Maximum length (ms)",
                        description="Hard end-of-speech timeout: an utterance is cut here even in a noisy room.")

    @model_validator(mode="after")
    def _order(self) -> VadConfig:
        if self.min_ms >= self.max_ms:
            raise ValueError("min_ms must be less than max_ms")
        return self


class WakePhraseConfig(Strict):
    phrase: str = Field("hey home", min_length=2, max_length=60, title="Wake phrase",
                        description="Words that open a listening window, said alone or before a command in one "
                                    "breath ('hey home turn on the lights'). 'hey home' ships trained; another "
                                    "phrase is trained from synthetic voices on first use (minutes) and cached.")
    bundle: Path | None = Field(None, title="Wake bundle",
                                description="A trained wake bundle directory (python -m "
                                            "models.speech.train.train_wake); "
                                            "null = the shipped or cached bundle of 'phrase'.")
    required: bool = Field(True, title="Wake required",
                           description="Accept commands only inside a listening window opened by the wake phrase "
                                       "or a wake gesture (fusion.wake); false = the phrase is optional.")
    window_s: float = Field(5.0, gt=0, le=60, title="Listening window (s)",
                            description="How long after the wake phrase (or a wake gesture) a command may start.")
    threshold: float | None = Field(None, gt=0, lt=1, title="Wake threshold",
                                    description="Wake-phrase score needed (0-1); null = the bundle's calibrated "
                                                "threshold (at most 0.5 false accepts per hour).")
    gestures: bool = Field(True, title="Wake gestures open the window",
                           description="A wake gesture (fusion.wake.gestures / pointing_targets) also opens the "
                                       "listening window.")
    verify: Literal["auto", "whisper", "off"] = Field(
        "auto", title="Check the wake phrase with Whisper",
        description="whisper = the wake head proposes (candidate_threshold) and the real-speech recognizer checks "
                    "that the utterance starts with the phrase (more memory unless the recognizer is already "
                    "loaded; models/speech/reports/wake.md); off = the head alone at 'threshold'; auto = whisper "
                    "when its "
                    "model is built (python -m models.speech.fetch.fetch_asr), else off.")
    candidate_threshold: float | None = Field(None, gt=0, lt=1, title="Wake candidate threshold",
                                              description="Head score that sends an utterance to the check; "
                                                          "null = 0.3.")
    verify_margin: float | None = Field(None, gt=0, le=10, title="Wake check margin (nats)",
                                        description="Accept when the phrase is at most this much less likely (log "
                                                    "scale) than Whisper's own reading of the utterance's start; "
                                                    "null = 3.0 (set on held-out synthetic voices).")

    @field_validator("phrase")
    @classmethod
    def _words(cls, v: str) -> str:
        words = v.lower().split()
        if not 1 <= len(words) <= 5 or not all(w.replace("'", "").isalpha() for w in words):
            raise ValueError("must be 1-5 words of letters (e.g. 'hey home')")
        return " ".join(words)


class EarlyEndConfig(Strict):
    enabled: bool = Field(True, title="Early end of utterance",
                          description="End an utterance at a short pause, before the VAD hangover, when the "
                                      "recognizer heard a whole sentence of the set that no other sentence goes on "
                                      "from (sentence sets on the whisper recognizer; a sentence that can go on "
                                      "waits for the hangover). Off with a wake phrase.")
    pause_ms: int = Field(64, ge=30, le=3000, title="Pause (ms)",
                          description="Silence inside an utterance after which the recognizer tries the "
                                      "utterance so far (once per pause); at or above vad.hangover_ms it never "
                                      "comes first.")
    confidence: float = Field(0.9, ge=0.5, le=1.0, title="Confidence",
                              description="The joint confidence of the intent with its slots that ending early "
                                          "needs (a lower one waits for the hangover).")


class SpeechConfig(Strict):
    commands: str = Field("home", title="Command set",
                          description="Built-in command set name or a path to a command-set bundle directory.")
    threshold: float | None = Field(None, ge=0, le=1, title="Threshold",
                                    description="Accept threshold; null = the model's calibrated threshold.")
    int8: bool = Field(True, title="int8 frontend", description="Use the int8 speech-embedding model.")
    recognizer: Literal["auto", "bundle", "whisper"] = Field(
        "bundle", title="Recognizer",
        description="auto = the best on real voices without training on the device: whisper for sets of "
                    "sentences, bundle for single words (models/speech/reports/real_sentences.md); "
                    "bundle = the set's trained bundle (an intent head on the speech embeddings, the cheapest); "
                    "whisper = decode the set's sentences with the real-speech recognizer "
                    "(Whisper tiny.en, int8; nothing trained; more accurate on real voices for sentences "
                    "and slots, at more memory and time per utterance: models/speech/reports/asr.md). "
                    "'commands' is then a set name or a command-set YAML path.")
    early_end: EarlyEndConfig = Field(default_factory=EarlyEndConfig, title="Early end of utterance",
                                      description="Ending an utterance as soon as the recognizer knows it is "
                                                  "whole (models/speech/reports/endpointing.md).")
    wake: WakePhraseConfig | None = Field(None, title="Wake phrase",
                                          description="Wake phrase settings; null = no wake phrase (every command "
                                                      "is accepted, as before).")


class TlsConfig(Strict):
    ca_file: Path | None = Field(None, title="CA file", description="PEM CA bundle to verify the broker.")
    cert_file: Path | None = Field(None, title="Client certificate", description="PEM client certificate.")
    key_file: Path | None = Field(None, title="Client key", description="PEM client private key.")
    insecure: bool = Field(False, title="Skip hostname check", description="Do not verify the broker hostname.")


class MqttConfig(Strict):
    host: str = Field("127.0.0.1", min_length=1, title="Broker host", description="MQTT broker host name.")
    port: int = Field(1883, ge=1, le=65535, title="Broker port", description="MQTT broker TCP port (1-65535).")
    client_id: str | None = Field(None, title="Client id", description="null = homeagent-<site_id>.")
    username: str | None = Field(None, title="Username", description="Broker user name.")
    password_file: Path | None = Field(
        None, title="Password file",
        description="File holding the broker password (relative names are looked up in $CREDENTIALS_DIRECTORY).")
    password_env: str | None = Field(None, title="Password variable",
                                     description="Environment variable holding the broker password.")
    tls: TlsConfig | None = Field(None, title="TLS", description="Enable TLS with these files.")
    keepalive_s: int = Field(30, ge=5, le=3600, title="Keep-alive (s)", description="MQTT keep-alive.")
    ack_timeout_s: float = Field(
        3.0, ge=0.2, le=60, title="Stall timeout (s)",
        description="A message the broker has not acknowledged within this time marks the connection as "
                    "stalled: it is reset (what it still held is never delivered late) and made anew; only "
                    "messages still before their deadline are sent again.")
    topic_prefix: str = Field("homeagent", min_length=1, title="Topic prefix",
                              description="Intents go to <prefix>/<site_id>/intent/<name>.")
    hermes: bool = Field(True, title="Hermes topics", description="Also publish hermes/intent/<name>.")
    arbitration_window_s: float | None = Field(
        None, ge=0.05, le=5, title="Arbitration window (s)",
        description="With several agents in earshot: only the best candidate within this window acts; "
                    "null = off. Needs arbitration_key_file.")
    arbitration_key_file: Path | None = Field(
        None, title="Arbitration key file",
        description="File holding the per-home secret (at least 16 bytes, the same on every agent, e.g. from "
                    "'openssl rand -hex 32') that authenticates arbitration candidates: a candidate steers "
                    "other agents. Relative names are looked up in $CREDENTIALS_DIRECTORY.")
    intent_acks: bool = Field(
        False, title="Intents acknowledged",
        description="An intent executor acknowledges each intent on <prefix>/<site>/intent_ack (the automation "
                    "bridge, broker user homeagent-executor): the agent then resends each intent until it is "
                    "acknowledged or stale, the end-to-end path 'homeagent bench mqtt' measures (no loss when "
                    "the broker dies after its PUBACK). Leave off without an executor: no ack would come.")
    intent_ttl_s: float = Field(5.0, gt=0, le=300, title="Intent TTL (s)",
                                description="An intent not delivered within this time is dropped, not sent.")
    outbox_size: int = Field(100, ge=1, le=100000, title="Outbox size",
                             description="Messages kept while the broker is unreachable.")
    reconnect_min_s: float = Field(0.5, gt=0, le=60, title="Reconnect min delay (s)",
                                   description="First reconnect delay; doubles up to the max.")
    reconnect_max_s: float = Field(10.0, gt=0, le=600, title="Reconnect max delay (s)",
                                   description="Cap of the exponential reconnect backoff.")

    @model_validator(mode="after")
    def _arbitration_is_authenticated(self) -> MqttConfig:
        if self.arbitration_window_s is not None and self.arbitration_key_file is None:
            raise ValueError("arbitration_window_s needs arbitration_key_file: candidates steer other agents, so "
                             "they are authenticated with a per-home secret")
        return self

    @field_validator("topic_prefix")
    @classmethod
    def _no_wildcards(cls, v: str) -> str:
        if any(c in v for c in "+#") or v.startswith("/") or v.endswith("/"):
            raise ValueError("must not contain '+' or '#' nor start/end with '/'")
        return v


class OtaConfig(Strict):
    public_key_file: Path | None = Field(
        None, title="Trusted public key",
        description="Ed25519 public key (PEM) that model bundles must be signed with; null = OTA off.")
    store_dir: Path | None = Field(None, title="Model store",
                                   description="Versioned model slots; null = <state_dir>/models.")
    auto_install: bool = Field(False, title="Auto install",
                               description="Install announced updates without waiting for the install button.")
    max_bytes: int = Field(64 << 20, ge=1 << 16, le=1 << 31, title="Download cap (bytes)",
                           description="Largest bundle accepted.")
    confirm_after_s: float = Field(
        60.0, ge=1, le=86400, title="Confirm after (s)",
        description="A model switched to but not yet confirmed (the daemon was stopped in between) is confirmed "
                    "after the daemon has run healthy this long; until then each boot counts towards the "
                    "crash-loop rollback.")


class VisionConfig(Strict):
    landmarks: Literal["full", "lite"] = Field(
        "lite", title="Hand landmark model",
        description="lite (default): MediaPipe's lite landmark model (int8), sized for Pi-class CPUs; full: its "
                    "full model, a little more accurate for more CPU per tracked frame.")
    small_hands: bool = Field(
        True, title="Find small hands",
        description="When no hand is tracked and the full-frame look finds none, look once more, zoomed, where "
                    "something hand-sized moved: finds hands of 30-80 px in a 640x480 frame (2-4 m from the "
                    "camera) that the full-frame look misses, for one more palm detection on such looks and none "
                    "while a hand is tracked. false: full-frame looks only.")


class HomeAssistantConfig(Strict):
    discovery: bool = Field(True, title="MQTT discovery",
                            description="Announce the agent to Home Assistant (device-based discovery).")
    url: str | None = Field(
        None, title="Home Assistant URL",
        description="e.g. http://homeassistant.local:8123: the action map's 'hass' rules hand intents to Home "
                    "Assistant's own intent handling there (HassTurnOn, HassTurnOff, HassLightSet by entity "
                    "name and area: no YAML on the Home Assistant side); null = off.")
    token_file: Path | None = Field(
        None, title="Access token file",
        description="File holding a long-lived access token (Home Assistant: profile, security); relative "
                    "names are looked up in $CREDENTIALS_DIRECTORY.")
    token_env: str | None = Field(None, title="Access token variable",
                                  description="Environment variable holding the long-lived access token.")
    timeout_s: float = Field(5.0, gt=0, le=60, title="Request timeout (s)",
                             description="One intent request to Home Assistant gives up after this long.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", v):
            raise ValueError("must be an http:// or https:// URL such as http://homeassistant.local:8123")
        return v.rstrip("/") if v is not None else None

    @model_validator(mode="after")
    def _token_given(self) -> HomeAssistantConfig:
        if self.url is not None and self.token_file is None and self.token_env is None:
            raise ValueError("url needs token_file or token_env (a long-lived access token)")
        return self


class AgentConfig(Strict):
    site_id: str = Field("default", pattern=r"^[A-Za-z0-9_-]{1,64}$", title="Site id",
                         description="This agent's name: letters, digits, '_' and '-' (1-64 chars).")
    audio: MicSource | WavSource | None = Field(
        None, discriminator="type", title="Audio source",
        description="type: microphone | wav; null = no audio.")
    video: CameraSource | ReplayVideoSource | None = Field(
        None, discriminator="type", title="Video source", description="type: camera | replay; null = no video.")
    vision: VisionConfig = Field(default_factory=VisionConfig, title="Vision",
                                 description="Hand tracking and gesture models.")
    vad: VadConfig = Field(default_factory=VadConfig, title="VAD and segmenter",
                           description="Voice activity detection and utterance segmentation.")
    speech: SpeechConfig = Field(default_factory=SpeechConfig, title="Speech",
                                 description="Spoken command recognition.")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, title="MQTT",
                             description="Broker connection and topics.")
    source_retry_s: float = Field(
        120.0, ge=1, le=86400, title="Lost device retry (s)",
        description="How long a lost microphone or camera is retried (every 2 s) before the daemon exits with an "
                    "error, so that systemd restarts it; a looping replay whose files are gone counts as lost.")
    state_dir: Path = Field(Path("/var/lib/homeagent"), title="State directory",
                            description="Persistent state (privacy switches, model store).")
    fusion: FusionConfig = Field(default_factory=FusionConfig, title="Fusion",
                                 description="Late fusion of speech and gestures (zones, deixis, confirm, wake).")
    actions: Path | None = Field(None, title="Action map",
                                 description="YAML mapping intents to MQTT actions; null = the built-in example.")
    ota: OtaConfig = Field(default_factory=OtaConfig, title="Model updates",
                           description="Signed over-the-air model updates.")
    home_assistant: HomeAssistantConfig = Field(default_factory=HomeAssistantConfig, title="Home Assistant",
                                                description="Home Assistant integration.")
    web: WebConfig = Field(default_factory=WebConfig, title="Web page",
                           description="The local page served by the daemon (see web.listen, web.token_file).")
