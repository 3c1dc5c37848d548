"""Shared helpers for the OTA tests (imported by the ``test_ota_*`` modules; holds no tests itself)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from agent.ota.manager import UpdateManager, load_slot_model, model_activator
from agent.ota.manifest import generate_keypair, load_private_key, load_public_key
from agent.ota.pack import pack
from agent.ota.store import Store
from agent.runtime.hotswap import HotSwap

__all__ = ["Device", "Keys", "device", "keys", "store_v1_template", "v1_bundle"]

DIM = 4
LABELS = ["on", "off", "up", "down"]
PROBE = np.arange(1, DIM + 1, dtype=np.float32).reshape(1, DIM)


def write_model(path: Path, weight: float, *, dim: int = DIM, out_dim: int | None = None) -> None:
    """y = x * w (out_dim == dim), or y = x @ W with W of shape (dim, out_dim) to give a wrong shape."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, dim])
    if out_dim is None:
        w = numpy_helper.from_array(np.full((dim,), weight, np.float32), "w")
        node = helper.make_node("Mul", ["x", "w"], ["y"])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, dim])
    else:
        w = numpy_helper.from_array(np.full((dim, out_dim), weight, np.float32), "w")
        node = helper.make_node("MatMul", ["x", "w"], ["y"])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, out_dim])
    model = helper.make_model(helper.make_graph([node], "g", [x], [y], [w]),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def model_dir(root: Path, name: str, weight: float, *, dim: int = DIM, out_dim: int | None = None,
              labels: list[str] | None = None) -> Path:
    """A model directory shaped like the speech engineer's bundles (head.onnx + plain manifest.json)."""
    d = root / name
    d.mkdir(parents=True)
    write_model(d / "head.onnx", weight, dim=dim, out_dim=out_dim)
    labels = LABELS if labels is None and dim == DIM else (labels or [f"l{i}" for i in range(dim)])
    (d / "manifest.json").write_text(json.dumps({
        "name": "speech", "version": 1, "human_version": "x", "kind": "speech-head", "labels": labels,
        "threshold": 0.5, "input": {"shape": [1, dim]}, "files": {}}))
    return d


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with the sha256 of files (``dir``/``link`` otherwise)."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "link"
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@dataclass
class Keys:
    private: Path
    public: Path
    other_private: Path

    def priv(self) -> Any:
        return load_private_key(self.private)

    def pub(self) -> Any:
        return load_public_key(self.public)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    d = tmp_path_factory.mktemp("keys")
    priv, pub = generate_keypair(d / "good")
    other, _ = generate_keypair(d / "other")
    return Keys(priv, pub, other)


@pytest.fixture(scope="session")
def v1_bundle(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Path:
    d = tmp_path_factory.mktemp("v1")
    out = d / "speech-v1.tar.gz"
    pack(model_dir(d, "m1", 1.0), out, version=1, key=keys.priv(), human_version="1.0")
    return out


@pytest.fixture(scope="session")
def store_v1_template(tmp_path_factory: pytest.TempPathFactory, keys: Keys, v1_bundle: Path) -> Path:
    root = tmp_path_factory.mktemp("store_tpl") / "store"
    UpdateManager(Store(root), [keys.pub()], isolate_selftest=False).install(str(v1_bundle))
    return root


@dataclass
class Device:
    """A store with v1 installed, the running model held in a HotSwap, and an UpdateManager on top."""

    root: Path
    store: Store
    holder: HotSwap[Any]
    manager: UpdateManager
    events: list[Any]

    def probe(self) -> np.ndarray:
        return np.asarray(self.holder.get()({"x": PROBE})[0])


@pytest.fixture
def device(tmp_path: Path, keys: Keys, store_v1_template: Path) -> Device:
    root = tmp_path / "store"
    shutil.copytree(store_v1_template, root, symlinks=True)
    store = Store(root)
    cur = store.current()
    assert cur is not None
    holder: HotSwap[Any] = HotSwap(load_slot_model(*cur), label="v1")
    events: list[Any] = []
    mgr = UpdateManager(store, [keys.pub()], activate=model_activator(holder), listener=events.append,
                        isolate_selftest=False)
    return Device(root, store, holder, mgr, events)


def assert_unchanged(dev: Device, before: dict[str, str], model: Any) -> None:
    """The store is byte-for-byte as before and the same v1 model object still runs, giving x * 1."""
    assert snapshot(dev.root) == before
    assert dev.holder.get() is model
    np.testing.assert_allclose(dev.probe(), PROBE * 1.0)
    assert dev.store.installed_version() == 1
