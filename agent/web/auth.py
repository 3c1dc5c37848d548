"""Who may use the page, and protection against cross-site requests. Pure checks on request headers.

- **Host**: on loopback, only ``localhost`` / loopback addresses are accepted as the ``Host`` header, so a web
  site that re-binds its own name to 127.0.0.1 (DNS rebinding) cannot read the page.
- **Token**: listening beyond loopback needs the token of ``web.token_file``; then every request except the
  login page and its static files must carry it (``Authorization: Bearer``, or the ``homeagent_token`` cookie
  the login sets: HttpOnly, SameSite=Strict). Compared in constant time.
- **Cross-site requests**: every state-changing request (anything but GET/HEAD) needs the custom header
  ``X-Homeagent: 1`` (a cross-site page cannot send it without a CORS preflight, which is never granted) and,
  when the browser sends an ``Origin``, one whose host is the request's ``Host``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..config.loader import read_secret
from ..config.web import MIN_TOKEN_CHARS, WebConfig, is_loopback
from ..errors import ConfigError

COOKIE = "homeagent_token"
CSRF_HEADER = "X-Homeagent"
SAFE_METHODS = ("GET", "HEAD")


def load_token(cfg: WebConfig) -> str | None:
    """The token of ``web.token_file`` (None when there is none); ConfigError when unreadable or too short."""
    token = read_secret(cfg.token_file, None, "web.token_file")
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"web.token_file: the token in {cfg.token_file} is shorter than {MIN_TOKEN_CHARS} "
                          "characters; make one with 'openssl rand -hex 32'")
    if token is None and not cfg.loopback:
        raise ConfigError(f"web.listen {cfg.listen} is beyond loopback: set web.token_file")
    return token


def host_of(header: str) -> str:
    """The host part of a ``Host`` header or an origin's netloc (brackets of IPv6 removed)."""
    netloc = header.strip().lower()
    if netloc.startswith("["):
        return netloc[1:].split("]", 1)[0]
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


@dataclass(frozen=True)
class Guard:
    token: str | None
    loopback: bool

    def host_allowed(self, host_header: str) -> bool:
        """Beyond loopback the token protects the page whatever name it is reached by."""
        return not self.loopback or is_loopback(host_of(host_header))

    def authorized(self, headers: Mapping[str, str], cookie: str | None) -> bool:
        if self.token is None:
            return True
        auth = headers.get("Authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else (cookie or "")
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    def check_token(self, given: str) -> bool:
        return self.token is None or hmac.compare_digest(given.encode(), self.token.encode())

    @staticmethod
    def cross_site(method: str, headers: Mapping[str, str]) -> str | None:
        """Why a request looks cross-site (None when it is fine)."""
        if method in SAFE_METHODS:
            return None
        if headers.get(CSRF_HEADER) != "1":
            return f"missing the {CSRF_HEADER} header"
        origin = headers.get("Origin")
        if origin is not None:
            if origin == "null" or host_of(urlsplit(origin).netloc) != host_of(headers.get("Host", "")):
                return "cross-origin request"
            if urlsplit(origin).port != _port(headers.get("Host", "")):
                return "cross-origin request"
        return None


def _port(host_header: str) -> int | None:
    try:
        return urlsplit("//" + host_header.strip()).port
    except ValueError:
        return None
