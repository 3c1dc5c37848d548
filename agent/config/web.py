"""Configuration of the local web page (hooked into ``AgentConfig`` as ``web:``).

The page listens on loopback by default. Listening anywhere else exposes the camera image and the privacy
switches to the network, so it needs a token (a secret read from a credentials file): the schema refuses
such a ``listen`` without ``token_file``, so ``check-config`` reports it before ``run`` would.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_LISTEN = "127.0.0.1:8780"
MIN_TOKEN_CHARS = 16


def split_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) → (host, port); ValueError says what is wrong."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8780 or [::1]:8780")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError("an IPv6 address goes in brackets: [::1]:8780")
    if not 1 <= int(port) <= 65535:
        raise ValueError("port must be 1-65535")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses; any other name or address reaches the network."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, title="Web page",
                          description="Serve the local page (status, live decisions, camera and zones, privacy "
                                      "switches, try a sentence).")
    listen: str = Field(DEFAULT_LISTEN, title="Listen address",
                        description="HOST:PORT the page is served on. Anything but loopback (127.0.0.1, ::1, "
                                    "localhost) needs token_file.")
    token_file: Path | None = Field(
        None, title="Token file",
        description=f"File holding the page's access token (at least {MIN_TOKEN_CHARS} characters, e.g. from "
                    "'openssl rand -hex 32'); relative names are looked up in $CREDENTIALS_DIRECTORY. Required "
                    "when listen is beyond loopback; with it, every request must carry the token.")

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        split_listen(v)
        return v

    @model_validator(mode="after")
    def _token_beyond_loopback(self) -> WebConfig:
        host, _ = split_listen(self.listen)
        if self.enabled and not is_loopback(host) and self.token_file is None:
            raise ValueError(f"listen {self.listen} is beyond loopback: set web.token_file to a file holding a "
                             f"secret of at least {MIN_TOKEN_CHARS} characters ('openssl rand -hex 32')")
        return self

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)
