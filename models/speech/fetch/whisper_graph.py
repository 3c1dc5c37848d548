"""Whisper's network as ONNX graphs, built op by op from the weights of a CTranslate2 ``model.bin`` read with
numpy (the encoder: log-mel frames to cross-attention keys and values; the decoder: token trees to next-token
log-probabilities)."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

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

    def cached_self_attention(self, x: str, layer: str, n_heads: int, d: int, mask: str, past: str) -> tuple[str, str]:
        """:meth:`self_attention` of new tokens (1, L, D) that also attend to earlier tokens' keys|values
        ``past`` (1, P, 2D) (``mask``: (L, P + L)) → (x plus the attention, the new tokens' keys|values (1, L, 2D))."""
        qkv = self.linear(self.layer_norm(x, layer + "/self_attention/layer_norm"), layer + "/self_attention/linear_0")
        q = self.op("Slice", qkv, self.i64(0), self.i64(d), self.i64(2))
        kv = self.op("Slice", qkv, self.i64(d), self.i64(3 * d), self.i64(2))
        both = self.op("Concat", past, kv, axis=1)
        k = self.op("Slice", both, self.i64(0), self.i64(d), self.i64(2))
        v = self.op("Slice", both, self.i64(d), self.i64(2 * d), self.i64(2))
        out = self.linear(self.attention(q, k, v, n_heads, d, mask), layer + "/self_attention/linear_1")
        return self.op("Add", x, out), kv

    def shared_attention(self, q: str, kt: str, vh: str, n_heads: int, d: int) -> str:
        """Attention of every query of every sequence (N, L, D) to one shared key/value sequence, laid out per
        head (keys (H, dh, T), values (H, T, dh), as the runtime prepares them once per encoding): the N·L
        queries are stacked per head, so each head is one (N·L × dh) · (dh × T) product instead of N tiny ones
        (cross-attention over a batch of candidate sentences)."""
        dh = d // n_heads
        scale = self.const("attn_scale", np.array(1.0 / np.sqrt(dh), np.float32))
        qh = self.op("Transpose", self.op("Reshape", q, self.i64(-1, n_heads, dh)), perm=[1, 0, 2])  # H, NL, dh
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
    """New tokens (1, L) int64 at ``positions`` (1, L) int64, the self-attention keys|values of P earlier
    tokens ``past_kv`` (P, layers, 2D), ``mask`` (L, P + L), each layer's cross-attention keys ``cross_k_<i>``
    (H, D/H, T) and values ``cross_v_<i>`` (H, T, D/H) (the encoder's cross_kv laid out per head, once per
    utterance rather than at every step), gather (G,) int64 indexes into the L tokens → logprobs (G, V): the
    next-token log-probabilities at the tokens asked for; present_kv (L, layers, 2D): the new tokens'
    keys|values, for a later run's ``past_kv``.

    The P + L tokens are a *tree*: each is one node of a token trie, at its depth (``positions``), and ``mask``
    (0 where new token i may attend to token j, past ones first, -1e9 elsewhere) lets each attend to its
    ancestors and itself only. Every candidate sentence sharing a prefix then shares its computation (42
    single-word candidates: 44 tokens instead of 126), and a prefix computed once need not be computed again
    (P = 0: no past). A plain sequence is the chain with a causal mask. ``int8_table``: the token-embedding
    table that Gather reads is stored as int8 rows with one scale each (20 MB instead of 80; the dynamic
    quantizer only handles MatMul, so the int8 build asks for this)."""
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
    presents = []
    for i in range(layers):
        p = f"decoder/layer_{i}"
        past = g.op("Unsqueeze", g.op("Gather", "past_kv", g.const(f"layer_index_{i}", np.array(i, np.int64)),
                                      axis=1), g.i64(0))
        x, kv_new = g.cached_self_attention(x, p, n_heads, d, mask, past)
        presents.append(g.op("Transpose", kv_new, perm=[1, 0, 2]))  # (L, 1, 2D)
        y = g.layer_norm(x, p + "/attention/layer_norm")
        q = g.linear(y, p + "/attention/linear_0")
        x = g.op("Add", x, g.linear(g.shared_attention(q, f"cross_k_{i}", f"cross_v_{i}", n_heads, d),
                                    p + "/attention/linear_2"))
        y = g.layer_norm(x, p + "/ffn/layer_norm")
        x = g.op("Add", x, g.linear(g.gelu(g.linear(y, p + "/ffn/linear_0")), p + "/ffn/linear_1"))
    g.nodes.append(_identity(g.op("Concat", *presents, axis=1), "present_kv"))
    x = g.layer_norm(x, "decoder/layer_norm")
    flat = g.op("Reshape", x, g.i64(-1, d))
    picked = g.op("Gather", flat, "gather", axis=0)
    logits = g.op("MatMul", picked, g.const("decoder.projection.T", np.ascontiguousarray(emb.T.astype(np.float32))))
    g.nodes.append(_identity(g.op("LogSoftmax", logits, axis=-1), "logprobs"))
    f, i64 = TensorProto.FLOAT, TensorProto.INT64
    cross_shapes: list[tuple[str, list[str | int]]] = [("k", [n_heads, d // n_heads, "t"]),
                                                       ("v", [n_heads, "t", d // n_heads])]
    return g.model([helper.make_tensor_value_info("tokens", i64, [1, "len"]),
                    helper.make_tensor_value_info("positions", i64, [1, "len"]),
                    helper.make_tensor_value_info("mask", f, ["len", "all"]),
                    *(helper.make_tensor_value_info(f"cross_{kv}_{i}", f, shape) for i in range(layers)
                      for kv, shape in cross_shapes),
                    helper.make_tensor_value_info("gather", i64, ["p"]),
                    helper.make_tensor_value_info("past_kv", f, ["past", layers, 2 * d])],
                   [helper.make_tensor_value_info("logprobs", f, ["p", int(emb.shape[0])]),
                    helper.make_tensor_value_info("present_kv", f, ["len", layers, 2 * d])])
