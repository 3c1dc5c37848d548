"""Download a bundle over HTTP(S) with a size cap, a total deadline and a per-read timeout.

The bytes are untrusted until the bundle verifies; these limits only stop a hostile or broken server from
filling the disk or hanging the updater (an endless body, a slow drip, a stalled connection).
"""

from __future__ import annotations

import hashlib
import logging
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..errors import BundleError
from .fsutil import fsync_dir

log = logging.getLogger(__name__)

_CHUNK = 1 << 16


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int = 64 * 1024 * 1024
    total_timeout_s: float = 300.0
    read_timeout_s: float = 20.0
    cafile: str | None = None  # extra CA bundle for a private release server (HTTPS is always verified)


Progress = Callable[[int, int | None], None]


def is_url(source: str) -> bool:
    return urlparse(source).scheme in ("http", "https")


def fetch(url: str, dest: Path, limits: FetchLimits = FetchLimits(), *, expected_size: int | None = None,
          expected_sha256: str | None = None, progress: Progress | None = None) -> Path:
    """Stream ``url`` into ``dest`` (via ``dest.part``). Raises BundleError on any limit or HTTP error."""
    if not is_url(url):
        raise BundleError(f"refusing to fetch {url!r}: only http:// and https:// URLs are supported")
    cap = limits.max_bytes if expected_size is None else min(limits.max_bytes, expected_size)
    deadline = time.monotonic() + limits.total_timeout_s
    part = dest.with_name(dest.name + ".part")
    req = urllib.request.Request(url, headers={"User-Agent": "homeagent-ota", "Accept-Encoding": "identity"})
    h = hashlib.sha256()
    total = 0
    try:
        ctx = ssl.create_default_context(cafile=limits.cafile) if url.startswith("https:") else None
        with urllib.request.urlopen(req, timeout=limits.read_timeout_s, context=ctx) as resp, \
                open(part, "wb") as out:
            length = resp.headers.get("Content-Length")
            declared = int(length) if length and length.isdigit() else None
            if declared is not None and declared > cap:
                raise BundleError(f"download of {url} is {declared} bytes, over the {cap}-byte cap: refused")
            while True:
                if time.monotonic() > deadline:
                    raise BundleError(f"download of {url} took longer than {limits.total_timeout_s:g} s: "
                                      f"aborted after {total} bytes")
                chunk = resp.read1(_CHUNK) if hasattr(resp, "read1") else resp.read(_CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total > cap:
                    raise BundleError(f"download of {url} exceeded the {cap}-byte cap: aborted")
                h.update(chunk)
                out.write(chunk)
                if progress:
                    progress(total, declared)
            out.flush()
            os.fsync(out.fileno())
    except BundleError:
        part.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise BundleError(f"download of {url} failed after {total} bytes: {exc}") from exc
    if expected_size is not None and total != expected_size:
        part.unlink(missing_ok=True)
        raise BundleError(f"download of {url} is {total} bytes, the announcement said {expected_size}")
    if expected_sha256 is not None and h.hexdigest() != expected_sha256.lower():
        part.unlink(missing_ok=True)
        raise BundleError(f"download of {url} does not match the announced sha256")
    os.replace(part, dest)
    fsync_dir(dest.parent)
    log.info("fetched %s (%d bytes)", url, total)
    return dest
