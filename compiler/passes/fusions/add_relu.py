"""Fusion: Add / Mul (or AddAct / MulAct) + clamp (Relu, Clip) -> AddAct / MulAct with the clamp fused."""

from __future__ import annotations

from tinyc.ir.core import Graph, Node
from tinyc.ir.opdef import get_op
from tinyc.passes.fusions.common import clamp_user, current_clamp, float_reason, single_reader_reason
from tinyc.passes.fusions.rule import FusionRule, Match
from tinyc.passes.rewrite import activation_clamp, emit, intersect_clamps, replace_node

FUSED = {"Add": "AddAct", "AddAct": "AddAct", "Mul": "MulAct", "MulAct": "MulAct"}


def pattern(node: Node) -> Match | None:
    if node.op.name not in FUSED:
        return None
    act = clamp_user(node.output)
    return None if act is None else Match([node, act])


def check(graph: Graph, match: Match) -> str | None:
    node, act = match.nodes
    reason = float_reason(node) or single_reader_reason(graph, node)
    if reason:
        return reason
    bounds = activation_clamp(act)
    assert bounds is not None
    clamp = intersect_clamps(current_clamp(node), bounds)
    if clamp is None:
        return f"the clamps {list(current_clamp(node))} and {list(bounds)} do not overlap"
    match.info["clamp"] = clamp
    return None


def rewrite(graph: Graph, match: Match) -> Node:
    node, act = match.nodes
    op = FUSED[node.op.name]
    act_min, act_max = match.info["clamp"]
    attrs = get_op(op).Attrs(act_min=act_min, act_max=act_max)
    fused = emit(graph, op, list(node.inputs), attrs, before=act, loc=node.loc.fuse(act.loc))
    replace_node(graph, act, fused.output)
    return fused


RULE = FusionRule("add-relu", pattern, check, rewrite, (__doc__ or "").strip().splitlines()[0])
