"""IR rewrites that make a NCHW graph TensorRT-ready, each exact (same numbers as before).

Canonical forms (``tensorrt-canonicalize``, a subset of ``canonicalize`` that
keeps ONNX ops): identities go, Flatten/Squeeze/Unsqueeze become Reshape,
Transposes compose, a BatchNormalization after a Conv folds into it, a
constant per-channel Add becomes the Conv's bias, a zero Pad folds into the
Conv or pool after it.

TensorRT forms (``tensorrt-legalize``):

- a Gemm with a constant (or dequantized constant) B that is not transposed
  gets the transposed weight and ``transB=1``, and a MatMul of a matrix by a
  constant matrix becomes such a Gemm: weights are [out, in], so their
  per-channel int8 scales lie on axis 0 as TensorRT requires;
- a constant row vector added after a Gemm becomes its C (bias);
- a Reshape to [prod(dims before a), prod(dims from a)] is a Flatten, and
  for TensorRT 8.x a same-rank Reshape that only moves unit dimensions is a
  Transpose (no INT64 shape initializer, which 8.x would have to cast down);
- documented rewrites of ops a parser lacks: HardSwish (before opset 14 or
  TensorRT 8.2) = x * HardSigmoid(x; 1/6, 1/2); Mish = x * tanh(softplus(x));
  Gelu = x/2 * (1 + erf(x / sqrt 2)) or its tanh form; Reciprocal (8.2) =
  1 / x; LayerNormalization (before opset 17 or TensorRT 10) = the mean and
  variance as ReduceMean, then (x - mean) / sqrt(var + eps) * scale + B;
  CastLike = Cast.
"""

from __future__ import annotations

import math

import numpy as np

from tinyc.backends.tensorrt.profile import TrtProfile
from tinyc.ir.core import Graph, Node, Value
from tinyc.ir.opdef import get_op
from tinyc.passes.canon_linear import LINEAR_RULES
from tinyc.passes.canon_pad import PAD_RULES
from tinyc.passes.canonicalize import SHAPE_RULES
from tinyc.passes.manager import FunctionPass, graph_pass
from tinyc.passes.rewrite import Rule, apply_rules, emit, merge_rules, new_const, producer_op, replace_node, single_use

# -- canonical forms ------------------------------------------------------------------


def _bn_into_conv(graph: Graph, node: Node) -> bool:
    """BatchNormalization folds into the Conv before it; elsewhere it stays (TensorRT runs it as a scale layer)."""
    x = node.input(0)
    if producer_op(x) != "Conv" or x.producer is None or x.producer.input(1).const is None:
        return False
    return any(rule(graph, node) for rule in LINEAR_RULES["BatchNormalization"])


def _conv_bias(graph: Graph, node: Node) -> bool:
    """A constant per-channel Add after a Conv becomes its bias."""
    ys = [v for v in node.inputs if v is not None and producer_op(v) == "Conv"]
    return bool(ys) and any(rule(graph, node) for rule in LINEAR_RULES["Add"])


CANONICAL_RULES = merge_rules(SHAPE_RULES, {"BatchNormalization": [_bn_into_conv], "Add": [_conv_bias]}, PAD_RULES)


@graph_pass("tensorrt-canonicalize")
def trt_canonicalize(graph: Graph) -> bool:
    """Canonical ONNX-level forms (no kernel ops, NCHW kept)."""
    changed = apply_rules(graph, CANONICAL_RULES)
    return graph.prune_constants() or changed


# -- weights --------------------------------------------------------------------------


def weight_of(v: Value) -> tuple[np.ndarray, Node | None] | None:
    """The constant behind ``v``: (array, None) for a float constant, (integer array, the DequantizeLinear) for dequantized weights."""
    if v.const is not None:
        return (v.const, None) if v.type.dtype.is_float else None
    p = v.producer
    if p is not None and p.op.name == "DequantizeLinear" and p.input(0).const is not None:
        return p.input(0).const, p
    return None


def transposed_weight(graph: Graph, v: Value, at: Node) -> Value | None:
    """``v`` (a constant matrix, or a dequantized one) transposed, as a new value usable before ``at``."""
    found = weight_of(v)
    if found is None or found[0].ndim != 2:
        return None
    arr, dq = found
    wt = new_const(graph, f"{v.name}_t", np.ascontiguousarray(arr.T))
    if dq is None:
        return wt
    a = dq.attrs
    axis = None if a.axis is None else 1 - a.axis
    attrs = get_op("DequantizeLinear").Attrs(scale=a.scale, zero_point=a.zero_point, axis=axis, dtype=a.dtype)
    return emit(graph, "DequantizeLinear", [wt], attrs, before=at, loc=dq.loc, name=f"{v.name}_t").output


