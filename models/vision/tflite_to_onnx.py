"""Convert the MediaPipe hand TFLite models to ONNX (build time only; needs the ``tflite`` parser package).

A small, exact converter for the op set these models use (CONV_2D, DEPTHWISE_CONV_2D, ADD, PRELU, MAX_POOL_2D,
PAD, RESIZE_BILINEAR, RESHAPE, CONCATENATION, MEAN, FULLY_CONNECTED, LOGISTIC, DEQUANTIZE). fp16 weights behind
DEQUANTIZE ops are folded into fp32 initializers. 4-D tensors are kept NCHW inside the graph; the model's
inputs and outputs keep the TFLite NHWC layout, so the runtime feeds exactly what the TFLite model takes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

log = logging.getLogger(__name__)

_TFL_NP = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}


class _Converter:
    def __init__(self, buf: bytes) -> None:
        import tflite  # build-time dependency

        self.tfl = tflite
        self.model = tflite.Model.GetRootAsModel(buf, 0)
        self.graph = self.model.Subgraphs(0)
        self.op_names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.consts: dict[int, np.ndarray] = {}
        self.nchw: dict[int, bool] = {}  # tensor index -> stored NCHW in the graph
        self.uid = 0

    # -- helpers -------------------------------------------------------------------------------------------
    def name(self, idx: int) -> str:
        return f"t{idx}"

    def fresh(self, base: str) -> str:
        self.uid += 1
        return f"{base}_{self.uid}"

    def tensor(self, idx: int) -> Any:
        return self.graph.Tensors(idx)

    def shape(self, idx: int) -> list[int]:
        return [int(d) for d in self.tensor(idx).ShapeAsNumpy()]

    def buffer(self, idx: int) -> np.ndarray | None:
        t = self.tensor(idx)
        data = self.model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data is None or len(data) == 0:
            return None
        arr = np.frombuffer(data.tobytes(), dtype=_TFL_NP[t.Type()])
        return arr.reshape(self.shape(idx))

    def const(self, idx: int) -> np.ndarray:
        if idx in self.consts:
            return self.consts[idx]
        arr = self.buffer(idx)
        if arr is None:
            raise ValueError(f"tensor {idx} is not constant")
        return arr.astype(np.float32) if arr.dtype == np.float16 else arr

    def add_init(self, arr: np.ndarray, base: str) -> str:
        n = self.fresh(base)
        self.inits.append(numpy_helper.from_array(arr, n))
        return n

    def node(self, op: str, inputs: list[str], outputs: list[str] | None = None, **attrs: Any) -> str:
        outs = outputs or [self.fresh(op.lower())]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.fresh(op), **attrs))
        return outs[0]

    def activation(self, out_name: str, fused: int, final: str) -> None:
        A = self.tfl.ActivationFunctionType
        if fused == A.NONE:
            self.nodes[-1].output[0] = final
        elif fused == A.RELU:
            self.node("Relu", [out_name], [final])
        elif fused == A.RELU6:
            self.node("Clip", [out_name, self.add_init(np.float32(0), "lo"), self.add_init(np.float32(6), "hi")],
                      [final])
        else:
            raise NotImplementedError(f"fused activation {fused}")

    def as_nhwc(self, idx: int) -> str:
        if self.nchw.get(idx):
            return self.node("Transpose", [self.name(idx)], perm=[0, 2, 3, 1])
        return self.name(idx)

    @staticmethod
    def same_pads(in_hw: list[int], k: list[int], s: list[int], d: list[int]) -> list[int]:
        begin, end = [], []
        for i, kk, ss, dd in zip(in_hw, k, s, d, strict=False):
            out = -(-i // ss)
            total = max((out - 1) * ss + (kk - 1) * dd + 1 - i, 0)
            begin.append(total // 2)
            end.append(total - total // 2)
        return begin + end

    def pads(self, padding: int, idx: int, k: list[int], s: list[int], d: list[int]) -> list[int]:
        if padding == self.tfl.Padding.VALID:
            return [0, 0, 0, 0]
        hw = self.shape(idx)[1:3]
        return self.same_pads(hw, k, s, d)

    # -- ops -----------------------------------------------------------------------------------------------
    def convert(self) -> onnx.ModelProto:
        g = self.graph
        inputs, outputs = [], []
        for i in range(g.InputsLength()):
            idx = g.Inputs(i)
            shp = self.shape(idx)
            nm = self.tensor(idx).Name().decode()
            inputs.append(helper.make_tensor_value_info(nm, TensorProto.FLOAT, shp))
            if len(shp) == 4:
                self.node("Transpose", [nm], [self.name(idx)], perm=[0, 3, 1, 2])
                self.nchw[idx] = True
            else:
                self.node("Identity", [nm], [self.name(idx)])
        for i in range(g.OperatorsLength()):
            self.op(g.Operators(i))
        for i in range(g.OutputsLength()):
            idx = g.Outputs(i)
            nm = self.tensor(idx).Name().decode()
            if self.nchw.get(idx):
                self.node("Transpose", [self.name(idx)], [nm], perm=[0, 2, 3, 1])
            else:
                self.node("Identity", [self.name(idx)], [nm])
            outputs.append(helper.make_tensor_value_info(nm, TensorProto.FLOAT, self.shape(idx)))
        graph = helper.make_graph(self.nodes, "mediapipe_hand", inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                  producer_name="homeagent-tflite2onnx")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model

    def op(self, op: Any) -> None:
        oc = self.model.OperatorCodes(op.OpcodeIndex())
        code = self.op_names[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())]
        ins = [op.Inputs(i) for i in range(op.InputsLength())]
        out = op.Outputs(0)
        handler = getattr(self, f"op_{code.lower()}", None)
        if handler is None:
            raise NotImplementedError(f"TFLite op {code}")
        handler(op, ins, out)

    def op_dequantize(self, op: Any, ins: list[int], out: int) -> None:
        self.consts[out] = self.const(ins[0]).astype(np.float32)

    def _options(self, op: Any, cls: Any) -> Any:
        opts = cls()
        tab = op.BuiltinOptions()
        opts.Init(tab.Bytes, tab.Pos)
        return opts

    def op_conv_2d(self, op: Any, ins: list[int], out: int, depthwise: bool = False) -> None:
        T = self.tfl
        o = self._options(op, T.DepthwiseConv2DOptions if depthwise else T.Conv2DOptions)
        w = self.const(ins[1])  # conv: [O,kh,kw,I]; depthwise: [1,kh,kw,C*m]
        if depthwise:
            cin = self.shape(ins[0])[3]
            w_onnx = w.transpose(3, 0, 1, 2)  # [C*m,1,kh,kw]
            group = cin
        else:
            w_onnx = w.transpose(0, 3, 1, 2)
            group = 1
        k = list(w.shape[1:3])
        s = [o.StrideH(), o.StrideW()]
        d = [o.DilationHFactor(), o.DilationWFactor()]
        inputs = [self.name(ins[0]), self.add_init(np.ascontiguousarray(w_onnx), "W")]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self.add_init(self.const(ins[2]).astype(np.float32), "B"))
        y = self.node("Conv", inputs, kernel_shape=k, strides=s, dilations=d, group=group,
                      pads=self.pads(o.Padding(), ins[0], k, s, d))
        self.activation(y, o.FusedActivationFunction(), self.name(out))
        self.nchw[out] = True

    def op_depthwise_conv_2d(self, op: Any, ins: list[int], out: int) -> None:
        self.op_conv_2d(op, ins, out, depthwise=True)

    def _operand(self, idx: int, like_nchw: bool) -> str:
        if idx in self.consts or self.buffer(idx) is not None:
            c = self.const(idx).astype(np.float32)
            if like_nchw and c.ndim == 4:
                c = c.transpose(0, 3, 1, 2)
            elif like_nchw and c.ndim in (1, 3):
                c = c.reshape(-1, 1, 1)
            return self.add_init(np.ascontiguousarray(c), "C")
        return self.name(idx)

    def op_add(self, op: Any, ins: list[int], out: int) -> None:
        o = self._options(op, self.tfl.AddOptions)
        lay = bool(self.nchw.get(ins[0]) or self.nchw.get(ins[1]))
        y = self.node("Add", [self._operand(ins[0], lay), self._operand(ins[1], lay)])
        self.activation(y, o.FusedActivationFunction(), self.name(out))
        self.nchw[out] = lay

    def op_prelu(self, op: Any, ins: list[int], out: int) -> None:
        alpha = self.const(ins[1]).astype(np.float32).reshape(-1, 1, 1)
        self.node("PRelu", [self.name(ins[0]), self.add_init(alpha, "alpha")], [self.name(out)])
        self.nchw[out] = True

    def op_max_pool_2d(self, op: Any, ins: list[int], out: int) -> None:
        o = self._options(op, self.tfl.Pool2DOptions)
        k = [o.FilterHeight(), o.FilterWidth()]
        s = [o.StrideH(), o.StrideW()]
        y = self.node("MaxPool", [self.name(ins[0])], kernel_shape=k, strides=s,
                      pads=self.pads(o.Padding(), ins[0], k, s, [1, 1]))
        self.activation(y, o.FusedActivationFunction(), self.name(out))
        self.nchw[out] = True

    def op_pad(self, op: Any, ins: list[int], out: int) -> None:
        p = self.const(ins[1]).astype(np.int64)  # [4,2] NHWC
        order = [0, 3, 1, 2]
        pads = [int(p[i, 0]) for i in order] + [int(p[i, 1]) for i in order]
        self.node("Pad", [self.name(ins[0]), self.add_init(np.array(pads, np.int64), "pads")],
                  [self.name(out)], mode="constant")
        self.nchw[out] = True

    def op_resize_bilinear(self, op: Any, ins: list[int], out: int) -> None:
        o = self._options(op, self.tfl.ResizeBilinearOptions)
        if o.AlignCorners():
            mode = "align_corners"
        elif o.HalfPixelCenters():
            mode = "half_pixel"
        else:
            mode = "asymmetric"
        n, h, w, c = self.shape(out)
        sizes = self.add_init(np.array([n, c, h, w], np.int64), "sizes")
        self.node("Resize", [self.name(ins[0]), "", "", sizes], [self.name(out)], mode="linear",
                  coordinate_transformation_mode=mode)
        self.nchw[out] = True

    def op_reshape(self, op: Any, ins: list[int], out: int) -> None:
        shp = self.add_init(np.array(self.shape(out), np.int64), "shape")
        self.node("Reshape", [self.as_nhwc(ins[0]), shp], [self.name(out)])
        self.nchw[out] = False

    def op_concatenation(self, op: Any, ins: list[int], out: int) -> None:
        o = self._options(op, self.tfl.ConcatenationOptions)
        rank = len(self.shape(out))
        axis = o.Axis() % rank
        lay = rank == 4 and all(self.nchw.get(i) for i in ins)
        if lay:
            axis = [0, 2, 3, 1][axis]
            names = [self.name(i) for i in ins]
        else:
            names = [self.as_nhwc(i) for i in ins]
        y = self.node("Concat", names, axis=axis)
        self.activation(y, o.FusedActivationFunction(), self.name(out))
        self.nchw[out] = lay

    def op_mean(self, op: Any, ins: list[int], out: int) -> None:
        o = self._options(op, self.tfl.ReducerOptions)
        axes = [int(a) for a in self.const(ins[1]).reshape(-1)]
        if not self.nchw.get(ins[0]) or sorted(axes) != [1, 2]:
            raise NotImplementedError("MEAN only over H,W of a 4-D tensor")
        keep = int(o.KeepDims())
        y = self.node("ReduceMean", [self.name(ins[0])], axes=[2, 3], keepdims=keep)
        if keep:
            self.node("Transpose", [y], [self.name(out)], perm=[0, 2, 3, 1])
        else:
            self.node("Identity", [y], [self.name(out)])
        self.nchw[out] = False

    def op_fully_connected(self, op: Any, ins: list[int], out: int) -> None:
        o = self._options(op, self.tfl.FullyConnectedOptions)
        w = self.const(ins[1]).astype(np.float32)  # [O, I]
        x = self.as_nhwc(ins[0])
        x = self.node("Reshape", [x, self.add_init(np.array([-1, w.shape[1]], np.int64), "shape")])
        inputs = [x, self.add_init(np.ascontiguousarray(w), "W")]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self.add_init(self.const(ins[2]).astype(np.float32), "B"))
        y = self.node("Gemm", inputs, transB=1)
        out_shape = self.shape(out)
        if len(out_shape) != 2:
            y = self.node("Reshape", [y, self.add_init(np.array(out_shape, np.int64), "shape")])
        self.activation(y, o.FusedActivationFunction(), self.name(out))
        self.nchw[out] = False

    def op_logistic(self, op: Any, ins: list[int], out: int) -> None:
        self.node("Sigmoid", [self.name(ins[0])], [self.name(out)])
        self.nchw[out] = self.nchw.get(ins[0], False)


def convert_tflite(src: Path, dst: Path) -> None:
    """Convert one TFLite file to ONNX (opset 17, fp32)."""
    model = _Converter(src.read_bytes()).convert()
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    log.info("converted %s -> %s (%d nodes)", src.name, dst.name, len(model.graph.node))
