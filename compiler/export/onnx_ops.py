"""Per-op ONNX emitters: each undoes one op's ``import_onnx`` (attributes back to ONNX attributes or inputs).

An emitter takes the :class:`~tinyc.export.onnx_writer.OnnxEmitter` and the IR
node and adds one or more ONNX nodes whose outputs carry the IR node's output
names. Ops without attributes that keep their ONNX name need no entry: they
are written as they are (``_plain``), after their minimum opset is checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tinyc.export.onnx_writer import ONNX_TYPES, OnnxEmitter
from tinyc.ir.core import Node
from tinyc.ir.dtypes import DType

Emitter = Callable[[OnnxEmitter, Node], None]

# ONNX opset in which an op (in the form tinyc writes) first appears.
OP_SINCE: dict[str, int] = {"HardSwish": 14, "Trilu": 14, "LayerNormalization": 17, "Mish": 18, "Gelu": 20, "CastLike": 15}

# ONNX ops written as they are: same name, same inputs, no attributes.
PLAIN_OPS = frozenset(
    {
        "Abs", "Add", "And", "Ceil", "Cos", "Div", "Equal", "Erf", "Exp", "Floor", "Greater", "GreaterOrEqual",
        "HardSwish", "Identity", "IsNaN", "Less", "LessOrEqual", "Log", "MatMul", "Max", "Mean", "Min", "Mish",
        "Mul", "Neg", "Not", "Or", "PRelu", "Pow", "Reciprocal", "Relu", "Round", "Sigmoid", "Sign", "Sin",
        "Softplus", "Softsign", "Sqrt", "Sub", "Sum", "Tanh", "Where", "Xor", "GlobalAveragePool", "GlobalMaxPool",
        "Size",
    }
)  # fmt: skip

# NHWC kernel ops with no ONNX form: the Jetson flow keeps NCHW ONNX ops instead.
_KERNEL_ONLY = ("Conv2D", "DepthwiseConv2D", "MaxPool2D", "AvgPool2D", "Requantize")


def emit_node(e: OnnxEmitter, node: Node) -> None:
    """Write one IR node."""
    name = node.op.name
    for v in (*node.inputs, *node.outputs):
        if v is not None and v.type.quant is not None and v.type.dtype.is_int and name not in ("QuantizeLinear", "DequantizeLinear"):
            raise e.unsupported(
                node,
                f"it computes on quantized {v.type.dtype.short} tensors (TFLite-style integer ops have no standard ONNX form)",
                hint="write the float graph with QuantizeLinear/DequantizeLinear pairs (QDQ) instead of integer kernels",
            )
    if name in _KERNEL_ONLY:
        raise e.unsupported(node, "it is an NHWC kernel op of the MCU pipeline")
    since = OP_SINCE.get(name)
    if since is not None:
        e.require(node, since)
    fn = EMITTERS.get(name)
    if fn is not None:
        fn(e, node)
    elif name in PLAIN_OPS:
        e.emit(node, name, [e.name(v) for v in node.inputs])
    else:
        raise e.unsupported(node, "no ONNX emitter is defined for this op", hint="add one to tinyc/export/onnx_ops.py")


def _ins(e: OnnxEmitter, node: Node) -> list[str]:
    return [e.name(v) for v in node.inputs]


def _copy(op_type: str, **names: str) -> Emitter:
    """An emitter writing ``op_type`` with IR attribute fields renamed (field -> ONNX name); bools become ints."""

    def fn(e: OnnxEmitter, node: Node) -> None:
        attrs: dict[str, Any] = {}
        for field, onnx_name in names.items():
            value = getattr(node.attrs, field)
            if isinstance(value, bool):
                value = int(value)
            elif isinstance(value, tuple):
                value = list(value)
            elif hasattr(value, "value") and isinstance(value.value, str):
                value = value.value
            attrs[onnx_name] = value
        e.emit(node, op_type, _ins(e, node), **attrs)

    return fn


# -- activations and element-wise -----------------------------------------------------


def _clip_inputs(e: OnnxEmitter, node: Node, x: str, dtype: DType, lo: float | None, hi: float | None) -> list[str]:
    ins = [x, "" if lo is None else e.scalar(f"{node.output.name}_min", lo, dtype)]
    if hi is not None:
        ins.append(e.scalar(f"{node.output.name}_max", hi, dtype))
    return ins


def _clip(e: OnnxEmitter, node: Node) -> None:
    a = node.attrs
    e.emit(node, "Clip", _clip_inputs(e, node, e.name(node.input(0)), node.input(0).type.dtype, a.min, a.max))


def _clamp_after(e: OnnxEmitter, node: Node, y: str, lo: float | None, hi: float | None) -> None:
    """Write the fused clamp of a kernel op as Relu or Clip reading ``y``."""
    if lo == 0.0 and hi is None:
        e.emit(node, "Relu", [y], suffix="/act")
    else:
        e.emit(node, "Clip", _clip_inputs(e, node, y, node.output.type.dtype, lo, hi), suffix="/act")


def _cast(e: OnnxEmitter, node: Node) -> None:
    e.emit(node, "Cast", [e.name(node.input(0))], to=ONNX_TYPES[node.attrs.to])


def _gelu(e: OnnxEmitter, node: Node) -> None:
    e.emit(node, "Gelu", _ins(e, node), approximate=node.attrs.approximate.value)


def _softmax(e: OnnxEmitter, node: Node) -> None:
    a = node.attrs
    op_type = node.op.name
    x = node.input(0)
    if not a.coerce_2d:
        e.emit(node, op_type, [x.name], axis=a.axis)
        return
    # opset < 13 semantics: normalise over all axes from ``axis`` on, through a 2-D view.
    rows = math.prod(x.type.shape[: a.axis])
    flat = e.emit(node, "Reshape", [x.name, e.ints(f"{node.output.name}_2d", (rows, -1))], [e.temp(node, "2d")], suffix="/flatten")
    y2 = e.emit(node, op_type, flat, [e.temp(node, "rows")], axis=1)
    e.emit(node, "Reshape", [y2[0], e.ints(f"{node.output.name}_shape", x.type.shape)], suffix="/restore")


# -- linear layers --------------------------------------------------------------------

_conv = _copy("Conv", kernel_shape="kernel_shape", strides="strides", dilations="dilations", pads="pads", group="group")
_conv_transpose = _copy(
    "ConvTranspose", kernel_shape="kernel_shape", strides="strides", dilations="dilations", pads="pads", output_padding="output_padding", group="group"
)
_gemm = _copy("Gemm", alpha="alpha", beta="beta", trans_a="transA", trans_b="transB")


def _fully_connected(e: OnnxEmitter, node: Node) -> None:
    """Float FullyConnected: Gemm(transB=1) for matrices, else MatMul with the transposed weight plus Add."""
    x, w = node.input(0), node.input(1)
    b = node.opt_input(2)
    a = node.attrs
    clamp = a.act_min is not None or a.act_max is not None
    y = e.temp(node, "linear") if clamp else node.output.name
    if x.type.rank == 2:
        ins = [x.name, w.name] + ([b.name] if b is not None else [])
        e.emit(node, "Gemm", ins, [y], transB=1)
    else:
        if w.const is None:
            raise e.unsupported(node, "a FullyConnected with a computed weight on a rank-3+ input")
        wt = e.const(f"{w.name}_t", np.ascontiguousarray(w.const.T))
        mm = e.temp(node, "matmul") if b is not None else y
        e.emit(node, "MatMul", [x.name, wt], [mm], suffix="/matmul")
        if b is not None:
            e.emit(node, "Add", [mm, b.name], [y], suffix="/bias")
    if clamp:
        _clamp_after(e, node, y, a.act_min, a.act_max)


def _binary_act(op_type: str) -> Emitter:
    def fn(e: OnnxEmitter, node: Node) -> None:
        a = node.attrs
        if a.act_min is None and a.act_max is None:
            e.emit(node, op_type, _ins(e, node))
            return
        y = e.emit(node, op_type, _ins(e, node), [e.temp(node, op_type.lower())])
        _clamp_after(e, node, y[0], a.act_min, a.act_max)

    return fn


# -- pooling --------------------------------------------------------------------------


def _pool(op_type: str) -> Emitter:
    def fn(e: OnnxEmitter, node: Node) -> None:
        a = node.attrs
        nsp = node.input(0).type.rank - 2
        kernel = a.kernel_shape
        attrs: dict[str, Any] = {
            "kernel_shape": list(kernel),
            "strides": list(a.strides or (1,) * nsp),
            "pads": list(a.pads or (0,) * (2 * nsp)),
            "ceil_mode": int(a.ceil_mode),
        }
        dil = tuple(a.dilations or (1,) * nsp)
        if op_type == "AveragePool":
            attrs["count_include_pad"] = int(a.count_include_pad)
            if any(d != 1 for d in dil):
                e.require(node, 19, "with dilations")
                attrs["dilations"] = list(dil)
        elif any(d != 1 for d in dil):
            attrs["dilations"] = list(dil)
        e.emit(node, op_type, [e.name(node.input(0))], **attrs)

    return fn


# -- shapes ---------------------------------------------------------------------------


def _reshape(e: OnnxEmitter, node: Node) -> None:
    shape = node.attrs.shape
    attrs: dict[str, Any] = {}
    if node.attrs.allowzero:
        e.require(node, 14, "with a zero-sized dimension (allowzero)")
        attrs["allowzero"] = 1
    if e.options.dynamic_batch is not None and shape and node.input(0).type.shape[:1] == shape[:1]:
        shape = (0, *shape[1:])  # copy the (symbolic) batch dimension from the input
    e.emit(node, "Reshape", [node.input(0).name, e.ints(f"{node.output.name}_shape", shape)], **attrs)


def _axes_op(op_type: str) -> Emitter:
    def fn(e: OnnxEmitter, node: Node) -> None:
        e.emit(node, op_type, [node.input(0).name, e.ints(f"{node.output.name}_axes", node.attrs.axes)])

    return fn


def _expand(e: OnnxEmitter, node: Node) -> None:
    e.emit(node, "Expand", [node.input(0).name, e.ints(f"{node.output.name}_shape", node.attrs.shape)])


def _tile(e: OnnxEmitter, node: Node) -> None:
    e.emit(node, "Tile", [node.input(0).name, e.ints(f"{node.output.name}_repeats", node.attrs.repeats)])


def _split(e: OnnxEmitter, node: Node) -> None:
    a = node.attrs
    e.emit(node, "Split", [node.input(0).name, e.ints(f"{node.name}_split", a.split)], axis=a.axis)


def _slice(e: OnnxEmitter, node: Node) -> None:
    a = node.attrs
    base = node.output.name
    ins = [node.input(0).name]
    for what, vals in (("starts", a.starts), ("ends", a.ends), ("axes", a.axes), ("steps", a.steps)):
        ins.append(e.ints(f"{base}_{what}", vals, int32_ok=True))
    e.emit(node, "Slice", ins)


def _pad(e: OnnxEmitter, node: Node) -> None:
    a = node.attrs
    x = node.input(0)
    if a.mode.value == "wrap":
        e.require(node, 19, "in mode 'wrap'")
    ins = [x.name, e.ints(f"{node.output.name}_pads", a.pads)]
    if a.mode.value == "constant" and a.constant_value != 0.0:
        ins.append(e.scalar(f"{node.output.name}_value", a.constant_value, x.type.dtype))
    e.emit(node, "Pad", ins, mode=a.mode.value)


def _trilu(e: OnnxEmitter, node: Node) -> None:
    a = node.attrs
    ins = [node.input(0).name]
    if a.k != 0:
        ins.append(e.ints(f"{node.output.name}_k", (a.k,), scalar=True))
    e.emit(node, "Trilu", ins, upper=int(a.upper))


def _shape(e: OnnxEmitter, node: Node) -> None:
    a = node.attrs
    rank = node.input(0).type.rank
    if a.start == 0 and (a.end is None or a.end >= rank):
        e.emit(node, "Shape", [node.input(0).name])
        return
    e.require(node, 15, "with start/end")
    e.emit(node, "Shape", [node.input(0).name], start=a.start, end=a.end)


def _constant_of_shape(e: OnnxEmitter, node: Node) -> None:
    from onnx import numpy_helper

    a = node.attrs
    value = numpy_helper.from_array(np.asarray([a.value], dtype=a.dtype.numpy), "value")
    e.emit(node, "ConstantOfShape", [e.ints(f"{node.output.name}_shape", a.shape)], value=value)


def _range(e: OnnxEmitter, node: Node) -> None:
    a = node.attrs
    base = node.output.name
    ins = [e.scalar(f"{base}_{k}", getattr(a, k), a.dtype) for k in ("start", "limit", "delta")]
    e.emit(node, "Range", ins)


# -- reductions -----------------------------------------------------------------------


def _reduce(e: OnnxEmitter, node: Node) -> None:
    a = node.attrs
    op_type = node.op.name
    x = node.input(0)
    since = 13 if op_type == "ReduceSum" else 18
    attrs: dict[str, Any] = {"keepdims": int(a.keepdims)}
    ins = [x.name]
    if a.axes is not None and len(a.axes) == 0:  # reduce nothing: the input itself
        e.emit(node, "Identity", ins)
        return
    if a.axes is not None and tuple(a.axes) != tuple(range(x.type.rank)):
        if e.opset >= since:
            ins.append(e.ints(f"{node.output.name}_axes", a.axes))
        else:
            attrs["axes"] = list(a.axes)
    e.emit(node, op_type, ins, **attrs)


_argmax = _copy("ArgMax", axis="axis", keepdims="keepdims", select_last_index="select_last_index")
_argmin = _copy("ArgMin", axis="axis", keepdims="keepdims", select_last_index="select_last_index")


def _cumsum(e: OnnxEmitter, node: Node) -> None:
    a = node.attrs
    axis = e.ints(f"{node.output.name}_axis", (a.axis,), int32_ok=True, scalar=True)
    e.emit(node, "CumSum", [node.input(0).name, axis], exclusive=int(a.exclusive), reverse=int(a.reverse))


def _topk(e: OnnxEmitter, node: Node) -> None:
    a = node.attrs
    k = e.ints(f"{node.name}_k", (a.k,))
    e.emit(node, "TopK", [node.input(0).name, k], axis=a.axis, largest=int(a.largest), sorted=int(a.sorted))


# -- resize ---------------------------------------------------------------------------


def _resize(e: OnnxEmitter, node: Node) -> None:
    a = node.attrs
    x = node.input(0)
    in_shape = x.type.shape
    scales = tuple(a.scales) if a.scales else tuple(float(np.float32(o) / np.float32(i)) for o, i in zip(a.sizes, in_shape))
    # Scales give the same output shape (floor(in * scale), in float32 as runtimes compute it): write them;
    # otherwise the sizes (int64), from which a runtime derives the same scales.
    by_scales = all(int(math.floor(float(np.float32(s) * np.float32(n)))) == o for s, n, o in zip(scales, in_shape, a.sizes))
    base = node.output.name
    if by_scales:
        ins = [x.name, "", e.const(f"{base}_scales", np.asarray(scales, dtype=np.float32))]
    else:
        ins = [x.name, "", "", e.ints(f"{base}_sizes", a.sizes)]
    ctm = a.coordinate_transformation_mode.value
    if ctm == "half_pixel_symmetric":
        e.require(node, 19, "with coordinate_transformation_mode half_pixel_symmetric")
    attrs: dict[str, Any] = {"mode": a.mode.value, "coordinate_transformation_mode": ctm}
    if a.mode.value == "nearest":
        attrs["nearest_mode"] = a.nearest_mode.value
    if a.mode.value == "cubic":
        attrs["cubic_coeff_a"] = a.cubic_coeff_a
        attrs["exclude_outside"] = int(a.exclude_outside)
    e.emit(node, "Resize", ins, **attrs)


# -- quantization ---------------------------------------------------------------------


def _qdq(op_type: str) -> Emitter:
    def fn(e: OnnxEmitter, node: Node) -> None:
        a = node.attrs
        x = node.input(0)
        zp_dtype = a.dtype if op_type == "QuantizeLinear" else x.type.dtype
        scale_dtype = x.type.dtype if op_type == "QuantizeLinear" else a.dtype
        if zp_dtype is DType.I16:
            e.require(node, 21, "with int16 values")
        if op_type == "QuantizeLinear" and not scale_dtype.is_float:
            e.require(node, 21, "of an int32 input")
        shape = () if a.axis is None else (len(a.scale),)
        base = node.output.name
        scale = e.const(f"{base}_scale", np.asarray(a.scale, dtype=scale_dtype.numpy if scale_dtype.is_float else np.float32).reshape(shape))
        zp = e.const(f"{base}_zero_point", np.asarray(a.zero_point, dtype=zp_dtype.numpy).reshape(shape))
        attrs = {} if a.axis is None else {"axis": a.axis}
        e.emit(node, op_type, [x.name, scale, zp], **attrs)

    return fn


EMITTERS: dict[str, Emitter] = {
    "Clip": _clip,
    "Cast": _cast,
    "CastLike": _cast,
    "Dropout": lambda e, n: e.emit(n, "Identity", [e.name(n.input(0))]),
    "Mod": _copy("Mod", fmod="fmod"),
    "LeakyRelu": _copy("LeakyRelu", alpha="alpha"),
    "Elu": _copy("Elu", alpha="alpha"),
    "Selu": _copy("Selu", alpha="alpha", gamma="gamma"),
    "HardSigmoid": _copy("HardSigmoid", alpha="alpha", beta="beta"),
    "Gelu": _gelu,
    "Softmax": _softmax,
    "LogSoftmax": _softmax,
    "BatchNormalization": _copy("BatchNormalization", epsilon="epsilon"),
    "LayerNormalization": _copy("LayerNormalization", axis="axis", epsilon="epsilon"),
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "Gemm": _gemm,
    "Einsum": _copy("Einsum", equation="equation"),
    "FullyConnected": _fully_connected,
    "AddAct": _binary_act("Add"),
    "MulAct": _binary_act("Mul"),
    "MaxPool": _pool("MaxPool"),
    "AveragePool": _pool("AveragePool"),
    "Reshape": _reshape,
    "Flatten": _copy("Flatten", axis="axis"),
    "Transpose": _copy("Transpose", perm="perm"),
    "Squeeze": _axes_op("Squeeze"),
    "Unsqueeze": _axes_op("Unsqueeze"),
    "Expand": _expand,
    "Tile": _tile,
    "Concat": _copy("Concat", axis="axis"),
    "Split": _split,
    "Slice": _slice,
    "Pad": _pad,
    "Gather": _copy("Gather", axis="axis"),
    "GatherElements": _copy("GatherElements", axis="axis"),
    "Trilu": _trilu,
    "Shape": _shape,
    "ConstantOfShape": _constant_of_shape,
    "Range": _range,
    "ArgMax": _argmax,
    "ArgMin": _argmin,
    "CumSum": _cumsum,
    "TopK": _topk,
    "Resize": _resize,
    "QuantizeLinear": _qdq("QuantizeLinear"),
    "DequantizeLinear": _qdq("DequantizeLinear"),
}
for _op in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSumExp"):
    EMITTERS[_op] = _reduce