def _gemm_trans_b(graph: Graph, node: Node) -> bool:
    """Gemm with a constant B [K, N]: B^T [N, K] and transB=1 (weights [out, in])."""
    a = node.attrs
    if a.trans_b:
        return False
    wt = transposed_weight(graph, node.input(1), node)
    if wt is None:
        return False
    attrs = get_op("Gemm").Attrs(alpha=a.alpha, beta=a.beta, trans_a=a.trans_a, trans_b=True)
    new = emit(graph, "Gemm", [node.input(0), wt, *node.inputs[2:]], attrs, before=node, loc=node.loc)
    return replace_node(graph, node, new.output)


def _matmul_to_gemm(graph: Graph, node: Node) -> bool:
    """MatMul of a matrix by a constant matrix: Gemm(transB=1) with the transposed weight."""
    x = node.input(0)
    if x.type.rank != 2 or node.input(1).type.rank != 2 or not x.type.dtype.is_float:
        return False
    wt = transposed_weight(graph, node.input(1), node)
    if wt is None:
        return False
    new = emit(graph, "Gemm", [x, wt], get_op("Gemm").Attrs(trans_b=True), before=node, loc=node.loc)
    return replace_node(graph, node, new.output)


def _gemm_bias(graph: Graph, node: Node) -> bool:
    """Gemm without C followed by Add of a constant row vector: the vector becomes C."""
    for i in (0, 1):
        y, c = node.input(i), node.input(1 - i)
        gemm = y.producer
        if gemm is None or gemm.op.name != "Gemm" or len(gemm.inputs) > 2 or c.const is None or not c.type.dtype.is_float:
            continue
        if not single_use(graph, y) or node.output.type.shape != y.type.shape:
            continue
        n = y.type.shape[1]
        if c.type.numel not in (1, n) or (c.type.rank == 2 and c.type.shape[0] != 1) or c.type.rank > 2:
            continue
        bias = new_const(graph, f"{gemm.name}_bias", np.broadcast_to(c.const.reshape(-1), (n,)).astype(c.const.dtype))
        attrs = get_op("Gemm").Attrs(alpha=gemm.attrs.alpha, beta=1.0, trans_a=gemm.attrs.trans_a, trans_b=gemm.attrs.trans_b)
        new = emit(graph, "Gemm", [gemm.input(0), gemm.input(1), bias], attrs, before=node, loc=gemm.loc.fuse(node.loc))
        return replace_node(graph, node, new.output)
    return False


def _reshape_to_flatten(graph: Graph, node: Node) -> bool:
    """Reshape [d0..dn] -> [prod(d0..da-1), prod(da..dn)] is Flatten(axis=a)."""
    x = node.input(0)
    shape, out = x.type.shape, node.output.type.shape
    if len(out) != 2 or len(shape) < 2 or shape == out or 0 in shape:
        return False
    for axis in range(1, len(shape)):
        if (math.prod(shape[:axis]), math.prod(shape[axis:])) == out:
            new = emit(graph, "Flatten", [x], get_op("Flatten").Attrs(axis=axis), before=node, loc=node.loc)
            return replace_node(graph, node, new.output)
    return False


def _reshape_to_transpose(graph: Graph, node: Node) -> bool:
    """A same-rank Reshape that only moves unit dimensions is a Transpose (TensorRT 8.x: no INT64 shape initializer)."""
    x = node.input(0)
    shape, out = x.type.shape, node.output.type.shape
    if len(shape) != len(out) or shape == out:
        return False
    big = [i for i, d in enumerate(shape) if d != 1]
    if [shape[i] for i in big] != [d for d in out if d != 1]:
        return False
    units = iter(i for i, d in enumerate(shape) if d == 1)
    big_it = iter(big)
    perm = tuple(next(big_it) if d != 1 else next(units) for d in out)
    new = emit(graph, "Transpose", [x], get_op("Transpose").Attrs(perm=perm), before=node, loc=node.loc)
    return replace_node(graph, node, new.output)


# -- rewrites of ops a parser lacks ------------------------------------------------------


def _scalar(graph: Graph, node: Node, hint: str, value: float) -> Value:
    return new_const(graph, f"{node.name}_{hint}", np.asarray(value, dtype=node.input(0).type.dtype.numpy))


def _op(graph: Graph, node: Node, op: str, inputs: list[Value], attrs: object = None, tag: str = "") -> Value:
    return emit(graph, op, inputs, attrs, before=node, loc=node.loc, name=f"{node.output.name}_{tag or op.lower()}").output


