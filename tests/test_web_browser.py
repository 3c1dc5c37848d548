"""The local page in a real browser (Debian's headless chromium through chromedriver) against a running agent
on replay media and a real Mosquitto: live decisions appear as they are made; a zone drawn with the mouse is
saved into the config file and a replayed "turn that on" while pointing at it switches its device; the privacy
switches flip both ways between the page and MQTT; beyond loopback the page asks for its token. A screenshot
of each view is kept in tests/artifacts/."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from agent.bench import media
from agent.config.loader import load_config
from agent.config.schema import AgentConfig
from agent.config.web import WebConfig
from agent.daemon.agent import Agent
from agent.intents.publisher import Message
from agent.mqtt.broker import LocalBroker
from agent.mqtt.client import MqttClient
from agent.privacy import PrivacyController, PrivacyStore
from agent.types import VideoFrame
from agent.vision import HandTracker
from agent.vision.pointing import pointing_ray
from agent.web import DecisionLog, WebDeps, WebServer
from agent.web.auth import load_token
from agent.web.sentences import SentenceTester

from .test_fusion_agent import Inbox, _listen
from .web_support import CueAudio, CueVideo, chrome, free_port, http, screenshot, wait_for

pytestmark = pytest.mark.slow

TOKEN = "fedcba9876543210fedcba9876543210"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    b = chrome()
    try:
        yield b
    finally:
        b.quit()


def last(inbox: Inbox, topic: str) -> bytes | None:
    """The last payload ``inbox`` received on ``topic``."""
    with inbox.lock:
        got = [p for t, p in inbox.items if t == topic]
    return got[-1] if got else None


@contextmanager
def listening(cfg: AgentConfig, topics: list[str]) -> Iterator[tuple[MqttClient, Inbox]]:
    client, inbox = _listen(cfg, f"web-listener-{time.monotonic_ns()}", topics)
    try:
        yield client, inbox
    finally:
        client.stop()


@contextmanager
def running(agent: Agent) -> Iterator[str]:
    """The agent's daemon loop on a thread; yields the page's address once it answers."""
    thread = threading.Thread(target=agent.run, kwargs={"install_signals": False}, name="agent-under-test")
    thread.start()
    try:
        url = wait_for(lambda: agent.web is not None and agent.web.server is not None
                       and agent.web.server._ready.is_set() and agent.web.server.url, 30, "the page")
        assert agent.mqtt.wait_connected(10)
        yield url.replace("127.0.0.1", "localhost")
    finally:
        agent.stop()
        thread.join(15)
        assert not thread.is_alive()


def config(broker: LocalBroker, tmp_path: Path, **extra: Any) -> Path:
    data = {"site_id": "room", "state_dir": str(tmp_path / "state"), "mqtt": {"host": broker.host, "port": broker.port},
            "fusion": {"confirm": {"enabled": False}}, "web": {"listen": f"127.0.0.1:{free_port()}"}, **extra}
    path = tmp_path / "config.yaml"
    path.write_text("# written by the test; the page edits fusion.zones\n" + yaml.safe_dump(data, sort_keys=False))
    return path


def rows(browser: Any, kind: str = "") -> list[str]:
    selector = "#decisions tr.decision" + ("." + kind if kind else "")
    return [r.text for r in browser.find_elements("css selector", selector)]


def test_the_page_shows_live_decisions_and_tries_sentences(broker: LocalBroker, tmp_path: Path,
                                                           speak: Callable[..., np.ndarray], browser: Any) -> None:
    path = config(broker, tmp_path)
    audio = CueAudio()
    agent = Agent(load_config(path), audio=audio, config_path=path)
    with running(agent) as url:
        browser.get(url)
        wait_for(lambda: browser.find_elements("css selector", "#cards .card"), 20, "the status cards")
        wait_for(lambda: browser.find_element("id", "link").text == "live", 10, "the event stream")
        assert rows(browser) == []
        audio.cue(speak("turn on the lights", "en-us+m3"))  # after the page opened: pushed, not loaded
        acted = wait_for(lambda: rows(browser, "acted"), 30, "a live decision on the page")
        assert "lights_on" in acted[0] and "voice" in acted[0], acted
        cards = browser.find_element("id", "cards").text
        assert "home" in cards and "RSS" in cards and "connected" in cards, cards
        screenshot(browser, "web-status")

        browser.find_element("css selector", "nav button[data-view=sentence]").click()
        wait_for(lambda: "lights_on" in browser.find_element("id", "set-intents").text, 10, "the set's sentences")
        box = browser.find_element("id", "sentence")
        box.send_keys("Turn on the lights!")
        browser.find_element("id", "try").click()
        wait_for(lambda: "lights_on" in browser.find_element("id", "sentence-result").text, 10, "the intent")
        box.clear()
        box.send_keys("turn on the light please")
        browser.find_element("id", "try").click()
        result = wait_for(lambda: "no intent" in (t := browser.find_element("id", "sentence-result").text) and t,
                          10, "a sentence that matches nothing")
        assert "closest" in result and "lights_on" in result, result
        screenshot(browser, "web-sentence")


def _photo_frame(pattern: str) -> np.ndarray:
    photo = next(p for p in sorted((media.MEDIA / "hands").glob(pattern)))
    image = cv2.imread(str(photo))
    assert image is not None, f"{photo}: unreadable bundled photo"
    return media.hand_frame(cv2.resize(image, (220, 220)), 0.0)


def _zone_ahead_of(frame: np.ndarray, distance: float = 110.0, half: float = 45.0) -> tuple[float, float, float, float]:
    """A square (x0, y0, x1, y1) on the index finger's ray, measured with the real tracker."""
    tracker = HandTracker()
    hands = tracker.process(VideoFrame(frame, 0.0, 0)) and tracker.process(VideoFrame(frame, 0.0, 1))
    assert hands, "the bundled pointing photo must be tracked"
    origin, direction = pointing_ray(hands[0].landmarks)
    cx, cy = origin + direction * distance
    return cx - half, cy - half, cx + half, cy + half


