"""Choosing the layout of whole element-wise regions, so Transposes end up at the region's edges.

A region is a connected set of values joined by layout-agnostic ops: unary
element-wise ops, element-wise ops whose other inputs are constants or values
of the same rank, and ops that only need an axis renumbered (Concat, Pad,
Softmax, reductions that keep their dims). Every value of a region must share one layout.
``flip_regions`` computes, for each region, how many Transposes it would
save by holding its values permuted (the NHWC layout of the kernels):

- saved: each Transpose into the kernels' layout that reads a region value
  (it becomes the value itself), and each Transpose out of that layout that
  produces a region value and feeds nothing else;
- paid: a Transpose into the new layout for each region value that comes
  from a graph input or another op, and one back for each region value that
  a graph output or an op outside the region reads.

A region flips when that saves Transposes, or costs none while moving
Transposes from the inside of the graph to its inputs and outputs.
Constants read by the region are permuted in place (new constants).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from tinyc.ir.core import Graph, Node, Value
from tinyc.ir.opdef import get_op
from tinyc.passes.canonicalize import keeps_order
from tinyc.passes.rewrite import emit, is_output, new_const, remove_dead

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
# Ops a Transpose sinks through by renumbering an axis (tinyc.passes.transposes).
AXIS_OPS = ("Concat", "Pad", "Softmax", "LogSoftmax", *REDUCE_OPS)


def perm_of(t: Node) -> Ints:
    return t.attrs.perm or tuple(reversed(range(t.input(0).type.rank)))


def inverse(perm: Ints) -> Ints:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def is_transpose(node: Node, perm: Ints) -> bool:
    """A Transpose by ``perm``, or a Reshape that moves only unit axes and so equals one."""
    if node.op.name == "Transpose":
        return perm_of(node) == perm
    if node.op.name == "Reshape":
        shape = node.input(0).type.shape
        return len(shape) == len(perm) and tuple(shape[p] for p in perm) == node.output.type.shape and keeps_order(shape, perm)
    return False


def agnostic(node: Node, rank: int) -> bool:
    """Whether ``node`` computes the same thing on inputs permuted to rank-``rank`` layouts (constants and axes permuted too)."""
    op = node.op.name
    if len(node.outputs) != 1 or node.output.type.rank != rank:
        return False
    if op in ("QuantizeLinear", "DequantizeLinear") and node.attrs.axis is not None:
        return False
    if op in ("Softmax", "LogSoftmax") and node.attrs.coerce_2d:
        return False
    if op in REDUCE_OPS and not node.attrs.keepdims:
        return False
    if op not in UNARY_OPS and op not in ELEMENTWISE_OPS and op not in AXIS_OPS:
        return False
    live = [v for v in node.inputs if v is not None and not v.is_const]
    consts = [v for v in node.inputs if v is not None and v.is_const]
    return bool(live) and all(v.type.rank == rank for v in live) and all(v.type.rank <= rank for v in consts)


def flipped_attrs(node: Node, perm: Ints) -> object:
    """``node``'s attributes for inputs held as ``transpose(old, perm)`` (axes renumbered, pads permuted)."""
    a = node.attrs
    inv = inverse(perm)
    op = node.op.name
    if op in ("Concat", "Softmax", "LogSoftmax"):
        return dataclasses.replace(a, axis=inv[a.axis % len(perm)])
    if op == "Pad":
        r = len(perm)
        return dataclasses.replace(a, pads=tuple(a.pads[p] for p in perm) + tuple(a.pads[r + p] for p in perm))
    if op in REDUCE_OPS and a.axes is not None:
        return dataclasses.replace(a, axes=tuple(sorted(inv[x % len(perm)] for x in a.axes)))
    return a


def permuted_const(graph: Graph, v: Value, perm: Ints) -> Value:
    """A constant equal to ``v`` broadcast to rank ``len(perm)`` and transposed by ``perm``."""
    c = v.const
    assert c is not None
    full = c.reshape((1,) * (len(perm) - c.ndim) + c.shape)
    return new_const(graph, f"{v.name}_perm", np.ascontiguousarray(np.transpose(full, perm)))


@dataclass
class Region:
    values: list[Value] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)  # agnostic nodes, in graph order


def find_regions(graph: Graph, rank: int) -> list[Region]:
    """Connected components of values joined by agnostic ops of the given rank."""
    parent: dict[int, int] = {}
    by_id: dict[int, Value] = {}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def add(v: Value) -> int:
        if id(v) not in parent:
            parent[id(v)] = id(v)
            by_id[id(v)] = v
        return id(v)

    members: list[Node] = [n for n in graph.nodes if agnostic(n, rank)]
    for node in members:
        root = add(node.output)
        for v in node.inputs:
            if v is not None and not v.is_const:
                parent[find(add(v))] = find(root)
    regions: dict[int, Region] = {}
    for vid, v in by_id.items():
        regions.setdefault(find(vid), Region()).values.append(v)
    for node in members:
        regions[find(id(node.output))].nodes.append(node)
    return list(regions.values())


