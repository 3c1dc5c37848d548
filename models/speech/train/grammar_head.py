"""The grammar head: one small temporal-conv encoder over speech embeddings shared by an intent head
(intents + ``unknown``) and one head per slot variable (its canonical values + ``absent``).

Input ``(B, T, 96)`` → three 1-D convolutions (dilations 1, 2, 4; batch-norm, ReLU) → max- and mean-pooling
over time → per head: linear → softmax. The ONNX graph (opset 17) is written directly with ``onnx.helper``
(batch-norm folded), with input ``embeddings`` and outputs ``intent`` and ``slot_<variable>``.
"""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

DILATIONS = (1, 2, 4)


class GrammarHead(nn.Module):
    def __init__(self, n_intents: int, slot_sizes: list[int], dim: int = 96, ch: int = 96,
                 dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = dim
        for d in DILATIONS:
            layers += [nn.Conv1d(c_in, ch, 3, padding=d, dilation=d), nn.BatchNorm1d(ch), nn.ReLU()]
            c_in = ch
        self.convs = nn.Sequential(*layers)
        self.drop_in = nn.Dropout(dropout)
        self.drop = nn.Dropout(dropout)
        self.intent = nn.Linear(2 * ch, n_intents)
        self.slots = nn.ModuleList([nn.Linear(2 * ch, n) for n in slot_sizes])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # (B, T, D) -> [intent logits, slot logits...]
        h = self.convs(self.drop_in(x).transpose(1, 2))
        pooled = self.drop(torch.cat([h.amax(dim=2), h.mean(dim=2)], dim=1))
        return [self.intent(pooled), *[s(pooled) for s in self.slots]]


def _fold(conv: nn.Conv1d, bn: nn.BatchNorm1d) -> tuple[np.ndarray, np.ndarray]:
    w = conv.weight.detach().numpy().astype(np.float64)
    b = conv.bias.detach().numpy().astype(np.float64) if conv.bias is not None else np.zeros(w.shape[0])
    assert bn.running_mean is not None and bn.running_var is not None
    scale = bn.weight.detach().numpy() / np.sqrt(bn.running_var.numpy() + bn.eps)
    w = w * scale[:, None, None]
    b = (b - bn.running_mean.numpy()) * scale + bn.bias.detach().numpy()
    return w.astype(np.float32), b.astype(np.float32)


def _linear(name: str, lin: nn.Linear, inits: list[onnx.TensorProto]) -> list[onnx.NodeProto]:
    inits += [numpy_helper.from_array(lin.weight.detach().numpy().astype(np.float32), f"{name}.w"),
              numpy_helper.from_array(lin.bias.detach().numpy().astype(np.float32), f"{name}.b")]
    return [helper.make_node("Gemm", ["pooled", f"{name}.w", f"{name}.b"], [f"{name}.logits"], transB=1),
            helper.make_node("Softmax", [f"{name}.logits"], [name], axis=1)]


def export_onnx(model: GrammarHead, path: str, outputs: list[tuple[str, int]]) -> None:
    """Write the model (eval mode): input ``embeddings`` (B, T, 96); outputs ``outputs`` = [(name, size)],
    the first the intent head, then the slot heads in order."""
    model.eval()
    mods = list(model.convs)
    conv0 = mods[0]
    assert isinstance(conv0, nn.Conv1d)
    inits: list[onnx.TensorProto] = []
    nodes = [helper.make_node("Transpose", ["embeddings"], ["x0"], perm=[0, 2, 1])]
    x = "x0"
    for i, d in enumerate(DILATIONS):
        conv, bn = mods[3 * i], mods[3 * i + 1]
        assert isinstance(conv, nn.Conv1d) and isinstance(bn, nn.BatchNorm1d)
        w, b = _fold(conv, bn)
        inits += [numpy_helper.from_array(w, f"conv{i}.w"), numpy_helper.from_array(b, f"conv{i}.b")]
        nodes.append(helper.make_node("Conv", [x, f"conv{i}.w", f"conv{i}.b"], [f"c{i}"], dilations=[d],
                                      pads=[d, d], kernel_shape=[3]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        x = f"r{i}"
    nodes += [helper.make_node("ReduceMax", [x], ["pmax"], axes=[2], keepdims=0),
              helper.make_node("ReduceMean", [x], ["pmean"], axes=[2], keepdims=0),
              helper.make_node("Concat", ["pmax", "pmean"], ["pooled"], axis=1)]
    linears = [model.intent, *model.slots]
    assert len(linears) == len(outputs)
    for (name, size), lin in zip(outputs, linears, strict=True):
        assert isinstance(lin, nn.Linear) and lin.out_features == size, (name, size)
        nodes += _linear(name, lin, inits)
    graph = helper.make_graph(
        nodes, "grammar_head",
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "time", conv0.in_channels])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", s]) for n, s in outputs], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="homeagent")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)