def drag(browser: Any, canvas: Any, a: tuple[float, float], b: tuple[float, float]) -> None:
    """A mouse drag between two points given in camera-image pixels."""
    from selenium.webdriver.common.action_chains import ActionChains

    w, h = canvas.size["width"], canvas.size["height"]
    iw, ih = int(canvas.get_attribute("width")), int(canvas.get_attribute("height"))

    def offset(p: tuple[float, float]) -> tuple[int, int]:
        return round(p[0] * w / iw - w / 2), round(p[1] * h / ih - h / 2)

    (ax, ay), (bx, by) = offset(a), offset(b)
    hx, hy = (bx - ax) // 2, (by - ay) // 2
    ActionChains(browser).move_to_element_with_offset(canvas, ax, ay).click_and_hold() \
        .move_by_offset(hx, hy).move_by_offset(bx - ax - hx, by - ay - hy).release().perform()


def test_a_zone_drawn_with_the_mouse_is_saved_and_pointing_at_it_acts(
        broker: LocalBroker, tmp_path: Path, speak: Callable[..., np.ndarray], browser: Any) -> None:
    frame = _photo_frame("digit1_*.JPG")
    x0, y0, x1, y1 = _zone_ahead_of(frame)
    path = config(broker, tmp_path)
    audio, video = CueAudio(), CueVideo(frame)
    agent = Agent(load_config(path), audio=audio, video=video, config_path=path)
    with listening(agent.cfg, ["zigbee2mqtt/#"]) as (_, inbox), running(agent) as url:
        browser.get(url)
        browser.find_element("css selector", "nav button[data-view=camera]").click()
        canvas = browser.find_element("id", "zone-canvas")
        wait_for(lambda: canvas.get_attribute("width") == "640" and
                 browser.find_element("id", "camera-note").text == "", 20, "the camera snapshot")
        drag(browser, canvas, (x0, y0), (x1, y1))
        name = browser.find_element("id", "zone-name")
        wait_for(name.is_displayed, 5, "the new zone's editor")
        name.clear()
        name.send_keys("lamp\t")
        browser.find_element("id", "zone-device").send_keys("floor_lamp")
        browser.find_element("id", "zones-save").click()
        wait_for(lambda: "Saved" in browser.find_element("id", "zones-result").text, 10, "the zones saved")
        time.sleep(1.2)  # one more snapshot: the ray and the new zone together
        screenshot(browser, "web-camera")

        saved = load_config(path).fusion.zones
        assert list(saved) == ["lamp"] and saved["lamp"].device == "floor_lamp"
        xs, ys = [p[0] for p in saved["lamp"].polygon], [p[1] for p in saved["lamp"].polygon]
        assert abs(min(xs) - x0) < 6 and abs(max(xs) - x1) < 6 and abs(min(ys) - y0) < 6 and abs(max(ys) - y1) < 6
        assert "# written by the test" in path.read_text() and (tmp_path / "config.yaml.bak").exists()

        video.blank(0.5)  # the hand comes back into view while the command is said
        audio.cue(speak("turn that on", "en-us+m3"), lead_s=0.5)
        wait_for(lambda: last(inbox, "zigbee2mqtt/floor_lamp/set"), 30, "the pointed-at device switched")
        assert json.loads(last(inbox, "zigbee2mqtt/floor_lamp/set") or b"") == {"state": "ON"}
        browser.find_element("css selector", "nav button[data-view=status]").click()
        acted = wait_for(lambda: [r for r in rows(browser, "acted") if "device_on" in r], 10, "the decision")
        assert "device=floor_lamp" in acted[0] and "voice + gesture" in acted[0], acted


