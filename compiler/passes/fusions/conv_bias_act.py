"""Fusion: Conv2D / DepthwiseConv2D / FullyConnected + constant bias Add + clamp (Relu, Clip) -> one kernel.

The Add must add one value per output channel (channels are last in these
ops); the clamp becomes the kernel's ``act_min`` / ``act_max``, intersected
with any clamp it already has. A bias cannot move before an existing clamp.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tinyc.ir.core import Graph, Node
from tinyc.passes.canon_linear import channel_vector
from tinyc.passes.fusions.common import clamp_user, current_clamp, float_reason, single_reader_reason
from tinyc.passes.fusions.rule import FusionRule, Match
from tinyc.passes.rewrite import activation_clamp, const, emit, intersect_clamps, new_const, replace_node

KERNELS = ("Conv2D", "DepthwiseConv2D", "FullyConnected")


def _bias_add(node: Node) -> Node | None:
    """An Add reading ``node``'s output and a constant."""
    y = node.output
    for user in y.users:
        if user.op.name == "Add" and any(v is not y and v is not None and v.is_const for v in user.inputs):
            return user
    return None


def pattern(node: Node) -> Match | None:
    if node.op.name not in KERNELS:
        return None
    nodes = [node]
    add = _bias_add(node)
    if add is not None:
        nodes.append(add)
        act = clamp_user(add.output)
        if act is not None and len(add.output.uses) == 1:
            nodes.append(act)
    else:
        act = clamp_user(node.output)
        if act is None:
            return None
        nodes.append(act)
    return Match(nodes)


def check(graph: Graph, match: Match) -> str | None:
    layer = match.anchor
    reason = float_reason(layer)
    if reason:
        return reason
    for node in match.nodes[:-1]:
        reason = single_reader_reason(graph, node)
        if reason:
            return reason
    clamp = current_clamp(layer)
    extra = None
    for node in match.nodes[1:]:
        act = activation_clamp(node)
        if act is None:  # the bias Add
            if clamp != (None, None):
                return f"{layer.op.name} {layer.name!r} already clamps; the bias after it cannot move inside"
            if layer.opt_input(2) is not None and const(layer.opt_input(2)) is None:
                return f"the bias of {layer.op.name} {layer.name!r} is not a constant"
            c = next(v for v in node.inputs if v is not layer.output and v is not None)
            assert c.const is not None
            if node.output.type.shape != layer.output.type.shape:
                return f"the Add broadcasts the output {list(layer.output.type.shape)} to {list(node.output.type.shape)}"
            extra = channel_vector(c.const, layer.output.type.shape, -1)
            if extra is None:
                return f"the added constant of shape {list(c.type.shape)} is not one value per output channel"
        else:
            new = intersect_clamps(clamp, act)
            if new is None:
                return f"the clamps {list(clamp)} and {list(act)} do not overlap"
            clamp = new
    match.info["bias"] = extra
    match.info["clamp"] = clamp
    return None


def rewrite(graph: Graph, match: Match) -> Node:
    layer, last = match.anchor, match.last
    inputs = list(layer.inputs)
    extra = match.info["bias"]
    if extra is not None:
        old = const(layer.opt_input(2))
        bias = extra if old is None else old.astype(np.float64) + extra
        b = new_const(graph, f"{layer.name}_bias", bias.astype(layer.output.type.dtype.numpy))
        inputs = [inputs[0], inputs[1], b]
    act_min, act_max = match.info["clamp"]
    attrs = dataclasses.replace(layer.attrs, act_min=act_min, act_max=act_max)
    loc = layer.loc.fuse(*(n.loc for n in match.nodes[1:]))
    fused = emit(graph, layer.op.name, inputs, attrs, before=last, loc=loc)
    replace_node(graph, last, fused.output)
    return fused


RULE = FusionRule("conv-bias-act", pattern, check, rewrite, (__doc__ or "").strip().splitlines()[0])
