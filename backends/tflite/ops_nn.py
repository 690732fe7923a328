"""Op table entries for the NN kernels: convolutions, fully connected, pooling, softmax.

TFLite's SAME/VALID padding becomes tinyc's explicit ``(top, left, bottom,
right)`` pads on reading; on writing, pads that match neither scheme become a
PAD operator in front of a VALID kernel (where that keeps the semantics).
Convolutions and fully-connected layers are always written with a bias (zeros
when the IR has none): the bias-less forms need newer op versions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinyc.backends.tflite.optable import (
    Mapping,
    ReadCtx,
    WriteCtx,
    mapping,
    options_of,
    read_activation,
    write_with_activation,
)
from tinyc.backends.tflite.schema import schema
from tinyc.ir.core import Node, Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import OPS
from tinyc.ir.types import QuantParams, TensorType
from tinyc.quant.params import Padding, compute_out_size, compute_padding

Pads = tuple[int, int, int, int]


# -- padding ------------------------------------------------------------------------------


def pads_of(r: ReadCtx, padding: int, in_hw: tuple[int, ...], k_hw: tuple[int, ...], strides: tuple[int, int], dilations: tuple[int, int]) -> Pads:
    """Explicit (top, left, bottom, right) pads of a TFLite SAME (0) / VALID (1) scheme."""
    if min(strides) < 1 or min(dilations) < 1:
        raise r.fail(f"strides {list(strides)} and dilations {list(dilations)} must be >= 1")
    if padding == schema().Padding.VALID:
        return (0, 0, 0, 0)
    if padding != schema().Padding.SAME:
        raise r.fail(f"unknown padding scheme {padding}")
    tb = [compute_padding(strides[i], dilations[i], in_hw[i], k_hw[i], compute_out_size(Padding.SAME, in_hw[i], k_hw[i], strides[i], dilations[i])) for i in range(2)]
    return (tb[0][0], tb[1][0], tb[0][1], tb[1][1])


def padding_scheme(pads: tuple[int, ...], in_hw: tuple[int, ...], k_hw: tuple[int, ...], strides: tuple[int, ...], dilations: tuple[int, ...], out_hw: tuple[int, ...]) -> str | None:
    """"VALID" or "SAME" when TFLite's scheme gives exactly ``pads`` and ``out_hw``; None otherwise."""
    for name, scheme in (("VALID", Padding.VALID), ("SAME", Padding.SAME)):
        ok = True
        for i in range(2):
            o = compute_out_size(scheme, in_hw[i], k_hw[i], strides[i], dilations[i])
            before, after = (0, 0) if scheme is Padding.VALID else compute_padding(strides[i], dilations[i], in_hw[i], k_hw[i], o)
            if o != out_hw[i] or (before, after) != (pads[i], pads[2 + i]):
                ok = False
        if ok:
            return name
    return None


def write_pad_in_front(w: WriteCtx, node: Node, x: Value, pads: tuple[int, ...], fill: str) -> int:
    """Pad an NHWC input explicitly (PAD fills with the zero point / 0.0; PADV2 with the lowest value)."""
    t = x.type
    padded = TensorType(t.dtype, (t.shape[0], t.shape[1] + pads[0] + pads[2], t.shape[2] + pads[1] + pads[3], t.shape[3]), t.quant)
    paddings = np.array([[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]], dtype=np.int32)
    out = w.temp(padded, f"{x.name}_padded")
    ins = [w.tensor(x), w.const(paddings, f"{node.name}_paddings")]
    if fill == "zero":
        w.op("PAD", ins, [out])
    else:
        low = np.array([t.dtype.qmin if t.dtype.is_int else np.finfo(np.float32).min], dtype=t.dtype.numpy)
        ins.append(w.const(low, f"{node.name}_pad_value", t.quant))
        w.op("PADV2", ins, [out])
    w.note(node, f"pads {list(pads)} are neither SAME nor VALID: written as {'PAD' if fill == 'zero' else 'PADV2'} + VALID")
    return out