def test_privacy_switches_flip_both_ways_between_the_page_and_mqtt(broker: LocalBroker, tmp_path: Path,
                                                                   browser: Any) -> None:
    path = config(broker, tmp_path)
    video = CueVideo(_photo_frame("digit5_*.JPG"))
    agent = Agent(load_config(path), audio=CueAudio(), video=video, config_path=path)
    state = "homeagent/room/state/"
    with listening(agent.cfg, [state + "#"]) as (client, inbox), running(agent) as url:
        wait_for(lambda: last(inbox, state + "mute") == b"OFF", 10, "the retained mute state")
        assert agent.web is not None and agent.web.camera is not None and agent.video is not None
        wait_for(lambda: agent.video is not None and agent.video.stats.frames > 10, 10, "frames")
        assert agent.web.camera._frame is None and agent.web.camera.encoded == 0  # nobody watching: none kept
        browser.get(url)
        browser.find_element("css selector", "nav button[data-view=privacy]").click()
        mic = browser.find_element("id", "mic-muted")
        wait_for(lambda: browser.find_element("id", "link").text == "live", 10, "the event stream")
        mic.click()  # page → MQTT
        wait_for(lambda: last(inbox, state + "mute") == b"ON", 10, "mute ON published")
        assert agent.pipeline.muted.is_set()

        command = {"id": "web-test-1", "ts": time.time(), "off": True}  # MQTT (Home Assistant) → page
        client.publish(Message("homeagent/room/cmd/camera", json.dumps(command).encode()))
        camera = browser.find_element("id", "camera-off")
        wait_for(camera.is_selected, 10, "the page showing the camera off")
        assert last(inbox, state + "camera") == b"ON" or wait_for(
            lambda: last(inbox, state + "camera") == b"ON", 5, "camera state ON")
        screenshot(browser, "web-privacy")

        base = url.rstrip("/")
        assert http(base + "/api/snapshot")[1] == {"camera_off": True}  # no image shown or kept
        encoded = agent.web.camera.encoded
        browser.find_element("css selector", "nav button[data-view=camera]").click()
        wait_for(lambda: "camera is off" in browser.find_element("id", "camera-note").text, 10, "no image")
        time.sleep(1.5)
        assert agent.web.camera.encoded == encoded and agent.web.camera._frame is None

        browser.find_element("css selector", "nav button[data-view=privacy]").click()
        camera.click()  # back on from the page
        wait_for(lambda: last(inbox, state + "camera") == b"OFF", 10, "camera state OFF published")
        mic.click()
        wait_for(lambda: last(inbox, state + "mute") == b"OFF", 10, "mute OFF published")


def test_beyond_loopback_the_page_asks_for_its_token(tmp_path: Path, browser: Any) -> None:
    (tmp_path / "token").write_text(TOKEN)
    cfg = WebConfig(listen=f"0.0.0.0:{free_port()}", token_file=tmp_path / "token")
    deps = WebDeps(status=lambda: {"site_id": "den", "audio": {}, "video": None, "fusion": None, "ota": None,
                                   "broker": {"host": "h", "port": 1, "connected": False, "outbox": 0},
                                   "speech": {"commands": "home", "recognizer": "bundle", "model": "home",
                                              "generation": 0},
                                   "process": {"cpu_percent": 0, "rss_mb": 1, }, "uptime_s": 1},
                   decisions=DecisionLog(), sentences=SentenceTester("home"), zones=dict, apply_zones=lambda z: None,
                   privacy=PrivacyController(PrivacyStore(tmp_path)))
    server = WebServer(cfg, deps, load_token(cfg))
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert http(base + "/api/status")[0] == 401
        browser.delete_all_cookies()
        browser.get(base + "/")
        token = browser.find_element("id", "token")
        wait_for(token.is_displayed, 10, "the token form")
        token.send_keys("not-the-token")
        browser.find_element("css selector", "#login-form button").click()
        wait_for(lambda: "Wrong" in browser.find_element("id", "login-error").text, 10, "the refusal")
        screenshot(browser, "web-login")
        token.clear()
        token.send_keys(TOKEN)
        browser.find_element("css selector", "#login-form button").click()
        wait_for(lambda: browser.find_element("id", "site").text == "den", 10, "the status after the login")
        assert not browser.find_element("id", "login").is_displayed()
    finally:
        browser.get("about:blank")
        server.stop()
