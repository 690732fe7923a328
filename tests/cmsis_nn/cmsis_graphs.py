"""Hand-built int8 kernel graphs and an independent NumPy oracle for them.

The graphs are what the quantizer produces: int8 activations with per-tensor
parameters, int8 weights with per-channel (or per-tensor) scales, int32
biases, float graph I/O through QuantizeLinear / DequantizeLinear. The
oracle evaluates them with ``tinyc.quant.kernels`` and parameters from
``tinyc.quant.params`` (TFLite's preparation), not with the backend's code.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tinyc.ir.core import Graph, Loc, Value
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import get_op
from tinyc.ir.types import QuantParams, TensorType
from tinyc.quant import arith
from tinyc.quant import kernels as K
from tinyc.quant import params as P


class Builder:
    """Adds quantized layers with random weights to a graph."""

    def __init__(self, name: str, seed: int) -> None:
        self.g = Graph(name)
        self.rng = np.random.default_rng(seed)

    def act_type(self, shape: tuple[int, ...], scale: float | None = None, zp: int | None = None) -> TensorType:
        s = float(scale if scale is not None else self.rng.uniform(0.01, 0.1))
        z = int(zp if zp is not None else self.rng.integers(-20, 20))
        return TensorType(DType.I8, shape, QuantParams.per_tensor(s, z))

    def float_input(self, name: str, shape: tuple[int, ...], scale: float = 0.05, zp: int = 3) -> Value:
        x = self.g.add_input(name, TensorType(DType.F32, shape))
        q = get_op("QuantizeLinear")
        attrs = q.Attrs(scale=(scale,), zero_point=(zp,), axis=None, dtype=DType.I8)
        return self.g.add_node(q, [x], attrs, name=f"{name}_quantize", loc=Loc.of(f"{name}_quantize")).output

    def float_output(self, v: Value, name: str) -> Value:
        dq = get_op("DequantizeLinear")
        qp = v.type.quant
        assert qp is not None
        attrs = dq.Attrs(scale=qp.scale, zero_point=qp.zero_point, axis=None, dtype=DType.F32)
        out = self.g.add_node(dq, [v], attrs, name=f"{name}_dequantize", output_names=[name]).output
        self.g.outputs.append(out)
        return out

    def weights(self, name: str, shape: tuple[int, ...], axis: int | None) -> Value:
        w = self.rng.integers(-127, 128, size=shape).astype(np.int8)
        if axis is None:
            qp = QuantParams.per_tensor(float(self.rng.uniform(0.002, 0.02)), 0)
        else:
            qp = QuantParams.per_axis(self.rng.uniform(0.002, 0.02, size=shape[axis]), None, axis)
        return self.g.add_const(name, w, qp)

    def bias(self, name: str, n: int) -> Value:
        return self.g.add_const(name, self.rng.integers(-3000, 3000, size=n).astype(np.int32))

    def node(self, op: str, inputs: list[Value | None], out: TensorType, name: str, **attrs: Any) -> Value:
        o = get_op(op)
        a = o.Attrs(**attrs)
        inferred = o.infer(a, inputs)[0]
        assert inferred.shape == out.shape, (op, inferred.shape, out.shape)
        return self.g.add_node(o, inputs, a, name=name, loc=Loc.of(f"model.onnx:{name}"), output_types=[out]).output

    def conv(self, x: Value, c_out: int, k: tuple[int, int], *, stride=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), act=(None, None), name: str, per_tensor: bool = False) -> Value:
        n, h, w, c = x.type.shape
        wt = self.weights(f"{name}_w", (c_out, k[0], k[1], c), None if per_tensor else 0)
        b = self.bias(f"{name}_b", c_out)
        oh = (h + pads[0] + pads[2] - ((k[0] - 1) * dil[0] + 1)) // stride[0] + 1
        ow = (w + pads[1] + pads[3] - ((k[1] - 1) * dil[1] + 1)) // stride[1] + 1
        return self.node("Conv2D", [x, wt, b], self.act_type((n, oh, ow, c_out)), name, strides=stride, dilations=dil, pads=pads, act_min=act[0], act_max=act[1])

    def dwconv(self, x: Value, k: tuple[int, int], *, mult: int = 1, stride=(1, 1), pads=(0, 0, 0, 0), act=(None, None), name: str) -> Value:
        n, h, w, c = x.type.shape
        wt = self.weights(f"{name}_w", (1, k[0], k[1], c * mult), 3)
        b = self.bias(f"{name}_b", c * mult)
        oh = (h + pads[0] + pads[2] - k[0]) // stride[0] + 1
        ow = (w + pads[1] + pads[3] - k[1]) // stride[1] + 1
        return self.node("DepthwiseConv2D", [x, wt, b], self.act_type((n, oh, ow, c * mult)), name, strides=stride, pads=pads, depth_multiplier=mult, act_min=act[0], act_max=act[1])

    def fc(self, x: Value, c_out: int, *, act=(None, None), name: str, per_tensor: bool = True, bias: bool = True) -> Value:
        k = x.type.shape[-1]
        wt = self.weights(f"{name}_w", (c_out, k), None if per_tensor else 0)
        b = self.bias(f"{name}_b", c_out) if bias else None
        out = self.act_type((*x.type.shape[:-1], c_out))
        return self.node("FullyConnected", [x, wt, b], out, name, act_min=act[0], act_max=act[1])

    def pool(self, op: str, x: Value, k: tuple[int, int], *, stride=(1, 1), pads=(0, 0, 0, 0), act=(None, None), name: str) -> Value:
        n, h, w, c = x.type.shape
        oh = (h + pads[0] + pads[2] - k[0]) // stride[0] + 1
        ow = (w + pads[1] + pads[3] - k[1]) // stride[1] + 1
        q = x.type.quant
        assert q is not None
        return self.node(op, [x], TensorType(DType.I8, (n, oh, ow, c), q), name, kernel=k, strides=stride, pads=pads, act_min=act[0], act_max=act[1])

    def reshape(self, x: Value, shape: tuple[int, ...], name: str) -> Value:
        o = get_op("Reshape")
        a = o.Attrs(shape=shape)
        return self.g.add_node(o, [x], a, name=name, loc=Loc.of(f"model.onnx:{name}"), output_types=[TensorType(DType.I8, shape, x.type.quant)]).output

    def binary(self, op: str, a: Value, b: Value, *, act=(None, None), name: str) -> Value:
        return self.node(op, [a, b], self.act_type(a.type.shape), name, act_min=act[0], act_max=act[1])

    def softmax(self, x: Value, name: str) -> Value:
        o = get_op("Softmax")
        out = TensorType(DType.I8, x.type.shape, QuantParams.per_tensor(1.0 / 256.0, -128))
        return self.g.add_node(o, [x], o.Attrs(axis=x.type.rank - 1), name=name, loc=Loc.of(f"model.onnx:{name}"), output_types=[out]).output


# -- models -----------------------------------------------------------------------------------------


def mlp(seed: int = 0) -> Graph:
    """48-50-50-3 like the magnet locator: FC+ReLU, FC+ReLU (per-channel), FC."""
    b = Builder("mlp", seed)
    x = b.float_input("magnetometers", (1, 48))
    h = b.fc(x, 50, act=(0.0, None), name="fc1")
    h = b.fc(h, 50, act=(0.0, None), name="fc2", per_tensor=False)
    y = b.fc(h, 3, name="fc3")
    b.float_output(y, "position")
    return b.g


def cnn(seed: int = 1) -> Graph:
    """Conv, depthwise (x1, x2), 1x1 conv, pools, residual add, mul, clamp, FC, softmax."""
    b = Builder("cnn", seed)
    x = b.float_input("image", (1, 13, 10, 3))
    c1 = b.conv(x, 8, (3, 3), stride=(2, 1), pads=(1, 1, 1, 1), act=(0.0, 6.0), name="conv1")  # 7x10x8
    d1 = b.dwconv(c1, (3, 3), pads=(1, 1, 1, 1), act=(0.0, None), name="dw1")  # 7x10x8, 3x3 fast path
    p1 = b.conv(d1, 8, (1, 1), act=(0.0, None), name="pw1")  # 1x1
    r = b.binary("AddAct", p1, c1, name="res1")
    d2 = b.dwconv(r, (3, 2), mult=2, stride=(2, 2), pads=(1, 0, 1, 1), name="dw2")  # 4x5x16
    c2 = b.conv(d2, 12, (2, 2), dil=(1, 2), pads=(0, 1, 1, 1), name="conv2", per_tensor=True)
    m = b.binary("MulAct", c2, c2, act=(-1.0, None), name="sq")
    mp = b.pool("MaxPool2D", m, (2, 2), stride=(2, 2), pads=(0, 0, 1, 1), name="maxpool")
    ap = b.pool("AvgPool2D", mp, mp.type.shape[1:3], name="avgpool")
    f = b.reshape(ap, (1, 12), name="flatten")
    logits = b.fc(f, 7, name="classifier", per_tensor=False, bias=False)
    y = b.softmax(logits, name="softmax")
    b.float_output(y, "probs")
    return b.g


def activations(seed: int = 2) -> Graph:
    """Standalone int8 ReLU (rescaling to new parameters) and Clip (same parameters) between FC layers."""
    b = Builder("acts", seed)
    x = b.float_input("x", (2, 16))
    h = b.fc(x, 24, name="fc1")
    o = get_op("Relu")
    r = b.g.add_node(o, [h], name="relu", output_types=[b.act_type(h.type.shape, zp=-128)]).output
    c = get_op("Clip")
    k = b.g.add_node(c, [r], c.Attrs(min=0.1, max=0.9), name="clip", output_types=[r.type]).output
    b.float_output(b.fc(k, 5, name="fc2"), "y")
    return b.g


def dscnn(channels: int = 16, seed: int = 3) -> Graph:
    """DS-CNN-like: conv, then depthwise (3x3 and 5x5 SAME) / pointwise pairs that can run in place in bands."""
    b = Builder(f"dscnn{channels}", seed)
    x = b.float_input("mfcc", (1, 12, 6, 4))
    h = b.conv(x, channels, (3, 3), pads=(1, 1, 1, 1), act=(0.0, None), name="conv0")
    h = b.dwconv(h, (3, 3), pads=(1, 1, 1, 1), act=(0.0, None), name="dw1")
    h = b.conv(h, channels, (1, 1), act=(0.0, None), name="pw1")
    h = b.dwconv(h, (5, 5), pads=(2, 2, 2, 2), act=(0.0, None), name="dw2")
    h = b.conv(h, channels, (1, 1), act=(0.0, 6.0), name="pw2", per_tensor=True)
    h = b.pool("AvgPool2D", h, (12, 6), name="pool")
    h = b.reshape(h, (1, channels), name="flat")
    b.float_output(b.softmax(b.fc(h, 5, name="fc", per_tensor=False), name="softmax"), "scores")
    return b.g


def two_io(seed: int = 4) -> Graph:
    """Two inputs, two outputs: a residual sum of two branches and a side output."""
    b = Builder("two_io", seed)
    a = b.float_input("left", (1, 6, 5, 4), scale=0.04, zp=-5)
    c = b.float_input("right", (1, 6, 5, 4), scale=0.03, zp=7)
    ha = b.conv(a, 8, (3, 3), pads=(1, 1, 1, 1), name="conv_left")
    hc = b.conv(c, 8, (3, 3), pads=(1, 1, 1, 1), name="conv_right")
    s = b.binary("AddAct", ha, hc, act=(0.0, None), name="sum")
    f = b.reshape(s, (1, 240), name="flat")
    b.float_output(b.fc(f, 10, name="head"), "logits")
    b.float_output(b.fc(b.reshape(ha, (1, 240), name="flat_left"), 3, name="side"), "side")
    return b.g


def wide(seed: int = 5) -> Graph:
    """Activations larger than the STM32H7's DTCM: the plan spreads them over several RAM regions."""
    b = Builder("wide", seed)
    x = b.float_input("image", (1, 64, 64, 8))  # 32 KiB
    h = b.conv(x, 24, (3, 3), pads=(1, 1, 1, 1), act=(0.0, None), name="conv1")  # 96 KiB
    h = b.pool("MaxPool2D", h, (2, 2), stride=(2, 2), name="pool1")  # 24 KiB
    h = b.conv(h, 8, (3, 3), stride=(2, 2), pads=(0, 0, 1, 1), name="conv2")  # 16x16x8
    h = b.pool("AvgPool2D", h, (16, 16), name="gap")
    b.float_output(b.fc(b.reshape(h, (1, 8), name="flat"), 4, name="fc"), "y")
    return b.g


