"""Integer semantics of every quantized op in the IR.

Each case builds a one-node quantized graph, runs it in the reference
interpreter and checks it (a) bit for bit against the NumPy kernels of
``tinyc.quant`` fed with parameters computed here from the same scales, and
(b) against the op's float semantics on the dequantized inputs, within the
quantization error (one output step for rescaling ops, two for TFLite's
fixed-point transcendental approximations).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tinyc.errors import TinycError, UnsupportedOpError
from tinyc.interpreter import run_graph
from tinyc.ir import verify
from tinyc.ir.core import Graph
from tinyc.ir.dtypes import DType
from tinyc.ir.opdef import get_op
from tinyc.ir.types import QuantParams, TensorType
from tinyc.quant import kernels as K
from tinyc.quant import kernels_extra as KE
from tinyc.quant import params as P

I8, I16, I32, I64, F32 = DType.I8, DType.I16, DType.I32, DType.I64, DType.F32
Input = tuple[str, TensorType, "np.ndarray | None"]


def one_node(op: str, attrs: Any, inputs: list[Input], outs: list[TensorType]) -> Graph:
    g = Graph("t")
    vals = [g.add_input(n, t) if d is None else g.add_const(n, d, quant=t.quant) for n, t, d in inputs]
    node = g.add_node(get_op(op), vals, attrs, output_names=[f"y{i}" for i in range(len(outs))], output_types=outs)
    g.outputs = list(node.outputs)
    verify(g)
    return g


def run1(g: Graph, feeds: dict[str, np.ndarray]) -> np.ndarray:
    return next(iter(run_graph(g, feeds).values()))


def qt(dtype: DType, shape: tuple[int, ...], scale: float, zp: int = 0) -> TensorType:
    return TensorType(dtype, shape, QuantParams.per_tensor(scale, zp))


def dq(x: np.ndarray, t: TensorType) -> np.ndarray:
    q = t.quant
    assert q is not None
    shape = [1] * x.ndim
    if q.axis is not None:
        shape[q.axis] = -1
    s = np.asarray(q.scale, np.float64).reshape(shape if q.axis is not None else ())
    z = np.asarray(q.zero_point, np.float64).reshape(shape if q.axis is not None else ())
    return (x.astype(np.float64) - z) * s


def float_ref(op: str, attrs: Any, inputs: list[tuple[str, TensorType, np.ndarray, bool]], out_shape: tuple[int, ...]) -> np.ndarray:
    """The op's float semantics on dequantized inputs (``True`` marks constants)."""
    g = Graph("f")
    vals = []
    feeds = {}
    for n, t, data, const in inputs:
        real = dq(data, t).astype(np.float32) if t.quant is not None else data.astype(np.float32)
        if const:
            vals.append(g.add_const(n, real))
        else:
            vals.append(g.add_input(n, TensorType(F32, t.shape)))
            feeds[n] = real
    node = g.add_node(get_op(op), vals, attrs, output_names=["y"])
    g.outputs = [node.output]
    assert node.output.type.shape == out_shape
    return next(iter(run_graph(g, feeds).values())).astype(np.float64)


def rand_q(rng: np.random.Generator, shape: tuple[int, ...], dtype: DType = I8) -> np.ndarray:
    return rng.integers(dtype.qmin, dtype.qmax + 1, size=shape).astype(dtype.numpy)


def within(got: np.ndarray, out_t: TensorType, ref: np.ndarray, steps: float) -> None:
    q = out_t.quant
    assert q is not None
    lo, hi = (out_t.dtype.qmin - q.zero_point[0]) * q.scale[0], (out_t.dtype.qmax - q.zero_point[0]) * q.scale[0]
    err = np.abs(dq(got, out_t) - np.clip(ref, lo, hi))
    slack = 1e-6 * (1.0 + float(np.abs(ref).max(initial=0.0)))  # float32 rounding of the reference
    assert err.max() <= steps * q.scale[0] + slack, f"max error {err.max() / q.scale[0]:.3f} steps"


# -- convolutions and fully connected -----------------------------------------------------