def hard_swish(graph: Graph, node: Node) -> bool:
    x = node.input(0)
    hs = _op(graph, node, "HardSigmoid", [x], get_op("HardSigmoid").Attrs(alpha=1.0 / 6.0, beta=0.5))
    return replace_node(graph, node, _op(graph, node, "Mul", [x, hs]))


def mish(graph: Graph, node: Node) -> bool:
    x = node.input(0)
    t = _op(graph, node, "Tanh", [_op(graph, node, "Softplus", [x])])
    return replace_node(graph, node, _op(graph, node, "Mul", [x, t]))


def gelu(graph: Graph, node: Node) -> bool:
    x = node.input(0)
    if node.attrs.approximate.value == "tanh":
        cube = _op(graph, node, "Mul", [_op(graph, node, "Mul", [x, x], tag="sq"), x], tag="cube")
        inner = _op(graph, node, "Add", [x, _op(graph, node, "Mul", [cube, _scalar(graph, node, "c", 0.044715)], tag="cubic")], tag="inner")
        arg = _op(graph, node, "Mul", [inner, _scalar(graph, node, "k", math.sqrt(2.0 / math.pi))], tag="arg")
        cdf = _op(graph, node, "Tanh", [arg])
    else:
        arg = _op(graph, node, "Mul", [x, _scalar(graph, node, "k", 1.0 / math.sqrt(2.0))], tag="arg")
        cdf = _op(graph, node, "Erf", [arg])
    one_plus = _op(graph, node, "Add", [cdf, _scalar(graph, node, "one", 1.0)], tag="onep")
    half_x = _op(graph, node, "Mul", [x, _scalar(graph, node, "half", 0.5)], tag="halfx")
    return replace_node(graph, node, _op(graph, node, "Mul", [half_x, one_plus]))


def reciprocal(graph: Graph, node: Node) -> bool:
    return replace_node(graph, node, _op(graph, node, "Div", [_scalar(graph, node, "one", 1.0), node.input(0)]))


def layer_norm(graph: Graph, node: Node) -> bool:
    x = node.input(0)
    a = node.attrs
    axes = tuple(range(a.axis % x.type.rank, x.type.rank))
    rm = get_op("ReduceMean").Attrs(axes=axes, keepdims=True)
    mean = _op(graph, node, "ReduceMean", [x], rm, tag="mean")
    d = _op(graph, node, "Sub", [x, mean], tag="centred")
    var = _op(graph, node, "ReduceMean", [_op(graph, node, "Mul", [d, d], tag="sq")], rm, tag="var")
    std = _op(graph, node, "Sqrt", [_op(graph, node, "Add", [var, _scalar(graph, node, "eps", a.epsilon)], tag="vareps")])
    y = _op(graph, node, "Mul", [_op(graph, node, "Div", [d, std], tag="normed"), node.input(1)], tag="scaled")
    b = node.opt_input(2)
    if b is not None:
        y = _op(graph, node, "Add", [y, b], tag="shifted")
    return replace_node(graph, node, y)


def cast_like(graph: Graph, node: Node) -> bool:
    return replace_node(graph, node, _op(graph, node, "Cast", [node.input(0)], get_op("Cast").Attrs(to=node.attrs.to)))


def legalize_rules(profile: TrtProfile) -> dict[str, list[Rule]]:
    """The rewrite table for one TensorRT profile (the op rewrites only where that parser or opset lacks the op)."""
    ops, opset = profile.ops, profile.opset
    rules: dict[str, list[Rule]] = {
        "Gemm": [_gemm_trans_b],
        "MatMul": [_matmul_to_gemm],
        "Add": [_gemm_bias],
        "Reshape": [_reshape_to_flatten],
        "Mish": [mish],
        "Gelu": [gelu],
        "CastLike": [cast_like],
    }
    if not profile.int64_weights:
        rules["Reshape"].append(_reshape_to_transpose)
    if "HardSwish" not in ops or opset < 14:
        rules["HardSwish"] = [hard_swish]
    if "Reciprocal" not in ops:
        rules["Reciprocal"] = [reciprocal]
    if "LayerNormalization" not in ops or opset < 17:
        rules["LayerNormalization"] = [layer_norm]
    return rules


def legalize_pass(profile: TrtProfile) -> FunctionPass:
    """The ``tensorrt-legalize`` pass for ``profile``."""
    rules = legalize_rules(profile)

    def legalize(graph: Graph) -> bool:
        changed = apply_rules(graph, rules)
        return graph.prune_constants() or changed

    return FunctionPass("tensorrt-legalize", legalize, f"TensorRT forms for {profile.describe()}")
