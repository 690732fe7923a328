"""Canonicalisation rules for linear layers: FullyConnected, biases, BatchNormalization folding.

- Gemm (A not transposed) and MatMul with a constant 2-D weight become
  FullyConnected (weight [C_out, K], alpha folded in, a row-broadcast C as bias);
- Add of a constant per-channel vector after Conv (NCHW), FullyConnected,
  Conv2D or DepthwiseConv2D (channels last) becomes the layer's bias;
- BatchNormalization with constant statistics folds into the preceding Conv or
  FullyConnected (weights and bias rescaled), or else becomes Mul + Add.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tinyc.ir.core import Graph, Node, Value
from tinyc.passes.rewrite import Rule, const, emit, is_float, new_const, replace_node, single_use

# Ops with a bias input (index 2) and the axis of their output channels (-1: last).
BIAS_OPS = {"Conv": 1, "FullyConnected": -1, "Conv2D": -1, "DepthwiseConv2D": -1}


def _float_const(v: Value | None) -> np.ndarray | None:
    c = const(v)
    return c if c is not None and v is not None and is_float(v) else None


def channel_vector(c: np.ndarray, out_shape: tuple[int, ...], axis: int) -> np.ndarray | None:
    """``c`` as one value per channel along ``axis`` of ``out_shape``, if it only varies (or broadcasts) there."""
    rank = len(out_shape)
    axis = axis % rank
    if c.ndim > rank:
        return None
    full = c.reshape((1,) * (rank - c.ndim) + c.shape)
    channels = out_shape[axis]
    dims: tuple[int, ...] = tuple(full.shape)
    for i, d in enumerate(dims):
        if d != 1 and (i != axis or d != channels):
            return None
    return np.broadcast_to(full.reshape(-1), (channels,)).astype(np.float64)


def _has_clamp(node: Node) -> bool:
    return getattr(node.attrs, "act_min", None) is not None or getattr(node.attrs, "act_max", None) is not None


def with_bias(graph: Graph, node: Node, extra: np.ndarray, *, at: Node, loc_from: Node | None = None) -> Node:
    """A copy of a bias-taking layer ``node`` with ``extra`` added to its bias, inserted before ``at``."""
    out = node.output.type
    old = const(node.opt_input(2))
    bias = extra if old is None else old.astype(np.float64) + extra
    b = new_const(graph, f"{node.name}_bias", bias.astype(out.dtype.numpy))
    loc = node.loc if loc_from is None else node.loc.fuse(loc_from.loc)
    return emit(graph, node.op.name, [node.input(0), node.input(1), b], node.attrs, before=at, loc=loc)


def _add_bias(graph: Graph, add: Node) -> bool:
    """Layer + constant per-channel Add -> the layer with that bias."""
    for i in (0, 1):
        y, c = add.input(i), _float_const(add.input(1 - i))
        layer = y.producer
        if c is None or layer is None or layer.op.name not in BIAS_OPS or not is_float(y):
            continue
        if not single_use(graph, y) or _has_clamp(layer) or add.output.type.shape != y.type.shape:
            continue
        if layer.opt_input(2) is not None and const(layer.opt_input(2)) is None:
            continue
        vec = channel_vector(c, y.type.shape, BIAS_OPS[layer.op.name])
        if vec is None:
            continue
        new = with_bias(graph, layer, vec, at=add, loc_from=add)
        return replace_node(graph, add, new.output)
    return False


def _gemm(graph: Graph, node: Node) -> bool:
    """Gemm with a constant B (and a constant row-broadcast C) -> FullyConnected."""
    a = node.attrs
    b = _float_const(node.input(1))
    if a.trans_a or b is None or not is_float(node.input(0)):
        return False
    n = node.output.type.shape[1]
    c_in = node.opt_input(2)
    bias = None
    if c_in is not None:
        c = _float_const(c_in)
        if c is None or (c.ndim == 2 and c.shape[0] != 1):
            return False
        bias = channel_vector(c, (1, n), -1)
        if bias is None:
            return False
        bias = bias * a.beta
    w = (b.T if not a.trans_b else b).astype(np.float64) * a.alpha
    dt = node.output.type.dtype.numpy
    inputs = [node.input(0), new_const(graph, f"{node.name}_weight", w.astype(dt))]
    if bias is not None:
        inputs.append(new_const(graph, f"{node.name}_bias", bias.astype(dt)))
    new = emit(graph, "FullyConnected", inputs, before=node, loc=node.loc)
    return replace_node(graph, node, new.output)


def _matmul(graph: Graph, node: Node) -> bool:
    """MatMul with a constant 2-D weight -> FullyConnected (the Add after it becomes the bias)."""
    b = _float_const(node.input(1))
    if b is None or b.ndim != 2 or not is_float(node.input(0)):
        return False
    w = new_const(graph, f"{node.input(1).name}_t", np.ascontiguousarray(b.T))
    new = emit(graph, "FullyConnected", [node.input(0), w], before=node, loc=node.loc)
    return replace_node(graph, node, new.output)


def _batchnorm(graph: Graph, node: Node) -> bool:
    """BatchNormalization -> folded into Conv / FullyConnected, else a per-channel Mul + Add."""
    x = node.input(0)
    stats = [_float_const(node.input(i)) for i in range(1, 5)]
    if not is_float(x) or any(s is None for s in stats):
        return False
    scale, beta, mean, var = (np.asarray(s, dtype=np.float64) for s in stats)  # type: ignore[arg-type]
    k = scale / np.sqrt(var + node.attrs.epsilon)
    shift = beta - mean * k
    dt = x.type.dtype.numpy
    layer = x.producer
    w = _float_const(layer.opt_input(1)) if layer is not None else None
    foldable = (
        layer is not None
        and w is not None
        and single_use(graph, x)
        and not _has_clamp(layer)
        and (layer.opt_input(2) is None or const(layer.opt_input(2)) is not None)
        and (layer.op.name == "Conv" or (layer.op.name == "FullyConnected" and x.type.rank == 2))
    )
    if foldable:
        assert layer is not None and w is not None
        w2 = w.astype(np.float64) * k.reshape((-1,) + (1,) * (w.ndim - 1))
        old_b = const(layer.opt_input(2))
        b2 = shift if old_b is None else old_b.astype(np.float64) * k + shift
        wv = new_const(graph, f"{layer.input(1).name}_bn", w2.astype(w.dtype))
        bv = new_const(graph, f"{layer.name}_bias", b2.astype(dt))
        new = emit(graph, layer.op.name, [layer.input(0), wv, bv], layer.attrs, before=node, loc=layer.loc.fuse(node.loc))
        return replace_node(graph, node, new.output)
    shape = (-1,) + (1,) * (x.type.rank - 2)
    kc = new_const(graph, f"{node.name}_scale", k.reshape(shape).astype(dt))
    sc = new_const(graph, f"{node.name}_shift", shift.reshape(shape).astype(dt))
    mul = emit(graph, "Mul", [x, kc], before=node, loc=node.loc, name=f"{node.output.name}_scaled")
    add = emit(graph, "Add", [mul.output, sc], before=node, loc=node.loc)
    return replace_node(graph, node, add.output)


def replace_attrs(node: Node, **changes: object) -> object:
    """``node``'s attributes with some fields changed."""
    return dataclasses.replace(node.attrs, **changes)


LINEAR_RULES: dict[str, list[Rule]] = {
    "Gemm": [_gemm],
    "MatMul": [_matmul],
    "Add": [_add_bias],
    "BatchNormalization": [_batchnorm],
}
