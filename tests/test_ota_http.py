"""Delivery over a real HTTP server on 127.0.0.1: size cap, endless body, slow drip, stalled server."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent.errors import BundleError
from agent.ota.fetch import FetchLimits
from agent.ota.manager import OtaState
from agent.ota.pack import pack
from tests.test_ota_support import (
    Device,
    Keys,
    assert_unchanged,
    device,
    keys,
    model_dir,
    snapshot,
    store_v1_template,
    v1_bundle,
)

_FIXTURES = (device, keys, store_v1_template, v1_bundle)


class Server:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # client gave up
                    server.serve(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = False
        self.httpd.block_on_close = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="ota-http", daemon=True)

    def serve(self, h: BaseHTTPRequestHandler) -> None:
        route, _, name = h.path.strip("/").partition("/")
        if route == "file" and name in self.files:
            data = self.files[name]
            h.send_response(200)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        elif route == "nolength" and name in self.files:  # no Content-Length: body ends at close
            h.send_response(200)
            h.end_headers()
            h.wfile.write(self.files[name])
            h.close_connection = True
        elif route == "endless":
            h.send_response(200)
            h.end_headers()
            while not self.stop.is_set():
                h.wfile.write(b"\0" * 65536)
        elif route == "drip":
            h.send_response(200)
            h.end_headers()
            while not self.stop.wait(0.05):
                h.wfile.write(b"x")
                h.wfile.flush()
        elif route == "stall":
            h.send_response(200)
            h.send_header("Content-Length", "1000")
            h.end_headers()
            h.wfile.flush()
            self.stop.wait(10)
        else:
            h.send_error(404)


@pytest.fixture
def http() -> Iterator[Server]:
    s = Server()
    s.thread.start()
    try:
        yield s
    finally:
        s.stop.set()
        s.httpd.shutdown()
        s.httpd.server_close()
        s.thread.join(5)


def _refused(dev: Device, url: str, match: str, limits: FetchLimits, max_s: float) -> float:
    before, model = snapshot(dev.root), dev.holder.get()
    dev.manager.limits = limits
    t0 = time.monotonic()
    with pytest.raises(BundleError, match=match):
        dev.manager.install(url)
    took = time.monotonic() - t0
    print(f"\nREFUSED in {took * 1000:.0f} ms: {dev.events[-1].message}")
    assert took < max_s, f"refusal took {took:.2f} s"
    assert_unchanged(dev, before, model)
    assert dev.events[-1].state == OtaState.FAILED
    return took


def test_install_over_http(device: Device, keys: Keys, http: Server, tmp_path: Path) -> None:
    pack(model_dir(tmp_path, "src", 2.0), tmp_path / "b2.tar.gz", version=2, key=keys.priv())
    http.files["b2.tar.gz"] = (tmp_path / "b2.tar.gz").read_bytes()
    device.manager.install(f"{http.url}/file/b2.tar.gz")
    assert device.store.installed_version() == 2
    assert [e.state for e in device.events][:2] == [OtaState.DOWNLOADING, OtaState.VERIFYING]
    assert not any((device.root / "downloads").iterdir())


def test_oversized_download(device: Device, keys: Keys, http: Server, tmp_path: Path) -> None:
    pack(model_dir(tmp_path, "src", 2.0), tmp_path / "b2.tar.gz", version=2, key=keys.priv())
    http.files["b2.tar.gz"] = (tmp_path / "b2.tar.gz").read_bytes() + b"\0" * 4096
    limits = FetchLimits(max_bytes=2048, total_timeout_s=5, read_timeout_s=2)
    _refused(device, f"{http.url}/file/b2.tar.gz", "over the 2048-byte cap", limits, 5)
    _refused(device, f"{http.url}/nolength/b2.tar.gz", "exceeded the 2048-byte cap", limits, 5)


def test_endless_download(device: Device, http: Server) -> None:
    limits = FetchLimits(max_bytes=1 << 20, total_timeout_s=5, read_timeout_s=2)
    _refused(device, f"{http.url}/endless", "exceeded the 1048576-byte cap", limits, 5)


def test_slow_drip_hits_total_deadline(device: Device, http: Server) -> None:
    limits = FetchLimits(max_bytes=1 << 20, total_timeout_s=0.8, read_timeout_s=2)
    _refused(device, f"{http.url}/drip", "took longer than", limits, 3)


def test_stalled_server_hits_read_timeout(device: Device, http: Server) -> None:
    limits = FetchLimits(max_bytes=1 << 20, total_timeout_s=30, read_timeout_s=0.5)
    _refused(device, f"{http.url}/stall", "failed after 0 bytes", limits, 3)


def test_announced_hash_mismatch(device: Device, keys: Keys, http: Server, tmp_path: Path) -> None:
    pack(model_dir(tmp_path, "src", 2.0), tmp_path / "b2.tar.gz", version=2, key=keys.priv())
    http.files["b2.tar.gz"] = (tmp_path / "b2.tar.gz").read_bytes()
    before, model = snapshot(device.root), device.holder.get()
    with pytest.raises(BundleError, match="announced sha256"):
        device.manager.install(f"{http.url}/file/b2.tar.gz", expected_sha256="0" * 64)
    assert_unchanged(device, before, model)


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "release.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_verifies_the_server(device: Device, keys: Keys, tmp_path: Path) -> None:
    import ssl

    cert, key = _self_signed(tmp_path)
    s = Server()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    s.httpd.socket = ctx.wrap_socket(s.httpd.socket, server_side=True)
    s.httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
    s.url = s.url.replace("http:", "https:")
    s.thread.start()
    try:
        pack(model_dir(tmp_path, "src", 2.0), tmp_path / "b2.tar.gz", version=2, key=keys.priv())
        s.files["b2.tar.gz"] = (tmp_path / "b2.tar.gz").read_bytes()
        url = f"{s.url}/file/b2.tar.gz"
        _refused(device, url, "CERTIFICATE_VERIFY_FAILED", FetchLimits(read_timeout_s=3), 5)
        device.manager.limits = FetchLimits(read_timeout_s=3, cafile=str(cert))
        device.manager.install(url)
        assert device.store.installed_version() == 2
    finally:
        s.stop.set()
        s.httpd.shutdown()
        s.httpd.server_close()
        s.thread.join(5)
