"""Small helpers shared by the rewriting passes: reading constants, making nodes, replacing them.

Rewrites keep value names stable: a node that replaces another takes over
the old output's name (``replace_node``), so graph outputs never change name
and golden diffs stay small. Nodes that a rewrite leaves without users are
removed at once (``remove_dead``), so use counts stay meaningful for the next
rule.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tinyc.ir.core import Graph, Loc, Node, Value
from tinyc.ir.opdef import get_op

log = logging.getLogger(__name__)

Rule = Callable[[Graph, Node], bool]
"""A local rewrite: look at one node, rewrite around it, say whether anything changed."""


# -- reading ------------------------------------------------------------------------


def const(v: Value | None) -> np.ndarray | None:
    """The constant data of ``v``, or None when it is not a constant."""
    return None if v is None else v.const


def is_output(graph: Graph, v: Value) -> bool:
    return any(o is v for o in graph.outputs)


def single_use(graph: Graph, v: Value) -> bool:
    """Exactly one reader and not a graph output: a rewrite may change what ``v`` holds."""
    return len(v.uses) == 1 and not is_output(graph, v)


def sole_user(graph: Graph, v: Value) -> Node | None:
    """The only node reading ``v`` (once), or None."""
    return v.uses[0][0] if single_use(graph, v) else None


def producer_op(v: Value | None) -> str | None:
    """Op name of the node producing ``v`` (None for graph inputs and constants)."""
    return None if v is None or v.producer is None else v.producer.op.name


def is_float(v: Value) -> bool:
    return v.type.dtype.is_float and v.type.quant is None


# -- building -----------------------------------------------------------------------


def emit(
    graph: Graph,
    op: str,
    inputs: Sequence[Value | None],
    attrs: Any = None,
    *,
    before: Node,
    loc: Loc,
    name: str = "",
) -> Node:
    """Add a node of op ``op`` (type inferred) just before ``before``; ``name`` hints its output names."""
    opdef = get_op(op)
    names = None
    if name:
        n = opdef.num_outputs
        names = [name] * (n if n is not None else len(opdef.infer(attrs if attrs is not None else opdef.Attrs(), list(inputs))))
    return graph.add_node(opdef, list(inputs), attrs, loc=loc, before=before, output_names=names)


def new_const(graph: Graph, hint: str, data: np.ndarray) -> Value:
    """A new constant named after ``hint`` (made unique)."""
    return graph.add_const(hint, np.ascontiguousarray(data))


# -- replacing ----------------------------------------------------------------------


def remove_dead(graph: Graph, node: Node) -> None:
    """Remove ``node`` if nothing reads its outputs, then its producers that became unused the same way."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n.graph is not graph or any(o.uses or is_output(graph, o) for o in n.outputs):
            continue
        producers = [v.producer for v in n.inputs if v is not None and v.producer is not None]
        graph.remove_node(n)
        stack.extend(p for p in producers if p.graph is graph)


def replace_node(graph: Graph, node: Node, new: Value, *, take_name: bool = True) -> bool:
    """Make every reader of ``node``'s (single) output read ``new`` instead, and drop ``node``.

    With ``take_name`` (the default, for values the rewrite just made) ``new``
    takes the old output's name. When the old output is a graph output it
    always keeps its name; if ``new`` cannot be renamed (a graph input, a
    constant or another graph output) nothing happens and False is returned.
    """
    old = node.output
    keep = take_name or is_output(graph, old)
    if keep and (new.producer is None or is_output(graph, new)):
        return False
    name = old.name
    graph.replace_value(old, new)
    remove_dead(graph, node)
    if keep:
        temp = new.name
        graph.rename_value(new, name)
        if new.producer is not None and new.producer.name == temp:
            new.producer.name = name
    return True


def forward(graph: Graph, node: Node, value: Value) -> bool:
    """Replace ``node`` (an identity, in effect) by an existing value."""
    return replace_node(graph, node, value, take_name=False)


def apply_rules(graph: Graph, rules: Mapping[str, Sequence[Rule]], *, max_rounds: int = 50) -> bool:
    """Apply local rules (keyed by the op name they look at) over the graph until none fires."""
    changed = False
    for _ in range(max_rounds):
        fired = False
        for node in graph:
            if node.graph is not graph:  # removed by an earlier rewrite this round
                continue
            for rule in rules.get(node.op.name, ()):
                if rule(graph, node):
                    log.debug("rule %s fired on %s", getattr(rule, "__name__", rule), node.name)
                    fired = True
                    break
        if not fired:
            return changed
        changed = True
    log.warning("rewrite rules still firing after %d rounds; stopping", max_rounds)
    return changed


def merge_rules(*tables: Mapping[str, Sequence[Rule]]) -> dict[str, list[Rule]]:
    """One table from several, keeping each op's rules in the given order."""
    out: dict[str, list[Rule]] = {}
    for table in tables:
        for op, rules in table.items():
            out.setdefault(op, []).extend(rules)
    return out


# -- clamps -------------------------------------------------------------------------


def activation_clamp(node: Node) -> tuple[float | None, float | None] | None:
    """The clamp a node computes on its one non-constant input, or None if it is no clamp.

    Relu is [0, inf), Clip [min, max]; Max / Min with a one-element constant
    (that does not broadcast the other input) are [c, inf) / (-inf, c].
    """
    op = node.op.name
    if op == "Relu":
        return 0.0, None
    if op == "Clip":
        return node.attrs.min, node.attrs.max
    if op in ("Max", "Min") and len(node.inputs) == 2 and all(v is not None for v in node.inputs):
        consts = [v for v in node.inputs if v is not None and v.is_const]
        live = [v for v in node.inputs if v is not None and not v.is_const]
        if len(consts) == 1 and len(live) == 1 and consts[0].type.numel == 1 and live[0].type.shape == node.output.type.shape:
            assert consts[0].const is not None
            c = float(consts[0].const.reshape(-1)[0])
            if is_float(live[0]) and c == c:  # not NaN
                return (c, None) if op == "Max" else (None, c)
    return None


def intersect_clamps(
    a: tuple[float | None, float | None], b: tuple[float | None, float | None]
) -> tuple[float | None, float | None] | None:
    """The clamp equal to applying ``a`` then ``b``; None when the ranges do not overlap."""
    lo = [x for x in (a[0], b[0]) if x is not None]
    hi = [x for x in (a[1], b[1]) if x is not None]
    new = (max(lo) if lo else None, min(hi) if hi else None)
    if new[0] is not None and new[1] is not None and new[0] > new[1]:
        return None
    return new
