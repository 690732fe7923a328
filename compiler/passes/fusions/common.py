"""Pieces the fusion rules share: finding a clamp after a node, and why a chain cannot fuse."""

from __future__ import annotations

from tinyc.ir.core import Graph, Node, Value
from tinyc.passes.rewrite import activation_clamp, is_float, is_output

Clamp = tuple[float | None, float | None]


def clamp_user(v: Value) -> Node | None:
    """The first reader of ``v`` that is a clamp (Relu, Clip), or None."""
    for user in v.users:
        if activation_clamp(user) is not None:
            return user
    return None


def single_reader_reason(graph: Graph, node: Node) -> str | None:
    """Why ``node``'s output cannot disappear into a fused node (other readers, a graph output), or None."""
    out = node.output
    if is_output(graph, out):
        return f"the {node.op.name} output %{out.name} is a graph output"
    n = len(out.uses)
    if n != 1:
        return f"the {node.op.name} output %{out.name} has {n} readers; fusing would change what the others see"
    return None


def float_reason(node: Node) -> str | None:
    """Quantized nodes take their clamp from the output quantization, not from a fused float clamp."""
    values = [v for v in (*node.inputs, *node.outputs) if v is not None and not v.is_const]
    if not all(is_float(v) for v in values):
        return f"{node.op.name} {node.name!r} is not a float op (quantized kernels clamp through their output range)"
    return None


def current_clamp(node: Node) -> Clamp:
    return getattr(node.attrs, "act_min", None), getattr(node.attrs, "act_max", None)