def bias_or_zeros(w: WriteCtx, node: Node, x: Value, wv: Value, channels: int) -> int:
    """The bias tensor, or int32/float zeros with the scale TFLite expects (s_in * s_w)."""
    b = node.opt_input(2)
    if b is not None:
        return w.tensor(b)
    if x.type.dtype.is_float:
        return w.const(np.zeros(channels, dtype=np.float32), f"{node.name}_bias")
    xq, wq = x.type.quant, wv.type.quant
    if xq is None or wq is None:
        raise w.fail(node, "quantized input or weights without quantization parameters")
    s_w = np.broadcast_to(wq.scale_array(), (channels,)) if wq.is_per_tensor else wq.scale_array()
    scales = np.float32(xq.scale[0]) * s_w.astype(np.float32)
    quant = QuantParams.per_tensor(float(scales[0])) if wq.is_per_tensor else QuantParams.per_axis(scales, None, 0)
    return w.const(np.zeros(channels, dtype=np.int32), f"{node.name}_bias", quant)


def _dequantized_weights(r: ReadCtx, x: int, wt: int) -> Value:
    """Float input with integer weights (a 'hybrid' op): dequantize the weights so the IR computes in float."""
    w_val = r.value(wt)
    t = r.ttype(wt)
    if t.quant is None:
        raise r.fail(f"integer weights {t} without quantization parameters on a float input")
    q = t.quant
    attrs = OPS["DequantizeLinear"].Attrs(scale=q.scale, zero_point=q.zero_point, axis=q.axis, dtype=DType.F32)
    return r.emit_tmp("DequantizeLinear", [w_val], attrs, TensorType(DType.F32, t.shape), "weights_dequantized")


def _weights(r: ReadCtx, x: int, wt: int) -> Value | None:
    if r.ttype(x).dtype.is_float and r.ttype(wt).dtype.is_int:
        return _dequantized_weights(r, x, wt)
    return r.value(wt)


def _bias(r: ReadCtx, ins: list[int], x: int, wt: int) -> Value | None:
    if len(ins) < 3 or ins[2] < 0:
        return None
    b = r.value(ins[2])
    bt = r.ttype(ins[2])
    if r.ttype(x).dtype.is_float and bt.dtype.is_int:
        raise r.fail(f"integer bias {bt} on a float input")
    return b



# -- convolutions ---------------------------------------------------------------------------


@mapping
class Conv2DMapping(Mapping):
    builtins = ("CONV_2D",)
    ir_ops = ("Conv2D",)
    min_inputs = {"CONV_2D": 2}

    def read(self, r: ReadCtx, op: Any) -> None:
        o = options_of(r, "Conv2DOptions")
        ins = r.inputs()
        if len(ins) < 2:
            raise r.fail("CONV_2D needs an input and a filter")
        xt, wt = r.ttype(ins[0]), r.ttype(ins[1])
        if xt.rank != 4 or wt.rank != 4:
            raise r.fail(f"CONV_2D needs NHWC input and OHWI filter, got {xt} and {wt}")
        if wt.shape[3] != xt.shape[3]:
            raise r.fail(f"grouped convolution (filter has {wt.shape[3]} input channels, input {xt.shape[3]}) is not supported")
        strides, dil = (o.strideH, o.strideW), (o.dilationHFactor, o.dilationWFactor)
        pads = pads_of(r, o.padding, xt.shape[1:3], wt.shape[1:3], strides, dil)
        lo, hi = read_activation(r, o.fusedActivationFunction)
        attrs = OPS["Conv2D"].Attrs(strides=strides, dilations=dil, pads=pads, act_min=lo, act_max=hi)
        r.emit("Conv2D", [r.value(ins[0]), _weights(r, ins[0], ins[1]), _bias(r, ins, ins[0], ins[1])], attrs, out=r.outputs()[0])

    def write(self, w: WriteCtx, node: Node) -> None:
        x, wv = node.input(0), node.input(1)
        a = node.attrs
        co, kh, kw, _ = wv.type.shape
        xi, pads = _maybe_pad(w, node, x, a.pads, (kh, kw), a.strides, a.dilations)
        s = schema()
        padding = getattr(s.Padding, pads)
        bias = bias_or_zeros(w, node, x, wv, co)

        def options(act: int) -> Any:
            o = s.Conv2DOptionsT()
            o.padding, o.strideH, o.strideW = padding, a.strides[0], a.strides[1]
            o.dilationHFactor, o.dilationWFactor = a.dilations[0], a.dilations[1]
            o.fusedActivationFunction = act
            return o

        write_with_activation(w, node, "CONV_2D", [xi, w.tensor(wv), bias], options)


