"""The CLI contract: ``homeagent models keygen|pack|sign|verify`` and ``homeagent ota``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main
from agent.errors import PayloadError
from agent.ota.announce import parse_announcement, update_state_payload
from tests.test_ota_support import model_dir


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *map(str, args)], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parents[1], check=False)


def test_contract_in_real_processes(tmp_path: Path) -> None:
    src = model_dir(tmp_path, "model", 2.0)
    r = _cli("models", "keygen", tmp_path / "k")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "k/private.pem").stat().st_mode & 0o777 == 0o600 and (tmp_path / "k/public.pem").exists()
    r = _cli("models", "pack", src, "--version", "7", "--private-key", tmp_path / "k/private.pem",
             "--out", tmp_path / "b.tar.gz")
    assert r.returncode == 0, r.stderr
    r = _cli("models", "verify", tmp_path / "b.tar.gz", "--public-key", tmp_path / "k/public.pem")
    assert r.returncode == 0, r.stderr
    assert "speech v7" in r.stdout and "head.onnx" in r.stdout


def test_verify_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = model_dir(tmp_path, "model", 2.0)
    assert main(["models", "keygen", str(tmp_path / "k")]) == 0
    assert main(["models", "keygen", str(tmp_path / "k2")]) == 0
    assert main(["models", "keygen", str(tmp_path / "k")]) == 1  # never overwrites a key silently
    priv, pub, pub2 = (str(tmp_path / p) for p in ("k/private.pem", "k/public.pem", "k2/public.pem"))
    b = tmp_path / "b"
    assert main(["models", "pack", str(src), "--version", "3", "--unsigned", "--out", str(b)]) == 0
    assert main(["models", "verify", str(b), "--public-key", pub]) == 1
    assert "unsigned" in capsys.readouterr().err
    assert main(["models", "sign", str(b), "--private-key", priv]) == 0
    capsys.readouterr()
    assert main(["models", "verify", str(b), "--public-key", pub, "--selftest"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: speech v3") and "golden cases passed" in out
    assert main(["models", "verify", str(b), "--public-key", pub2]) == 1
    assert "not signed by a trusted key" in capsys.readouterr().err
    assert main(["models", "verify", str(b), "--public-key", pub, "--min-version", "3"]) == 1
    assert "not above the minimum version 3" in capsys.readouterr().err
    t = str(tmp_path / "t.tar.gz")
    assert main(["models", "pack", str(src), "--version", "4", "--unsigned", "--out", t]) == 0
    assert main(["models", "sign", t, "--private-key", priv]) == 0
    assert main(["models", "verify", t, "--public-key", pub]) == 0
    capsys.readouterr()
    (b / "selftest.json").write_text("{}")
    assert main(["models", "verify", str(b), "--public-key", pub]) == 1
    assert "selftest.json' is 2 bytes, the manifest says" in capsys.readouterr().err


def test_ota_install_status_rollback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "keygen", str(tmp_path / "k")]) == 0
    priv, pub = str(tmp_path / "k/private.pem"), str(tmp_path / "k/public.pem")
    store = str(tmp_path / "store")
    for v in (1, 2):
        out = str(tmp_path / f"b{v}.tar")
        assert main(["models", "pack", str(model_dir(tmp_path, f"m{v}", v)), "--version", str(v),
                     "--private-key", priv, "--out", out]) == 0
        assert main(["ota", "install", out, "--store", store, "--public-key", pub, "--no-isolate"]) == 0
    capsys.readouterr()
    assert main(["ota", "status", "--store", store]) == 0
    st = json.loads(capsys.readouterr().out)
    assert (st["current"], st["previous"], st["min_version"]) == ("v2", "v1", 2)
    assert main(["ota", "rollback", "--store", store]) == 0
    assert main(["ota", "install", str(tmp_path / "b2.tar"), "--store", store, "--public-key", pub]) == 1
    capsys.readouterr()
    assert main(["ota", "status", "--store", store]) == 0
    assert json.loads(capsys.readouterr().out)["current"] == "v1"


def test_isolated_selftest(tmp_path: Path) -> None:
    """The default install self-tests in a child process."""
    assert main(["models", "keygen", str(tmp_path / "k")]) == 0
    out = str(tmp_path / "b.tgz")
    assert main(["models", "pack", str(model_dir(tmp_path, "m", 1.0)), "--version", "1",
                 "--private-key", str(tmp_path / "k/private.pem"), "--out", out]) == 0
    assert main(["ota", "install", out, "--store", str(tmp_path / "s"),
                 "--public-key", str(tmp_path / "k/public.pem")]) == 0


def test_announcement_parsing_is_strict() -> None:
    ok = b'{"name":"speech","version":2,"human_version":"2.0","url":"https://x/b.tgz","size":10}'
    assert parse_announcement(ok).version == 2
    for bad in (b'{"name":"speech","version":2,"human_version":"2","url":"https://x","url":"http://y"}',
                b'{"name":"speech","version":NaN,"human_version":"2","url":"https://x"}',
                b'{"name":"speech","version":2,"human_version":"2","url":"file:///etc/passwd"}',
                b'{"name":"speech","version":2,"human_version":"2","url":"https://x","extra":1}',
                b'{"name":"speech","version":true,"human_version":"2","url":"https://x"}',
                b"[1]", b"\xff", b" " * 20000):
        with pytest.raises(PayloadError):
            parse_announcement(bad)


def test_ha_state_payload() -> None:
    d = json.loads(update_state_payload(installed_version="1.0", latest_version="2.0", title="t",
                                        release_summary="x" * 300, in_progress=True))
    assert d == {"installed_version": "1.0", "latest_version": "2.0", "title": "t",
                 "release_summary": "x" * 255, "in_progress": True}
