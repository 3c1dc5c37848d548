"""Every refused update leaves the store byte-for-byte unchanged and the same v1 model running."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent.errors import BundleError, ModelError
from agent.ota.manager import OtaState
from agent.ota.manifest import ENVELOPE_NAME, FileEntry, Manifest, format_time, sign_envelope
from agent.ota.pack import pack, write_bundle
from agent.ota.selftest import SELFTEST_NAME
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


def _refused(dev: Device, source: Path | str, match: str, exc: type[Exception] = BundleError) -> None:
    before, model = snapshot(dev.root), dev.holder.get()
    with pytest.raises(exc, match=match):
        dev.manager.install(str(source))
    print(f"\nREFUSED: {dev.events[-1].message}")
    assert_unchanged(dev, before, model)
    assert dev.events[-1].state == OtaState.FAILED


def _pack(tmp: Path, keys: Keys, version: int, weight: float = 2.0, out: str = "b", **kw: object) -> Path:
    dest = tmp / f"{out}{version}"
    pack(model_dir(tmp, f"src-{out}{version}", weight), dest, version=version, key=keys.priv(), **kw)  # type: ignore[arg-type]
    return dest


def test_good_update_installs(device: Device, keys: Keys, tmp_path: Path) -> None:
    device.manager.install(str(_pack(tmp_path, keys, 2)))
    assert device.store.installed_version() == 2
    assert device.probe().tolist() == [[2.0, 4.0, 6.0, 8.0]]
    assert [e.state for e in device.events][-1] == OtaState.INSTALLED


def test_unsigned(device: Device, tmp_path: Path) -> None:
    pack(model_dir(tmp_path, "src", 2.0), tmp_path / "b", version=2, key=None)
    _refused(device, tmp_path / "b", "unsigned")


def test_wrong_key(device: Device, keys: Keys, tmp_path: Path) -> None:
    from agent.ota.manifest import load_private_key

    pack(model_dir(tmp_path, "src", 2.0), tmp_path / "b", version=2, key=load_private_key(keys.other_private))
    _refused(device, tmp_path / "b", "not signed by a trusted key")


def test_tampered_file(device: Device, keys: Keys, tmp_path: Path) -> None:
    b = _pack(tmp_path, keys, 2)
    data = bytearray((b / "head.onnx").read_bytes())
    data[-3] ^= 0x01  # flip one bit of the weights: same size, different content
    (b / "head.onnx").write_bytes(bytes(data))
    _refused(device, b, "does not match its sha256")


def test_tampered_manifest(device: Device, keys: Keys, tmp_path: Path) -> None:
    b = _pack(tmp_path, keys, 2)
    env = json.loads((b / ENVELOPE_NAME).read_text())
    env["signed"]["version"] = 99
    (b / ENVELOPE_NAME).write_text(json.dumps(env))
    _refused(device, b, "signature is invalid")


def test_version_rollback(device: Device, keys: Keys, tmp_path: Path) -> None:
    _refused(device, _pack(tmp_path, keys, 1, weight=5.0), "not newer than the installed version 1")


def test_rollback_past_persisted_minimum(device: Device, keys: Keys, tmp_path: Path) -> None:
    b2 = _pack(tmp_path, keys, 2)
    device.manager.install(str(b2))
    device.manager.rollback("test")  # back on v1; the minimum stays at 2
    assert device.store.installed_version() == 1 and device.store.state().min_version == 2
    _refused(device, b2, "not above the minimum version 2")


def test_expired(device: Device, keys: Keys, tmp_path: Path) -> None:
    _refused(device, _pack(tmp_path, keys, 2, expires_days=-1.0), "expired")


def test_needs_newer_agent(device: Device, keys: Keys, tmp_path: Path) -> None:
    _refused(device, _pack(tmp_path, keys, 2, min_agent_version="9.0"), "needs agent >= 9.0")


def test_foreign_bundle_name(device: Device, keys: Keys, tmp_path: Path) -> None:
    _refused(device, _pack(tmp_path, keys, 2, name="gestures"), "this store holds 'speech'")


def test_mix_and_match_files(device: Device, keys: Keys, tmp_path: Path) -> None:
    b2, b3 = _pack(tmp_path, keys, 2, 2.0), _pack(tmp_path, keys, 3, 3.0)
    shutil.copy(b3 / "head.onnx", b2 / "head.onnx")  # v2's signed manifest with v3's model
    _refused(device, b2, "does not match its sha256")
    shutil.copy(b2 / ENVELOPE_NAME, b3 / ENVELOPE_NAME)  # v2's manifest over v3's selftest
    _refused(device, b3, "does not match its sha256")


def test_extra_and_missing_files(device: Device, keys: Keys, tmp_path: Path) -> None:
    b = _pack(tmp_path, keys, 2)
    (b / "extra.onnx").write_bytes(b"x")
    _refused(device, b, "not in the signed manifest")
    (b / "extra.onnx").unlink()
    (b / "manifest.json").unlink()
    _refused(device, b, "missing files")


def _signed_members(tmp: Path, keys: Keys) -> dict[str, bytes]:
    b = _pack(tmp, keys, 2)
    paths = sorted(b.iterdir(), key=lambda p: (p.name != ENVELOPE_NAME, p.name))  # bundle.json first
    return {p.name: p.read_bytes() for p in paths}


def _tar(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for m in members:
            tar.addfile(m, io.BytesIO(data[m.name]) if m.isreg() else None)
    return path


def _reg(name: str, data: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info


def test_archive_path_traversal(device: Device, keys: Keys, tmp_path: Path) -> None:
    files = _signed_members(tmp_path, keys)
    files["../../escape.txt"] = b"pwned"
    members = [_reg(n, d) for n, d in files.items()]
    _refused(device, _tar(tmp_path / "t.tar.gz", members, files), "unsafe path")
    files.pop("../../escape.txt")
    files["/tmp/abs-escape.txt"] = b"pwned"
    _refused(device, _tar(tmp_path / "a.tar.gz", [_reg(n, d) for n, d in files.items()], files), "unsafe path")
    assert not (device.root.parent / "escape.txt").exists() and not Path("/tmp/abs-escape.txt").exists()


def test_archive_symlink_and_hardlink(device: Device, keys: Keys, tmp_path: Path) -> None:
    files = _signed_members(tmp_path, keys)
    for kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        link = tarfile.TarInfo("head.onnx")
        link.type, link.linkname = kind, "/etc/passwd"
        members = [_reg(n, d) for n, d in files.items() if n != "head.onnx"] + [link]
        _refused(device, _tar(tmp_path / f"l{kind!r}.tar.gz", members, files), "is a link")


def test_directory_bundle_symlink(device: Device, keys: Keys, tmp_path: Path) -> None:
    b = _pack(tmp_path, keys, 2)
    (b / "head.onnx").unlink()
    (b / "head.onnx").symlink_to("/etc/passwd")
    _refused(device, b, "symlink")


def test_signed_manifest_with_traversal_path(device: Device, keys: Keys, tmp_path: Path) -> None:
    """Even a manifest signed by the trusted key (a compromised build host) cannot name '../x'."""
    now = datetime.now(timezone.utc)
    m = Manifest(name="speech", version=2, human_version="2", kind="speech-head", created=format_time(now),
                 expires=format_time(now + timedelta(days=1)), min_agent_version="0.1.0",
                 files={"../evil": FileEntry("0" * 64, 1)}, selftest=None)
    write_bundle(tmp_path / "evil.tar", sign_envelope(m, keys.priv()), {})
    _refused(device, tmp_path / "evil.tar", "unsafe path")


def test_signed_but_wrong_shape(device: Device, keys: Keys, tmp_path: Path) -> None:
    src = model_dir(tmp_path, "src", 1.0, out_dim=3)  # 3 outputs for 4 labels
    pack(src, tmp_path / "b", version=2, key=keys.priv())
    _refused(device, tmp_path / "b", "output width 3 does not match the 4 labels", ModelError)


def test_signed_but_nan_outputs(device: Device, keys: Keys, tmp_path: Path) -> None:
    src = model_dir(tmp_path, "src", float("nan"))
    golden = {"model": "head.onnx", "cases": [{
        "inputs": {"x": {"dtype": "float32", "shape": [1, 4], "data": [1, 2, 3, 4]}},
        "outputs": [{"dtype": "float32", "shape": [1, 4], "data": [0, 0, 0, 0]}]}]}
    (src / SELFTEST_NAME).write_text(json.dumps(golden))  # a build that skipped pack's own check
    pack(src, tmp_path / "b", version=2, key=keys.priv())
    _refused(device, tmp_path / "b", "NaN", ModelError)


def test_pack_refuses_nan_model(keys: Keys, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="NaN"):
        pack(model_dir(tmp_path, "src", float("nan")), tmp_path / "b", version=2, key=keys.priv())


def test_activation_failure_rolls_back(device: Device, keys: Keys, tmp_path: Path) -> None:
    before, model = snapshot(device.root), device.holder.get()

    def broken(slot: Path, manifest: Manifest) -> None:
        raise ModelError("cannot allocate")

    device.manager.activate = broken
    with pytest.raises(BundleError, match="rolled back"):
        device.manager.install(str(_pack(tmp_path, keys, 2)))
    assert device.holder.get() is model and device.store.installed_version() == 1
    assert device.events[-1].state == OtaState.ROLLED_BACK
    assert snapshot(device.root)["slots/v1/head.onnx"] == before["slots/v1/head.onnx"]


def test_archive_bomb_is_not_read(device: Device, keys: Keys, tmp_path: Path) -> None:
    """A 64 MiB member of zeros that the manifest does not list is refused from its header alone."""
    files = _signed_members(tmp_path, keys)
    bomb = tarfile.TarInfo("zeros.bin")
    bomb.size = 64 << 20
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        tar.addfile(_reg(ENVELOPE_NAME, files[ENVELOPE_NAME]), io.BytesIO(files[ENVELOPE_NAME]))
        tar.addfile(bomb, io.BytesIO(bytes(bomb.size)))
    assert path.stat().st_size < 1 << 20
    t0 = time.monotonic()
    _refused(device, path, "not in the signed manifest")
    assert time.monotonic() - t0 < 1.0


def test_archive_without_leading_envelope(device: Device, keys: Keys, tmp_path: Path) -> None:
    files = _signed_members(tmp_path, keys)
    order = sorted(files, key=lambda n: n == ENVELOPE_NAME)  # bundle.json last
    _refused(device, _tar(tmp_path / "late.tar.gz", [_reg(n, files[n]) for n in order], files),
             "does not start with bundle.json")


def _long_name_bomb(path: Path, name_bytes: int, pax: bool = False) -> Path:
    """A gzip tar whose first header declares a GNU long name (or a PAX record) of ``name_bytes``: the bytes
    themselves are zeros, so the file stays tiny while tarfile would read the whole declared size."""
    header = tarfile.TarInfo("././@LongLink")
    header.type = tarfile.XHDTYPE if pax else tarfile.GNUTYPE_LONGNAME
    header.size = name_bytes
    raw = header.tobuf(format=tarfile.GNU_FORMAT) + bytes(name_bytes + (-name_bytes % 512)) + bytes(1024)
    import gzip

    path.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    return path


@pytest.mark.parametrize("pax", [False, True])
def test_huge_extended_tar_header_is_refused_before_it_is_read(device: Device, tmp_path: Path, pax: bool) -> None:
    """A 64 MiB long-name (or PAX) header in a ~65 KB unsigned file: refused from its declared size, with
    bounded memory and a short message (it once took 657 MB of RSS and logged the name twice)."""
    import tracemalloc

    path = _long_name_bomb(tmp_path / "name.tar.gz", 64 << 20, pax)
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        _refused(device, path, "extended tar header")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak
    assert len(device.events[-1].message) < 400


def test_truncated_download_fails_cleanly(device: Device, keys: Keys, tmp_path: Path) -> None:
    files = _signed_members(tmp_path, keys)
    whole = _tar(tmp_path / "whole.tar.gz", [_reg(n, d) for n, d in files.items()], files).read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    _refused(device, cut, "truncated or damaged|not a readable tar archive")


def test_cli_verify_of_a_truncated_bundle_is_one_line(keys: Keys, tmp_path: Path) -> None:
    import subprocess
    import sys

    files = _signed_members(tmp_path, keys)
    whole = _tar(tmp_path / "whole.tar.gz", [_reg(n, d) for n, d in files.items()], files).read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    r = subprocess.run([sys.executable, "-m", "agent", "models", "verify", str(cut), "--public-key",
                        str(keys.public)], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("INVALID: ") and r.stderr.count("\n") == 1, r.stderr
