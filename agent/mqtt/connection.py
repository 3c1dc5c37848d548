"""The paho client of one connection (MQTT 5, last will, credentials, TLS) and small socket and topic helpers."""

from __future__ import annotations

import socket
import ssl
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..config.schema import MqttConfig


def make_paho(cfg: MqttConfig, client_id: str, password: str | None, availability: str,
              connect_timeout_s: float) -> paho.Client:
    """A fresh paho client (v2 callbacks, MQTT 5) with the retained ``offline`` will on ``availability``."""
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    c.connect_timeout = connect_timeout_s  # TCP connect (and TLS handshake) must not hang stop()
    c.will_set(availability, b"offline", qos=1, retain=True)
    if cfg.username is not None:
        c.username_pw_set(cfg.username, password)
    tls = cfg.tls
    if tls is not None:
        c.tls_set(ca_certs=str(tls.ca_file) if tls.ca_file else None,
                  certfile=str(tls.cert_file) if tls.cert_file else None,
                  keyfile=str(tls.key_file) if tls.key_file else None, cert_reqs=ssl.CERT_REQUIRED)
        c.tls_insecure_set(tls.insecure)
    return c


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT wildcard match (``+``, ``#``)."""
    return bool(paho.topic_matches_sub(pattern, topic))


def message_expiry(props: Any) -> int | None:
    """The MQTT 5 Message Expiry Interval (seconds left) of a received message, or None."""
    value = getattr(props, "MessageExpiryInterval", None)
    return int(value) if isinstance(value, int) else None


def cork(sock: Any, on: bool) -> bool:
    """Linux TCP_CORK: hold partial segments while a burst is written. False when not available."""
    if sock is None or not hasattr(socket, "TCP_CORK"):
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1 if on else 0)
    except (OSError, AttributeError):
        return False
    return True


def expiry_properties(seconds_left: float) -> Properties:
    """PUBLISH properties carrying an MQTT 5 Message Expiry Interval (whole seconds, at least 1)."""
    props = Properties(PacketTypes.PUBLISH)
    props.MessageExpiryInterval = max(1, int(seconds_left))
    return props
