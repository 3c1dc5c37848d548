"""The local web page served by the daemon: status, live decisions, camera and zones, privacy, try a sentence.

The daemon wires it (``agent.daemon.web_wiring``): decisions reach the page through :class:`DecisionLog`
(fusion and the voice path call it; nothing here is imported by them), camera frames through
:class:`CameraView` (kept only while a page is watching), and the page acts through the same
:class:`~agent.privacy.PrivacyController` as the Home Assistant switches. No audio ever reaches this room.
"""

from .camera import CameraView
from .decisions import DecisionLog
from .deps import WebDeps
from .server import WebServer

__all__ = ["CameraView", "DecisionLog", "WebDeps", "WebServer"]
