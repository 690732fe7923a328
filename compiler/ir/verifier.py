"""The IR verifier: a function (never ``assert``) that tests run after every pass."""

from __future__ import annotations

from tinyc.errors import TinycError, VerificationError
from tinyc.ir.core import Graph, Value
from tinyc.ir.opdef import OPS


def verify(graph: Graph, *, where: str = "") -> None:
    """Raise VerificationError naming the first broken invariant.

    Checks: unique value names; SSA (one producer each); every input defined
    before use (topological order); use lists consistent; arity; output types
    equal to re-inferred types; constants carry data matching their type; graph
    outputs defined.
    """
    prefix = f"after {where}: " if where else ""

    def fail(msg: str) -> None:
        raise VerificationError(prefix + msg, where=f"graph {graph.name!r}")

    names: set[str] = set()
    defined: set[int] = set()

    def define(v: Value, what: str) -> None:
        if v.name in names:
            fail(f"value name %{v.name} defined twice ({what})")
        names.add(v.name)
        defined.add(id(v))

    for v in graph.inputs:
        if v.producer is not None or v.const is not None:
            fail(f"graph input %{v.name} has a producer or constant data")
        define(v, "graph input")
    for c in graph.constants:
        if c.const is None:
            fail(f"constant %{c.name} has no data")
        elif tuple(c.const.shape) != c.type.shape or c.const.dtype != c.type.dtype.numpy:
            fail(f"constant %{c.name} data {c.const.dtype}{list(c.const.shape)} does not match its type {c.type}")
        if c.producer is not None:
            fail(f"constant %{c.name} has a producer")
        define(c, "constant")

    for node in graph.nodes:
        label = f"node {node.name!r} ({node.op.name} at {node.loc})"
        if OPS.get(node.op.name) is not node.op:
            fail(f"{label}: op is not a registered op definition")
        if not isinstance(node.attrs, node.op.Attrs):
            fail(f"{label}: attributes are {type(node.attrs).__name__}, expected {node.op.name}.Attrs")
        if node.graph is not graph:
            fail(f"{label}: node does not belong to this graph")
        n_in = len(node.inputs)
        if n_in < node.op.min_inputs or (node.op.max_inputs is not None and n_in > node.op.max_inputs):
            fail(f"{label}: {n_in} inputs, expected {node.op.min_inputs}..{node.op.max_inputs or 'n'}")
        for i, v in enumerate(node.inputs):
            if v is None:
                continue
            if id(v) not in defined:
                fail(f"{label}: input {i} %{v.name} is not defined before use")
            if (node, i) not in v._uses:
                fail(f"{label}: use list of %{v.name} misses this node")
        for i, out in enumerate(node.outputs):
            if out.producer is not node or out.index != i:
                fail(f"{label}: output %{out.name} does not point back to its producer")
            if out.const is not None:
                fail(f"{label}: output %{out.name} carries constant data")
            define(out, "node output")
        try:
            inferred = node.op.infer(node.attrs, list(node.inputs))
        except TinycError as exc:
            fail(f"{label}: type inference failed: {exc}")
        if len(inferred) != len(node.outputs):
            fail(f"{label}: {len(node.outputs)} outputs, inference gives {len(inferred)}")
        for out, t in zip(node.outputs, inferred):
            if out.type.dtype != t.dtype or out.type.shape != t.shape:
                fail(f"{label}: output %{out.name} has type {out.type}, inference gives {t}")
            if t.quant is not None and out.type.quant != t.quant:
                fail(f"{label}: output %{out.name} quantization {out.type.quant} differs from inferred {t.quant}")

    for v in list(graph.inputs) + list(graph.constants) + [o for n in graph.nodes for o in n.outputs]:
        for user, idx in v._uses:
            if user.graph is not graph or idx >= len(user.inputs) or user.inputs[idx] is not v:
                fail(f"value %{v.name} lists a stale use ({user.name!r}, input {idx})")
    for v in graph.outputs:
        if id(v) not in defined:
            fail(f"graph output %{v.name} is not defined")
