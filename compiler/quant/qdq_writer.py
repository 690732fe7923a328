"""Write a quantized tinyc graph as a QDQ ONNX model (the independent check; the Jetson backend reuses it).

Every integer tensor of the IR keeps its name and integer type in ONNX. A
quantized op becomes its float ONNX form between DequantizeLinear nodes on
its inputs (activations per tensor; int8 weights per output channel, axis 0
after re-layout; int32/int64 biases with scale ``s_in * s_w``) and a
QuantizeLinear on its output with the output's parameters. A runtime that
executes the QDQ model in float (onnxruntime) then computes what the integer
reference computes up to the rounding of the fixed-point requantization: at
most one step of the output grid on almost every element.

Kernel-level ops are written in ONNX's layout: NHWC activations are
transposed to NCHW around Conv / pools, OHWI weights become OIHW (depthwise
[1, KH, KW, C] becomes [C, 1, KH, KW] with ``group = C``), fused clamps
become Relu / Clip. ONNX-level ops are written as themselves, with the
attributes the importer turned into attributes put back as inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tinyc.errors import UnsupportedOpError
from tinyc.export.onnx_writer import ONNX_TYPES
from tinyc.ir.core import Graph, Node, Value
from tinyc.ir.dtypes import DType
from tinyc.ir.types import QuantParams

TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)


class _Writer:
    def __init__(self, graph: Graph, opset: int) -> None:
        self.g = graph
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.names: set[str] = {v.name for v in graph.values()}
        self.counter = 0
        self.cache: dict[tuple[int, tuple[int, ...] | None], str] = {}

    # -- naming and emission --------------------------------------------------------
    def fresh(self, hint: str) -> str:
        while True:
            self.counter += 1
            name = f"{hint}__{self.counter}"
            if name not in self.names:
                self.names.add(name)
                return name

    def init(self, hint: str, arr: np.ndarray) -> str:
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.array(arr, order="C"), name))  # ascontiguousarray would make 0-d arrays 1-d
        return name

    def emit(self, op: str, inputs: list[str], outputs: list[str] | None = None, hint: str = "", **attrs: Any) -> str:
        outs = outputs or [self.fresh(hint or op.lower())]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.fresh(f"{hint or op}_node"), **attrs))
        return outs[0]

    def qparams(self, q: QuantParams, dtype: DType, hint: str) -> tuple[str, str]:
        scale = np.asarray(q.scale, dtype=np.float32)
        zp = np.asarray(q.zero_point, dtype=dtype.numpy)
        if q.axis is None:
            scale, zp = scale.reshape(()), zp.reshape(())
        return self.init(f"{hint}_scale", scale), self.init(f"{hint}_zero_point", zp)

    def dq(self, src: str, q: QuantParams, dtype: DType, hint: str, axis: int | None = None) -> str:
        s, z = self.qparams(q, dtype, hint)
        attrs: dict[str, Any] = {} if q.axis is None else {"axis": axis if axis is not None else q.axis}
        return self.emit("DequantizeLinear", [src, s, z], hint=f"{hint}_dq", **attrs)

    def q(self, src: str, q: QuantParams, dtype: DType, out: str) -> str:
        s, z = self.qparams(q, dtype, out)
        return self.emit("QuantizeLinear", [src, s, z], [out])

    # -- values -----------------------------------------------------------------------
    def float_input(self, v: Value, *, permute: tuple[int, ...] | None = None) -> str:
        """The name of a float version of ``v`` (constants: an initializer, re-laid out by ``permute``)."""
        key = (id(v), permute)
        if key not in self.cache:
            self.cache[key] = self._float_input(v, permute)
        return self.cache[key]

    def _float_input(self, v: Value, permute: tuple[int, ...] | None) -> str:
        if v.is_const:
            assert v.const is not None
            data = v.const if permute is None else np.transpose(v.const, permute)
            q = v.type.quant
            dtype = v.type.dtype
            if q is not None and dtype is DType.I64:  # 16x8 biases: DequantizeLinear stops at int32
                info = np.iinfo(np.int32)
                if data.min(initial=0) < info.min or data.max(initial=0) > info.max:
                    return self.init(v.name, self._real(data, q, permute))
                data, dtype = data.astype(np.int32), DType.I32
            name = self.init(v.name, data)
            if q is not None and dtype.is_int:
                axis = None if q.axis is None else (q.axis if permute is None else permute.index(q.axis))
                return self.dq(name, q, dtype, v.name, axis)
            return name
        if v.type.quant is not None and v.type.dtype.is_int:
            src = v.name
            out = self.dq(src, v.type.quant, v.type.dtype, v.name)
            return out if permute is None else self.emit("Transpose", [out], perm=list(permute))
        return v.name if permute is None else self.emit("Transpose", [v.name], perm=list(permute))

    @staticmethod
    def _real(data: np.ndarray, q: QuantParams, permute: tuple[int, ...] | None) -> np.ndarray:
        shape = [1] * data.ndim
        if q.axis is not None:
            axis = q.axis if permute is None else permute.index(q.axis)
            shape[axis] = len(q.scale)
        scale = np.asarray(q.scale, np.float64).reshape(shape if q.axis is not None else ())
        zp = np.asarray(q.zero_point, np.float64).reshape(shape if q.axis is not None else ())
        return ((data.astype(np.float64) - zp) * scale).astype(np.float32)

    def finish_output(self, node: Node, i: int, float_name: str) -> None:
        """Route a float result to the IR output: quantize it when the IR output is an integer tensor."""
        out = node.outputs[i]
        if out.type.quant is not None and out.type.dtype.is_int:
            self.q(float_name, out.type.quant, out.type.dtype, out.name)
        else:
            self.emit("Identity", [float_name], [out.name])

    def clamp(self, x: str, lo: float | None, hi: float | None) -> str:
        if lo is None and hi is None:
            return x
        if lo == 0.0 and hi is None:
            return self.emit("Relu", [x])
        ins = [x, self.init("clip_min", np.float32(lo)) if lo is not None else "", self.init("clip_max", np.float32(hi)) if hi is not None else ""]
        while ins and ins[-1] == "":
            ins.pop()
        return self.emit("Clip", ins)

    # -- nodes ------------------------------------------------------------------------
    def node(self, node: Node) -> None:
        name = node.op.name
        if name == "QuantizeLinear":
            a = node.attrs
            self.q(node.input(0).name if not node.input(0).is_const else self.float_input(node.input(0)), QuantParams(a.scale, a.zero_point, a.axis), a.dtype, node.output.name)
            return
        if name == "DequantizeLinear":
            a = node.attrs
            src = node.input(0)
            s, z = self.qparams(QuantParams(a.scale, a.zero_point, a.axis), src.type.dtype, node.output.name)
            attrs = {} if a.axis is None else {"axis": a.axis}
            src_name = self.init(src.name, src.const) if src.is_const and src.const is not None else src.name
            self.emit("DequantizeLinear", [src_name, s, z], [node.output.name], **attrs)
            return
        if name == "Requantize":
            self.finish_output(node, 0, self.float_input(node.input(0)))
            return
        fn = KERNEL_WRITERS.get(name)
        if fn is not None:
            self.finish_output(node, 0, fn(self, node))
            return
        outs = self.onnx_op(node)
        for i, o in enumerate(outs):
            self.finish_output(node, i, o)

    def onnx_op(self, node: Node) -> list[str]:
        """An ONNX-level op on float versions of its inputs; returns the float output names."""
        op = node.op
        if op.onnx_op is None:
            raise UnsupportedOpError(f"the QDQ ONNX writer has no form for {op.name}", where=f"node {node.name!r}")
        ins = [self.float_input(v) if v is not None else "" for v in node.inputs]
        a = node.attrs
        attrs: dict[str, Any] = {}
        extra: list[str] = []
        n_out = len(node.outputs)
        if op.name == "Reshape":
            extra = [self.init("shape", np.asarray(a.shape, np.int64))]
            if a.allowzero:
                attrs["allowzero"] = 1
        elif op.name == "Clip":
            extra = [self.init("min", np.float32(a.min)) if a.min is not None else "", self.init("max", np.float32(a.max)) if a.max is not None else ""]
        elif op.name == "Pad":
            extra = [self.init("pads", np.asarray(a.pads, np.int64)), self.init("value", np.float32(a.constant_value))]
            attrs["mode"] = a.mode.value
        elif op.name in ("Squeeze", "Unsqueeze"):
            extra = [self.init("axes", np.asarray(a.axes, np.int64))]
        elif op.name == "Slice":
            extra = [self.init(k, np.asarray(getattr(a, k), np.int64)) for k in ("starts", "ends", "axes", "steps")]
        elif op.name == "Split":
            extra = [self.init("split", np.asarray(a.split, np.int64))]
            attrs["axis"] = a.axis
        elif op.name.startswith("Reduce"):
            if a.axes is not None:
                if self.opset >= 18 or op.name == "ReduceSum":
                    extra = [self.init("axes", np.asarray(a.axes, np.int64))]
                else:
                    attrs["axes"] = list(a.axes)
            attrs["keepdims"] = int(a.keepdims)
        elif op.name in ("Softmax", "LogSoftmax"):
            return [self._softmax(node, ins[0])]
        else:
            attrs = _plain_attrs(a)
        while extra and extra[-1] == "":
            extra.pop()
        outs = [self.fresh(f"{o.name}_f") for o in node.outputs] if n_out > 1 else None
        result = self.emit(op.onnx_op, ins + extra, outs, hint=f"{node.outputs[0].name}_f", **attrs)
        return outs if outs is not None else [result]

    def _softmax(self, node: Node, x: str) -> str:
        a = node.attrs
        if not a.coerce_2d:
            return self.emit(node.op.onnx_op or "Softmax", [x], axis=a.axis)
        flat = self.emit("Flatten", [x], axis=a.axis)
        y = self.emit(node.op.onnx_op or "Softmax", [flat], axis=1)
        return self.emit("Reshape", [y, self.init("shape", np.asarray(node.output.type.shape, np.int64))])


def _plain_attrs(attrs: Any) -> dict[str, Any]:
    """Attributes whose IR field maps 1:1 onto an ONNX attribute of the same name."""
    out: dict[str, Any] = {}
    for k, v in getattr(attrs, "__dict__", {}).items():
        if v is None:
            continue
        if hasattr(v, "value") and not isinstance(v, (int, float)):
            v = v.value
        if isinstance(v, bool):
            v = int(v)
        out[k] = list(v) if isinstance(v, tuple) else v
    return out


# -- kernel-level ops -------------------------------------------------------------------


def _conv2d(w: _Writer, node: Node) -> str:
    a = node.attrs
    x = w.float_input(node.input(0), permute=TO_NCHW)
    wt = w.float_input(node.input(1), permute=(0, 3, 1, 2))  # OHWI -> OIHW
    ins = [x, wt] + ([w.float_input(node.input(2))] if node.opt_input(2) is not None else [])
    k = node.input(1).type.shape[1:3]
    y = w.emit("Conv", ins, hint="conv", kernel_shape=list(k), strides=list(a.strides), dilations=list(a.dilations), pads=list(a.pads), group=1)
    return w.clamp(w.emit("Transpose", [y], perm=list(TO_NHWC)), a.act_min, a.act_max)


def _depthwise(w: _Writer, node: Node) -> str:
    a = node.attrs
    x = w.float_input(node.input(0), permute=TO_NCHW)
    wt = w.float_input(node.input(1), permute=(3, 0, 1, 2))  # [1, KH, KW, C] -> [C, 1, KH, KW]
    ins = [x, wt] + ([w.float_input(node.input(2))] if node.opt_input(2) is not None else [])
    k = node.input(1).type.shape[1:3]
    group = node.input(0).type.shape[3]
    y = w.emit("Conv", ins, hint="dwconv", kernel_shape=list(k), strides=list(a.strides), dilations=list(a.dilations), pads=list(a.pads), group=group)
    return w.clamp(w.emit("Transpose", [y], perm=list(TO_NHWC)), a.act_min, a.act_max)


def _fully_connected(w: _Writer, node: Node) -> str:
    a = node.attrs
    x = w.float_input(node.input(0))
    wt = w.float_input(node.input(1))
    b = w.float_input(node.input(2)) if node.opt_input(2) is not None else None
    if node.input(0).type.rank == 2:
        y = w.emit("Gemm", [x, wt] + ([b] if b else []), hint="fc", transB=1)
    else:
        y = w.emit("MatMul", [x, w.emit("Transpose", [wt], perm=[1, 0])], hint="fc")
        if b:
            y = w.emit("Add", [y, b])
    return w.clamp(y, a.act_min, a.act_max)


def _pool(kind: str) -> Callable[[_Writer, Node], str]:
    def write(w: _Writer, node: Node) -> str:
        a = node.attrs
        x = w.float_input(node.input(0), permute=TO_NCHW)
        attrs: dict[str, Any] = dict(kernel_shape=list(a.kernel), strides=list(a.strides), pads=list(a.pads))
        if kind == "AveragePool":
            attrs["count_include_pad"] = 0
        y = w.emit(kind, [x], **attrs)
        return w.clamp(w.emit("Transpose", [y], perm=list(TO_NHWC)), a.act_min, a.act_max)

    return write


def _binary(kind: str) -> Callable[[_Writer, Node], str]:
    def write(w: _Writer, node: Node) -> str:
        y = w.emit(kind, [w.float_input(node.input(0)), w.float_input(node.input(1))])
        return w.clamp(y, node.attrs.act_min, node.attrs.act_max)

    return write


KERNEL_WRITERS: dict[str, Callable[[_Writer, Node], str]] = {
    "Conv2D": _conv2d,
    "DepthwiseConv2D": _depthwise,
    "FullyConnected": _fully_connected,
    "MaxPool2D": _pool("MaxPool"),
    "AvgPool2D": _pool("AveragePool"),
    "AddAct": _binary("Add"),
    "MulAct": _binary("Mul"),
}


def _value_info(v: Value) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(v.name, ONNX_TYPES[v.type.dtype], list(v.type.shape))


def needed_opset(graph: Graph) -> int:
    """13 (per-axis Q/DQ) unless the graph has int16 tensors, which QuantizeLinear supports from opset 21."""
    uses_16 = any(v.type.dtype is DType.I16 for v in graph.values())
    return 21 if uses_16 else 17


def to_qdq_onnx(graph: Graph, *, opset: int | None = None, producer: str = "tinyc") -> onnx.ModelProto:
    """The QDQ ONNX model of a quantized (or float) tinyc graph; value names are kept."""
    opset = opset or needed_opset(graph)
    w = _Writer(graph, opset)
    for node in graph.nodes:
        w.node(node)
    inputs = [_value_info(v) for v in graph.inputs]
    outputs = [_value_info(v) for v in graph.outputs]
    g = helper.make_graph(w.nodes, graph.name or "tinyc", inputs, outputs, initializer=w.inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name=producer)
    model.ir_version = min(model.ir_version, 10)
    onnx.checker.check_model(model)
    return model


def write_qdq_onnx(graph: Graph, path: str | Path, *, opset: int | None = None) -> Path:
    """Write :func:`to_qdq_onnx` to ``path``."""
    p = Path(path)
    onnx.save(to_qdq_onnx(graph, opset=opset), str(p))
    return p