@pytest.mark.parametrize("dtype", [I8, I16])
@pytest.mark.parametrize("act", [(None, None), (0.0, None), (0.0, 6.0)])
def test_conv2d(dtype: DType, act: tuple[float | None, float | None]) -> None:
    rng = np.random.default_rng(1)
    x = rand_q(rng, (1, 7, 6, 3), dtype)
    w = rng.integers(-127, 128, size=(4, 3, 3, 3)).astype(np.int8)
    ws = rng.uniform(0.002, 0.02, size=4).astype(np.float32)
    s_in, zp_in = (0.05, 3) if dtype is I8 else (0.0005, 0)
    s_out, zp_out = (0.08, -5) if dtype is I8 else (0.001, 0)
    bias_dt = I32 if dtype is I8 else I64
    b = rng.integers(-3000, 3000, size=4).astype(bias_dt.numpy)
    xt, wt = qt(dtype, x.shape, s_in, zp_in), TensorType(I8, w.shape, QuantParams.per_axis(ws, None, 0))
    bt = TensorType(bias_dt, (4,), QuantParams.per_axis(np.float32(s_in) * ws, None, 0))
    attrs = get_op("Conv2D").Attrs(strides=(2, 1), pads=(1, 1, 1, 1), act_min=act[0], act_max=act[1])
    out_t = qt(dtype, (1, 4, 6, 4), s_out, zp_out)
    g = one_node("Conv2D", attrs, [("x", xt, None), ("w", wt, w), ("b", bt, b)], [out_t])
    got = run1(g, {"x": x})
    mult, shift = P.conv_multipliers(s_in, ws, s_out)
    lo, hi = (dtype.qmin, dtype.qmax)
    if act[0] is not None:
        lo = max(lo, zp_out)
    if act[1] is not None:
        hi = min(hi, zp_out + round(act[1] / s_out))
    geo = dict(stride=(2, 1), padding=(1, 1), act_min=lo, act_max=hi, output_hw=(4, 6))
    if dtype is I8:
        want = K.conv2d(x, w, b, input_offset=-zp_in, output_offset=zp_out, multiplier=mult, shift=shift, **geo)
    else:
        want = KE.conv2d_s16(x, w, b, multiplier=mult, shift=shift, **geo)
    assert np.array_equal(got, want)
    ref = float_ref("Conv2D", attrs, [("x", xt, x, False), ("w", wt, w, True), ("b", bt, b, True)], out_t.shape)
    within(got, out_t, ref, 1.0)


