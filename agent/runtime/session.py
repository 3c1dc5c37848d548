"""One wrapper around ``onnxruntime.InferenceSession``.

- threads are capped (default one intra-op thread: the agent runs several small models side by side);
- a model file is size-checked and hash-checked (when a hash is given) before onnxruntime parses it;
- every onnxruntime exception becomes :class:`~agent.errors.ModelError` naming the file and what to do;
- :meth:`OnnxModel.warm_up` runs one inference on zeros so the first real frame does not stall.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ..errors import ModelError

log = logging.getLogger(__name__)

MAX_MODEL_BYTES = 64 * 1024 * 1024

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class OnnxModel:
    """A loaded ONNX model. Call it with a dict of named inputs, or one array for single-input models."""

    def __init__(self, session: ort.InferenceSession, path: Path) -> None:
        self.session = session
        self.path = path
        self.inputs = session.get_inputs()
        self.outputs = session.get_outputs()
        self.input_names = [i.name for i in self.inputs]
        self.output_names = [o.name for o in self.outputs]

    def __call__(self, feeds: dict[str, np.ndarray] | np.ndarray) -> list[np.ndarray]:
        if isinstance(feeds, np.ndarray):
            feeds = {self.input_names[0]: feeds}
        try:
            return list(self.session.run(None, feeds))
        except Exception as exc:  # onnxruntime raises its own untyped exceptions
            shapes = {k: tuple(v.shape) for k, v in feeds.items()}
            raise ModelError(f"{self.path.name}: inference failed for inputs {shapes}: {exc}") from exc

    def warm_up(self, shapes: dict[str, tuple[int, ...]] | None = None) -> None:
        """Run once on zeros. Dynamic dimensions default to 1 unless ``shapes`` gives them."""
        feeds: dict[str, np.ndarray] = {}
        for inp in self.inputs:
            if shapes and inp.name in shapes:
                shape = shapes[inp.name]
            else:
                shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in inp.shape)
            feeds[inp.name] = np.zeros(shape, dtype=_ORT_TYPES.get(inp.type, np.float32))
        self(feeds)


def load_model(path: str | Path, *, threads: int = 1, sha256: str | None = None,
               max_bytes: int = MAX_MODEL_BYTES, warm_up: bool = True, arena: bool = False) -> OnnxModel:
    """Load an ONNX model, refusing missing, oversized, tampered or corrupt files with a ModelError.

    ``arena``: give the session its own memory arena. For models run on every video frame: each run took
    one 4-5 MB activation block (palm detector, hand landmarks), and from malloc that block landed in a
    different hole of the shared heap from frame to frame, between other threads' allocations, leaving up to
    ~50 MB of touched free heap (homeagent bench: RSS 185-206 MB). In the arena the tensors are placed one by
    one (no memory pattern): the pattern's one block per run made the arenas grow a second region, 15.7 MB
    resident for both models against 9.6 MB without, at the same ms per frame."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"model file {p} not found: run 'bash tools/bootstrap.sh' to build the models")
    size = p.stat().st_size
    if size > max_bytes:
        raise ModelError(f"model file {p} is {size} bytes, over the {max_bytes}-byte limit: refusing to load")
    if size == 0:
        raise ModelError(f"model file {p} is empty")
    if sha256 is not None and sha256_file(p) != sha256:
        raise ModelError(f"model file {p} does not match its sha256 in the manifest: refusing to load")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # no per-session arena by default: six small models each kept a power-of-two arena (~7 MB RSS in all) for
    # no measurable speed (bench: same ms per frame and per utterance); buffers go through malloc instead
    opts.enable_cpu_mem_arena = arena
    opts.enable_mem_pattern = not arena
    try:
        session = ort.InferenceSession(str(p), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"model file {p} is not a valid ONNX model ({exc}); rebuild or reinstall it") from exc
    model = OnnxModel(session, p)
    if warm_up:
        try:
            model.warm_up()
        except ModelError:
            log.debug("warm-up with default shapes failed for %s; skipped", p.name)
    return model


def describe(model: OnnxModel) -> dict[str, Any]:
    return {
        "inputs": [(i.name, i.shape, i.type) for i in model.inputs],
        "outputs": [(o.name, o.shape, o.type) for o in model.outputs],
    }
