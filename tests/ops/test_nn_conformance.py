"""Conformance of the NN op definitions (conv, pool, linalg, norm, resize) with onnxruntime.

Each case builds a one-node ONNX model, imports it into tinyc (the graph must
verify and still hold the op), runs the NumPy reference interpreter and
onnxruntime on the same random input (fixed seeds), and compares.

Tolerances: float32 outputs must agree within rtol=1e-5, atol=1e-4 (our
reference accumulates in float64; onnxruntime in float32 with its own
summation order). Softmax-like ops and Resize use the same bounds.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx_helpers import Feed, make_model, run_single_op_onnx

from tinyc.errors import TinycError
from tinyc.frontends.onnx import import_model
from tinyc.ir import OPS, DType, EvalContext, QuantParams, TensorType

RTOL, ATOL = 1e-5, 1e-4


def rand(seed: int, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def check(op: str, inputs, attrs=None, opset: int = 17, ir_op: str | None = None):
    return run_single_op_onnx(op, inputs, attrs or {}, opset, rtol=RTOL, atol=ATOL, expect_op=ir_op or op)


# -- Conv -----------------------------------------------------------------------

CONV2D = [
    # (x shape, out channels, kernel, attrs)
    ((1, 3, 8, 8), 4, (3, 3), {}),
    ((2, 3, 9, 7), 5, (3, 3), {"strides": [2, 2]}),
    ((1, 4, 9, 8), 6, (3, 2), {"strides": [2, 1], "pads": [1, 0, 2, 1], "dilations": [1, 2]}),
    ((1, 4, 10, 10), 4, (3, 3), {"dilations": [2, 2], "pads": [2, 2, 2, 2]}),
    ((1, 4, 8, 8), 6, (3, 3), {"group": 2}),
    ((1, 6, 8, 8), 6, (3, 3), {"group": 3, "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 8, 7, 7), 8, (3, 3), {"group": 8, "pads": [1, 1, 1, 1]}),  # depthwise
    ((1, 4, 7, 9), 8, (3, 3), {"group": 4, "strides": [2, 2], "pads": [0, 1, 1, 0]}),  # depthwise, multiplier 2
    ((1, 8, 25, 10), 8, (10, 4), {"group": 8, "strides": [2, 1]}),  # depthwise, kws-like kernel
    ((1, 3, 8, 8), 4, (1, 1), {}),
    ((1, 3, 8, 8), 4, (1, 1), {"strides": [2, 2]}),
    ((1, 3, 9, 8), 4, (3, 3), {"auto_pad": "SAME_UPPER"}),
    ((1, 3, 9, 8), 4, (3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 3, 9, 8), 4, (4, 4), {"auto_pad": "SAME_UPPER", "strides": [2, 3]}),
    ((1, 3, 9, 8), 4, (4, 4), {"auto_pad": "SAME_LOWER", "strides": [2, 3]}),
    ((1, 3, 9, 8), 4, (2, 2), {"auto_pad": "SAME_LOWER"}),  # even kernel: the extra pad goes first
    ((1, 3, 9, 8), 4, (3, 3), {"auto_pad": "VALID", "strides": [2, 2]}),
    ((1, 3, 5, 5), 2, (5, 5), {}),
    ((3, 2, 6, 6), 3, (2, 2), {"strides": [2, 2], "kernel_shape": [2, 2]}),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", range(len(CONV2D)))
def test_conv2d(case: int, bias: bool) -> None:
    xs, m, k, attrs = CONV2D[case]
    g = attrs.get("group", 1)
    w = rand(case + 100, m, xs[1] // g, *k)
    inputs = [("x", Feed(rand(case, *xs))), ("w", w)]
    if bias:
        inputs.append(("b", rand(case + 200, m)))
    check("Conv", inputs, attrs, opset=11 if case % 2 else 13)


CONV1D = [
    ((1, 3, 16), 4, 3, {}),
    ((2, 3, 15), 4, 3, {"strides": [2], "pads": [1, 2]}),
    ((1, 4, 15), 4, 5, {"group": 4, "dilations": [2], "pads": [4, 4]}),
    ((1, 4, 15), 8, 3, {"group": 2, "auto_pad": "SAME_UPPER", "strides": [3]}),
    ((1, 4, 15), 8, 4, {"auto_pad": "SAME_LOWER", "strides": [2]}),
    ((1, 2, 10), 3, 10, {}),
]


@pytest.mark.parametrize("case", range(len(CONV1D)))
def test_conv1d(case: int) -> None:
    xs, m, k, attrs = CONV1D[case]
    g = attrs.get("group", 1)
    check("Conv", [("x", Feed(rand(case, *xs))), ("w", rand(case + 1, m, xs[1] // g, k)), ("b", rand(case + 2, m))], attrs)


def test_conv3d() -> None:
    attrs = {"strides": [1, 2, 2], "pads": [1, 0, 1, 1, 1, 0], "group": 2}
    check("Conv", [("x", Feed(rand(0, 1, 4, 5, 6, 7))), ("w", rand(1, 4, 2, 3, 3, 2))], attrs)


def test_conv_weights_as_graph_input() -> None:
    """W need not be constant: the reference handles a runtime weight tensor."""
    check("Conv", [("x", Feed(rand(0, 1, 3, 8, 8))), ("w", Feed(rand(1, 4, 3, 3, 3)))], {"pads": [1, 1, 1, 1]})


# -- ConvTranspose ----------------------------------------------------------------

CONVT = [
    ((1, 4, 5, 6), 3, (3, 3), {}),
    ((2, 4, 5, 6), 3, (3, 3), {"strides": [2, 2]}),
    ((1, 4, 5, 6), 3, (3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]}),
    ((1, 4, 5, 6), 3, (3, 2), {"strides": [2, 3], "pads": [1, 0, 0, 2], "output_padding": [1, 0], "dilations": [1, 2]}),
    ((1, 4, 5, 6), 2, (3, 3), {"group": 2, "strides": [2, 2]}),
    ((1, 4, 5, 6), 1, (3, 3), {"group": 4, "strides": [2, 2], "pads": [1, 1, 1, 1]}),  # depthwise
    ((1, 4, 5, 6), 3, (4, 4), {"strides": [2, 2], "pads": [1, 1, 1, 1]}),  # the usual 2x upsampler
    ((1, 4, 5, 6), 3, (3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 4, 5, 6), 3, (3, 3), {"strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 4, 5, 6), 3, (3, 3), {"strides": [2, 2], "auto_pad": "VALID"}),
    ((1, 4, 5, 6), 3, (3, 3), {"strides": [2, 2], "output_shape": [10, 12]}),
    ((1, 4, 5, 6), 3, (3, 3), {"strides": [2, 2], "output_shape": [9, 11], "auto_pad": "SAME_UPPER"}),
    ((1, 4, 5, 6), 3, (3, 3), {"strides": [3, 2], "output_shape": [14, 13], "output_padding": [1, 0]}),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", range(len(CONVT)))
def test_conv_transpose(case: int, bias: bool) -> None:
    xs, mg, k, attrs = CONVT[case]
    g = attrs.get("group", 1)
    inputs = [("x", Feed(rand(case, *xs))), ("w", rand(case + 1, xs[1], mg, *k))]
    if bias:
        inputs.append(("b", rand(case + 2, mg * g)))
    check("ConvTranspose", inputs, attrs, opset=11 if case % 2 else 17)


def test_conv_transpose_1d() -> None:
    check("ConvTranspose", [("x", Feed(rand(0, 1, 3, 7))), ("w", rand(1, 3, 2, 4))], {"strides": [2], "pads": [1, 1]})


# -- Gemm / MatMul / Einsum -------------------------------------------------------


@pytest.mark.parametrize("c_shape", [None, (), (5,), (1, 5), (3, 1), (3, 5)])
@pytest.mark.parametrize("trans", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm(trans: tuple[int, int], c_shape: tuple[int, ...] | None) -> None:
    ta, tb = trans
    a = rand(1, *((4, 3) if ta else (3, 4)))
    b = rand(2, *((5, 4) if tb else (4, 5)))
    inputs = [("a", Feed(a)), ("b", b)]
    if c_shape is not None:
        inputs.append(("c", rand(3, *c_shape)))
    attrs = {"transA": ta, "transB": tb}
    if ta != tb:
        attrs.update(alpha=0.5, beta=-2.0)
    check("Gemm", inputs, attrs, opset=11 if ta else 13)


@pytest.mark.parametrize(
    "a_shape,b_shape",
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (4, 5)),
        ((4,), (4, 5)),
        ((2, 3, 4), (4,)),
        ((4,), (4,)),
        ((2, 1, 3, 4), (5, 4, 6)),
        ((1, 3, 4), (2, 4, 2)),
        ((2, 2, 3, 4), (2, 2, 4, 3)),
        ((1, 16), (16, 10)),
    ],
)
@pytest.mark.parametrize("b_const", [True, False])
def test_matmul(a_shape, b_shape, b_const: bool) -> None:
    b = rand(2, *b_shape)
    check("MatMul", [("a", Feed(rand(1, *a_shape))), ("b", b if b_const else Feed(b))], opset=13)


@pytest.mark.parametrize(
    "equation,shapes",
    [
        ("ij,jk->ik", [(3, 4), (4, 5)]),
        ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
        ("...ij,...jk", [(2, 3, 4), (2, 4, 5)]),
        ("ii->i", [(3, 3)]),
        ("ij->", [(3, 4)]),
        ("ij", [(3, 4)]),
        ("ji", [(3, 4)]),
        ("i,j->ij", [(3,), (4,)]),
        ("i,i", [(3,), (3,)]),
        ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
        ("...ii->...i", [(2, 3, 3)]),
        ("ab, bc, cd -> ad", [(2, 3), (3, 4), (4, 2)]),
    ],
)
def test_einsum(equation: str, shapes) -> None:
    inputs = [(f"x{i}", Feed(rand(i, *s)) if i == 0 else rand(i, *s)) for i, s in enumerate(shapes)]
    check("Einsum", inputs, {"equation": equation}, opset=12 + len(shapes))


# -- pooling ----------------------------------------------------------------------

POOL_CASES = [
    {"kernel_shape": [2, 2], "strides": [2, 2]},
    {"kernel_shape": [3, 3]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [3, 2], "strides": [2, 1], "pads": [1, 0, 0, 1]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},
    {"kernel_shape": [2, 3], "strides": [3, 2], "ceil_mode": 1, "pads": [1, 1, 0, 0]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1, "pads": [1, 1, 1, 1]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
    {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_LOWER"},
    {"kernel_shape": [4, 4], "strides": [3, 3], "auto_pad": "SAME_UPPER"},
    {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "VALID"},
    {"kernel_shape": [3, 3], "dilations": [2, 2]},
    {"kernel_shape": [2, 3], "dilations": [2, 1], "strides": [2, 2], "ceil_mode": 1, "pads": [1, 1, 1, 1]},
]


@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_maxpool(case: int) -> None:
    check("MaxPool", [("x", Feed(rand(case, 2, 3, 9, 8)))], POOL_CASES[case], opset=11 if case % 2 else 12)


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_averagepool(case: int, count_include_pad: int) -> None:
    attrs = dict(POOL_CASES[case], count_include_pad=count_include_pad)
    opset = 19 if "dilations" in attrs else (11 if case % 2 else 17)  # dilations arrived in opset 19
    check("AveragePool", [("x", Feed(rand(case, 2, 3, 9, 8)))], attrs, opset=opset)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize(
    "attrs",
    [
        {"kernel_shape": [3]},
        {"kernel_shape": [3], "strides": [2], "pads": [1, 1], "ceil_mode": 1},
        {"kernel_shape": [4], "strides": [3], "ceil_mode": 1},
        {"kernel_shape": [3], "strides": [2], "auto_pad": "SAME_UPPER"},
    ],
)
def test_pool1d(op: str, attrs) -> None:
    if op == "AveragePool":
        attrs = dict(attrs, count_include_pad=1)
    check(op, [("x", Feed(rand(0, 2, 3, 11)))], attrs, opset=13)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 4, 5, 6), (1, 2, 3, 4, 5)])
def test_global_pool(op: str, shape) -> None:
    check(op, [("x", Feed(rand(1, *shape)))], opset=13)


# -- normalisation and softmax ----------------------------------------------------------


@pytest.mark.parametrize("opset", [11, 15])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4, 5), (1, 4, 6)])
def test_batchnorm(shape, opset: int) -> None:
    c = shape[1]
    var = np.abs(rand(4, c)) + 0.1
    inputs = [("x", Feed(rand(0, *shape))), ("s", rand(1, c)), ("b", rand(2, c)), ("m", rand(3, c)), ("v", var)]
    check("BatchNormalization", inputs, {"epsilon": 1e-3} if opset == 15 else {}, opset=opset)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize(
    "shape,axis",
    [((5,), None), ((3, 4), None), ((3, 4), 0), ((2, 3, 4), None), ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -1), ((2, 3, 4, 5), -3)],
)
def test_softmax(op: str, opset: int, shape, axis) -> None:
    if opset < 13 and axis is None and len(shape) == 1:
        axis = 0  # the opset-11 default (1) is out of range for a vector
    attrs = {} if axis is None else {"axis": axis}
    check(op, [("x", Feed(rand(len(shape), *shape, scale=3.0)))], attrs, opset=opset)


def test_softmax_semantics_stored() -> None:
    """Opset 11 keeps coerce-to-2D over all axes from ``axis``; opset 13 normalises one axis."""
    x = rand(0, 2, 3, 4)
    g11 = check("Softmax", [("x", Feed(x))], {"axis": 1}, opset=11)
    g13 = check("Softmax", [("x", Feed(x))], {"axis": 1}, opset=13)
    assert g11.nodes[0].attrs == OPS["Softmax"].Attrs(axis=1, coerce_2d=True)
    assert g13.nodes[0].attrs == OPS["Softmax"].Attrs(axis=1, coerce_2d=False)
    g_last = check("Softmax", [("x", Feed(x))], {"axis": -1}, opset=11)
    assert g_last.nodes[0].attrs == OPS["Softmax"].Attrs(axis=2, coerce_2d=False)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    "shape,axis,scale_shape",
    [((2, 3, 4), -1, (4,)), ((2, 3, 4), 1, (3, 4)), ((2, 3, 4), 0, (2, 3, 4)), ((2, 3, 4), 1, (1, 4)), ((2, 5), -1, (5,))],
)
def test_layernorm(shape, axis: int, scale_shape, bias: bool) -> None:
    inputs = [("x", Feed(rand(0, *shape))), ("s", rand(1, *scale_shape))]
    if bias:
        inputs.append(("b", rand(2, *scale_shape)))
    check("LayerNormalization", inputs, {"axis": axis, "epsilon": 1e-4}, opset=17)


# -- Resize -------------------------------------------------------------------------------

EMPTY = np.zeros(0, np.float32)
RESIZE_TARGETS = [
    ("scales", [1, 1, 2, 2]),
    ("scales", [1, 1, 0.5, 0.75]),
    ("scales", [1, 1, 1.7, 2.3]),
    ("sizes", [1, 2, 9, 4]),
    ("sizes", [1, 2, 1, 13]),
]
COORD_MODES = ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"]


def _resize_inputs(x: np.ndarray, kind: str, values, opset: int):
    if kind == "scales":
        return [("x", Feed(x)), ("roi", EMPTY), ("scales", np.array(values, np.float32))]
    sizes = np.array(values, np.int64)
    if opset == 11:  # scales is a required input at opset 11; an empty tensor stands for "not given"
        return [("x", Feed(x)), ("roi", EMPTY), ("scales", EMPTY), ("sizes", sizes)]
    return [("x", Feed(x)), ("", None), ("", None), ("sizes", sizes)]


@pytest.mark.parametrize("target", range(len(RESIZE_TARGETS)))
@pytest.mark.parametrize("ctm", COORD_MODES)
@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])
def test_resize_nearest(target: int, ctm: str, nearest_mode: str) -> None:
    kind, values = RESIZE_TARGETS[target]
    opset = (11, 13, 19)[target % 3]
    attrs = {"mode": "nearest", "coordinate_transformation_mode": ctm, "nearest_mode": nearest_mode}
    check("Resize", _resize_inputs(rand(target, 1, 2, 5, 6), kind, values, opset), attrs, opset=opset)


@pytest.mark.parametrize("target", range(len(RESIZE_TARGETS)))
@pytest.mark.parametrize("ctm", [*COORD_MODES, "half_pixel_symmetric"])
@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_resize_linear_cubic(target: int, ctm: str, mode: str) -> None:
    kind, values = RESIZE_TARGETS[target]
    opset = 19 if ctm == "half_pixel_symmetric" else (11, 13, 18)[target % 3]
    attrs = {"mode": mode, "coordinate_transformation_mode": ctm}
    check("Resize", _resize_inputs(rand(target, 1, 2, 5, 6), kind, values, opset), attrs, opset=opset)


@pytest.mark.parametrize(
    "attrs,extra",
    [
        ({"mode": "nearest", "coordinate_transformation_mode": "tf_half_pixel_for_nn"}, ("scales", [1, 1, 2, 3])),
        ({"mode": "nearest", "coordinate_transformation_mode": "half_pixel_symmetric"}, ("scales", [1, 1, 2, 2])),
        ({"mode": "linear", "axes": [2, 3]}, ("scales", [2.0, 0.5])),
        ({"mode": "linear", "axes": [3]}, ("scales", [1.5])),
        ({"mode": "nearest", "axes": [-1, -2]}, ("sizes", [9, 7])),
        ({"mode": "linear", "keep_aspect_ratio_policy": "not_larger", "axes": [2, 3]}, ("sizes", [9, 20])),
        ({"mode": "linear", "keep_aspect_ratio_policy": "not_smaller", "axes": [2, 3]}, ("sizes", [9, 20])),
        ({"mode": "cubic", "exclude_outside": 1, "cubic_coeff_a": -0.5}, ("scales", [1, 1, 2.5, 1.5])),
        ({"mode": "linear", "coordinate_transformation_mode": "align_corners"}, ("sizes", [1, 2, 1, 1])),
    ],
)
def test_resize_opset19_features(attrs, extra) -> None:
    kind, values = extra
    x = rand(7, 1, 2, 5, 6)
    if kind == "scales":
        inputs = [("x", Feed(x)), ("", None), ("scales", np.array(values, np.float32))]
    else:
        inputs = [("x", Feed(x)), ("", None), ("", None), ("sizes", np.array(values, np.int64))]
    check("Resize", inputs, attrs, opset=19)


def test_resize_attrs_resolved() -> None:
    """scales/sizes inputs become attributes: the output shape and the scale used for coordinates."""
    g = check("Resize", _resize_inputs(rand(0, 1, 2, 5, 6), "sizes", [1, 2, 9, 4], 13), {"mode": "linear"}, opset=13)
    node = g.nodes[0]
    assert len(node.inputs) == 1
    assert node.attrs.sizes == (1, 2, 9, 4)
    assert node.attrs.scales == pytest.approx((1.0, 1.0, 9 / 5, 4 / 6))
    assert node.attrs.mode.value == "linear"


# -- the newest opset tinyc reads ---------------------------------------------------------------

LATEST = [
    ("Conv", [("x", rand(0, 1, 3, 8, 8)), ("w", rand(1, 4, 3, 3, 3))], {"pads": [1, 1, 1, 1]}),
    ("ConvTranspose", [("x", rand(0, 1, 3, 8, 8)), ("w", rand(1, 3, 4, 3, 3))], {"strides": [2, 2]}),
    ("MaxPool", [("x", rand(0, 1, 3, 8, 8))], {"kernel_shape": [3, 3], "ceil_mode": 1, "strides": [2, 2]}),
    ("AveragePool", [("x", rand(0, 1, 3, 8, 8))], {"kernel_shape": [3, 3], "strides": [2, 2], "dilations": [2, 2]}),
    ("GlobalAveragePool", [("x", rand(0, 1, 3, 4, 4))], {}),
    ("Resize", [("x", rand(0, 1, 3, 8, 8)), ("", None), ("scales", np.array([1, 1, 2, 2], np.float32))], {"mode": "linear"}),
    ("Softmax", [("x", rand(0, 2, 3))], {}),
    ("LogSoftmax", [("x", rand(0, 2, 3))], {}),
    ("Gemm", [("x", rand(0, 2, 3)), ("w", rand(1, 3, 4))], {}),
    ("MatMul", [("x", rand(0, 2, 3)), ("w", rand(1, 3, 4))], {}),
    ("Einsum", [("x", rand(0, 2, 3))], {"equation": "ij->ji"}),
    ("LayerNormalization", [("x", rand(0, 2, 3)), ("s", rand(1, 3))], {}),
    ("BatchNormalization", [("x", rand(0, 2, 3)), ("s", rand(1, 3)), ("b", rand(2, 3)), ("m", rand(3, 3)), ("v", np.abs(rand(4, 3)))], {}),
]


@pytest.mark.parametrize("opset", [20, 21])
@pytest.mark.parametrize("case", range(len(LATEST)))
def test_latest_opsets(case: int, opset: int) -> None:
    op, inputs, attrs = LATEST[case]
    inputs = [(name, Feed(v) if i == 0 else v) for i, (name, v) in enumerate(inputs)]
    check(op, inputs, attrs, opset=opset)


# -- resolved attributes, MACs ---------------------------------------------------------------


def test_conv_auto_pad_resolved_to_pads() -> None:
    w = rand(1, 4, 3, 4, 4)
    g = check("Conv", [("x", Feed(rand(0, 1, 3, 9, 8))), ("w", w)], {"auto_pad": "SAME_LOWER", "strides": [2, 3]})
    attrs = g.nodes[0].attrs
    # H: out 5, total pad (5-1)*2+4-9 = 3 -> lower gets 2; W: out 3, total (3-1)*3+4-8 = 2 -> 1/1
    assert attrs.pads == (2, 1, 1, 1)
    assert attrs.kernel_shape == (4, 4) and attrs.strides == (2, 3) and attrs.dilations == (1, 1) and attrs.group == 1


def _macs(graph) -> int:
    return _macs_of(graph.nodes[0])


def test_macs_hand_counted() -> None:
    # Conv: N*Ho*Wo*Cout*(Cin/group)*KH*KW = 2*4*3*6*(4/2)*3*2
    g = check("Conv", [("x", Feed(rand(0, 2, 4, 9, 8))), ("w", rand(1, 6, 2, 3, 2))], {"group": 2, "strides": [2, 3]})
    assert g.outputs[0].type.shape == (2, 6, 4, 3)
    assert _macs(g) == 2 * 4 * 3 * 6 * 2 * 3 * 2
    # depthwise 3x3 on 8 channels, 7x7 output
    g = check("Conv", [("x", Feed(rand(0, 1, 8, 7, 7))), ("w", rand(1, 8, 1, 3, 3))], {"group": 8, "pads": [1, 1, 1, 1]})
    assert _macs(g) == 7 * 7 * 8 * 1 * 9
    # Gemm: M*N*K (transposed operands)
    g = check("Gemm", [("a", Feed(rand(0, 4, 3))), ("b", rand(1, 5, 4)), ("c", rand(2, 5))], {"transA": 1, "transB": 1})
    assert _macs(g) == 3 * 5 * 4
    # MatMul: batch * M * N * K, with broadcasting and a 1-D operand
    g = check("MatMul", [("a", Feed(rand(0, 2, 1, 3, 4))), ("b", rand(1, 5, 4, 6))])
    assert _macs(g) == 2 * 5 * 3 * 6 * 4
    g = check("MatMul", [("a", Feed(rand(0, 4))), ("b", rand(1, 4, 6))])
    assert _macs(g) == 6 * 4
    # ConvTranspose: every input element meets Cout/group * KH * KW weights
    g = check("ConvTranspose", [("x", Feed(rand(0, 1, 4, 5, 6))), ("w", rand(1, 4, 3, 3, 3))], {"strides": [2, 2]})
    assert _macs(g) == 4 * 5 * 6 * 3 * 9
    # Einsum matmul-shaped: i*j*k
    g = check("Einsum", [("a", Feed(rand(0, 3, 4))), ("b", rand(1, 4, 5))], {"equation": "ij,jk->ik"}, opset=12)
    assert _macs(g) == 3 * 4 * 5


def test_quantized_inputs_refused_by_float_reference() -> None:
    from tinyc.errors import UnsupportedOpError

    q = QuantParams.per_tensor(0.1, 0)
    x_t = TensorType(DType.I8, (1, 2, 4, 4), q)
    ctx = EvalContext([x_t], [TensorType(DType.I8, (1, 2, 2, 2))], "pool0")
    attrs = OPS["MaxPool"].Attrs(kernel_shape=(2, 2), strides=(2, 2), dilations=(1, 1), pads=(0, 0, 0, 0))
    with pytest.raises(UnsupportedOpError, match="quantized"):
        OPS["MaxPool"].evaluate(attrs, [np.zeros((1, 2, 4, 4), np.int8)], ctx)


def test_op_docs_and_categories() -> None:
    names = ["Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum", "MaxPool", "AveragePool", "GlobalAveragePool",
             "GlobalMaxPool", "BatchNormalization", "LayerNormalization", "Softmax", "LogSoftmax", "Resize"]  # fmt: skip
    for name in names:
        op = OPS[name]
        assert op.onnx_op == name
        assert op.doc and op.category != "misc", name


# -- malformed attributes give TinycError at import ----------------------------------------------

X4 = rand(0, 1, 4, 8, 8)
W4 = rand(1, 4, 4, 3, 3)

MALFORMED = [
    ("Conv", [("x", Feed(X4)), ("w", W4)], {"strides": [1]}),
    ("Conv", [("x", Feed(X4)), ("w", W4)], {"strides": [0, 1]}),
    ("Conv", [("x", Feed(X4)), ("w", W4)], {"pads": [1, 1, 1]}),
    ("Conv", [("x", Feed(X4)), ("w", W4)], {"pads": [-1, 0, 0, 0]}),
    ("Conv", [("x", Feed(X4)), ("w", W4)], {"dilations": [1, -2]}),
    ("Conv", [("x", Feed(X4)), ("w", W4)], {"auto_pad": "SAME_MIDDLE"}),
    ("Conv", [("x", Feed(X4)), ("w", W4)], {"kernel_shape": [5, 5]}),
    ("Conv", [("x", Feed(X4)), ("w", W4)], {"group": 3}),
    ("Conv", [("x", Feed(X4)), ("w", W4)], {"group": 0}),
    ("Conv", [("x", Feed(X4)), ("w", W4)], {"strides": "two"}),
    ("Conv", [("x", Feed(X4)), ("w", W4)], {"bogus": 1}),
    ("Conv", [("x", Feed(X4)), ("w", rand(2, 4, 4, 9, 9))], {}),
    ("ConvTranspose", [("x", Feed(X4)), ("w", W4)], {"output_padding": [1]}),
    ("ConvTranspose", [("x", Feed(X4)), ("w", W4)], {"output_shape": [0, 5]}),
    ("ConvTranspose", [("x", Feed(X4)), ("w", W4)], {"output_shape": [11, 10]}),
    ("Gemm", [("a", Feed(rand(0, 3, 4))), ("b", rand(1, 4, 5))], {"transA": 2}),
    ("Gemm", [("a", Feed(rand(0, 3, 4))), ("b", rand(1, 5, 4))], {}),
    ("MatMul", [("a", Feed(rand(0, 3, 4))), ("b", rand(1, 5, 4))], {}),
    ("Einsum", [("a", Feed(rand(0, 3, 4)))], {"equation": "ij,jk->ik"}),
    ("Einsum", [("a", Feed(rand(0, 3, 4)))], {"equation": "i1->i"}),
    ("MaxPool", [("x", Feed(X4))], {}),
    ("MaxPool", [("x", Feed(X4))], {"kernel_shape": [3, 3], "ceil_mode": 5}),
    ("MaxPool", [("x", Feed(X4))], {"kernel_shape": [9, 9]}),
    ("AveragePool", [("x", Feed(X4))], {"kernel_shape": [3, 3], "pads": [1, 1]}),
    ("AveragePool", [("x", Feed(X4))], {"kernel_shape": [3, 3], "strides": [1, 1, 1]}),
    ("Softmax", [("x", Feed(X4))], {"axis": 4}),
    ("LayerNormalization", [("x", Feed(X4)), ("s", rand(1, 8))], {"axis": -5}),
    ("LayerNormalization", [("x", Feed(X4)), ("s", rand(1, 8))], {"stash_type": 0}),
    ("BatchNormalization", [("x", Feed(X4)), ("s", rand(1, 4)), ("b", rand(1, 4)), ("m", rand(1, 4)), ("v", rand(1, 4))], {"training_mode": 1}),
    ("BatchNormalization", [("x", Feed(X4)), ("s", rand(1, 3)), ("b", rand(1, 4)), ("m", rand(1, 4)), ("v", rand(1, 4))], {}),
    ("Resize", [("x", Feed(X4)), ("", None), ("scales", np.array([1, 1, 2, 2], np.float32))], {"mode": "bicubic"}),
    ("Resize", [("x", Feed(X4)), ("", None), ("scales", np.array([1, 1, 2, 2], np.float32))], {"coordinate_transformation_mode": "tf_crop_and_resize"}),
    ("Resize", [("x", Feed(X4)), ("", None), ("scales", np.array([1, 1, 2, 2], np.float32))], {"nearest_mode": "nearest"}),
    ("Resize", [("x", Feed(X4)), ("", None), ("scales", np.array([1, 1, -2, 2], np.float32))], {}),
    ("Resize", [("x", Feed(X4)), ("", None), ("scales", np.array([2, 2], np.float32))], {}),
    ("Resize", [("x", Feed(X4)), ("", None), ("scales", np.array([1, 1, 2, 2], np.float32))], {"antialias": 1}),
    ("Resize", [("x", Feed(X4)), ("", None), ("scales", np.array([1, 1, 2, 2], np.float32)), ("sizes", np.array([1, 4, 9, 9], np.int64))], {}),
    ("Resize", [("x", Feed(X4)), ("", None), ("scales", Feed(np.array([1, 1, 2, 2], np.float32)))], {}),
]


@pytest.mark.parametrize("case", range(len(MALFORMED)))
def test_malformed_attributes_raise_tinyc_error(case: int) -> None:
    op, inputs, attrs = MALFORMED[case]
    opset = 19 if op == "Resize" else 17
    model = make_model(op, inputs, attrs, opset, check=False)
    with pytest.raises(TinycError) as info:
        import_model(model, source="bad.onnx")
    assert "bad.onnx" in str(info.value), "the error names where it happened"


def test_all_cases_have_distinct_seeds() -> None:
    """Guard against accidentally comparing all-equal inputs: random tensors differ between seeds."""
    assert not np.allclose(rand(0, 8), rand(1, 8))
    assert math.isfinite(float(rand(0, 8).sum()))


# -- whole real models (skipped when ../shared/models is absent) ------------------------------------


@pytest.mark.parametrize("fixture,shape", [("kws_float", (1, 49, 10, 1)), ("ad_float", (1, 640))])
def test_real_model_matches_onnxruntime(fixture: str, shape, request: pytest.FixtureRequest) -> None:
    from onnx_helpers import run_ort

    from tinyc.frontends.onnx import load_onnx
    from tinyc.interpreter import run_graph
    from tinyc.ir import verify

    path = request.getfixturevalue(fixture)
    graph = load_onnx(path)
    verify(graph, where="import")
    x = rand(0, *shape)
    ours = next(iter(run_graph(graph, {graph.inputs[0].name: x}).values()))
    model = onnx.load(str(path))
    ref = run_ort(model, {model.graph.input[0].name: x})[0]
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL)
    total = sum(_macs_of(n) for n in graph.nodes)
    assert total > 0


def _macs_of(node) -> int:
    return node.op.macs(node.attrs, [v.type if v is not None else None for v in node.inputs], [o.type for o in node.outputs])
