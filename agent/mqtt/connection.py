"""The paho client of one connection (MQTT 5, last will, credentials, TLS) and small socket and topic helpers."""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
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


def reset(sock: Any) -> None:
    """Abort a stalled connection with a TCP reset (SO_LINGER 0): the bytes still queued on it, here or in the
    broker's receive buffer, are discarded instead of being delivered when the broker wakes up."""
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except (OSError, AttributeError):
        pass


def step(client: paho.Client, wake_r: socket.socket | None, timeout: float) -> paho.MQTTErrorCode:
    """One turn of the network loop: wait up to ``timeout`` for the socket or a wake-up, then read, write
    and run paho's housekeeping (keep-alive pings, retries)."""
    sock = client.socket()
    if sock is None:
        return paho.MQTT_ERR_NO_CONN
    pending = sock.pending() if hasattr(sock, "pending") else 0  # TLS bytes already decrypted
    rlist: list[Any] = [sock] if wake_r is None else [sock, wake_r]
    wlist: list[Any] = [sock] if client.want_write() else []
    try:
        readable, _, _ = select.select(rlist, wlist, [], 0.0 if pending else timeout)
    except (OSError, ValueError, TypeError):  # socket closed under us: the connection is gone
        return paho.MQTT_ERR_CONN_LOST
    if wake_r is not None and wake_r in readable:
        with contextlib.suppress(OSError):
            wake_r.recv(4096)
    if sock in readable or pending:
        rc = client.loop_read()
        if rc != paho.MQTT_ERR_SUCCESS:
            return rc
    if client.want_write():
        rc = client.loop_write()
        if rc != paho.MQTT_ERR_SUCCESS:
            return rc
    return client.loop_misc()


def drain(client: paho.Client, limit: int = 64) -> paho.MQTTErrorCode:
    """Read every packet already received (paho's loop reads one per call), so a burst is handled as one."""
    rc = paho.MQTT_ERR_SUCCESS
    for _ in range(limit):
        sock = client.socket()
        if sock is None:
            break
        pending = sock.pending() if hasattr(sock, "pending") else 0
        if not pending and not select.select([sock], [], [], 0)[0]:
            break
        rc = client.loop_read()
        if rc != paho.MQTT_ERR_SUCCESS:
            break
    return rc


def close_sockets_of(exc: BaseException) -> None:
    """Close the sockets a failed ``connect`` left open: paho drops a TLS socket whose handshake failed without
    closing it (it would leak one descriptor per retry until garbage collection)."""
    tb = exc.__traceback__
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            if isinstance(value, socket.socket):
                with contextlib.suppress(OSError):
                    value.close()
        tb = tb.tb_next
