"""The command head: a small temporal-conv net over speech embeddings, and its ONNX export.

Input ``(B, T, 96)`` embeddings → three 1-D convolutions (dilations 1, 2, 4) with batch-norm and ReLU →
concatenated max- and mean-pooling over time → linear → softmax. Any ``T`` ≥ 1 works. Several heads can be
exported as one graph averaging their probabilities (an ensemble).
The ONNX graph is written directly with ``onnx.helper`` (batch-norm folded into the convolutions), so the
export does not depend on torch's exporter.
"""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

DILATIONS = (1, 2, 4)


class Head(nn.Module):
    def __init__(self, n_labels: int, dim: int = 96, ch: int = 64, dropout: float = 0.2, cmn: bool = False) -> None:
        super().__init__()
        self.cmn = cmn  # subtract each utterance's mean embedding first (a constant voice/channel offset)
        layers: list[nn.Module] = []
        c_in = dim
        for d in DILATIONS:
            layers += [nn.Conv1d(c_in, ch, 3, padding=d, dilation=d), nn.BatchNorm1d(ch), nn.ReLU()]
            c_in = ch
        self.convs = nn.Sequential(*layers)
        self.drop_in = nn.Dropout(dropout)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * ch, n_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> logits (B, L)
        if self.cmn:
            x = x - x.mean(dim=1, keepdim=True)
        h = self.convs(self.drop_in(x).transpose(1, 2))
        pooled = torch.cat([h.amax(dim=2), h.mean(dim=2)], dim=1)
        return self.fc(self.drop(pooled))


def _fold(conv: nn.Conv1d, bn: nn.BatchNorm1d) -> tuple[np.ndarray, np.ndarray]:
    w = conv.weight.detach().numpy().astype(np.float64)
    b = conv.bias.detach().numpy().astype(np.float64) if conv.bias is not None else np.zeros(w.shape[0])
    assert bn.running_mean is not None and bn.running_var is not None
    scale = bn.weight.detach().numpy() / np.sqrt(bn.running_var.numpy() + bn.eps)
    w = w * scale[:, None, None]
    b = (b - bn.running_mean.numpy()) * scale + bn.bias.detach().numpy()
    return w.astype(np.float32), b.astype(np.float32)


def _head_nodes(model: Head, p: str, out: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes computing one head's probabilities ``out`` from ``x0`` (B, 96, T); initializers prefixed ``p``."""
    model.eval()
    mods = list(model.convs)
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []
    x = "x0"
    for i, d in enumerate(DILATIONS):
        conv, bn = mods[3 * i], mods[3 * i + 1]
        assert isinstance(conv, nn.Conv1d) and isinstance(bn, nn.BatchNorm1d)
        w, b = _fold(conv, bn)
        inits += [numpy_helper.from_array(w, f"{p}conv{i}.w"), numpy_helper.from_array(b, f"{p}conv{i}.b")]
        nodes.append(helper.make_node("Conv", [x, f"{p}conv{i}.w", f"{p}conv{i}.b"], [f"{p}c{i}"],
                                      dilations=[d], pads=[d, d], kernel_shape=[3]))
        nodes.append(helper.make_node("Relu", [f"{p}c{i}"], [f"{p}r{i}"]))
        x = f"{p}r{i}"
    nodes += [
        helper.make_node("ReduceMax", [x], [f"{p}pmax"], axes=[2], keepdims=0),
        helper.make_node("ReduceMean", [x], [f"{p}pmean"], axes=[2], keepdims=0),
        helper.make_node("Concat", [f"{p}pmax", f"{p}pmean"], [f"{p}pooled"], axis=1),
    ]
    fw = model.fc.weight.detach().numpy().astype(np.float32)
    fb = model.fc.bias.detach().numpy().astype(np.float32)
    inits += [numpy_helper.from_array(fw, f"{p}fc.w"), numpy_helper.from_array(fb, f"{p}fc.b")]
    nodes += [helper.make_node("Gemm", [f"{p}pooled", f"{p}fc.w", f"{p}fc.b"], [f"{p}logits"], transB=1),
              helper.make_node("Softmax", [f"{p}logits"], [out], axis=1)]
    return nodes, inits


def export_onnx(model: Head, path: str, labels: list[str]) -> None:
    """Write the head (eval mode) as ONNX opset 17: input ``embeddings`` (B, T, 96), output ``probs`` (B, L)."""
    export_ensemble([model], path, labels)


def export_ensemble(models: list[Head], path: str, labels: list[str]) -> None:
    """Write several heads as one ONNX graph whose ``probs`` are the mean of their probabilities."""
    conv0 = next(iter(models[0].convs))
    assert isinstance(conv0, nn.Conv1d)
    if any(m.cmn != models[0].cmn for m in models):
        raise ValueError("heads of one ensemble must all use mean normalization or none")
    src = "embeddings"
    nodes: list[onnx.NodeProto] = []
    if models[0].cmn:
        nodes = [helper.make_node("ReduceMean", [src], ["emb_mean"], axes=[1], keepdims=1),
                 helper.make_node("Sub", [src, "emb_mean"], ["emb_cmn"])]
        src = "emb_cmn"
    nodes.append(helper.make_node("Transpose", [src], ["x0"], perm=[0, 2, 1]))
    inits: list[onnx.TensorProto] = []
    if len(models) == 1:
        n, i = _head_nodes(models[0], "", "probs")
        nodes, inits = nodes + n, i
    else:
        for k, m in enumerate(models):
            n, i = _head_nodes(m, f"h{k}.", f"h{k}.probs")
            nodes, inits = nodes + n, inits + i
        nodes.append(helper.make_node("Mean", [f"h{k}.probs" for k in range(len(models))], ["probs"]))
    graph = helper.make_graph(
        nodes, "command_head",
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "time", conv0.in_channels])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", len(labels)])],
        inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="homeagent")
    m.ir_version = 8
    helper.set_model_props(m, {"labels": ",".join(labels), "heads": str(len(models))})
    onnx.checker.check_model(m)
    onnx.save(m, path)
