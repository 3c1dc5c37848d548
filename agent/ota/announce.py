"""Pure builders and parsers for update delivery over MQTT (no paho here; ``agent/mqtt`` publishes them).

- :func:`parse_announcement` reads the retained message a release server publishes on the announce topic:
  strict JSON, at most :data:`MAX_ANNOUNCEMENT_BYTES`, known keys only. It carries the bundle's signed
  ``bundle.json`` (``envelope``): the update manager believes an announcement only once that signature checks
  out and its name and versions are the signed ones (anyone on the broker could announce otherwise).
- :func:`update_state_payload` builds the JSON state of a Home Assistant MQTT ``update`` entity.
- :func:`update_discovery_config` builds its discovery config (install button → ``payload_install``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import BundleError, PayloadError
from .manifest import strict_loads

MAX_ANNOUNCEMENT_BYTES = 16 * 1024
HA_SUMMARY_MAX = 255
PAYLOAD_INSTALL = "install"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ALLOWED = {"name", "version", "human_version", "url", "size", "sha256", "release_summary", "release_url",
            "title", "envelope"}
MAX_ENVELOPE_CHARS = 12 * 1024


@dataclass(frozen=True)
class Announcement:
    name: str
    version: int
    human_version: str
    url: str
    size: int | None = None
    sha256: str | None = None
    release_summary: str = ""
    release_url: str | None = None
    title: str | None = None
    envelope: str | None = None  # the bundle's signed bundle.json, as text

    def to_payload(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "version": self.version, "human_version": self.human_version,
                             "url": self.url, "release_summary": self.release_summary}
        for k in ("size", "sha256", "release_url", "title", "envelope"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return d

    @classmethod
    def from_payload(cls, d: Any) -> Announcement:
        return parse_announcement(json.dumps(d).encode())


def parse_announcement(raw: bytes) -> Announcement:
    """Parse an announcement. Raises PayloadError naming the problem."""
    try:
        d = strict_loads(raw, "announcement", MAX_ANNOUNCEMENT_BYTES)
    except BundleError as exc:
        raise PayloadError(str(exc)) from exc
    if not isinstance(d, dict):
        raise PayloadError("announcement must be a JSON object")
    unknown = set(d) - _ALLOWED
    missing = {"name", "version", "human_version", "url"} - set(d)
    if unknown or missing:
        raise PayloadError(f"announcement has unknown keys {sorted(unknown)} / misses {sorted(missing)}")
    v = d["version"]
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise PayloadError("announcement 'version' must be a positive integer")
    for k in ("name", "human_version", "url"):
        if not isinstance(d[k], str) or not d[k] or len(d[k]) > 2048:
            raise PayloadError(f"announcement {k!r} must be a non-empty string")
    if not d["url"].startswith(("http://", "https://")):
        raise PayloadError("announcement 'url' must be http:// or https://")
    size = d.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
        raise PayloadError("announcement 'size' must be a positive integer")
    sha = d.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not _SHA256.match(sha)):
        raise PayloadError("announcement 'sha256' must be 64 lowercase hex digits")
    for k in ("release_summary", "release_url", "title", "envelope"):
        if k in d and not isinstance(d[k], str):
            raise PayloadError(f"announcement {k!r} must be a string")
    if len(d.get("envelope", "")) > MAX_ENVELOPE_CHARS:
        raise PayloadError(f"announcement 'envelope' is over {MAX_ENVELOPE_CHARS} characters")
    return Announcement(name=d["name"], version=v, human_version=d["human_version"], url=d["url"], size=size,
                        sha256=sha, release_summary=d.get("release_summary", ""),
                        release_url=d.get("release_url"), title=d.get("title"), envelope=d.get("envelope"))


def update_state_payload(*, installed_version: str | None, latest_version: str | None, title: str,
                         release_summary: str = "", release_url: str | None = None,
                         in_progress: bool = False, update_percentage: int | None = None) -> bytes:
    """JSON state for Home Assistant's MQTT ``update`` entity (its ``state_topic``)."""
    d: dict[str, Any] = {
        "installed_version": installed_version,
        "latest_version": latest_version if latest_version is not None else installed_version,
        "title": title,
        "release_summary": release_summary[:HA_SUMMARY_MAX],
        "in_progress": in_progress,
    }
    if release_url:
        d["release_url"] = release_url
    if update_percentage is not None:
        d["update_percentage"] = max(0, min(100, update_percentage))
    return json.dumps(d, separators=(",", ":")).encode()


def update_discovery_config(*, node_id: str, model_name: str, state_topic: str, command_topic: str,
                            availability_topic: str, device: dict[str, Any]) -> bytes:
    """Discovery config for ``homeassistant/update/<node_id>/<model_name>/config``."""
    d = {
        "name": f"{model_name} model",
        "unique_id": f"{node_id}_{model_name}_model_update",
        "device_class": "firmware",
        "state_topic": state_topic,
        "command_topic": command_topic,
        "payload_install": PAYLOAD_INSTALL,
        "availability_topic": availability_topic,
        "entity_category": "config",
        "device": device,
    }
    return json.dumps(d, separators=(",", ":")).encode()
