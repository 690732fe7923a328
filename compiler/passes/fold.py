"""Constant folding: nodes whose inputs are all constant become constants.

``fold-constants`` evaluates such nodes with the reference semantics (so a
folded graph computes exactly what the unfolded one did). Shape and Size only
read their input's static type, so they fold even when the data is not known:
shape subgraphs (Shape -> Gather -> Concat -> Reshape) collapse. Quantize and
dequantize nodes on constants are kept by default, because the quantizer reads
them; ``fold_constants_pass(fold_qdq=True)`` folds them too, and
``fold-dequantize-weights`` folds only DequantizeLinear on constant weights
(float models whose weights were stored as int8, like the MLPerf Tiny KWS
export); in a QDQ-quantized graph (one that quantizes activations) it does
nothing, so the quantizer still sees the integer weights.
"""

from __future__ import annotations

import logging

import numpy as np

from tinyc.errors import TinycError
from tinyc.ir.core import Graph, Node
from tinyc.ir.opdef import EvalContext
from tinyc.passes.manager import FunctionPass, graph_pass
from tinyc.passes.rewrite import remove_dead

log = logging.getLogger(__name__)

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
TYPE_ONLY_OPS = ("Shape", "Size")

# A folded result larger than this that is also larger than the node's inputs
# (ConstantOfShape, Expand, Tile) stays computed: it would only bloat flash.
MAX_GROWN_BYTES = 1 << 20


def fold_node(graph: Graph, node: Node) -> bool:
    """Evaluate ``node`` on its constant inputs and replace its outputs by constants of the same names."""
    args = [None if v is None else v.const for v in node.inputs]
    ctx = EvalContext([None if v is None else v.type for v in node.inputs], [o.type for o in node.outputs], node.name)
    try:
        results = node.op.evaluate(node.attrs, args, ctx)
    except TinycError as exc:  # e.g. quantized semantics not implemented yet: leave it computed
        log.debug("not folding %s (%s): %s", node.name, node.op.name, exc)
        return False
    in_bytes = sum(0 if v is None else v.type.nbytes for v in node.inputs)
    out_bytes = sum(o.type.nbytes for o in node.outputs)
    if out_bytes > MAX_GROWN_BYTES and out_bytes > in_bytes:
        log.debug("not folding %s (%s): %d bytes of constants would replace %d", node.name, node.op.name, out_bytes, in_bytes)
        return False
    consts = []
    for out, arr in zip(node.outputs, results, strict=True):
        data = np.asarray(arr).astype(out.type.dtype.numpy, copy=False).reshape(out.type.shape)
        consts.append(graph.add_const(f"{out.name}_folded", data, quant=out.type.quant))
    names = [o.name for o in node.outputs]
    for out, c in zip(node.outputs, consts, strict=True):
        graph.replace_value(out, c)
    remove_dead(graph, node)
    for c, name in zip(consts, names, strict=True):
        graph.rename_value(c, name)
    return True


def _foldable(graph: Graph, node: Node, fold_qdq: bool) -> bool:
    if node.op.name in QDQ_OPS and not fold_qdq:
        return False
    if node.op.name in TYPE_ONLY_OPS:
        return True
    return all(v is None or v.is_const for v in node.inputs)


def fold_constants_pass(*, fold_qdq: bool = False) -> FunctionPass:
    """The ``fold-constants`` pass; ``fold_qdq`` also folds Quantize/DequantizeLinear on constants."""

    def fold_constants(graph: Graph) -> bool:
        """Evaluate nodes whose inputs are all constant (and Shape/Size of static types)."""
        changed = False
        for node in graph:
            if node.graph is graph and _foldable(graph, node, fold_qdq) and fold_node(graph, node):
                changed = True
        return graph.prune_constants() or changed

    return FunctionPass("fold-constants", fold_constants, (fold_constants.__doc__ or "").strip())


fold_constants = fold_constants_pass()


@graph_pass("fold-dequantize-weights")
def fold_dequantize_weights(graph: Graph) -> bool:
    """Turn DequantizeLinear of a constant (int8 weights) into a float constant (not in QDQ-quantized graphs)."""
    if any(n.op.name == "QuantizeLinear" and not n.input(0).is_const for n in graph.nodes):
        log.info("the graph quantizes activations (QDQ): weights keep their DequantizeLinear for the quantizer")
        return False
    changed = False
    for node in graph:
        if node.op.name != "DequantizeLinear" or not all(v is None or v.is_const for v in node.inputs):
            continue
        src = node.input(0)
        a = node.attrs
        log.info(
            "folding dequantized weights %s: %s %s, scale %s, zero point %s%s",
            node.output.name,
            src.type.dtype.short,
            list(src.type.shape),
            list(a.scale) if len(a.scale) <= 4 else f"[{len(a.scale)} values]",
            list(a.zero_point) if len(a.zero_point) <= 4 else f"[{len(a.zero_point)} values]",
            "" if a.axis is None else f", axis {a.axis}",
        )
        if fold_node(graph, node):
            changed = True
    return graph.prune_constants() or changed

