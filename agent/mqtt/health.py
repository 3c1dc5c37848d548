"""What went wrong with the broker connection, said once per change and with what to do.

Security failures (a certificate the CA does not vouch for, a host name that does not match it, a missing
client certificate, refused credentials, an ACL that denies a topic) are errors an operator must fix; they are
logged at ERROR the first time and again only when the problem changes, never once per retry. A plain
refused TCP connection is an error too (the broker is down or the address is wrong).
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

from ..config.schema import MqttConfig

log = logging.getLogger(__name__)


def explain_connect_error(exc: BaseException, cfg: MqttConfig) -> str:
    """One line naming a failed connection attempt's cause and the config key to look at."""
    where = f"MQTT broker {cfg.host}:{cfg.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        what = "host name does not match its certificate" if "match" in str(exc).lower() or "hostname" in \
            str(exc).lower() else "certificate is not signed by the CA in mqtt.tls.ca_file"
        return f"{where}: TLS {what} ({exc.verify_message or exc}); fix mqtt.tls (ca_file, insecure) or mqtt.host"
    if isinstance(exc, ssl.SSLError):
        return f"{where}: TLS handshake failed ({exc.reason or exc}); check mqtt.tls and the broker's TLS listener"
    if isinstance(exc, FileNotFoundError):
        tls = cfg.tls
        files = [f for f in (tls.ca_file, tls.cert_file, tls.key_file) if f is not None] if tls else []
        missing = ", ".join(str(f) for f in files if not f.is_file()) or exc.filename or "?"
        return f"{where}: a TLS file is missing ({missing}); fix mqtt.tls.ca_file, cert_file or key_file"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where}: connection refused; is the broker running and is mqtt.host/mqtt.port right?"
    return f"{where}: cannot connect ({exc})"


def explain_refusal(reason: Any, cfg: MqttConfig) -> str:
    text = str(reason)
    hint = "check mqtt.username and mqtt.password_file" if "auth" in text.lower() or "password" in text.lower() \
        else "check the broker's configuration"
    return f"MQTT broker {cfg.host}:{cfg.port} refused the connection ({text}); {hint}"


class Health:
    """The connection's current problem; :meth:`problem` logs at ERROR only when it changes."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.denied: set[str] = set()

    def problem(self, message: str) -> None:
        if message != self.current:
            log.error("%s", message)
            self.current = message

    def ok(self) -> None:
        if self.current is not None:
            log.info("MQTT connection healthy again")
            self.current = None

    def denied_topic(self, what: str, topic: str, reason: Any) -> None:
        """The broker answered a PUBACK or SUBACK with a failure reason code (an ACL denial, a quota)."""
        key = f"{what}:{topic}:{reason}"
        if key in self.denied:
            return
        if len(self.denied) < 1000:
            self.denied.add(key)
        log.error("MQTT broker refused to %s %s (%s): the broker's ACL must allow this agent's topics "
                  "(see deploy/mosquitto/homeagent.acl)", what, topic[:120], reason)
