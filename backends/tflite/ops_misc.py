"""Op table entries for element-wise ops, activations, shape ops, concatenation, padding, mean and (de)quantization."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyc.backends.tflite.optable import (
    FUSED,
    Mapping,
    ReadCtx,
    WriteCtx,
    mapping,
    options_of,
    read_activation,
    write_clamp,
    write_with_activation,
)
from tinyc.backends.tflite.schema import schema
from tinyc.ir.core import Node
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import OPS
from tinyc.ir.types import TensorType


def _const_ints(r: ReadCtx, k: int, what: str) -> list[int]:
    data = r.const(k)
    if data is None:
        raise r.fail(f"{what} must be a constant tensor", "tinyc needs static shapes")
    if data.dtype.kind not in "iu":
        raise r.fail(f"{what} must be integers, got {data.dtype}")
    return [int(v) for v in data.reshape(-1)]


# -- element-wise binary ---------------------------------------------------------------------------


@mapping
class BinaryMapping(Mapping):
    builtins = ("ADD", "MUL", "SUB", "MAXIMUM", "MINIMUM")
    min_inputs = dict.fromkeys(builtins, 2)
    ir_ops = ("AddAct", "Add", "MulAct", "Mul", "Sub", "Max", "Min")
    pairs = (
        ("ADD", "AddAct", "both"),
        ("ADD", "Add", "write"),
        ("MUL", "MulAct", "both"),
        ("MUL", "Mul", "write"),
        ("SUB", "Sub", "both"),
        ("MAXIMUM", "Max", "both"),
        ("MINIMUM", "Min", "both"),
        ("MAXIMUM", "Clip", "both"),
        ("MINIMUM", "Clip", "both"),
    )

    _READ = {"ADD": ("AddAct", "AddOptions"), "MUL": ("MulAct", "MulOptions"), "SUB": ("Sub", "SubOptions"), "MAXIMUM": ("Max", None), "MINIMUM": ("Min", None)}
    _WRITE = {"AddAct": ("ADD", "AddOptions"), "Add": ("ADD", "AddOptions"), "MulAct": ("MUL", "MulOptions"), "Mul": ("MUL", "MulOptions"), "Sub": ("SUB", "SubOptions"), "Max": ("MAXIMUM", None), "Min": ("MINIMUM", None)}

    def read(self, r: ReadCtx, op: Any) -> None:
        ir_op, opt_name = self._READ[r.builtin]
        ins = r.inputs()
        if len(ins) != 2:
            raise r.fail(f"{r.builtin} takes two inputs, got {len(ins)}")
        if r.builtin in ("MAXIMUM", "MINIMUM") and self._read_clamp(r, ins):
            return
        a, b = r.value(ins[0]), r.value(ins[1])
        lo = hi = None
        if opt_name is not None:
            lo, hi = read_activation(r, options_of(r, opt_name).fusedActivationFunction)
        out = r.outputs()[0]
        if ir_op in ("AddAct", "MulAct"):
            r.emit(ir_op, [a, b], OPS[ir_op].Attrs(act_min=lo, act_max=hi), out=out)
        elif lo is None and hi is None:
            r.emit(ir_op, [a, b], None, out=out)
        else:
            t = r.ttype(out)
            y = r.emit_tmp(ir_op, [a, b], None, t, "unclamped")
            r.emit("Clip", [y], OPS["Clip"].Attrs(min=lo, max=hi), out=out)

    @staticmethod
    def _read_clamp(r: ReadCtx, ins: list[int]) -> bool:
        """MAXIMUM/MINIMUM of a tensor and a constant scalar on the same grid is a clamp (Clip)."""
        consts = [(i, r.const(k)) for i, k in enumerate(ins)]
        scalar = [(i, c) for i, c in consts if c is not None and c.size == 1]
        if len(scalar) != 1:
            return False
        i, c = scalar[0]
        x_k, out = ins[1 - i], r.outputs()[0]
        xt, ct, yt = r.ttype(x_k), r.ttype(ins[i]), r.ttype(out)
        if xt != yt or ct.quant != xt.quant or ct.dtype is not xt.dtype:
            return False
        raw = float(c.reshape(-1)[0])
        q = xt.quant
        bound = raw if q is None or not xt.dtype.is_int else float(np.float32(q.scale[0]) * np.float32(raw - q.zero_point[0]))
        attrs = OPS["Clip"].Attrs(min=bound) if r.builtin == "MAXIMUM" else OPS["Clip"].Attrs(max=bound)
        r.emit("Clip", [r.value(x_k)], attrs, out=out)
        return True

    def write(self, w: WriteCtx, node: Node) -> None:
        builtin, opt_name = self._WRITE[node.op.name]
        if len([v for v in node.inputs if v is not None]) != 2:
            raise w.fail(node, f"{node.op.name} with {len(node.inputs)} inputs; TFLite's {builtin} takes two")
        ins = [w.tensor(node.input(0)), w.tensor(node.input(1))]
        if opt_name is None:
            w.op(builtin, ins, [w.tensor(node.output)])
            return

        def options(act: int) -> Any:
            o = getattr(schema(), f"{opt_name}T")()
            o.fusedActivationFunction = act
            return o

        write_with_activation(w, node, builtin, ins, options)


# -- activations ---------------------------------------------------------------------------------------


@mapping
class ActivationMapping(Mapping):
    builtins = ("RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU")
    ir_ops = ("Relu", "Clip", "Sigmoid", "Tanh", "HardSwish", "LeakyRelu")
    pairs = (
        ("RELU", "Relu", "both"),
        ("RELU", "Clip", "write"),
        ("RELU6", "Clip", "both"),
        ("RELU_N1_TO_1", "Clip", "both"),
        ("LOGISTIC", "Sigmoid", "both"),
        ("TANH", "Tanh", "both"),
        ("HARD_SWISH", "HardSwish", "both"),
        ("LEAKY_RELU", "LeakyRelu", "both"),
    )
    _SIMPLE = {"RELU": "Relu", "LOGISTIC": "Sigmoid", "TANH": "Tanh", "HARD_SWISH": "HardSwish"}

    def read(self, r: ReadCtx, op: Any) -> None:
        x = r.value(r.inputs()[0])
        out = r.outputs()[0]
        if r.builtin in self._SIMPLE:
            r.emit(self._SIMPLE[r.builtin], [x], None, out=out)
        elif r.builtin == "LEAKY_RELU":
            r.emit("LeakyRelu", [x], OPS["LeakyRelu"].Attrs(alpha=float(options_of(r, "LeakyReluOptions").alpha)), out=out)
        else:
            lo, hi = FUSED[r.builtin]
            r.emit("Clip", [x], OPS["Clip"].Attrs(min=lo, max=hi), out=out)

    def write(self, w: WriteCtx, node: Node) -> None:
        x, y = w.tensor(node.input(0)), w.tensor(node.output)
        name = node.op.name
        if name == "Clip":
            write_clamp(w, node, x, y, node.output.type, (node.attrs.min, node.attrs.max), node.input(0).type)
        elif name == "LeakyRelu":
            o = schema().LeakyReluOptionsT()
            o.alpha = float(node.attrs.alpha)
            w.op("LEAKY_RELU", [x], [y], o)
        else:
            builtin = {v: k for k, v in self._SIMPLE.items()}[name]
            w.op(builtin, [x], [y])


# -- shapes ----------------------------------------------------------------------------------------------

RESHAPES = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")


@mapping
class ReshapeMapping(Mapping):
    builtins = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
    ir_ops = RESHAPES
    pairs = (
        ("RESHAPE", "Reshape", "both"),
        ("SQUEEZE", "Reshape", "read"),
        ("EXPAND_DIMS", "Reshape", "read"),
        *(("RESHAPE", o, "write") for o in RESHAPES[1:]),
    )

    def read(self, r: ReadCtx, op: Any) -> None:
        # Shapes are static: the output tensor's shape is the new shape, whatever form the file gives it in.
        ins, out = r.inputs(), r.outputs()[0]
        xt, yt = r.ttype(ins[0]), r.ttype(out)
        if xt.numel != yt.numel:
            raise r.fail(f"{r.builtin} from {xt} to {yt} changes the element count")
        r.emit("Reshape", [r.value(ins[0])], OPS["Reshape"].Attrs(shape=yt.shape), out=out)

    def write(self, w: WriteCtx, node: Node) -> None:
        x, y = node.input(0), node.output
        if x.type.quant != y.type.quant:
            raise w.fail(node, f"a reshape that changes quantization ({x.type.quant} -> {y.type.quant})", "TFLite's RESHAPE keeps its input's parameters")
        shape = w.const(np.array(y.type.shape, dtype=np.int32), f"{node.name}_shape")
        w.op("RESHAPE", [w.tensor(x), shape], [w.tensor(y)])


@mapping
class TransposeMapping(Mapping):
    builtins = ("TRANSPOSE",)
    min_inputs = {"TRANSPOSE": 2}
    ir_ops = ("Transpose",)

    def read(self, r: ReadCtx, op: Any) -> None:
        ins = r.inputs()
        perm = _const_ints(r, ins[1], "TRANSPOSE's permutation")
        r.emit("Transpose", [r.value(ins[0])], OPS["Transpose"].Attrs(perm=tuple(perm)), out=r.outputs()[0])

    def write(self, w: WriteCtx, node: Node) -> None:
        x = node.input(0)
        perm = node.attrs.perm or tuple(reversed(range(x.type.rank)))
        w.op("TRANSPOSE", [w.tensor(x), w.const(np.array(perm, dtype=np.int32), f"{node.name}_perm")], [w.tensor(node.output)])


@mapping
class ConcatMapping(Mapping):
    builtins = ("CONCATENATION",)
    ir_ops = ("Concat",)

    def read(self, r: ReadCtx, op: Any) -> None:
        o = options_of(r, "ConcatenationOptions")
        ins, out = r.inputs(), r.outputs()[0]
        rank = r.ttype(ins[0]).rank
        if not -rank <= o.axis < rank:
            raise r.fail(f"axis {o.axis} is out of range for rank {rank}")
        lo, hi = read_activation(r, o.fusedActivationFunction)
        attrs = OPS["Concat"].Attrs(axis=o.axis % rank)
        values = [r.value(k) for k in ins]
        if lo is None and hi is None:
            r.emit("Concat", values, attrs, out=out)
        else:
            y = r.emit_tmp("Concat", values, attrs, r.ttype(out), "unclamped")
            r.emit("Clip", [y], OPS["Clip"].Attrs(min=lo, max=hi), out=out)

    def write(self, w: WriteCtx, node: Node) -> None:
        # TFLite's int8 CONCATENATION requires every input on the output's parameters: requantize the others.
        y = node.output.type
        ins = []
        for v in node.inputs:
            if v is None:
                continue
            k = w.tensor(v)
            if y.quant is not None and y.dtype.is_int and (v.type.quant != y.quant or v.type.dtype is not y.dtype):
                moved = w.temp(v.type.with_dtype(y.dtype, y.quant), f"{v.name}_requantized")
                w.op("QUANTIZE", [k], [moved])
                w.note(node, f"input {v.name} requantized to the output's parameters")
                k = moved
            ins.append(k)
        o = schema().ConcatenationOptionsT()
        o.axis = node.attrs.axis % y.rank
        w.op("CONCATENATION", ins, [w.tensor(node.output)], o)


@mapping
class SliceMapping(Mapping):
    builtins = ("STRIDED_SLICE", "SLICE")
    min_inputs = {"STRIDED_SLICE": 3, "SLICE": 3}
    ir_ops = ("Slice",)
    pairs = (("STRIDED_SLICE", "Slice", "both"), ("SLICE", "Slice", "read"))

    def read(self, r: ReadCtx, op: Any) -> None:
        ins, out = r.inputs(), r.outputs()[0]
        xt = r.ttype(ins[0])
        rank = xt.rank
        begin = _const_ints(r, ins[1], f"{r.builtin}'s begin")
        if len(begin) != rank:
            raise r.fail(f"{len(begin)} begin values for rank {rank}")
        if r.builtin == "SLICE":
            size = _const_ints(r, ins[2], "SLICE's size")
            end = [d if n == -1 else b + n for b, n, d in zip(begin, size, xt.shape)]
            steps = [1] * rank
        else:
            o = options_of(r, "StridedSliceOptions")
            if o.ellipsisMask or o.newAxisMask or getattr(o, "offset", False):
                raise r.fail("STRIDED_SLICE with ellipsis, new-axis masks or offsets is not supported")
            end = _const_ints(r, ins[2], "STRIDED_SLICE's end")
            steps = _const_ints(r, ins[3], "STRIDED_SLICE's strides") if len(ins) > 3 else [1] * rank
            if len(end) != rank or len(steps) != rank:
                raise r.fail("begin, end and strides must have one value per dimension")
            begin = [0 if o.beginMask >> i & 1 else b for i, b in enumerate(begin)]
            end = [xt.shape[i] if o.endMask >> i & 1 else e for i, e in enumerate(end)]
        if any(s <= 0 for s in steps):
            raise r.fail(f"strides {steps} must be positive", "tinyc reads forward slices")
        starts, ends = [], []
        for b, e, d in zip(begin, end, xt.shape):
            b, e = b + d if b < 0 else b, e + d if e < 0 else e
            starts.append(min(max(b, 0), d))
            ends.append(min(max(e, starts[-1]), d))
        attrs = OPS["Slice"].Attrs(starts=tuple(starts), ends=tuple(ends), axes=tuple(range(rank)), steps=tuple(steps))
        yt = r.ttype(out)
        sliced = tuple(-(-(e - s) // k) for s, e, k in zip(starts, ends, steps))
        if sliced == yt.shape:
            r.emit("Slice", [r.value(ins[0])], attrs, out=out)
        else:  # shrink_axis_mask drops dimensions of size 1
            y = r.emit_tmp("Slice", [r.value(ins[0])], attrs, yt.with_shape(sliced), "sliced")
            r.emit("Reshape", [y], OPS["Reshape"].Attrs(shape=yt.shape), out=out)

    def write(self, w: WriteCtx, node: Node) -> None:
        x = node.input(0)
        rank = x.type.rank
        begin, end, steps = [0] * rank, list(x.type.shape), [1] * rank
        for s, e, a, k in zip(node.attrs.starts, node.attrs.ends, node.attrs.axes, node.attrs.steps):
            if k <= 0:
                raise w.fail(node, f"a slice with step {k}", "tinyc writes forward slices only")
            d = x.type.shape[a]
            begin[a] = min(max(s + d if s < 0 else s, 0), d)
            end[a] = min(max(e + d if e < 0 else e, 0), d)
            steps[a] = k
        ins = [w.tensor(x)] + [w.const(np.array(v, dtype=np.int32), f"{node.name}_{what}") for v, what in ((begin, "begin"), (end, "end"), (steps, "strides"))]
        w.op("STRIDED_SLICE", ins, [w.tensor(node.output)], schema().StridedSliceOptionsT())


@mapping
class PadMapping(Mapping):
    builtins = ("PAD", "PADV2")
    min_inputs = {"PAD": 2, "PADV2": 2}
    ir_ops = ("Pad",)

    def read(self, r: ReadCtx, op: Any) -> None:
        ins, out = r.inputs(), r.outputs()[0]
        xt = r.ttype(ins[0])
        raw = _const_ints(r, ins[1], "paddings")
        if len(raw) != 2 * xt.rank:
            raise r.fail(f"{len(raw)} padding amounts for rank {xt.rank}")
        pairs = np.array(raw).reshape(xt.rank, 2)
        if np.any(pairs < 0):
            raise r.fail("negative paddings")
        value = 0.0
        if r.builtin == "PADV2" and len(ins) > 2 and ins[2] >= 0:
            c = r.const(ins[2])
            if c is None or c.size != 1:
                raise r.fail("PADV2's fill value must be a constant scalar")
            q = xt.quant
            raw_v = float(c.reshape(-1)[0])
            value = raw_v if q is None or not xt.dtype.is_int else float(np.float32(q.scale[0]) * np.float32(raw_v - q.zero_point[0]))
        attrs = OPS["Pad"].Attrs(pads=(*(int(p) for p in pairs[:, 0]), *(int(p) for p in pairs[:, 1])), constant_value=value)
        r.emit("Pad", [r.value(ins[0])], attrs, out=out)

    def write(self, w: WriteCtx, node: Node) -> None:
        x = node.input(0)
        a = node.attrs
        rank = x.type.rank
        if a.mode.value != "constant":
            raise w.fail(node, f"{a.mode.value} padding has no TFLite builtin tinyc writes", "use constant padding")
        if any(p < 0 for p in a.pads):
            raise w.fail(node, "negative pads (cropping)", "crop with a Slice instead")
        paddings = np.array([[a.pads[i], a.pads[rank + i]] for i in range(rank)], dtype=np.int32)
        ins = [w.tensor(x), w.const(paddings, f"{node.name}_paddings")]
        t = x.type
        if a.constant_value == 0.0:
            w.op("PAD", ins, [w.tensor(node.output)])
            return
        if t.quant is not None and t.dtype.is_int:
            q = np.clip(np.rint(a.constant_value / t.quant.scale[0]) + t.quant.zero_point[0], t.dtype.qmin, t.dtype.qmax)
            fill = w.const(np.array([q], dtype=t.dtype.numpy), f"{node.name}_fill", t.quant)
        else:
            fill = w.const(np.array([a.constant_value], dtype=t.dtype.numpy), f"{node.name}_fill")
        w.op("PADV2", [*ins, fill], [w.tensor(node.output)])


@mapping
class MeanMapping(Mapping):
    builtins = ("MEAN",)
    min_inputs = {"MEAN": 2}
    ir_ops = ("ReduceMean",)

    def read(self, r: ReadCtx, op: Any) -> None:
        ins = r.inputs()
        rank = r.ttype(ins[0]).rank
        axes = _const_ints(r, ins[1], "MEAN's axes")
        if any(not -rank <= a < rank for a in axes):
            raise r.fail(f"axes {axes} out of range for rank {rank}")
        norm = tuple(sorted({a % rank for a in axes}))
        attrs = OPS["ReduceMean"].Attrs(axes=norm, keepdims=bool(options_of(r, "ReducerOptions").keepDims))
        r.emit("ReduceMean", [r.value(ins[0])], attrs, out=r.outputs()[0])

    def write(self, w: WriteCtx, node: Node) -> None:
        x = node.input(0)
        rank = x.type.rank
        axes = tuple(range(rank)) if node.attrs.axes is None else tuple(a % rank for a in node.attrs.axes)
        o = schema().ReducerOptionsT()
        o.keepDims = bool(node.attrs.keepdims)
        w.op("MEAN", [w.tensor(x), w.const(np.array(axes, dtype=np.int32), f"{node.name}_axes")], [w.tensor(node.output)], o)


# -- quantization --------------------------------------------------------------------------------------------


@mapping
class QuantizeMapping(Mapping):
    builtins = ("QUANTIZE", "DEQUANTIZE")
    ir_ops = ("QuantizeLinear", "DequantizeLinear", "Requantize", "Cast")
    pairs = (
        ("QUANTIZE", "QuantizeLinear", "both"),
        ("QUANTIZE", "Requantize", "both"),
        ("DEQUANTIZE", "DequantizeLinear", "both"),
        ("DEQUANTIZE", "Cast", "both"),
    )

    def read(self, r: ReadCtx, op: Any) -> None:
        x_i, out = r.inputs()[0], r.outputs()[0]
        xt, yt = r.ttype(x_i), r.ttype(out)
        x = r.value(x_i)
        if r.builtin == "DEQUANTIZE":
            if xt.dtype is DType.F16:
                r.emit("Cast", [x], OPS["Cast"].Attrs(to=yt.dtype), out=out)
                return
            if xt.quant is None:
                raise r.fail(f"DEQUANTIZE of {xt} without quantization parameters")
            q = xt.quant
            r.emit("DequantizeLinear", [x], OPS["DequantizeLinear"].Attrs(scale=q.scale, zero_point=q.zero_point, axis=q.axis, dtype=yt.dtype), out=out)
            return
        q = yt.quant
        if q is None:
            raise r.fail(f"QUANTIZE to {yt} without quantization parameters")
        if xt.dtype.is_float:
            r.emit("QuantizeLinear", [x], OPS["QuantizeLinear"].Attrs(scale=q.scale, zero_point=q.zero_point, axis=q.axis, dtype=yt.dtype), out=out)
        elif xt.dtype is DType.U8 or yt.dtype is DType.U8:
            # uint8 <-> int8 at a model's edge (same scale, zero points 128 apart): through float, which is exact there.
            if xt.quant is None or not q.is_per_tensor:
                raise r.fail(f"QUANTIZE from {xt} to {yt} needs per-tensor parameters on both sides")
            xq = xt.quant
            f = r.emit_tmp("DequantizeLinear", [x], OPS["DequantizeLinear"].Attrs(scale=xq.scale, zero_point=xq.zero_point, axis=None, dtype=DType.F32), TensorType(DType.F32, xt.shape), "dequantized")
            r.emit("QuantizeLinear", [f], OPS["QuantizeLinear"].Attrs(scale=q.scale, zero_point=q.zero_point, axis=None, dtype=yt.dtype), out=out)
        else:
            if not q.is_per_tensor:
                raise r.fail("per-axis requantization is not supported")
            r.emit("Requantize", [x], OPS["Requantize"].Attrs(scale=q.scale[0], zero_point=q.zero_point[0], dtype=yt.dtype), out=out)

    def write(self, w: WriteCtx, node: Node) -> None:
        name = node.op.name
        x, y = node.input(0), node.output
        if name == "Cast":
            if not (x.type.dtype is DType.F16 and y.type.dtype is DType.F32):
                raise w.fail(node, f"Cast from {x.type.dtype.short} to {y.type.dtype.short}", "tinyc writes only float16 -> float32 casts (as DEQUANTIZE)")
            w.op("DEQUANTIZE", [w.tensor(x)], [w.tensor(y)])
            return
        builtin = "DEQUANTIZE" if name == "DequantizeLinear" else "QUANTIZE"
        w.op(builtin, [w.tensor(x)], [w.tensor(y)])

