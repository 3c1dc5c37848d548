"""Golden self-test: known inputs and expected outputs stored in the bundle (``selftest.json``).

``pack`` records the outputs of the model on seeded inputs; before a slot goes live the model is loaded
from the slot, in isolation (a child process by default, so a crashing model cannot take the agent down),
and must reproduce them: same output count and shapes, finite values, within tolerance, and an output width
matching the bundle's label list.

Run ``python -m agent.ota.selftest SLOT_DIR`` to self-test a slot by hand; it prints one JSON line.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AgentError, BundleError, ModelError
from .manifest import ENVELOPE_NAME, MAX_ENVELOPE_BYTES, Manifest, read_unverified, strict_loads

log = logging.getLogger(__name__)

SELFTEST_NAME = "selftest.json"
MAX_SELFTEST_BYTES = 8 << 20
_DTYPES = {"float32": np.float32, "float16": np.float16, "int64": np.int64, "int32": np.int32,
           "int8": np.int8, "uint8": np.uint8}
_ORT_TO_NAME = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64",
                "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8"}


def _encode(a: np.ndarray) -> dict[str, Any]:
    return {"dtype": str(a.dtype), "shape": list(a.shape), "data": a.reshape(-1).tolist()}


def _decode(d: Any, what: str) -> np.ndarray:
    if not isinstance(d, dict) or set(d) != {"dtype", "shape", "data"} or d["dtype"] not in _DTYPES:
        raise BundleError(f"self-test {what} must be {{dtype, shape, data}} with a known dtype")
    try:
        return np.asarray(d["data"], dtype=_DTYPES[d["dtype"]]).reshape(d["shape"])
    except (ValueError, TypeError) as exc:
        raise BundleError(f"self-test {what} is malformed: {exc}") from exc


def find_model(files: list[str]) -> str:
    onnx = sorted(f for f in files if f.endswith(".onnx"))
    if len(onnx) != 1:
        raise BundleError(f"cannot tell which model to self-test among {onnx}: "
                          f"add a selftest.json naming it")
    return onnx[0]


def _feeds(model: Any, rng: np.random.Generator, dyn: int) -> dict[str, np.ndarray]:
    feeds: dict[str, np.ndarray] = {}
    for inp in model.inputs:
        shape = tuple(d if isinstance(d, int) and d > 0 else (1 if i == 0 else dyn)
                      for i, d in enumerate(inp.shape))
        dtype = _DTYPES[_ORT_TO_NAME.get(inp.type, "float32")]
        if np.issubdtype(dtype, np.floating):
            feeds[inp.name] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[inp.name] = rng.integers(0, 8, shape).astype(dtype)
    return feeds


def make_golden(model_path: Path, model_name: str, *, cases: int = 2, seed: int = 0,
                atol: float = 2e-3, rtol: float = 1e-2) -> dict[str, Any]:
    """Run the model on seeded inputs and record its outputs (used by ``pack``).

    Dynamic dimensions are 1 for the leading (batch) axis and 16 elsewhere (a short sequence); a model
    that refuses that gets all ones. The default tolerance allows int8 kernels that round differently
    on another CPU; tampering is caught by the hashes, not by this test.
    """
    from ..runtime.session import load_model

    model = load_model(model_path, warm_up=False)
    rng = np.random.default_rng(seed)
    out_cases = []
    for _ in range(cases):
        try:
            feeds = _feeds(model, rng, 16)
            outputs = model(feeds)
        except ModelError:
            feeds = _feeds(model, rng, 1)
            outputs = model(feeds)
        if not all(np.all(np.isfinite(o)) for o in outputs if np.issubdtype(o.dtype, np.floating)):
            raise ModelError(f"{model_name} produces NaN or infinite outputs: refusing to pack it")
        out_cases.append({"inputs": {k: _encode(v) for k, v in feeds.items()},
                          "outputs": [_encode(np.asarray(o)) for o in outputs]})
    return {"model": model_name, "atol": atol, "rtol": rtol, "cases": out_cases}


def run_selftest(slot: Path, manifest: Manifest) -> str:
    """Self-test the model in ``slot`` in this process. Returns a one-line report; raises on failure."""
    from ..runtime.session import load_model

    if manifest.selftest is None:
        raise BundleError("bundle has no golden self-test: refused (pack it with 'homeagent models pack')")
    doc = strict_loads((slot / manifest.selftest).read_bytes(), manifest.selftest, MAX_SELFTEST_BYTES)
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list) or not doc["cases"]:
        raise BundleError("self-test file must hold a non-empty 'cases' list")
    name = doc.get("model")
    if not isinstance(name, str) or name not in manifest.files:
        raise BundleError(f"self-test names model {name!r}, which is not in the bundle")
    atol, rtol = float(doc.get("atol", 1e-4)), float(doc.get("rtol", 1e-3))
    model = load_model(slot / name, sha256=manifest.files[name].sha256, warm_up=False)
    _check_spec(model.inputs, manifest.spec)
    for i, case in enumerate(doc["cases"]):
        if not isinstance(case, dict) or not isinstance(case.get("inputs"), dict):
            raise BundleError(f"self-test case {i} is malformed")
        feeds = {k: _decode(v, f"case {i} input {k}") for k, v in case["inputs"].items()}
        expected = [_decode(o, f"case {i} output") for o in case.get("outputs", [])]
        got = model(feeds)
        _compare(i, got, expected, atol, rtol, manifest.spec)
    return f"{name}: {len(doc['cases'])} golden cases passed"


def _check_spec(inputs: list[Any], spec: dict[str, Any]) -> None:
    want = spec.get("input")
    if not isinstance(want, dict) or not isinstance(want.get("shape"), list):
        return
    shape = inputs[0].shape
    dims = list(want["shape"])
    if len(dims) != len(shape) or any(isinstance(a, int) and isinstance(b, int) and a > 0 and b > 0 and a != b
                                       for a, b in zip(dims, shape, strict=True)):
        raise ModelError(f"model input shape {shape} does not match the bundle spec {dims}")


def _compare(i: int, got: list[np.ndarray], expected: list[np.ndarray], atol: float, rtol: float,
             spec: dict[str, Any]) -> None:
    if len(got) != len(expected):
        raise ModelError(f"self-test case {i}: model gives {len(got)} outputs, expected {len(expected)}")
    labels = spec.get("labels")
    for j, (g, e) in enumerate(zip(got, expected, strict=True)):
        g = np.asarray(g)
        if g.shape != e.shape:
            raise ModelError(f"self-test case {i} output {j}: shape {g.shape}, expected {e.shape}")
        if np.issubdtype(g.dtype, np.floating) and not np.all(np.isfinite(g)):
            raise ModelError(f"self-test case {i} output {j}: NaN or infinite values")
        if not np.allclose(g, e, atol=atol, rtol=rtol):
            err = float(np.max(np.abs(g.astype(np.float64) - e.astype(np.float64))))
            raise ModelError(f"self-test case {i} output {j}: differs from golden (max error {err:.3g})")
    if isinstance(labels, list) and labels and got and np.asarray(got[0]).shape[-1] != len(labels):
        raise ModelError(f"model output width {np.asarray(got[0]).shape[-1]} does not match the "
                         f"{len(labels)} labels of the bundle")


def run_isolated(slot: Path, timeout_s: float = 120.0) -> str:
    """Self-test ``slot`` in a child process; a crash, hang or failure raises ModelError."""
    cmd = [sys.executable, "-m", "agent.ota.selftest", str(slot)]
    root = str(Path(__file__).resolve().parents[2])  # so the child imports this very package
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, text=True, check=False, env=env)
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f"self-test of {slot.name} did not finish within {timeout_s:.0f} s") from exc
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else {}
    except ValueError:
        result = {}
    if proc.returncode != 0 or not result.get("ok"):
        reason = result.get("message") or proc.stderr.strip()[-300:] or f"exit status {proc.returncode}"
        raise ModelError(f"self-test of {slot.name} failed: {reason}")
    return str(result.get("message", "ok"))


def _main(argv: list[str]) -> int:
    slot = Path(argv[0])
    try:
        env = (slot / ENVELOPE_NAME).read_bytes()
        manifest = read_unverified(env[: MAX_ENVELOPE_BYTES + 1])
        print(json.dumps({"ok": True, "message": run_selftest(slot, manifest)}))
        return 0
    except (AgentError, OSError) as exc:
        print(json.dumps({"ok": False, "message": str(exc)}))
        return 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
