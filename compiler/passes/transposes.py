"""Moving Transposes so that pairs meet and cancel, leaving them at the graph's edges.

Used by ``to-nhwc`` after it has wrapped every NHWC kernel in a Transpose
pair (into the kernels' layout before, back after). Repeated until nothing
changes:

1. Transpose pairs compose and cancel (the ``canonicalize`` shape rules);
2. layout-agnostic regions (element-wise ops, Concat, Pad, Softmax,
   reductions that keep their dims) take the layout that saves Transposes
   (``tinyc.passes.regions``): a residual block between kernels runs NHWC, a
   scale before the first kernel moves its Transpose to the input;
3. a Transpose back out of the kernels' layout sinks through a reduction
   that drops axes (what is left of the perm follows it, often nothing), and
   into a FullyConnected behind a flatten Reshape, whose weight columns are
   permuted instead.

At the end, Transposes that keep the order of the non-unit axes become Reshapes.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tinyc.ir.core import Graph, Node, Value
from tinyc.ir.opdef import get_op
from tinyc.passes.canonicalize import SHAPE_RULES, compose_transposes, reshape_attrs
from tinyc.passes.regions import REDUCE_OPS, flip_regions, inverse, perm_of
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

# Composing and cancelling only: a Transpose that is really a Reshape stays a Transpose
# while regions are chosen (regions see through both), and becomes a Reshape at the end.
COMPOSE_RULES: dict[str, list[Rule]] = {"Transpose": [compose_transposes], "Reshape": SHAPE_RULES["Reshape"]}

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


# -- sinking ------------------------------------------------------------------------


def _sink_reduce(graph: Graph, node: Node) -> bool:
    """Reduce(Transpose(x)) without keepdims -> Reduce(x), then whatever is left of the perm (often nothing)."""
    t = transpose_node(node.input(0))
    a = node.attrs
    if t is None or a.keepdims or is_output(graph, t.output) or len(t.output.uses) != 1:
        return False
    perm = perm_of(t)
    r = len(perm)
    reduced = set(range(r)) if a.axes is None else {x % r for x in a.axes}
    attrs = dataclasses.replace(a, axes=None if a.axes is None else tuple(sorted(perm[x] for x in reduced)))
    kept = [i for i in range(r) if i not in reduced]
    order = sorted(perm[i] for i in kept)
    rest = tuple(order.index(perm[i]) for i in kept)
    if rest == tuple(range(len(rest))):
        core = emit(graph, node.op.name, [t.input(0)], attrs, before=node, loc=node.loc, name=f"{node.output.name}_nhwc")
        return replace_node(graph, node, core.output)
    core = emit(graph, node.op.name, [t.input(0)], attrs, before=node, loc=node.loc, name=f"{node.output.name}_nhwc")
    return relayout(graph, node, core, rest)


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


def sink_rules(perm: Ints) -> dict[str, list[Rule]]:
    """Rules that sink Transposes by ``perm`` (and only those) through axis-dropping reductions and into FullyConnected."""

    def sink_reduce(graph: Graph, node: Node) -> bool:
        t = transpose_node(node.input(0))
        return t is not None and perm_of(t) == perm and _sink_reduce(graph, node)

    def flatten_into_fc(graph: Graph, node: Node) -> bool:
        r = node.input(0).producer
        t = transpose_node(r.input(0)) if r is not None and r.op.name == "Reshape" else None
        return t is not None and perm_of(t) == perm and _flatten_into_fc(graph, node)

    return merge_rules({op: [sink_reduce] for op in REDUCE_OPS}, {"FullyConnected": [flatten_into_fc]}, COMPOSE_RULES)


def push_transposes(graph: Graph, perm: Ints, *, max_rounds: int = 16) -> bool:
    """Move Transposes between layout ``perm`` (the kernels') and the original out of the way (see the module doc)."""
    rules = sink_rules(inverse(perm))
    changed = False
    for _ in range(max_rounds):
        step = apply_rules(graph, COMPOSE_RULES)
        step = flip_regions(graph, perm) or step
        step = apply_rules(graph, rules) or step
        if not step:
            break
        changed = True
    changed = apply_rules(graph, SHAPE_RULES) or changed
    return graph.prune_constants() or changed