def test_depthwise_conv2d_with_multiplier() -> None:
    rng = np.random.default_rng(2)
    x = rand_q(rng, (1, 6, 5, 3))
    w = rng.integers(-127, 128, size=(1, 3, 3, 6)).astype(np.int8)
    ws = rng.uniform(0.005, 0.03, size=6).astype(np.float32)
    b = rng.integers(-2000, 2000, size=6).astype(np.int32)
    xt, wt = qt(I8, x.shape, 0.04, -7), TensorType(I8, w.shape, QuantParams.per_axis(ws, None, 3))
    bt = TensorType(I32, (6,), QuantParams.per_axis(np.float32(0.04) * ws, None, 0))
    attrs = get_op("DepthwiseConv2D").Attrs(pads=(1, 1, 1, 1), depth_multiplier=2, act_min=0.0)
    out_t = qt(I8, (1, 6, 5, 6), 0.05, -128)
    got = run1(one_node("DepthwiseConv2D", attrs, [("x", xt, None), ("w", wt, w), ("b", bt, b)], [out_t]), {"x": x})
    mult, shift = P.conv_multipliers(0.04, ws, 0.05)
    want = K.depthwise_conv2d(x, w, b, input_offset=7, output_offset=-128, multiplier=mult, shift=shift, depth_multiplier=2, padding=(1, 1), act_min=-128, act_max=127, output_hw=(6, 5))
    assert np.array_equal(got, want)
    within(got, out_t, float_ref("DepthwiseConv2D", attrs, [("x", xt, x, False), ("w", wt, w, True), ("b", bt, b, True)], out_t.shape), 1.0)


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("dtype", [I8, I16])
def test_fully_connected(per_channel: bool, dtype: DType) -> None:
    rng = np.random.default_rng(3)
    x = rand_q(rng, (2, 20), dtype)
    w = rng.integers(-127, 128, size=(5, 20)).astype(np.int8)
    s_in, zp_in = (0.03, 10) if dtype is I8 else (0.0002, 0)
    s_out, zp_out = (0.1, 4) if dtype is I8 else (0.0004, 0)
    ws = rng.uniform(0.005, 0.02, size=5).astype(np.float32) if per_channel else np.full(1, 0.01, np.float32)
    wq = QuantParams.per_axis(ws, None, 0) if per_channel else QuantParams.per_tensor(0.01)
    bias_dt = I32 if dtype is I8 else I64
    b = rng.integers(-5000, 5000, size=5).astype(bias_dt.numpy)
    bq = QuantParams.per_axis(np.float32(s_in) * ws, None, 0) if per_channel else QuantParams.per_tensor(float(np.float32(s_in) * np.float32(0.01)))
    xt, wt, bt = qt(dtype, x.shape, s_in, zp_in), TensorType(I8, w.shape, wq), TensorType(bias_dt, (5,), bq)
    out_t = qt(dtype, (2, 5), s_out, zp_out)
    attrs = get_op("FullyConnected").Attrs()
    got = run1(one_node("FullyConnected", attrs, [("x", xt, None), ("w", wt, w), ("b", bt, b)], [out_t]), {"x": x})
    if per_channel:
        mult, shift = P.conv_multipliers(s_in, ws, s_out)
    else:
        mult, shift = P.fc_multiplier(s_in, 0.01, s_out)
    if dtype is I8:
        want = K.fully_connected(x, w, b, input_offset=-zp_in, output_offset=zp_out, multiplier=mult, shift=shift)
    else:
        want = KE.fully_connected_s16(x, w, b, multiplier=mult, shift=shift)
    assert np.array_equal(got, want)
    within(got, out_t, float_ref("FullyConnected", attrs, [("x", xt, x, False), ("w", wt, w, True), ("b", bt, b, True)], out_t.shape), 1.0)


# -- pools ---------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["MaxPool2D", "AvgPool2D"])
@pytest.mark.parametrize("dtype", [I8, I16])
def test_pools(op: str, dtype: DType) -> None:
    rng = np.random.default_rng(4)
    x = rand_q(rng, (1, 7, 6, 4), dtype)
    s, zp = (0.05, -3) if dtype is I8 else (0.001, 0)
    xt = qt(dtype, x.shape, s, zp)
    attrs = get_op(op).Attrs(kernel=(3, 2), strides=(2, 2), pads=(1, 0, 1, 0), act_min=0.0)
    out_t = qt(dtype, (1, 4, 3, 4), s, zp)
    got = run1(one_node(op, attrs, [("x", xt, None)], [out_t]), {"x": x})
    geo = dict(filter_hw=(3, 2), stride=(2, 2), padding=(1, 0), act_min=zp if dtype is I8 else 0, act_max=dtype.qmax, output_hw=(4, 3))
    if dtype is I8:
        want = (K.max_pool2d if op == "MaxPool2D" else K.avg_pool2d)(x, **geo)
    else:
        want = (KE.max_pool2d_s16 if op == "MaxPool2D" else KE.avg_pool2d_s16)(x, **geo)
    assert np.array_equal(got, want)
    within(got, out_t, float_ref(op, attrs, [("x", xt, x, False)], out_t.shape), 0.5)


def test_pool_refuses_rescaling() -> None:
    xt = qt(I8, (1, 4, 4, 1), 0.05, 0)
    g = one_node("MaxPool2D", get_op("MaxPool2D").Attrs(kernel=(2, 2), strides=(2, 2)), [("x", xt, None)], [qt(I8, (1, 2, 2, 1), 0.1, 0)])
    with pytest.raises(UnsupportedOpError, match="keep the input's parameters"):
        run_graph(g, {"x": np.zeros((1, 4, 4, 1), np.int8)})


