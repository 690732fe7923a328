"""Conformance of element-wise, logic, shape, indexing, reduction and Q/DQ ops with onnxruntime.

Each case builds a one-node ONNX model (graph inputs fed with random data
from fixed seeds, constant-required inputs as initializers), imports it,
verifies the IR, runs tinyc's reference interpreter and onnxruntime, and
compares. Tolerances: float outputs rtol 1e-5 / atol 1e-4 (the helper's
defaults) unless a case says otherwise; integer and bool outputs exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, numpy_helper
from onnx_helpers import Feed, check_against_ort, make_model, run_single_op_onnx

from tinyc.errors import UnsupportedOpError
from tinyc.frontends.onnx import import_model
from tinyc.ir import DType


def rnd(shape: tuple[int, ...], seed: int = 0, dtype: type = np.float32, lo: float = -3.0, hi: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(int(lo), int(hi), shape).astype(dtype)
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) > 0.5
    return rng.uniform(lo, hi, shape).astype(dtype)


def ints(*v: int) -> np.ndarray:
    return np.array(v, dtype=np.int64)


X4 = (2, 3, 4, 5)

# -- element-wise unary -----------------------------------------------------------------

# op -> (input range, opset)
UNARY = {
    "Neg": ((-3, 3), 13), "Abs": ((-3, 3), 13), "Sign": ((-3, 3), 13), "Sqrt": ((0.01, 9), 13),
    "Reciprocal": ((0.1, 4), 13), "Exp": ((-5, 5), 13), "Log": ((0.01, 9), 13), "Cos": ((-6, 6), 13),
    "Sin": ((-6, 6), 13), "Erf": ((-3, 3), 13), "Floor": ((-3, 3), 13), "Ceil": ((-3, 3), 13),
    "Round": ((-3, 3), 13), "Relu": ((-3, 3), 14), "Sigmoid": ((-10, 10), 13), "Tanh": ((-4, 4), 13),
    "HardSwish": ((-5, 5), 14), "Softplus": ((-10, 10), 13), "Softsign": ((-5, 5), 13),
    "Mish": ((-5, 5), 18), "Gelu": ((-4, 4), 20), "Identity": ((-3, 3), 16), "Dropout": ((-3, 3), 13),
    "Elu": ((-3, 3), 13), "Selu": ((-3, 3), 13), "LeakyRelu": ((-3, 3), 16), "HardSigmoid": ((-5, 5), 13),
}


@pytest.mark.parametrize("op", sorted(UNARY))
@pytest.mark.parametrize("shape", [(7,), (2, 3, 4)])
def test_unary_float(op: str, shape: tuple[int, ...]) -> None:
    (lo, hi), opset = UNARY[op]
    x = rnd(shape, seed=len(op), lo=lo, hi=hi)
    run_single_op_onnx(op, [("x", Feed(x))], opset=opset, expect_op=op)


def test_round_halves_to_even() -> None:
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5], dtype=np.float32)
    run_single_op_onnx("Round", [("x", Feed(x))], opset=13)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8])
@pytest.mark.parametrize("op", ["Neg", "Abs", "Sign", "Relu"])
def test_unary_int(op: str, dtype: type) -> None:
    if op == "Relu" and dtype == np.int64:
        pytest.skip("onnxruntime has no int64 Relu kernel")
    run_single_op_onnx(op, [("x", Feed(rnd((3, 4), 1, dtype, -50, 50)))], opset=14)


@pytest.mark.parametrize(
    "op, attrs, opset",
    [
        ("LeakyRelu", {"alpha": 0.3}, 16),
        ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, 13),
        ("Elu", {"alpha": 0.7}, 13),
        ("Selu", {"alpha": 1.5, "gamma": 1.1}, 13),
        ("Gelu", {"approximate": "tanh"}, 20),
        ("Gelu", {"approximate": "none"}, 20),
    ],
)
def test_unary_attrs(op: str, attrs: dict, opset: int) -> None:
    run_single_op_onnx(op, [("x", Feed(rnd((4, 6), 2, lo=-5, hi=5)))], attrs, opset=opset)


@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("bounds", [(-0.5, 0.7), (None, 0.7), (-0.5, None), (None, None), (1.0, -1.0)])
def test_clip_float(bounds: tuple, opset: int) -> None:
    lo, hi = bounds
    ins = [("x", Feed(rnd((3, 5), 3)))]
    ins.append(("lo", np.array(lo, np.float32)) if lo is not None else ("", None))
    ins.append(("hi", np.array(hi, np.float32)) if hi is not None else ("", None))
    g = run_single_op_onnx("Clip", ins, opset=opset, expect_op="Clip")
    node = g.nodes[0]
    f32 = [None if b is None else float(np.float32(b)) for b in bounds]
    assert [node.attrs.min, node.attrs.max] == f32 and len(node.inputs) == 1


@pytest.mark.parametrize("dtype", [np.int32, np.int8, np.int64])
def test_clip_int(dtype: type) -> None:
    ins = [("x", Feed(rnd((3, 5), 4, dtype, -100, 100))), ("lo", np.array(-20, dtype)), ("hi", np.array(30, dtype))]
    run_single_op_onnx("Clip", ins, opset=13)


# -- element-wise binary and variadic --------------------------------------------------------

BROADCAST = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((1,), (2, 3)), ((2, 1, 4), (3, 1)), ((), (2, 2))]


@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow"])
def test_binary_float(op: str, shapes: tuple) -> None:
    lo = 0.5 if op in ("Div", "Pow") else -3
    a, b = rnd(shapes[0], 5, lo=lo), rnd(shapes[1], 6, lo=lo)
    run_single_op_onnx(op, [("a", Feed(a)), ("b", Feed(b))], opset=14)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.int8])
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
def test_binary_int(op: str, dtype: type) -> None:
    a = rnd((4, 5), 7, dtype, -60, 60)
    b = rnd((5,), 8, dtype, 1, 9) * np.array([1, -1, 1, -1, 1], dtype)  # negative quotients: Div truncates toward zero
    run_single_op_onnx(op, [("a", Feed(a)), ("b", Feed(b))], opset=14)


def test_pow_mixed_types() -> None:
    run_single_op_onnx("Pow", [("a", Feed(rnd((3, 4), 9, lo=0.1))), ("b", Feed(np.array([2, 3, 1, 0], np.int64)))], opset=15)
    run_single_op_onnx("Pow", [("a", Feed(rnd((3, 4), 9, np.int32, -4, 5))), ("b", Feed(np.array(2, np.int32)))], opset=15)


@pytest.mark.parametrize("fmod, dtype", [(0, np.int32), (1, np.int32), (0, np.int64), (1, np.float32)])
def test_mod(fmod: int, dtype: type) -> None:
    a = rnd((4, 5), 10, dtype, -30, 30)
    b = rnd((5,), 11, dtype, 2, 7) * np.array([1, -1, 1, -1, 1], dtype)
    run_single_op_onnx("Mod", [("a", Feed(a)), ("b", Feed(b))], {"fmod": fmod}, opset=13)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
def test_variadic(op: str, n: int) -> None:
    shapes = [(2, 3, 4), (3, 4), (2, 1, 1)][:n]
    run_single_op_onnx(op, [(f"x{i}", Feed(rnd(s, 12 + i))) for i, s in enumerate(shapes)], opset=13)


@pytest.mark.parametrize("slope", [(5,), (1,), (4, 1, 1), (1, 4, 1, 5)], ids=str)
def test_prelu(slope: tuple[int, ...]) -> None:
    run_single_op_onnx("PRelu", [("x", Feed(rnd((2, 4, 3, 5), 13))), ("s", rnd(slope, 14, lo=0, hi=1))], opset=16)


# -- comparisons, logic, selection -----------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
def test_compare(op: str, dtype: type) -> None:
    a, b = rnd((3, 4), 15, dtype, -3, 3), rnd((4,), 16, dtype, -3, 3)
    if dtype == np.float32:
        b[1] = a[0, 1]  # equality must be hit
    run_single_op_onnx(op, [("a", Feed(a)), ("b", Feed(b))], opset=16)


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logic(op: str) -> None:
    run_single_op_onnx(op, [("a", Feed(rnd((3, 4), 17, np.bool_))), ("b", Feed(rnd((1, 4), 18, np.bool_)))], opset=7 + 6)
    run_single_op_onnx("Not", [("a", Feed(rnd((3, 4), 19, np.bool_)))], opset=13)


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4), (3, 4)), ((4,), (3, 1), ()), ((2, 1, 4), (3, 4), (1,))], ids=str)
def test_where(shapes: tuple) -> None:
    c, x, y = shapes
    run_single_op_onnx("Where", [("c", Feed(rnd(c, 20, np.bool_))), ("x", Feed(rnd(x, 21))), ("y", Feed(rnd(y, 22)))], opset=16)


def test_isnan() -> None:
    x = rnd((3, 4), 23)
    x[1, 2] = np.nan
    run_single_op_onnx("IsNaN", [("x", Feed(x))], opset=13)


CASTS = [
    (np.float32, TensorProto.INT32), (np.float32, TensorProto.INT64), (np.float32, TensorProto.INT8),
    (np.float32, TensorProto.BOOL), (np.float32, TensorProto.FLOAT16), (np.float32, TensorProto.DOUBLE),
    (np.int32, TensorProto.FLOAT), (np.int64, TensorProto.INT32), (np.int8, TensorProto.INT64),
    (np.bool_, TensorProto.FLOAT), (np.bool_, TensorProto.INT32), (np.float16, TensorProto.FLOAT),
    (np.uint8, TensorProto.INT8), (np.int32, TensorProto.BOOL), (np.float64, TensorProto.FLOAT),
]


@pytest.mark.parametrize("src, to", CASTS, ids=str)
@pytest.mark.parametrize("opset", [13, 19])
def test_cast(src: type, to: int, opset: int) -> None:
    x = rnd((3, 5), 24, src, -100, 100) if np.dtype(src).kind in "iub" else rnd((3, 5), 24, src, -100, 100)
    if np.dtype(src).kind == "u":
        x = rnd((3, 5), 24, src, 0, 256)
    if np.dtype(src).kind in "f":
        x[0, :3] = [0.0, -2.7, 2.7]  # truncation toward zero
    g = run_single_op_onnx("Cast", [("x", Feed(x))], {"to": to}, opset=opset, rtol=1e-3)
    assert _ONNX_CODES.get(g.nodes[0].attrs.to, to) == to


_ONNX_CODES = {DType.F32: 1, DType.I32: 6, DType.I64: 7, DType.I8: 3, DType.BOOL: 9, DType.F16: 10, DType.F64: 11}


def test_castlike() -> None:
    run_single_op_onnx("CastLike", [("x", Feed(rnd((3, 4), 25, lo=-9, hi=9))), ("t", np.zeros(1, np.int32))], opset=15)


def test_dropout_variants() -> None:
    x = rnd((3, 4), 26)
    run_single_op_onnx("Dropout", [("x", Feed(x)), ("r", np.array(0.3, np.float32))], opset=12)
    run_single_op_onnx("Dropout", [("x", Feed(x)), ("r", np.array(0.3, np.float32)), ("t", np.array(False))], opset=13)
    with pytest.raises(UnsupportedOpError, match="training_mode"):
        import_model(make_model("Dropout", [("x", Feed(x)), ("r", np.array(0.3, np.float32)), ("t", np.array(True))], opset=13))


# -- shape and layout ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, allowzero",
    [(ints(6, 20), 0), (ints(0, -1, 5), 0), (ints(-1), 0), (ints(2, 3, 20), 0), (ints(1, 2, 1, 60), 0), (ints(2, 0, 4, 5), 0), (ints(120), 1)],
    ids=str,
)
def test_reshape(shape: np.ndarray, allowzero: int) -> None:
    opset = 14 if allowzero else 13
    g = run_single_op_onnx("Reshape", [("x", Feed(rnd(X4, 27))), ("s", shape)], {"allowzero": allowzero} if allowzero else {}, opset=opset)
    assert -1 not in g.nodes[0].attrs.shape and len(g.nodes[0].inputs) == 1


def test_reshape_allowzero_empty() -> None:
    model = make_model("Reshape", [("x", np.zeros((0, 4), np.float32)), ("s", ints(4, 0))], {"allowzero": 1}, opset=14)
    g = check_against_ort(model, {})
    assert g.outputs[0].shape == (4, 0)


@pytest.mark.parametrize("axis", [0, 1, 2, 4, -1, -4])
def test_flatten(axis: int) -> None:
    run_single_op_onnx("Flatten", [("x", Feed(rnd(X4, 28)))], {"axis": axis}, opset=13)


@pytest.mark.parametrize("perm", [None, (0, 2, 3, 1), (3, 1, 0, 2), (0, 1, 2, 3)], ids=str)
def test_transpose(perm: tuple | None) -> None:
    run_single_op_onnx("Transpose", [("x", Feed(rnd(X4, 29)))], {} if perm is None else {"perm": list(perm)}, opset=13)


@pytest.mark.parametrize("axes", [None, (1,), (-1, 0), (0, 1, 3)], ids=str)
@pytest.mark.parametrize("opset", [11, 13, 21])
def test_squeeze(axes: tuple | None, opset: int) -> None:
    x = rnd((1, 1, 3, 1), 30)
    if opset < 13:
        run_single_op_onnx("Squeeze", [("x", Feed(x))], {} if axes is None else {"axes": list(axes)}, opset=opset)
    else:
        run_single_op_onnx("Squeeze", [("x", Feed(x)), ("a", ints(*axes)) if axes else ("", None)], opset=opset)


@pytest.mark.parametrize("axes", [(0,), (-1,), (1, 3), (0, -1, 2)], ids=str)
@pytest.mark.parametrize("opset", [11, 13])
def test_unsqueeze(axes: tuple, opset: int) -> None:
    x = rnd((3, 4), 31)
    if opset < 13:
        run_single_op_onnx("Unsqueeze", [("x", Feed(x))], {"axes": list(axes)}, opset=opset)
    else:
        run_single_op_onnx("Unsqueeze", [("x", Feed(x)), ("a", ints(*axes))], opset=opset)


@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_concat(axis: int) -> None:
    base = [2, 3, 4]
    shapes = []
    for k in (1, 2, 3):
        s = list(base)
        s[axis] = k
        shapes.append(tuple(s))
    run_single_op_onnx("Concat", [(f"x{i}", Feed(rnd(s, 32 + i))) for i, s in enumerate(shapes)], {"axis": axis}, opset=13)


def test_concat_single_and_const() -> None:
    run_single_op_onnx("Concat", [("x", Feed(rnd((2, 3), 35)))], {"axis": 0}, opset=13)
    run_single_op_onnx("Concat", [("x", Feed(rnd((2, 3), 35))), ("c", rnd((2, 1), 36))], {"axis": 1}, opset=13)


@pytest.mark.parametrize(
    "opset, attrs, split, n",
    [
        (11, {"axis": 1}, None, 3),
        (11, {"axis": -1, "split": [1, 4]}, None, 2),
        (13, {"axis": 2}, ints(1, 1, 2), 3),
        (13, {"axis": 0}, None, 2),
        (18, {"axis": 3, "num_outputs": 3}, None, 3),
        (18, {"axis": 2, "num_outputs": 4}, None, 4),
        (18, {"axis": 1}, ints(2, 1), 2),
    ],
)
def test_split(opset: int, attrs: dict, split: np.ndarray | None, n: int) -> None:
    ins = [("x", Feed(rnd(X4, 37)))]
    if split is not None:
        ins.append(("s", split))
    g = run_single_op_onnx("Split", ins, attrs, opset=opset, n_outputs=n)
    assert len(g.nodes[0].outputs) == n


BIG = np.iinfo(np.int64).max
SLICES = [
    (ints(0, 1), ints(2, 3), None, None),
    (ints(1), ints(1000), ints(-1), None),
    (ints(-3), ints(-1), ints(2), None),
    (ints(-1, 10), ints(-100, -BIG), ints(3, 2), ints(-2, -1)),
    (ints(BIG), ints(-BIG), ints(1), ints(-1)),
    (ints(0), ints(BIG), ints(3), ints(2)),
    (ints(3), ints(1), ints(3), ints(1)),
    (ints(0, 0, 0), ints(2, 3, 4), ints(0, 1, 2), ints(1, 2, 3)),
    (ints(-5, 4), ints(-BIG, 0), ints(-1, 2), ints(-3, -1)),
    (ints(2), ints(2), ints(1), None),
]


@pytest.mark.parametrize("starts, ends, axes, steps", SLICES, ids=lambda v: str(None if v is None else list(v)))
def test_slice(starts: np.ndarray, ends: np.ndarray, axes: np.ndarray | None, steps: np.ndarray | None) -> None:
    ins = [("x", Feed(rnd(X4, 38))), ("s", starts), ("e", ends), ("a", axes) if axes is not None else ("", None)]
    if steps is not None:
        ins.append(("t", steps))
    g = run_single_op_onnx("Slice", ins, opset=13)
    assert len(g.nodes[0].inputs) == 1


def test_slice_attrs_idempotent() -> None:
    """Stored bounds are resolved: re-resolving them changes nothing."""
    ins = [("x", Feed(rnd(X4, 38))), ("s", ints(-1, 10)), ("e", ints(-100, -BIG)), ("a", ints(3, 2)), ("t", ints(-2, -1))]
    g = import_model(make_model("Slice", ins, opset=13))
    node = g.nodes[0]
    assert node.op._resolved(node.attrs, X4) == node.attrs


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("opset", [11, 13, 18])
def test_pad(mode: str, opset: int) -> None:
    pads = ints(0, 1, 2, 0, 0, 0, 1, 3)
    ins = [("x", Feed(rnd(X4, 39))), ("p", pads)]
    if mode == "constant":
        ins.append(("v", np.array(1.5, np.float32)))
    run_single_op_onnx("Pad", ins, {"mode": mode}, opset=opset)


def test_pad_axes_negative_and_wrap() -> None:
    x = rnd(X4, 40)
    run_single_op_onnx("Pad", [("x", Feed(x)), ("p", ints(1, 2, -1, 3)), ("", None), ("a", ints(-1, 1))], opset=18)
    run_single_op_onnx("Pad", [("x", Feed(x)), ("p", ints(0, 0, -1, 2, 0, 0, 1, -2))], opset=13)
    run_single_op_onnx("Pad", [("x", Feed(x)), ("p", ints(0, 1, 2, 0, 0, 0, 1, 3))], {"mode": "wrap"}, opset=19)
    run_single_op_onnx("Pad", [("x", Feed(rnd((3, 4), 41, np.int32, -9, 9))), ("p", ints(1, 1, 0, 2)), ("v", np.array(7, np.int32))], opset=13)


@pytest.mark.parametrize(
    "axis, idx, const",
    [(0, ints(1, 0), False), (1, ints(0, -1, 2, 2), False), (-1, np.array([[0, 4], [-5, 1]], np.int64), False),
     (2, np.array(3, np.int64), True), (3, np.array([1, -1], np.int32), True), (0, ints(-2), False)],
    ids=str,
)
def test_gather(axis: int, idx: np.ndarray, const: bool) -> None:
    ins = [("x", Feed(rnd(X4, 42))), ("i", idx if const else Feed(idx))]
    g = run_single_op_onnx("Gather", ins, {"axis": axis}, opset=13, expect_op="Gather")
    assert (g.nodes[0].inputs[1].const is not None) == const  # runtime indices stay an input


def test_gather_embedding_lookup() -> None:
    """A transformer embedding: a constant table indexed by a runtime token id."""
    table = rnd((16, 8), 43)
    check_against_ort(make_model("Gather", [("w", table), ("tok", None)], {"axis": 0}, opset=13, feeds={"tok": ints(3, 15, 0)}), {"tok": ints(3, 15, 0)})


@pytest.mark.parametrize("axis", [0, 2, -1])
def test_gather_elements(axis: int) -> None:
    x = rnd((3, 4, 5), 44)
    idx = rnd((3, 4, 5), 45, np.int64, -x.shape[axis], x.shape[axis])
    run_single_op_onnx("GatherElements", [("x", Feed(x)), ("i", Feed(idx))], {"axis": axis}, opset=13)


@pytest.mark.parametrize("xs, shape", [((3, 1), ints(2, 3, 4)), ((1,), ints(5)), ((2, 1, 4), ints(3, 1)), ((3, 4), ints(1, 1))], ids=str)
def test_expand(xs: tuple, shape: np.ndarray) -> None:
    run_single_op_onnx("Expand", [("x", Feed(rnd(xs, 46))), ("s", shape)], opset=13)


@pytest.mark.parametrize("reps", [ints(1, 1), ints(2, 3), ints(0, 2)], ids=str)
def test_tile(reps: np.ndarray) -> None:
    run_single_op_onnx("Tile", [("x", Feed(rnd((2, 3), 47))), ("r", reps)], opset=13)


@pytest.mark.parametrize("attrs, opset", [({}, 13), ({"start": 1}, 15), ({"start": -3, "end": -1}, 15), ({"end": 10}, 15), ({"start": 3, "end": 1}, 15)], ids=str)
def test_shape_folds(attrs: dict, opset: int) -> None:
    g = run_single_op_onnx("Shape", [("x", Feed(rnd(X4, 48)))], attrs, opset=opset)
    assert len(g.nodes) == 0 and g.outputs[0].is_const


def test_size_folds() -> None:
    g = run_single_op_onnx("Size", [("x", Feed(rnd(X4, 49)))], opset=13)
    assert len(g.nodes) == 0


@pytest.mark.parametrize(
    "start, limit, delta",
    [(np.float32(0), np.float32(5), np.float32(1)), (np.float32(1.5), np.float32(7), np.float32(0.7)),
     (np.int64(10), np.int64(-3), np.int64(-3)), (np.int32(0), np.int32(7), np.int32(2)), (np.int64(5), np.int64(2), np.int64(1))],
    ids=str,
)
def test_range(start, limit, delta) -> None:  # type: ignore[no-untyped-def]
    run_single_op_onnx("Range", [("a", np.array(start)), ("b", np.array(limit)), ("c", np.array(delta))], opset=13)


@pytest.mark.parametrize("value", [None, np.array([7], np.int32), np.array([2.5], np.float32), np.array([1], np.int64)], ids=str)
def test_constant_of_shape(value: np.ndarray | None) -> None:
    attrs = {} if value is None else {"value": numpy_helper.from_array(value)}
    run_single_op_onnx("ConstantOfShape", [("s", ints(2, 3))], attrs, opset=13)


# -- reductions --------------------------------------------------------------------------

REDUCE = ["ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSumExp"]


@pytest.mark.parametrize("op", REDUCE)
@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize("axes, keepdims", [((1, -1), 1), ((0,), 0), (None, 1), (None, 0), ((-2, 0, 3), 0)], ids=str)
def test_reduce(op: str, opset: int, axes: tuple | None, keepdims: int) -> None:
    lo = 0.5 if op == "ReduceProd" else -2
    ins = [("x", Feed(rnd(X4, 50, lo=lo, hi=2)))]
    attrs: dict = {"keepdims": keepdims}
    as_input = opset >= (13 if op == "ReduceSum" else 18)
    if axes is not None:
        if as_input:
            ins.append(("a", ints(*axes)))
        else:
            attrs["axes"] = list(axes)
    run_single_op_onnx(op, ins, attrs, opset=opset)


@pytest.mark.parametrize("op, opset", [("ReduceSum", 13), ("ReduceMean", 18), ("ReduceMax", 18)])
def test_reduce_noop_with_empty_axes(op: str, opset: int) -> None:
    g = run_single_op_onnx(op, [("x", Feed(rnd(X4, 51)))], {"noop_with_empty_axes": 1}, opset=opset)
    assert g.nodes[0].attrs.axes == ()
    run_single_op_onnx(op, [("x", Feed(rnd(X4, 51))), ("a", np.zeros(0, np.int64))], {"noop_with_empty_axes": 0, "keepdims": 0}, opset=opset)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax", "ReduceMin"])
def test_reduce_int(op: str, dtype: type) -> None:
    run_single_op_onnx(op, [("x", Feed(rnd((3, 4, 5), 52, dtype, -50, 50)))], {"axes": [1]}, opset=11)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("axis, keepdims, last", [(0, 1, 0), (-1, 0, 0), (2, 1, 1), (1, 0, 1)])
def test_arg(op: str, axis: int, keepdims: int, last: int) -> None:
    x = rnd(X4, 53, np.int32, -3, 3).astype(np.float32)  # many ties: first vs last index matters
    run_single_op_onnx(op, [("x", Feed(x))], {"axis": axis, "keepdims": keepdims, "select_last_index": last}, opset=13)


@pytest.mark.parametrize("upper", [0, 1])
@pytest.mark.parametrize("k", [None, -1, 0, 2])
def test_trilu(upper: int, k: int | None) -> None:
    ins = [("x", Feed(rnd((2, 4, 5), 70)))] + ([("k", np.array(k, np.int64))] if k is not None else [])
    run_single_op_onnx("Trilu", ins, {"upper": upper}, opset=14)


@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("exclusive, reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumsum(axis: int, exclusive: int, reverse: int) -> None:
    ins = [("x", Feed(rnd((3, 5), 71))), ("a", np.array(axis, np.int64))]
    run_single_op_onnx("CumSum", ins, {"exclusive": exclusive, "reverse": reverse}, opset=14)


@pytest.mark.parametrize("largest", [0, 1])
@pytest.mark.parametrize("axis, k", [(-1, 2), (0, 3), (1, 0)])
def test_topk(largest: int, axis: int, k: int) -> None:
    x = rnd((3, 6), 72, np.int32, -3, 3).astype(np.float32)  # ties: the lower index comes first
    run_single_op_onnx("TopK", [("x", Feed(x)), ("k", ints(k))], {"largest": largest, "axis": axis}, opset=11, n_outputs=2)


# -- quantization ------------------------------------------------------------------------


def _qx(seed: int) -> np.ndarray:
    x = rnd(X4, seed, lo=-20, hi=20)
    x.flat[:8] = np.array([0.05, 0.15, 0.25, -0.05, -0.15, -0.25, 1000.0, -1000.0], np.float32)  # halves, saturation
    return x


@pytest.mark.parametrize(
    "zp, opset",
    [(np.array(3, np.int8), 13), (np.array(128, np.uint8), 13), (None, 13), (np.array(-7, np.int16), 21), (np.array(0, np.int8), 19)],
    ids=str,
)
def test_quantize_per_tensor(zp: np.ndarray | None, opset: int) -> None:
    ins = [("x", Feed(_qx(54))), ("s", np.array(0.1, np.float32))]
    if zp is not None:
        ins.append(("z", zp))
    g = run_single_op_onnx("QuantizeLinear", ins, opset=opset, expect_op="QuantizeLinear")
    assert g.outputs[0].type.quant is not None and g.outputs[0].type.quant.axis is None


@pytest.mark.parametrize("axis, dtype", [(1, np.int8), (-1, np.uint8), (0, np.int8), (2, np.int16)])
def test_quantize_per_axis(axis: int, dtype: type) -> None:
    dim = X4[axis]
    scale = rnd((dim,), 55, lo=0.05, hi=0.3)
    zp = rnd((dim,), 56, dtype, 0 if dtype == np.uint8 else -10, 10)
    opset = 21 if dtype == np.int16 else 13
    g = run_single_op_onnx("QuantizeLinear", [("x", Feed(_qx(57))), ("s", scale), ("z", zp)], {"axis": axis}, opset=opset)
    assert g.outputs[0].type.quant.axis == axis % 4


@pytest.mark.parametrize("dtype, opset", [(np.int8, 13), (np.uint8, 13), (np.int16, 21), (np.int32, 13)])
@pytest.mark.parametrize("per_axis", [False, True])
def test_dequantize(dtype: type, opset: int, per_axis: bool) -> None:
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -40000), min(info.max, 40000)
    q = rnd(X4, 58, dtype, lo, hi)
    scale = rnd((3,), 59, lo=0.01, hi=0.2) if per_axis else np.array(0.05, np.float32)
    ins = [("q", Feed(q)), ("s", scale)]
    if dtype != np.int32:
        ins.append(("z", rnd(scale.shape, 60, dtype, max(lo, -5), 6)))
    run_single_op_onnx("DequantizeLinear", ins, {"axis": 1} if per_axis else {}, opset=opset, expect_op="DequantizeLinear")
