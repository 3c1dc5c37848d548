"""The Home Assistant side of the agent: discovery, entity states, privacy switches, commands, OTA.

Wiring (in the app)::

    bridge = HomeAssistantBridge(mqtt, cfg.mqtt.topic_prefix, cfg.site_id, privacy=privacy, ota=manager,
                                 intents=[...command names...], gestures=[...], reload=reload_models)
    bridge.start()                      # before mqtt.start(): (re)announces on every connect
    pipeline.on_intent.append(bridge.publish_intent)
    ...
    bridge.stop()                       # before mqtt.stop(); bridge.remove() only when uninstalling

Discovery is re-announced on every (re)connect and whenever ``homeassistant/status`` says ``online``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, Protocol

from ..errors import AgentError
from ..intents.publisher import Message
from ..privacy import PrivacyController, PrivacyState
from ..ratelog import RateLimitedLog, short
from ..types import GestureEvent, Intent
from . import discovery as d
from .client import MqttClient
from .commands import Command, CommandRouter

log = logging.getLogger(__name__)


STATUS_DEBOUNCE_S = 2.0  # HA's 'online' re-announces discovery at most this often

class UpdateSource(Protocol):
    """What the bridge needs from :class:`agent.ota.manager.UpdateManager`."""

    def ha_state(self) -> bytes: ...

    def install_latest(self) -> Any: ...

    def handle_announcement(self, raw: bytes) -> Any: ...


class HomeAssistantBridge:
    def __init__(self, client: MqttClient, prefix: str, site_id: str, *, intents: list[str],
                 gestures: list[str], privacy: PrivacyController | None = None, ota: UpdateSource | None = None,
                 reload: Callable[[], None] | None = None, event_ttl_s: float = 5.0) -> None:
        self.client = client
        self.prefix = prefix
        self.site_id = site_id
        self.base = d.base_topic(prefix, site_id)
        self.intents = intents
        self.gestures = gestures
        self.privacy = privacy
        self.ota = ota
        self.reload = reload
        self.event_ttl_s = event_ttl_s
        handlers: dict[str, Callable[[Command], object]] = {}
        if privacy is not None:
            handlers["mute"] = lambda c: privacy.set_mic_muted(bool(c.args["on"]))
            handlers["camera"] = lambda c: privacy.set_camera_off(bool(c.args["off"]))
            privacy.listeners.append(self._publish_privacy)
        if reload is not None:
            handlers["reload"] = lambda c: reload()
        if ota is not None:
            handlers["ota_install"] = lambda c: self._start_install()
        self.commands = CommandRouter(prefix, site_id, handlers)
        self._install_lock = threading.Lock()
        self._install_thread: threading.Thread | None = None
        self.announcements = 0
        self._last_refusal = ""
        self._ratelog = RateLimitedLog(log)
        self._last_status_announce = -STATUS_DEBOUNCE_S
        self._announce_lock = threading.Lock()
        self._next_announcement: bytes | None = None
        self._announce_thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.commands.start()
        self.client.subscribe(f"{self.base}/cmd/+", self._on_command)
        self.client.subscribe(d.HA_STATUS_TOPIC, self._on_ha_status)
        if self.ota is not None:
            self.client.subscribe(f"{self.base}/{d.T_OTA_ANNOUNCE}", self._on_announcement)
        self.client.on_connected.append(self.announce)
        if self.client.connected.is_set():
            self.announce()

    def stop(self) -> None:
        if self._announce_thread is not None:
            self._announce_thread.join(5.0)
        if self.announce in self.client.on_connected:
            self.client.on_connected.remove(self.announce)
        self.commands.stop()
        if self._install_thread is not None:
            self._install_thread.join(5.0)

    # discovery -------------------------------------------------------------------------------------------
    def discovery(self) -> dict[str, Any]:
        return d.discovery_payload(self.prefix, self.site_id, intents=self.intents, gestures=self.gestures,
                                   with_update=self.ota is not None)

    def announce(self) -> None:
        """Publish the discovery config and every retained state (HA may have restarted)."""
        self.announcements += 1
        self._pub(d.discovery_topic(self.site_id), d.encode(self.discovery()), retain=True)
        if self.privacy is not None:
            self._publish_privacy(self.privacy.state)
        self.publish_update_state()

    def remove(self, *, clear_state: bool = True) -> None:
        """Remove the device from HA (empty retained config) and, by default, its retained states."""
        self._pub(d.discovery_topic(self.site_id), b"", retain=True)
        if clear_state:
            for t in (d.T_MUTE_STATE, d.T_CAMERA_STATE, d.T_UPDATE_STATE, d.T_LAST):
                self._pub(f"{self.base}/{t}", b"", retain=True)

    # states / events -------------------------------------------------------------------------------------
    def publish_intent(self, intent: Intent, latency_ms: float | None = None) -> None:
        """Event entity + last-intent sensors. Use as ``pipeline.on_intent`` listener."""
        if latency_ms is None:
            latency_ms = max(0.0, (time.time() - intent.wall_end) * 1000.0)
        if self._announced(intent.name, self.intents, "intent"):
            event = {"event_type": intent.name, "id": intent.id, "confidence": round(intent.confidence, 4),
                     "slots": dict(intent.slots), "modalities": list(intent.modalities)}
            self._pub(f"{self.base}/{d.T_INTENT_EVENT}", json.dumps(event).encode(),
                      expires_at=intent.expires_at_wall())
        last = {"name": intent.name, "confidence": round(intent.confidence * 100.0, 1),
                "latency_ms": round(latency_ms, 1)}
        self._pub(f"{self.base}/{d.T_LAST}", json.dumps(last).encode(), retain=True)

    def _announced(self, name: str, names: list[str], kind: str) -> bool:
        """Home Assistant's event entity refuses (and logs) any event type its discovery did not list."""
        if name in names:
            return True
        self._ratelog.log(f"unlisted {kind}", logging.INFO, "%s %s is not among the event types announced to "
                          "Home Assistant: no event sent (the last-intent sensors still show it)", kind, short(name))
        return False

    def publish_gesture(self, ev: GestureEvent) -> None:
        if not self._announced(ev.gesture, self.gestures, "gesture"):
            return
        event = {"event_type": ev.gesture, "score": round(ev.score, 4)}
        if ev.pointing_target:
            event["target"] = ev.pointing_target
        self._pub(f"{self.base}/{d.T_GESTURE_EVENT}", json.dumps(event).encode(),
                  expires_at=time.time() + self.event_ttl_s)

    def publish_update_state(self, *_: Any) -> None:
        if self.ota is not None:
            self._pub(f"{self.base}/{d.T_UPDATE_STATE}", self.ota.ha_state(), retain=True)

    def on_ota_event(self, event: Any) -> None:
        """Use as ``UpdateManager.listener``: the event goes to ``~/ota/event``, the entity state is refreshed."""
        payload = event.to_payload() if hasattr(event, "to_payload") else {"state": str(event)}
        self._pub(f"{self.base}/{d.T_OTA_EVENT}", json.dumps(payload).encode(), expires_at=time.time() + 60)
        self.publish_update_state()

    def _publish_privacy(self, state: PrivacyState) -> None:
        self._pub(f"{self.base}/{d.T_MUTE_STATE}", d.switch_state(state.mic_muted), retain=True)
        self._pub(f"{self.base}/{d.T_CAMERA_STATE}", d.switch_state(state.camera_off), retain=True)

    def _pub(self, topic: str, payload: bytes, *, retain: bool = False, expires_at: float | None = None) -> None:
        self.client.publish(Message(topic, payload, qos=1, retain=retain, expires_at=expires_at))

    # incoming --------------------------------------------------------------------------------------------
    def _on_ha_status(self, topic: str, payload: bytes, retained: bool, props: Any) -> None:
        now = time.monotonic()
        if payload.strip() == b"online" and now - self._last_status_announce >= STATUS_DEBOUNCE_S:
            self._last_status_announce = now  # a flood of "online" must not make us re-announce each time
            log.info("Home Assistant is online: re-announcing discovery")
            self.announce()

    def _on_announcement(self, topic: str, payload: bytes, retained: bool, props: Any) -> None:
        """Retained is fine here: an announcement is state (what is available), not a command. Only the latest
        one matters: a flood is handled by one worker that always takes the newest."""
        if not payload:  # the release server cleared its retained announcement
            return
        with self._announce_lock:
            self._next_announcement = payload
            busy = self._announce_thread is not None and self._announce_thread.is_alive()
            if not busy:
                self._announce_thread = threading.Thread(target=self._announcements, name="ota-announce",
                                                         daemon=True)
                self._announce_thread.start()

    def _announcements(self) -> None:
        while True:
            with self._announce_lock:
                payload, self._next_announcement = self._next_announcement, None
                if payload is None:
                    return
            self._announce(payload)

    def _announce(self, payload: bytes) -> None:
        assert self.ota is not None
        try:
            self.ota.handle_announcement(payload)
        except AgentError as exc:  # PayloadError / BundleError: refused, reported, nothing installed
            message = short(str(exc), 300)
            if message != self._last_refusal:  # a flood of the same bad announcement is reported once
                self._last_refusal = message
                self._ratelog.log("announcement", logging.WARNING, "update announcement refused: %s", message)
                failed = {"state": "failed", "message": message}
                self.on_ota_event(SimpleNamespace(to_payload=lambda: failed))
            return
        self.publish_update_state()

    def _on_command(self, topic: str, payload: bytes, retained: bool, props: Any) -> None:
        if topic.endswith("/" + d.T_UPDATE_CMD):  # HA's update entity sends a constant payload
            if retained or payload != d.UPDATE_INSTALL_PAYLOAD.encode():
                self._ratelog.log("install payload", logging.WARNING, "ignored %s message on %s",
                                  "retained" if retained else "unexpected", short(topic))
                return
            self._start_install()
            return
        self.commands.handle(topic, payload, retained, props)

    def _start_install(self) -> None:
        if self._install_thread is not None and self._install_thread.is_alive():
            self._ratelog.log("install busy", logging.WARNING, "an update install is already running")
            return
        self._run_ota(lambda _: self._install(), b"")

    def _run_ota(self, job: Callable[[bytes], None], payload: bytes) -> None:
        """OTA work runs on its own thread: a download must not hold up MQTT or the privacy commands."""
        if self.ota is not None:
            self._install_thread = threading.Thread(target=job, args=(payload,), name="ota-job", daemon=True)
            self._install_thread.start()

    def _install(self) -> None:
        if not self._install_lock.acquire(blocking=False):
            log.warning("an update install is already running")
            return
        try:
            assert self.ota is not None
            self.ota.install_latest()
        except AgentError as exc:  # nothing announced, a bad bundle, the network: reported on the update entity
            self._ratelog.log("install failed", logging.ERROR, "update install failed: %s", short(str(exc), 300))
        except Exception:  # a bug: with its traceback
            log.exception("update install failed")
        finally:
            self._install_lock.release()
            self.publish_update_state()