# -- element-wise ----------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["Add", "Mul", "AddAct", "MulAct"])
@pytest.mark.parametrize("dtype", [I8, I16])
def test_add_mul(op: str, dtype: DType) -> None:
    rng = np.random.default_rng(5)
    a, b = rand_q(rng, (2, 3, 4), dtype), rand_q(rng, (1, 3, 4), dtype)
    s1, s2 = (0.02, 0.05) if dtype is I8 else (0.0002, 0.0005)
    z1, z2 = (5, -9) if dtype is I8 else (0, 0)
    mul = op.startswith("Mul")
    so = (s1 * s2 * 150 if mul else 0.06) if dtype is I8 else (s1 * s2 * 20000 if mul else 0.0006)
    zo = -20 if dtype is I8 else 0
    fused = op.endswith("Act")
    attrs = get_op(op).Attrs(act_min=0.0, act_max=None) if fused else get_op(op).Attrs()
    at, bt, out_t = qt(dtype, a.shape, s1, z1), qt(dtype, b.shape, s2, z2), qt(dtype, (2, 3, 4), so, zo)
    got = run1(one_node(op, attrs, [("a", at, None), ("b", bt, None)], [out_t]), {"a": a, "b": b})
    lo = max(dtype.qmin, zo) if fused else dtype.qmin
    if mul:
        p = P.prepare_mul(s1, z1, s2, z2, so, zo, lo, dtype.qmax)
        want = K.mul(a, b, p) if dtype is I8 else KE.mul_s16(a, b, p)
    else:
        p = P.prepare_add(s1, z1, s2, z2, so, zo, lo, dtype.qmax, left_shift=20 if dtype is I8 else 15)
        want = K.add(a, b, p) if dtype is I8 else KE.add_s16(a, b, p)
    assert np.array_equal(got, np.broadcast_to(want, got.shape))
    float_op = "Mul" if mul else "Add"
    ref = float_ref(float_op, get_op(float_op).Attrs(), [("a", at, a, False), ("b", bt, b, False)], out_t.shape)
    within(got, out_t, np.maximum(ref, 0) if fused else ref, 1.0)


@pytest.mark.parametrize("op,lo,hi", [("Relu", 0.0, None), ("Clip", -1.0, 1.5)])
def test_relu_and_clip_rescale_then_clamp(op: str, lo: float, hi: float | None) -> None:
    x = np.arange(-128, 128, dtype=np.int8).reshape(2, 128)
    xt = qt(I8, x.shape, 0.03, 10)
    out_t = qt(I8, x.shape, 0.02, -128 if op == "Relu" else -3)
    attrs = get_op(op).Attrs() if op == "Relu" else get_op(op).Attrs(min=lo, max=hi)
    got = run1(one_node(op, attrs, [("x", xt, None)], [out_t]), {"x": x})
    mult, shift = KE.requantize_multiplier(0.03, out_t.quant.scale[0])  # type: ignore[union-attr]
    zo = out_t.quant.zero_point[0]  # type: ignore[union-attr]
    qlo = max(-128, zo + round(lo / out_t.quant.scale[0]))  # type: ignore[union-attr]
    qhi = 127 if hi is None else min(127, zo + round(hi / out_t.quant.scale[0]))  # type: ignore[union-attr]
    assert np.array_equal(got, KE.relu(x, mult, shift, 10, zo, qlo, qhi).astype(np.int8))
    within(got, out_t, float_ref(op, attrs, [("x", xt, x, False)], x.shape), 0.5)


@pytest.mark.parametrize("op,steps", [("Sigmoid", 1.0), ("Tanh", 1.0)])
def test_logistic_and_tanh(op: str, steps: float) -> None:
    x = np.arange(-128, 128, dtype=np.int8).reshape(2, 128)
    xt = qt(I8, x.shape, 0.06, 4)
    node_graph = one_node(op, None, [("x", xt, None)], get_op(op).infer(get_op(op).Attrs(), [Graph("tmp").add_input("x", xt)]))
    out_t = node_graph.outputs[0].type
    assert out_t.quant == (QuantParams.per_tensor(1 / 256, -128) if op == "Sigmoid" else QuantParams.per_tensor(1 / 128, 0))
    got = run1(node_graph, {"x": x})
    p = P.prepare_logistic_tanh(0.06, 4)
    assert np.array_equal(got, (K.logistic if op == "Sigmoid" else K.tanh)(x, p))
    within(got, out_t, float_ref(op, get_op(op).Attrs(), [("x", xt, x, False)], x.shape), steps)


