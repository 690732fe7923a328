"""Kernel-level NHWC ops agree with the equivalent ONNX-op graphs through the reference interpreter."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from tinyc.errors import ShapeError, UnsupportedOpError
from tinyc.interpreter import run_graph
from tinyc.ir import DType, Graph, QuantParams, TensorType, Value, get_op, verify
from tinyc.ir.ops.kernels import clamp_text

RNG = np.random.default_rng(1234)
NHWC, NCHW = (0, 2, 3, 1), (0, 3, 1, 2)


def _node(g: Graph, op: str, inputs: list[Value | None], **attrs: Any) -> Value:
    return g.add_node(get_op(op), inputs, get_op(op).Attrs(**attrs)).output


def _run(g: Graph, out: Value, x: np.ndarray) -> np.ndarray:
    g.outputs = [out]
    verify(g)
    return run_graph(g, {g.inputs[0].name: x})[out.name]


def _clip(g: Graph, v: Value, lo: float | None, hi: float | None) -> Value:
    return v if lo is None and hi is None else _node(g, "Clip", [v], min=lo, max=hi)


def _f32(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


CONV_CASES = [
    # (C_in, C_out, kernel, strides, dilations, pads, bias, clamp)
    (3, 4, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), True, (None, None)),
    (2, 5, (3, 2), (2, 1), (1, 2), (1, 0, 2, 1), False, (0.0, None)),
    (1, 8, (10, 4), (2, 2), (1, 1), (4, 1, 5, 1), True, (0.0, 6.0)),
    (4, 2, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), True, (-0.5, 0.5)),
]


@pytest.mark.parametrize("cin,cout,kernel,strides,dilations,pads,bias,clamp", CONV_CASES)
def test_conv2d_matches_onnx_conv(cin: int, cout: int, kernel: tuple, strides: tuple, dilations: tuple, pads: tuple, bias: bool, clamp: tuple) -> None:
    x = _f32(2, 11, 9, cin)
    w = _f32(cout, cin, *kernel)
    b = _f32(cout)
    ref = Graph("ref")
    xi = ref.add_input("x", TensorType(DType.F32, x.shape))
    t = _node(ref, "Transpose", [xi], perm=NCHW)
    ins = [t, ref.add_const("w", w)] + ([ref.add_const("b", b)] if bias else [])
    c = _node(ref, "Conv", ins, kernel_shape=kernel, strides=strides, dilations=dilations, pads=pads)
    want = _run(ref, _node(ref, "Transpose", [_clip(ref, c, *clamp)], perm=NHWC), x)

    g = Graph("kernel")
    xk = g.add_input("x", TensorType(DType.F32, x.shape))
    ins = [xk, g.add_const("w", np.ascontiguousarray(w.transpose(NHWC)))] + ([g.add_const("b", b)] if bias else [])
    y = _node(g, "Conv2D", ins, strides=strides, dilations=dilations, pads=pads, act_min=clamp[0], act_max=clamp[1])
    got = _run(g, y, x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    conv = g.nodes[0]
    assert conv.op.macs(conv.attrs, [v.type for v in conv.inputs], [y.type]) == y.type.numel * cin * kernel[0] * kernel[1]


@pytest.mark.parametrize("multiplier,strides,pads", [(1, (1, 1), (1, 1, 1, 1)), (2, (2, 1), (0, 1, 2, 0)), (3, (1, 2), (0, 0, 0, 0))])
def test_depthwise_matches_grouped_onnx_conv(multiplier: int, strides: tuple, pads: tuple) -> None:
    c = 4
    x = _f32(1, 7, 6, c)
    w = _f32(c * multiplier, 1, 3, 3)
    b = _f32(c * multiplier)
    ref = Graph("ref")
    xi = ref.add_input("x", TensorType(DType.F32, x.shape))
    t = _node(ref, "Transpose", [xi], perm=NCHW)
    conv = _node(ref, "Conv", [t, ref.add_const("w", w), ref.add_const("b", b)], kernel_shape=(3, 3), strides=strides, dilations=(1, 1), pads=pads, group=c)
    want = _run(ref, _node(ref, "Transpose", [_node(ref, "Relu", [conv])], perm=NHWC), x)

    g = Graph("kernel")
    xk = g.add_input("x", TensorType(DType.F32, x.shape))
    wk = g.add_const("w", np.ascontiguousarray(w.transpose(1, 2, 3, 0)))
    y = _node(g, "DepthwiseConv2D", [xk, wk, g.add_const("b", b)], strides=strides, pads=pads, depth_multiplier=multiplier, act_min=0.0)
    np.testing.assert_allclose(_run(g, y, x), want, rtol=1e-5, atol=1e-5)
    node = g.nodes[0]
    assert node.op.macs(node.attrs, [v.type for v in node.inputs], [y.type]) == y.type.numel * 9


@pytest.mark.parametrize("shape", [(5,), (3, 5), (2, 3, 5)])
def test_fully_connected_matches_matmul_add(shape: tuple) -> None:
    x = _f32(*shape)
    w = _f32(4, 5)
    b = _f32(4)
    ref = Graph("ref")
    xi = ref.add_input("x", TensorType(DType.F32, x.shape))
    m = _node(ref, "MatMul", [xi, ref.add_const("wt", np.ascontiguousarray(w.T))])
    want = _run(ref, _clip(ref, _node(ref, "Add", [m, ref.add_const("b", b)]), None, 0.25), x)

    g = Graph("kernel")
    xk = g.add_input("x", TensorType(DType.F32, x.shape))
    y = _node(g, "FullyConnected", [xk, g.add_const("w", w), g.add_const("b", b)], act_max=0.25)
    assert y.type.shape == (*shape[:-1], 4)
    np.testing.assert_allclose(_run(g, y, x), want, rtol=1e-5, atol=1e-5)
    node = g.nodes[0]
    assert node.op.macs(node.attrs, [v.type for v in node.inputs], [y.type]) == y.type.numel * 5


@pytest.mark.parametrize("kernel,strides,pads", [((2, 2), (2, 2), (0, 0, 0, 0)), ((3, 3), (1, 1), (1, 1, 1, 1)), ((3, 2), (2, 1), (1, 0, 2, 1))])
@pytest.mark.parametrize("op,onnx_op", [("MaxPool2D", "MaxPool"), ("AvgPool2D", "AveragePool")])
def test_pools_match_onnx_pools(op: str, onnx_op: str, kernel: tuple, strides: tuple, pads: tuple) -> None:
    x = _f32(2, 7, 6, 3)
    ref = Graph("ref")
    xi = ref.add_input("x", TensorType(DType.F32, x.shape))
    t = _node(ref, "Transpose", [xi], perm=NCHW)
    extra = {"count_include_pad": False} if onnx_op == "AveragePool" else {}
    p = _node(ref, onnx_op, [t], kernel_shape=kernel, strides=strides, dilations=(1, 1), pads=pads, **extra)
    want = _run(ref, _node(ref, "Transpose", [_clip(ref, p, -0.2, None)], perm=NHWC), x)

    g = Graph("kernel")
    xk = g.add_input("x", TensorType(DType.F32, x.shape))
    y = _node(g, op, [xk], kernel=kernel, strides=strides, pads=pads, act_min=-0.2)
    np.testing.assert_allclose(_run(g, y, x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op,onnx_op", [("AddAct", "Add"), ("MulAct", "Mul")])
def test_binary_act_matches_onnx_op_and_clip(op: str, onnx_op: str) -> None:
    x = _f32(2, 3, 4)
    k = _f32(4)
    ref = Graph("ref")
    xi = ref.add_input("x", TensorType(DType.F32, x.shape))
    want = _run(ref, _clip(ref, _node(ref, onnx_op, [xi, ref.add_const("k", k)]), 0.0, 1.0), x)
    g = Graph("kernel")
    xk = g.add_input("x", TensorType(DType.F32, x.shape))
    y = _node(g, op, [xk, g.add_const("k", k)], act_min=0.0, act_max=1.0)
    np.testing.assert_allclose(_run(g, y, x), want, rtol=1e-6, atol=1e-7)


def test_quantized_inputs_take_the_integer_path() -> None:
    """A quantized input never runs the float path: here the output type lacks quantization, so the integer path refuses."""
    g = Graph()
    q = QuantParams.per_tensor(0.1, 0)
    x = g.add_input("x", TensorType(DType.I8, (1, 4, 4, 2), q))
    w = g.add_const("w", np.ones((3, 1, 1, 2), dtype=np.int8), quant=QuantParams.per_tensor(0.05))
    y = _node(g, "Conv2D", [x, w])
    g.outputs = [y]
    with pytest.raises(UnsupportedOpError, match="quantiz"):
        run_graph(g, {"x": np.zeros((1, 4, 4, 2), dtype=np.int8)})


@pytest.mark.parametrize(
    "op,shapes,attrs,message",
    [
        ("Conv2D", [(1, 4, 4, 2), (3, 1, 1, 5)], {}, "W has 5 input channels, X has 2"),
        ("Conv2D", [(1, 4, 4, 2), (3, 1, 1, 2)], {"act_min": 1.0, "act_max": 0.0}, "act_min 1.0 is above act_max 0.0"),
        ("DepthwiseConv2D", [(1, 4, 4, 2), (1, 3, 3, 3)], {}, "W has 3 channels, X has 2 x depth_multiplier 1"),
        ("FullyConnected", [(2, 6), (3, 5)], {}, "X has 6 features, W expects 5"),
        ("MaxPool2D", [(1, 4, 4, 2)], {"kernel": (2, 2), "pads": (2, 0, 0, 0)}, "must be smaller than the kernel"),
        ("AvgPool2D", [(1, 4, 4)], {"kernel": (2, 2)}, "input must be NHWC"),
    ],
)
def test_shape_errors(op: str, shapes: list, attrs: dict, message: str) -> None:
    g = Graph()
    x = g.add_input("x", TensorType(DType.F32, shapes[0]))
    rest = [g.add_const(f"c{i}", np.zeros(s, dtype=np.float32)) for i, s in enumerate(shapes[1:])]
    with pytest.raises(ShapeError, match=message):
        _node(g, op, [x, *rest], **attrs)


def test_kernel_ops_are_documented_and_tinyc_only() -> None:
    from tinyc.ir import OPS

    names = ["Conv2D", "DepthwiseConv2D", "FullyConnected", "MaxPool2D", "AvgPool2D", "AddAct", "MulAct"]
    for name in names:
        op = OPS[name]
        assert op.onnx_op is None and op.category == "kernel" and op.doc


def test_clamp_text() -> None:
    cases = [((None, None), "none"), ((0.0, None), "relu"), ((0.0, 6.0), "relu6"), ((-1.0, 1.0), "clamp[-1.0, 1.0]")]
    for (lo, hi), text in cases:
        assert clamp_text(lo, hi) == text


def test_avg_pool_excludes_padding_from_the_divisor() -> None:
    g = Graph()
    x = g.add_input("x", TensorType(DType.F32, (1, 2, 2, 1)))
    y = _node(g, "AvgPool2D", [x], kernel=(2, 2), pads=(1, 1, 0, 0))
    out = _run(g, y, np.ones((1, 2, 2, 1), dtype=np.float32))
    assert np.all(out == 1.0)  # a corner window holds one real cell: its mean is that cell, not 1/4
    assert list(itertools.chain.from_iterable(out.reshape(2, 2).tolist())) == [1.0] * 4
