"""Moving Transposes through layout-agnostic ops so that pairs meet and cancel.

Used by ``to-nhwc`` after it has wrapped every NHWC kernel in a
Transpose pair. Two phases, never mixed (so they cannot undo each other):

1. sink: a Transpose moves down past element-wise ops (unary; binary and
   variadic when every other input is the same Transpose or a constant, whose
   data is permuted), Concat (axis remapped), Pad (pads permuted), reductions
   with keepdims and Softmax (axes remapped); a flatten Reshape that feeds a
   FullyConnected absorbs the Transpose by permuting the weight's columns;
2. hoist: a Transpose moves up past unary / constant-operand element-wise ops
   when that brings it to a graph input or onto another Transpose.

Everywhere, Transpose pairs compose and cancel, and Transposes that keep the
order of non-unit axes become Reshapes (the ``canonicalize`` shape rules).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tinyc.ir.core import Graph, Node, Value
from tinyc.ir.opdef import get_op
from tinyc.passes.canonicalize import SHAPE_RULES, reshape_attrs
from tinyc.passes.rewrite import (
    Rule,
    apply_rules,
    emit,
    is_float,
    is_output,
    merge_rules,
    new_const,
    remove_dead,
    replace_node,
    single_use,
)

Ints = tuple[int, ...]

UNARY_OPS = (
    "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Softplus",
    "Softsign", "Mish", "Gelu", "Neg", "Abs", "Sign", "Sqrt", "Reciprocal", "Exp", "Log", "Sin", "Cos", "Erf",
    "Floor", "Ceil", "Round", "Cast", "Not", "IsNaN", "Identity", "Dropout", "QuantizeLinear", "DequantizeLinear",
)  # fmt: skip
ELEMENTWISE_OPS = (
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu", "AddAct", "MulAct",
    "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Where",
)  # fmt: skip
REDUCE_OPS = (
    "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1", "ReduceL2",
    "ReduceLogSumExp",
)  # fmt: skip
AXIS_OPS = ("Concat", "Pad", "Softmax", "LogSoftmax", *REDUCE_OPS)
SINK_OPS = (*UNARY_OPS, *ELEMENTWISE_OPS, *AXIS_OPS)


def perm_of(t: Node) -> Ints:
    return t.attrs.perm or tuple(reversed(range(t.input(0).type.rank)))


def inverse(perm: Ints) -> Ints:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def transpose_node(v: Value | None) -> Node | None:
    """The Transpose producing ``v``, or None."""
    return v.producer if v is not None and v.producer is not None and v.producer.op.name == "Transpose" else None


def relayout(graph: Graph, node: Node, core: Node, perm: Ints) -> bool:
    """Replace ``node`` by ``Transpose(core, perm)``; ``core`` takes the old name unless it is a graph output."""
    t = emit(graph, "Transpose", [core.output], get_op("Transpose").Attrs(perm=perm), before=node, loc=node.loc, name=f"{node.output.name}_t")
    old = node.output
    if is_output(graph, old):
        return replace_node(graph, node, t.output)
    name = old.name
    graph.replace_value(old, t.output)
    remove_dead(graph, node)
    temp = core.output.name
    graph.rename_value(core.output, name)
    if core.name == temp:
        core.name = name
    return True


def _move_after(graph: Graph, node: Node, inputs: list[Value | None], attrs: object, perm: Ints) -> bool:
    if node.op.name in ("QuantizeLinear", "DequantizeLinear") and node.attrs.axis is not None:
        return False
    core = emit(graph, node.op.name, inputs, attrs, before=node, loc=node.loc, name=f"{node.output.name}_core")
    return relayout(graph, node, core, perm)


# -- sinking ------------------------------------------------------------------------


def _users_sinkable(graph: Graph, t: Node) -> bool:
    return not is_output(graph, t.output) and all(u.op.name in SINK_OPS for u in t.output.users)


def _sink_unary(graph: Graph, node: Node) -> bool:
    t = transpose_node(node.input(0))
    if t is None or not _users_sinkable(graph, t) or len(node.outputs) != 1:
        return False
    return _move_after(graph, node, [t.input(0), *node.inputs[1:]], node.attrs, perm_of(t))


def _permuted_const(graph: Graph, v: Value, perm: Ints) -> Value:
    c = v.const
    assert c is not None
    full = c.reshape((1,) * (len(perm) - c.ndim) + c.shape)
    return new_const(graph, f"{v.name}_perm", np.ascontiguousarray(np.transpose(full, inverse(perm))))


def _sink_elementwise(graph: Graph, node: Node) -> bool:
    if len(node.outputs) != 1:
        return False
    ts = [transpose_node(v) for v in node.inputs]
    perms = {perm_of(t) for t in ts if t is not None}
    if len(perms) != 1:
        return False
    perm = perms.pop()
    if node.output.type.rank != len(perm):
        return False
    for v, t in zip(node.inputs, ts, strict=True):
        if t is None and (v is None or not v.is_const or v.type.rank > len(perm)):
            return False
    # Sinking removes one Transpose per transposed input and adds one: worth it unless
    # the only transposed input keeps other (non-sinkable) readers.
    if sum(t is not None for t in ts) == 1 and not _users_sinkable(graph, next(t for t in ts if t is not None)):
        return False
    inputs: list[Value | None] = []
    for v, t in zip(node.inputs, ts, strict=True):
        inputs.append(t.input(0) if t is not None else _permuted_const(graph, v, perm) if v is not None else None)
    return _move_after(graph, node, inputs, node.attrs, perm)


def _sink_axis_op(graph: Graph, node: Node) -> bool:
    op = node.op.name
    if op == "Concat":
        ts = [transpose_node(v) for v in node.inputs]
        perms = {perm_of(t) for t in ts if t is not None}
        if len(perms) != 1 or any(t is None and (v is None or not v.is_const) for v, t in zip(node.inputs, ts, strict=True)):
            return False
        perm = perms.pop()
        inputs: list[Value | None] = [t.input(0) if t is not None else _permuted_const(graph, v, perm) for v, t in zip(node.inputs, ts, strict=True) if v is not None]
        return _move_after(graph, node, inputs, dataclasses.replace(node.attrs, axis=perm[node.attrs.axis]), perm)
    t = transpose_node(node.input(0))
    if t is None or not _users_sinkable(graph, t):
        return False
    perm = perm_of(t)
    a = node.attrs
    if op == "Pad":
        r = len(perm)
        pads = [0] * (2 * r)
        for i, p in enumerate(perm):
            pads[p], pads[r + p] = a.pads[i], a.pads[r + i]
        attrs: object = dataclasses.replace(a, pads=tuple(pads))
    elif op in ("Softmax", "LogSoftmax"):
        if a.coerce_2d:
            return False
        attrs = dataclasses.replace(a, axis=perm[a.axis % len(perm)])
    else:  # reductions
        axes = None if a.axes is None else tuple(sorted(perm[x % len(perm)] for x in a.axes))
        attrs = dataclasses.replace(a, axes=axes)
        if not a.keepdims:
            # The kept axes come out in the source's order; what is left of the perm relates them.
            reduced = set(range(len(perm))) if a.axes is None else {x % len(perm) for x in a.axes}
            kept = [i for i in range(len(perm)) if i not in reduced]
            order = sorted(perm[i] for i in kept)
            rest = tuple(order.index(perm[i]) for i in kept)
            if rest == tuple(range(len(rest))):
                core = emit(graph, op, [t.input(0)], attrs, before=node, loc=node.loc, name=f"{node.output.name}_core")
                return replace_node(graph, node, core.output)
            return _move_after(graph, node, [t.input(0)], attrs, rest)
    return _move_after(graph, node, [t.input(0)], attrs, perm)


def _flatten_into_fc(graph: Graph, node: Node) -> bool:
    """FullyConnected(Reshape[N, K](Transpose(x))) -> FullyConnected(Reshape[N, K](x)) with permuted weight columns."""
    r = node.input(0).producer
    w = node.input(1)
    if r is None or r.op.name != "Reshape" or not single_use(graph, r.output) or w.const is None or not is_float(w):
        return False
    t = transpose_node(r.input(0))
    if t is None:
        return False
    perm = perm_of(t)
    src = t.input(0)
    if r.output.type.rank != 2:
        return False
    n, k = r.output.type.shape
    if perm[0] != 0 or src.type.shape[0] != n or k == 0:
        return False
    grid = np.arange(k).reshape((1, *t.output.type.shape[1:]))
    cols = np.transpose(grid, inverse(perm)).reshape(-1)
    w2 = new_const(graph, f"{w.name}_perm", np.ascontiguousarray(w.const[:, cols]))
    flat = emit(graph, "Reshape", [src], reshape_attrs((n, k)), before=node, loc=r.loc, name=f"{r.output.name}_nhwc")
    new = emit(graph, "FullyConnected", [flat.output, w2, *node.inputs[2:]], node.attrs, before=node, loc=node.loc)
    return replace_node(graph, node, new.output)


SINK_RULES: dict[str, list[Rule]] = merge_rules(
    {op: [_sink_unary] for op in UNARY_OPS},
    {op: [_sink_elementwise] for op in ELEMENTWISE_OPS},
    {op: [_sink_axis_op] for op in AXIS_OPS},
    {"FullyConnected": [_flatten_into_fc]},
    SHAPE_RULES,
)


# -- hoisting -----------------------------------------------------------------------


def _hoistable(graph: Graph, u: Node) -> Value | None:
    """The one non-constant input a Transpose could move above ``u`` onto, or None."""
    if len(u.outputs) != 1 or not single_use(graph, u.output):
        return None
    if u.op.name in UNARY_OPS:
        if u.op.name in ("QuantizeLinear", "DequantizeLinear") and u.attrs.axis is not None:
            return None
        return u.input(0)
    if u.op.name in ELEMENTWISE_OPS:
        live = [v for v in u.inputs if v is not None and not v.is_const]
        if len(live) == 1 and live[0].type.rank == u.output.type.rank:
            return live[0]
    return None


def _reaches_edge(graph: Graph, v: Value) -> bool:
    """Whether hoisting from ``v`` upward through hoistable ops ends at a graph input or a Transpose."""
    while True:
        u = v.producer
        if u is None:
            return not v.is_const
        if u.op.name == "Transpose":
            return True
        nxt = _hoistable(graph, u)
        if nxt is None:
            return False
        v = nxt


def _hoist(graph: Graph, t: Node) -> bool:
    """Transpose(u(x, consts)) -> u(Transpose(x), permuted consts) when the Transpose then meets an edge."""
    v = t.input(0)
    u = v.producer
    if u is None or u.op.name == "Transpose":
        return False
    x = _hoistable(graph, u)
    if x is None or not _reaches_edge(graph, x):
        return False
    perm = perm_of(t)
    moved = emit(graph, "Transpose", [x], t.attrs, before=u, loc=t.loc, name=f"{x.name}_t")
    inputs: list[Value | None] = []
    for w in u.inputs:
        if w is x:
            inputs.append(moved.output)
        elif w is not None and w.const is not None:
            full = w.const.reshape((1,) * (len(perm) - w.const.ndim) + w.const.shape)
            inputs.append(new_const(graph, f"{w.name}_perm", np.ascontiguousarray(np.transpose(full, perm))))
        else:
            inputs.append(w)
    core = emit(graph, u.op.name, inputs, u.attrs, before=t, loc=u.loc, name=f"{u.output.name}_t")
    return replace_node(graph, t, core.output)


HOIST_RULES: dict[str, list[Rule]] = merge_rules(SHAPE_RULES, {"Transpose": [_hoist]})


def push_transposes(graph: Graph) -> bool:
    """Sink, then hoist Transposes so that pairs cancel (see the module docstring)."""
    changed = apply_rules(graph, SINK_RULES)
    changed = apply_rules(graph, HOIST_RULES) or changed
    return graph.prune_constants() or changed