def test_sigmoid_refuses_other_output_parameters() -> None:
    xt = qt(I8, (4,), 0.06, 4)
    g = Graph("t")
    x = g.add_input("x", xt)
    node = g.add_node(get_op("Sigmoid"), [x], output_types=[qt(I8, (4,), 0.01, 0)])
    g.outputs = [node.output]
    with pytest.raises(TinycError, match="1/256|0.00390625"):
        run_graph(g, {"x": np.zeros(4, np.int8)})


def test_hard_swish() -> None:
    x = np.arange(-128, 128, dtype=np.int8).reshape(2, 128)
    xt, out_t = qt(I8, x.shape, 0.05, 0), qt(I8, x.shape, 0.03, -100)
    got = run1(one_node("HardSwish", None, [("x", xt, None)], [out_t]), {"x": x})
    assert np.array_equal(got, KE.hard_swish(x, KE.prepare_hard_swish(0.05, 0, 0.03, -100)))
    within(got, out_t, float_ref("HardSwish", get_op("HardSwish").Attrs(), [("x", xt, x, False)], x.shape), 1.0)


@pytest.mark.parametrize("axis", [-1, 1])
def test_softmax(axis: int) -> None:
    rng = np.random.default_rng(6)
    x = rand_q(rng, (2, 5, 12))
    xt = qt(I8, x.shape, 0.1, -3)
    out_t = qt(I8, x.shape, 1 / 256, -128)
    attrs = get_op("Softmax").Attrs(axis=axis % 3)
    got = run1(one_node("Softmax", attrs, [("x", xt, None)], [out_t]), {"x": x})
    p = P.prepare_softmax(1.0, 0.1)
    want = np.moveaxis(K.softmax(np.moveaxis(x, axis, -1), p), -1, axis)
    assert np.array_equal(got, want)
    within(got, out_t, float_ref("Softmax", attrs, [("x", xt, x, False)], x.shape), 1.0)


def test_mean_and_global_average_pool() -> None:
    rng = np.random.default_rng(7)
    x = rand_q(rng, (1, 5, 4, 3))
    xt, out_t = qt(I8, x.shape, 0.05, 7), qt(I8, (1, 1, 1, 3), 0.02, -10)
    attrs = get_op("ReduceMean").Attrs(axes=(1, 2), keepdims=True)
    got = run1(one_node("ReduceMean", attrs, [("x", xt, None)], [out_t]), {"x": x})
    mult, shift = KE.prepare_mean(0.05, 0.02, 20)
    assert np.array_equal(got, KE.mean(x, (1, 2), multiplier=mult, shift=shift, input_zp=7, output_zp=-10))
    within(got, out_t, float_ref("ReduceMean", attrs, [("x", xt, x, False)], out_t.shape), 1.0)
    xn = np.transpose(x, (0, 3, 1, 2)).copy()
    gt, gout = qt(I8, xn.shape, 0.05, 7), qt(I8, (1, 3, 1, 1), 0.02, -10)
    gap = run1(one_node("GlobalAveragePool", None, [("x", gt, None)], [gout]), {"x": xn})
    assert np.array_equal(gap.reshape(-1), got.reshape(-1))


# -- data movement ------------------------------------------------------------------------------


def test_concat_requantizes_inputs_with_other_parameters() -> None:
    rng = np.random.default_rng(8)
    a, b = rand_q(rng, (1, 2, 3)), rand_q(rng, (1, 4, 3))
    at, bt, out_t = qt(I8, a.shape, 0.05, 0), qt(I8, b.shape, 0.1, 20), qt(I8, (1, 6, 3), 0.1, 20)
    attrs = get_op("Concat").Attrs(axis=1)
    got = run1(one_node("Concat", attrs, [("a", at, None), ("b", bt, None)], [out_t]), {"a": a, "b": b})
    mult, shift = KE.requantize_multiplier(0.05, 0.1)
    assert np.array_equal(got[:, :2], KE.requantize(a, mult, shift, 0, 20, -128, 127))
    assert np.array_equal(got[:, 2:], b)
    within(got, out_t, float_ref("Concat", attrs, [("a", at, a, False), ("b", bt, b, False)], out_t.shape), 0.5)


