"""Fusion: MaxPool2D / AvgPool2D + clamp (Relu, Clip) -> the pool with a fused clamp."""

from __future__ import annotations

import dataclasses

from tinyc.ir.core import Graph, Node
from tinyc.passes.fusions.common import clamp_user, current_clamp, float_reason, single_reader_reason
from tinyc.passes.fusions.rule import FusionRule, Match
from tinyc.passes.rewrite import activation_clamp, emit, intersect_clamps, replace_node

POOLS = ("MaxPool2D", "AvgPool2D")


def pattern(node: Node) -> Match | None:
    if node.op.name not in POOLS:
        return None
    act = clamp_user(node.output)
    return None if act is None else Match([node, act])


def check(graph: Graph, match: Match) -> str | None:
    pool, act = match.nodes
    reason = float_reason(pool) or single_reader_reason(graph, pool)
    if reason:
        return reason
    bounds = activation_clamp(act)
    assert bounds is not None
    clamp = intersect_clamps(current_clamp(pool), bounds)
    if clamp is None:
        return f"the clamps {list(current_clamp(pool))} and {list(bounds)} do not overlap"
    match.info["clamp"] = clamp
    return None


def rewrite(graph: Graph, match: Match) -> Node:
    pool, act = match.nodes
    act_min, act_max = match.info["clamp"]
    attrs = dataclasses.replace(pool.attrs, act_min=act_min, act_max=act_max)
    fused = emit(graph, pool.op.name, list(pool.inputs), attrs, before=act, loc=pool.loc.fuse(act.loc))
    replace_node(graph, act, fused.output)
    return fused


RULE = FusionRule("pool-act", pattern, check, rewrite, (__doc__ or "").strip().splitlines()[0])