# -- the oracle ---------------------------------------------------------------------------------------


def _qp(v: Value) -> tuple[float, int]:
    q = v.type.quant
    assert q is not None and q.is_per_tensor
    return q.scale[0], q.zero_point[0]


def _bound(f: float, scale: float, zp: int) -> int:
    q = float(np.float32(f) / np.float32(scale))
    return zp + int(math.copysign(math.floor(abs(q) + 0.5), q))


def _range(attrs: Any, v: Value) -> tuple[int, int]:
    s, z = _qp(v)
    lo = -128 if attrs.act_min is None else max(-128, _bound(attrs.act_min, s, z))
    hi = 127 if attrs.act_max is None else min(127, _bound(attrs.act_max, s, z))
    return lo, hi


def _wscales(w: Value, n: int) -> np.ndarray:
    q = w.type.quant
    assert q is not None
    return np.full(n, q.scale[0]) if q.is_per_tensor else np.asarray(q.scale)


def reference(g: Graph, inputs: dict[str, np.ndarray], *, int8_io: bool = False) -> dict[str, np.ndarray]:
    """Outputs by graph output name; with ``int8_io`` the inputs and outputs are the int8 tensors inside the edge Q/DQ."""
    env: dict[Value, np.ndarray] = {c: c.const for c in g.constants if c.const is not None}
    for v in g.inputs:
        env[v] = inputs[v.name]
    for node in g.nodes:
        op, a = node.op.name, node.attrs
        ins = [None if v is None else env[v] for v in node.inputs]
        y = node.output
        if int8_io and op == "QuantizeLinear" and node.input(0) in g.inputs:
            out = ins[0]
        elif int8_io and op == "DequantizeLinear" and y in g.outputs:
            out = ins[0]
        elif op == "QuantizeLinear":
            out = np.clip(np.rint(ins[0].astype(np.float32) / np.float32(a.scale[0])) + a.zero_point[0], -128, 127).astype(np.int8)
        elif op == "DequantizeLinear":
            out = ((ins[0].astype(np.int64) - a.zero_point[0]).astype(np.float32) * np.float32(a.scale[0])).astype(np.float32)
        elif op in ("Conv2D", "DepthwiseConv2D"):
            (si, zi), (so, zo) = _qp(node.input(0)), _qp(y)
            c = y.type.shape[3]
            mult, shift = P.conv_multipliers(si, _wscales(node.input(1), c), so)
            lo, hi = _range(a, y)
            kw = dict(input_offset=-zi, output_offset=zo, multiplier=mult, shift=shift, stride=a.strides, padding=(a.pads[0], a.pads[1]), dilation=a.dilations, act_min=lo, act_max=hi, output_hw=y.type.shape[1:3])
            if op == "Conv2D":
                out = K.conv2d(ins[0], ins[1], ins[2], **kw)
            else:
                out = K.depthwise_conv2d(ins[0], ins[1], ins[2], depth_multiplier=a.depth_multiplier, **kw)
        elif op == "FullyConnected":
            (si, zi), (so, zo) = _qp(node.input(0)), _qp(y)
            w = node.input(1)
            assert w.type.quant is not None
            if w.type.quant.is_per_tensor:
                mult, shift = P.fc_multiplier(si, w.type.quant.scale[0], so)
            else:
                mult, shift = P.conv_multipliers(si, np.asarray(w.type.quant.scale), so)
            lo, hi = _range(a, y)
            out = K.fully_connected(ins[0], ins[1], ins[2], input_offset=-zi, output_offset=zo, multiplier=mult, shift=shift, act_min=lo, act_max=hi)
        elif op in ("MaxPool2D", "AvgPool2D"):
            lo, hi = _range(a, y)
            fn = K.max_pool2d if op == "MaxPool2D" else K.avg_pool2d
            out = fn(ins[0], filter_hw=a.kernel, stride=a.strides, padding=(a.pads[0], a.pads[1]), act_min=lo, act_max=hi, output_hw=y.type.shape[1:3])
        elif op in ("AddAct", "MulAct"):
            (s1, z1), (s2, z2), (so, zo) = _qp(node.input(0)), _qp(node.input(1)), _qp(y)
            lo, hi = _range(a, y)
            if op == "AddAct":
                out = K.add(ins[0], ins[1], P.prepare_add(s1, z1, s2, z2, so, zo, lo, hi))
            else:
                out = K.mul(ins[0], ins[1], P.prepare_mul(s1, z1, s2, z2, so, zo, lo, hi))
        elif op == "Softmax":
            out = K.softmax(ins[0], P.prepare_softmax(1.0, _qp(node.input(0))[0]))
        elif op in ("Relu", "Clip"):
            (si, zi), (so, zo) = _qp(node.input(0)), _qp(y)
            lo_f, hi_f = (0.0, None) if op == "Relu" else (a.min, a.max)
            lo = -128 if lo_f is None else max(-128, _bound(lo_f, so, zo))
            hi = 127 if hi_f is None else min(127, _bound(hi_f, so, zo))
            mult, shift = arith.quantize_multiplier(float(np.float32(si)) / float(np.float32(so)))
            out = np.clip(arith.multiply_by_quantized_multiplier(ins[0].astype(np.int64) - zi, mult, shift) + zo, lo, hi).astype(np.int8)
        elif op == "Reshape":
            out = ins[0].reshape(y.type.shape)
        else:
            raise NotImplementedError(op)
        env[y] = out
    return {v.name: env[v] for v in g.outputs}