def test_requantize_op() -> None:
    x = np.arange(-128, 128, dtype=np.int8)
    xt = qt(I8, x.shape, 0.05, 3)
    attrs = get_op("Requantize").Attrs(scale=0.002, zero_point=0, dtype=I16)
    g = Graph("t")
    node = g.add_node(get_op("Requantize"), [g.add_input("x", xt)], attrs)
    g.outputs = [node.output]
    verify(g)
    assert node.output.type == qt(I16, x.shape, 0.002, 0)
    got = run1(g, {"x": x})
    mult, shift = KE.requantize_multiplier(0.05, 0.002)
    assert got.dtype == np.int16 and np.array_equal(got, KE.requantize(x, mult, shift, 3, 0, -32768, 32767))
    assert np.array_equal(got, (x.astype(np.int64) - 3) * 25)  # an exact ratio stays exact
    with pytest.raises(TinycError, match="zero point"):
        g.add_node(get_op("Requantize"), [g.inputs[0]], get_op("Requantize").Attrs(scale=0.002, zero_point=4, dtype=I16))


@pytest.mark.parametrize(
    "op,attrs,shape,out_shape",
    [
        ("Reshape", dict(shape=(2, 6)), (3, 4), (2, 6)),
        ("Transpose", dict(perm=(1, 0)), (3, 4), (4, 3)),
        ("Pad", dict(pads=(1, 0, 0, 2), constant_value=0.0), (3, 4), (4, 6)),
        ("Flatten", dict(axis=1), (2, 3, 2), (2, 6)),
    ],
)
def test_data_movement_keeps_parameters_and_pads_with_zero_point(op: str, attrs: dict[str, Any], shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(9)
    x = rand_q(rng, shape)
    xt = qt(I8, shape, 0.05, -17)
    a = get_op(op).Attrs(**attrs)
    g = one_node(op, a, [("x", xt, None)], [qt(I8, out_shape, 0.05, -17)])
    got = run1(g, {"x": x})
    assert np.allclose(dq(got, g.outputs[0].type), float_ref(op, a, [("x", xt, x, False)], out_shape), rtol=1e-6, atol=1e-6)


def test_quantize_dequantize_at_the_edges() -> None:
    g = Graph("t")
    x = g.add_input("x", TensorType(F32, (5,)))
    q = g.add_node(get_op("QuantizeLinear"), [x], get_op("QuantizeLinear").Attrs(scale=(0.1,), zero_point=(3,), dtype=I8))
    d = g.add_node(get_op("DequantizeLinear"), [q.output], get_op("DequantizeLinear").Attrs(scale=(0.1,), zero_point=(3,)))
    g.outputs = [q.output, d.output]
    verify(g)
    xs = np.array([-20.0, -0.05, 0.15, 0.26, 100.0], np.float32)
    qv, dv = run_graph(g, {"x": xs}).values()
    assert qv.tolist() == [-128, 3, 5, 6, 127]  # -0.5 and 1.5 round half to even (ONNX); saturation
    assert np.allclose(dv, (qv.astype(np.float32) - 3) * np.float32(0.1))


def test_hybrid_float_input_with_int8_weights_is_refused() -> None:
    w = np.ones((2, 3), np.int8)
    g = one_node(
        "FullyConnected",
        get_op("FullyConnected").Attrs(),
        [("x", TensorType(F32, (1, 3)), None), ("w", TensorType(I8, (2, 3), QuantParams.per_tensor(0.1)), w)],
        [TensorType(F32, (1, 2))],
    )
    with pytest.raises(UnsupportedOpError, match="quantized int8 or int16"):
        run_graph(g, {"x": np.ones((1, 3), np.float32)})