def _maybe_pad(w: WriteCtx, node: Node, x: Value, pads: tuple[int, ...], k_hw: tuple[int, int], strides: tuple[int, ...], dilations: tuple[int, ...]) -> tuple[int, str]:
    """(input tensor, "SAME"/"VALID"); explicit pads that match neither go into a PAD op (then VALID)."""
    out_hw = node.output.type.shape[1:3]
    scheme = padding_scheme(pads, x.type.shape[1:3], k_hw, strides, dilations, out_hw)
    if scheme is not None:
        return w.tensor(x), scheme
    return write_pad_in_front(w, node, x, pads, "zero"), "VALID"


@mapping
class DepthwiseMapping(Mapping):
    builtins = ("DEPTHWISE_CONV_2D",)
    ir_ops = ("DepthwiseConv2D",)
    min_inputs = {"DEPTHWISE_CONV_2D": 2}

    def read(self, r: ReadCtx, op: Any) -> None:
        o = options_of(r, "DepthwiseConv2DOptions")
        ins = r.inputs()
        if len(ins) < 2:
            raise r.fail("DEPTHWISE_CONV_2D needs an input and a filter")
        xt, wt = r.ttype(ins[0]), r.ttype(ins[1])
        if xt.rank != 4 or wt.rank != 4 or wt.shape[0] != 1:
            raise r.fail(f"DEPTHWISE_CONV_2D needs NHWC input and a [1, KH, KW, C] filter, got {xt} and {wt}")
        cin, cout = xt.shape[3], wt.shape[3]
        if cin == 0 or cout % cin:
            raise r.fail(f"filter channels {cout} are not a multiple of the input channels {cin}")
        strides, dil = (o.strideH, o.strideW), (o.dilationHFactor, o.dilationWFactor)
        pads = pads_of(r, o.padding, xt.shape[1:3], wt.shape[1:3], strides, dil)
        lo, hi = read_activation(r, o.fusedActivationFunction)
        attrs = OPS["DepthwiseConv2D"].Attrs(strides=strides, dilations=dil, pads=pads, depth_multiplier=cout // cin, act_min=lo, act_max=hi)
        r.emit("DepthwiseConv2D", [r.value(ins[0]), _weights(r, ins[0], ins[1]), _bias(r, ins, ins[0], ins[1])], attrs, out=r.outputs()[0])

    def write(self, w: WriteCtx, node: Node) -> None:
        x, wv = node.input(0), node.input(1)
        a = node.attrs
        _, kh, kw, co = wv.type.shape
        xi, pads = _maybe_pad(w, node, x, a.pads, (kh, kw), a.strides, a.dilations)
        s = schema()
        padding = getattr(s.Padding, pads)
        bias = bias_or_zeros(w, node, x, wv, co)

        def options(act: int) -> Any:
            o = s.DepthwiseConv2DOptionsT()
            o.padding, o.strideH, o.strideW = padding, a.strides[0], a.strides[1]
            o.dilationHFactor, o.dilationWFactor = a.dilations[0], a.dilations[1]
            o.depthMultiplier = a.depth_multiplier
            o.fusedActivationFunction = act
            return o

        write_with_activation(w, node, "DEPTHWISE_CONV_2D", [xi, w.tensor(wv), bias], options)


# -- fully connected --------------------------------------------------------------------------


@mapping
class FullyConnectedMapping(Mapping):
    builtins = ("FULLY_CONNECTED",)
    ir_ops = ("FullyConnected",)
    min_inputs = {"FULLY_CONNECTED": 2}

    def read(self, r: ReadCtx, op: Any) -> None:
        o = options_of(r, "FullyConnectedOptions")
        if o.weightsFormat != schema().FullyConnectedOptionsWeightsFormat.DEFAULT:
            raise r.fail("shuffled fully-connected weights are not supported", "export with the default weights format")
        ins = r.inputs()
        if len(ins) < 2:
            raise r.fail("FULLY_CONNECTED needs an input and weights")
        xt, wt = r.ttype(ins[0]), r.ttype(ins[1])
        if wt.rank != 2:
            raise r.fail(f"weights must be [C_out, K], got {wt}")
        k = wt.shape[1]
        numel = xt.numel
        if xt.rank < 1 or k == 0 or numel % k:
            raise r.fail(f"input {xt} does not split into rows of {k} features")
        x = r.value(ins[0])
        keep = bool(o.keepNumDims) and xt.shape[-1] == k
        if not keep and xt.shape != (numel // k, k):
            attrs = OPS["Reshape"].Attrs(shape=(numel // k, k))
            x = r.emit_tmp("Reshape", [x], attrs, TensorType(xt.dtype, (numel // k, k), xt.quant), "rows")
        lo, hi = read_activation(r, o.fusedActivationFunction)
        attrs = OPS["FullyConnected"].Attrs(act_min=lo, act_max=hi)
        r.emit("FullyConnected", [x, _weights(r, ins[0], ins[1]), _bias(r, ins, ins[0], ins[1])], attrs, out=r.outputs()[0])

    def write(self, w: WriteCtx, node: Node) -> None:
        x, wv = node.input(0), node.input(1)
        co, k = wv.type.shape
        s = schema()
        y = node.output
        xi = w.tensor(x)
        rows = x.type.numel // k
        if x.type.rank != 2:
            # TFLite flattens the input itself; an explicit 2-D output keeps version 4 (no keep_num_dims) and
            # the Edge TPU's one-dimensional output rule.
            flat = w.temp(TensorType(x.type.dtype, (rows, k), x.type.quant), f"{x.name}_rows")
            w.op("RESHAPE", [xi, w.const(np.array([rows, k], dtype=np.int32), f"{node.name}_rows_shape")], [flat])
            xi = flat
        bias = bias_or_zeros(w, node, x, wv, co)

        def options(act: int) -> Any:
            o = s.FullyConnectedOptionsT()
            o.fusedActivationFunction = act
            o.keepNumDims = False
            return o

        if y.type.rank == 2:
            write_with_activation(w, node, "FULLY_CONNECTED", [xi, w.tensor(wv), bias], options)
            return
        # Output of another rank: compute [rows, C_out], then reshape to the IR's shape.
        t2 = TensorType(y.type.dtype, (rows, co), y.type.quant)
        rows_out = w.temp(t2, f"{y.name}_rows")
        write_with_activation(w, node, "FULLY_CONNECTED", [xi, w.tensor(wv), bias], options, out=(rows_out, t2))
        out_shape = np.array(y.type.shape, dtype=np.int32)
        w.op("RESHAPE", [rows_out, w.const(out_shape, f"{node.name}_out_shape")], [w.tensor(y)])


# -- pooling -------------------------------------------------------------------------------------


@mapping
class PoolMapping(Mapping):
    builtins = ("AVERAGE_POOL_2D", "MAX_POOL_2D")
    ir_ops = ("AvgPool2D", "MaxPool2D")
    pairs = (("AVERAGE_POOL_2D", "AvgPool2D", "both"), ("MAX_POOL_2D", "MaxPool2D", "both"))

    def read(self, r: ReadCtx, op: Any) -> None:
        o = options_of(r, "Pool2DOptions")
        ins = r.inputs()
        xt = r.ttype(ins[0])
        if xt.rank != 4:
            raise r.fail(f"pooling needs an NHWC input, got {xt}")
        k = (o.filterHeight, o.filterWidth)
        if min(k) < 1:
            raise r.fail(f"filter size {list(k)} must be >= 1")
        strides = (o.strideH, o.strideW)
        pads = pads_of(r, o.padding, xt.shape[1:3], k, strides, (1, 1))
        lo, hi = read_activation(r, o.fusedActivationFunction)
        name = "AvgPool2D" if r.builtin == "AVERAGE_POOL_2D" else "MaxPool2D"
        attrs = OPS[name].Attrs(kernel=k, strides=strides, pads=pads, act_min=lo, act_max=hi)
        r.emit(name, [r.value(ins[0])], attrs, out=r.outputs()[0])

    def write(self, w: WriteCtx, node: Node) -> None:
        x = node.input(0)
        a = node.attrs
        builtin = "AVERAGE_POOL_2D" if node.op.name == "AvgPool2D" else "MAX_POOL_2D"
        scheme = padding_scheme(a.pads, x.type.shape[1:3], a.kernel, a.strides, (1, 1), node.output.type.shape[1:3])
        xi = w.tensor(x)
        if scheme is None:
            if builtin == "AVERAGE_POOL_2D":
                raise w.fail(node, f"average pooling with pads {list(a.pads)} (neither SAME nor VALID) has no TFLite form", "pad the input explicitly in the model, or use SAME/VALID geometry")
            xi, scheme = write_pad_in_front(w, node, x, a.pads, "lowest"), "VALID"
        s = schema()

        def options(act: int) -> Any:
            o = s.Pool2DOptionsT()
            o.padding = getattr(s.Padding, scheme)
            o.strideH, o.strideW = a.strides
            o.filterHeight, o.filterWidth = a.kernel
            o.fusedActivationFunction = act
            return o

        # The Edge TPU maps pooling only without a fused activation.
        write_with_activation(w, node, builtin, [xi], options, allow_fused=not w.edgetpu)


# -- softmax ---------------------------------------------------------------------------------------


@mapping
class SoftmaxMapping(Mapping):
    builtins = ("SOFTMAX",)
    ir_ops = ("Softmax",)

    def read(self, r: ReadCtx, op: Any) -> None:
        o = options_of(r, "SoftmaxOptions")
        ins = r.inputs()
        xt = r.ttype(ins[0])
        x = r.value(ins[0])
        beta = float(o.beta)
        if not math.isfinite(beta) or beta <= 0:
            raise r.fail(f"softmax beta {beta} must be positive")
        if beta != 1.0:
            if not xt.dtype.is_float:
                raise r.fail(f"int8 softmax with beta {beta} is not supported", "tinyc's integer softmax has beta 1")
            c = r.graph.add_const("softmax_beta", np.array(beta, dtype=np.float32))
            x = r.emit_tmp("Mul", [x, c], None, xt, "scaled")
        attrs = OPS["Softmax"].Attrs(axis=max(xt.rank - 1, 0), coerce_2d=False)
        r.emit("Softmax", [x], attrs, out=r.outputs()[0])

    def write(self, w: WriteCtx, node: Node) -> None:
        x = node.input(0)
        rank = x.type.rank
        axis = node.attrs.axis % max(rank, 1)
        if axis != rank - 1:
            raise w.fail(node, f"softmax over axis {axis} of a rank-{rank} tensor; TFLite normalises the last axis", "transpose the axis last in the model")
        o = schema().SoftmaxOptionsT()
        o.beta = 1.0
        w.op("SOFTMAX", [w.tensor(x)], [w.tensor(node.output)], o)