def _movable(graph: Graph, u: Node) -> bool:
    """A reader that a Transpose in front of it sinks through later (so it costs nothing lasting)."""
    if u.op.name in AXIS_OPS:
        return True
    if u.op.name == "Reshape" and u.output.type.rank == 2 and not is_output(graph, u.output):
        users = u.output.users
        return len(users) == 1 and users[0].op.name == "FullyConnected" and users[0].input(1).is_const
    return False


def _score(graph: Graph, region: Region, perm: Ints) -> tuple[int, int, int]:
    """(Transposes saved, new ones at graph edges, new ones inside the graph) if the region flips."""
    inv = inverse(perm)
    inside = {id(n) for n in region.nodes}
    saved = edge = inner = 0
    for v in region.values:
        p = v.producer
        readers = v.users
        t_in = [u for u in readers if is_transpose(u, perm)]
        others = [u for u in readers if id(u) not in inside and u not in t_in]
        saved += len(t_in)
        if p is None:
            edge += 1
        elif id(p) in inside:
            if others and not all(_movable(graph, u) for u in others):
                inner += 1
            elif others or is_output(graph, v):
                edge += 1
        elif is_transpose(p, inv):
            saved += 0 if others or is_output(graph, v) else 1
        else:
            inner += 1
    return saved, edge, inner


def _flip(graph: Graph, region: Region, perm: Ints) -> None:
    inv = inverse(perm)
    tp = get_op("Transpose")
    inside = {id(n) for n in region.nodes}
    first = graph.nodes[0]
    new: dict[int, Value] = {}

    def permuted(v: Value) -> Value:
        if id(v) not in new:
            p = v.producer
            if p is not None and is_transpose(p, inv):
                new[id(v)] = p.input(0)
            else:
                order = graph.nodes
                before = first if p is None else order[order.index(p) + 1]
                new[id(v)] = emit(graph, "Transpose", [v], tp.Attrs(perm=perm), before=before, loc=before.loc if p is None else p.loc, name=f"{v.name}_nhwc").output
        return new[id(v)]

    for v in region.values:  # values entering the region, in place before any region node needs them
        if v.producer is None or id(v.producer) not in inside:
            permuted(v)
    for node in region.nodes:
        inputs = [None if v is None else permuted_const(graph, v, perm) if v.is_const else new[id(v)] for v in node.inputs]
        new[id(node.output)] = emit(graph, node.op.name, inputs, flipped_attrs(node, perm), before=node, loc=node.loc, name=f"{node.output.name}_nhwc").output
    renames: list[tuple[Value, str]] = []
    output_renames: list[tuple[Value, str]] = []
    for v in region.values:
        v2 = new[id(v)]
        for u in v.users:
            if not is_transpose(u, perm) or u.output is v2:
                continue
            if is_output(graph, u.output):
                if v2.producer is None or is_output(graph, v2) or any(v2 is w for w, _ in output_renames):
                    continue  # it keeps reading the old layout (through the Transpose back made below)
                output_renames.append((v2, u.output.name))
            graph.replace_value(u.output, v2)
            remove_dead(graph, u)
        if v.producer is None or id(v.producer) not in inside:
            continue
        if any(id(u) not in inside for u in v.users) or is_output(graph, v):
            back = emit(graph, "Transpose", [v2], tp.Attrs(perm=inv), before=v.producer, loc=v.producer.loc, name=f"{v.name}_t")
            for u, i in v.uses:
                if id(u) not in inside:
                    u.set_input(i, back.output)
            graph.outputs = [back.output if o is v else o for o in graph.outputs]
            renames.append((back.output, v.name))
        else:
            renames.append((v2, v.name))
    for node in reversed(region.nodes):
        remove_dead(graph, node)
    for value, name in renames + output_renames:
        if all(v.name != name for v in graph.values()):
            temp = value.name
            graph.rename_value(value, name)
            if value.producer is not None and value.producer.name == temp:
                value.producer.name = name


def flip_regions(graph: Graph, perm: Ints, *, max_flips: int = 1000) -> bool:
    """Hold element-wise regions in the layout ``perm`` leads to, where that saves or edge-moves Transposes."""
    changed = False
    for _ in range(max_flips):  # a flip changes its neighbours' regions: look again after each
        for region in find_regions(graph, len(perm)):
            saved, edge, inner = _score(graph, region, perm)
            if region.nodes and (saved > edge + inner or (saved > 0 and saved == edge + inner and inner == 0)):
                _flip(graph, region, perm)
                changed = True
                break
        else:
            return changed
    return changed
