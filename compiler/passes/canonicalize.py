"""The ``canonicalize`` pass: rewrite equivalent forms into the one form later passes expect.

Rules (each a small function, applied until none fires):

- Identity, Dropout and Clip without bounds disappear;
- Flatten, Squeeze and Unsqueeze become Reshape; consecutive Reshapes merge;
  a Reshape to the shape it already has disappears;
- consecutive Transposes compose (and cancel when the result is the identity);
  a Transpose that keeps the order of the non-unit axes is a Reshape;
- Gemm and MatMul with a constant weight become FullyConnected, and a constant
  per-channel Add after Conv / FullyConnected / Conv2D / DepthwiseConv2D
  becomes their bias (``canon_linear``);
- BatchNormalization folds into the preceding Conv / FullyConnected, or becomes
  a per-channel Mul + Add (``canon_linear``);
- a zero Pad folds into the following Conv / pool where that is exact
  (``canon_pad``).

Clip(0, 6) stays a Clip: it is ReLU6, a clamp the fusions put into kernels.
"""

from __future__ import annotations

import math

from tinyc.ir.core import Graph, Node
from tinyc.ir.opdef import get_op
from tinyc.passes.canon_linear import LINEAR_RULES
from tinyc.passes.canon_pad import PAD_RULES
from tinyc.passes.manager import graph_pass
from tinyc.passes.rewrite import Rule, apply_rules, emit, forward, merge_rules, producer_op, replace_node

Ints = tuple[int, ...]


def _forward_input(graph: Graph, node: Node) -> bool:
    """Identity, Dropout: the output is the input."""
    return forward(graph, node, node.input(0))


def _drop_open_clip(graph: Graph, node: Node) -> bool:
    """A Clip without bounds does nothing."""
    if node.attrs.min is None and node.attrs.max is None:
        return forward(graph, node, node.input(0))
    return False


def _per_axis(node: Node) -> bool:
    q = node.input(0).type.quant
    return q is not None and q.axis is not None


def reshape_attrs(shape: Ints) -> object:
    """Reshape attributes for a resolved target shape."""
    return get_op("Reshape").Attrs(shape=tuple(shape), allowzero=0 in shape)


def _to_reshape(graph: Graph, node: Node) -> bool:
    """Flatten / Squeeze / Unsqueeze -> Reshape (per-axis quantized inputs keep their op: Reshape drops the axis)."""
    if _per_axis(node):
        return False
    new = emit(graph, "Reshape", [node.input(0)], reshape_attrs(node.output.type.shape), before=node, loc=node.loc)
    return replace_node(graph, node, new.output)


def _reshape_reshape(graph: Graph, node: Node) -> bool:
    """Reshape of a Reshape: one Reshape; a Reshape to the same shape: nothing."""
    x = node.input(0)
    if x.type.shape == node.output.type.shape and not _per_axis(node):
        return forward(graph, node, x)
    if producer_op(x) == "Reshape" and x.producer is not None:
        src = x.producer.input(0)
        new = emit(graph, "Reshape", [src], reshape_attrs(node.output.type.shape), before=node, loc=x.producer.loc.fuse(node.loc))
        return replace_node(graph, node, new.output)
    return False


def keeps_order(shape: Ints, perm: Ints) -> bool:
    """Whether transposing ``shape`` by ``perm`` keeps the order of its non-unit axes (then it is a reshape)."""
    moved = [p for p in perm if shape[p] != 1]
    return moved == sorted(moved)


def compose_perms(first: Ints, second: Ints) -> Ints:
    """The single perm equal to transposing by ``first`` and then by ``second``."""
    return tuple(first[s] for s in second)


def compose_transposes(graph: Graph, node: Node) -> bool:
    """Compose Transpose pairs and drop identity Transposes."""
    x = node.input(0)
    perm = node.attrs.perm or tuple(reversed(range(x.type.rank)))
    if perm == tuple(range(len(perm))):
        return forward(graph, node, x)
    if producer_op(x) == "Transpose" and x.producer is not None:
        inner = x.producer
        first = inner.attrs.perm or tuple(reversed(range(inner.input(0).type.rank)))
        attrs = node.op.Attrs(perm=compose_perms(first, perm))
        new = emit(graph, "Transpose", [inner.input(0)], attrs, before=node, loc=inner.loc.fuse(node.loc))
        return replace_node(graph, node, new.output)
    return False


def _transpose_as_reshape(graph: Graph, node: Node) -> bool:
    """A Transpose that keeps the order of the non-unit axes is a Reshape."""
    x = node.input(0)
    perm = node.attrs.perm or tuple(reversed(range(x.type.rank)))
    if keeps_order(x.type.shape, perm) and not _per_axis(node) and math.prod(x.type.shape) > 0:
        new = emit(graph, "Reshape", [x], reshape_attrs(node.output.type.shape), before=node, loc=node.loc)
        return replace_node(graph, node, new.output)
    return False


SHAPE_RULES: dict[str, list[Rule]] = {
    "Identity": [_forward_input],
    "Dropout": [_forward_input],
    "Clip": [_drop_open_clip],
    "Flatten": [_to_reshape],
    "Squeeze": [_to_reshape],
    "Unsqueeze": [_to_reshape],
    "Reshape": [_reshape_reshape],
    "Transpose": [compose_transposes, _transpose_as_reshape],
}

CANONICAL_RULES = merge_rules(SHAPE_RULES, LINEAR_RULES, PAD_RULES)


@graph_pass("canonicalize")
def canonicalize(graph: Graph) -> bool:
    """Rewrite equivalent forms into canonical ones (see the module docstring)."""
    changed = apply_rules(graph, CANONICAL_RULES)
    return graph.prune_constants() or changed
