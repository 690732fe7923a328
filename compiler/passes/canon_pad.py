"""Canonicalisation rule: fold a constant Pad into the Conv or pool that reads it, where exact.

- Conv, Conv2D, DepthwiseConv2D: the Pad must fill with 0 and pad only spatial axes;
- AveragePool: fill 0, and the pool must count pads in its divisor
  (count_include_pad, switched on when the pool had no pads of its own);
  AvgPool2D never counts pads, so a Pad before it stays;
- MaxPool, MaxPool2D: fill -inf, or a fill no larger than the smallest value
  the input can hold (after Relu: 0; after Clip: its min), and no window may
  lie entirely in the padding.
"""

from __future__ import annotations

import dataclasses
import math

from tinyc.ir.core import Graph, Node, Value
from tinyc.ir.ops._spatial import effective
from tinyc.ir.ops.indexing import PadMode
from tinyc.passes.rewrite import Rule, activation_clamp, emit, replace_node

Ints = tuple[int, ...]

NCHW_OPS = ("Conv", "AveragePool", "MaxPool")
NHWC_OPS = ("Conv2D", "DepthwiseConv2D", "MaxPool2D")
MAX_OPS = ("MaxPool", "MaxPool2D")


def _lower_bound(v: Value) -> float | None:
    """A value every element of ``v`` is known to be at least (from its producer's clamp), or None."""
    p = v.producer
    if p is None:
        return None
    clamp = activation_clamp(p)
    return clamp[0] if clamp is not None else getattr(p.attrs, "act_min", None)


def _spatial_pads(pad: Node, layout: str) -> tuple[Ints, Ints] | None:
    """(begins, ends) of the spatial axes of an NCHW / NHWC Pad, or None if it pads other axes."""
    p = pad.attrs.pads
    r = len(p) // 2
    begin, end = p[:r], p[r:]
    if min(p) < 0:
        return None
    spatial = list(range(2, r)) if layout == "nchw" else list(range(1, r - 1))
    others = [i for i in range(r) if i not in spatial]
    if any(begin[i] or end[i] for i in others):
        return None
    return tuple(begin[i] for i in spatial), tuple(end[i] for i in spatial)


def _fill_ok(pad: Node, consumer: Node) -> bool:
    value = pad.attrs.constant_value
    if consumer.op.name in MAX_OPS:
        if value == -math.inf:
            return True
        low = _lower_bound(pad.input(0))
        return low is not None and value <= low
    return value == 0.0


def _fold_pad(graph: Graph, node: Node) -> bool:
    """Pad -> Conv / pool: add the Pad's amounts to the consumer's pads."""
    x = node.input(0)
    pad = x.producer
    if pad is None or pad.op.name != "Pad" or pad.attrs.mode is not PadMode.CONSTANT or not _fill_ok(pad, node):
        return False
    layout = "nchw" if node.op.name in NCHW_OPS else "nhwc"
    if x.type.rank < 3 or (layout == "nhwc" and x.type.rank != 4):
        return False
    sp = _spatial_pads(pad, layout)
    if sp is None:
        return False
    begin, end = sp
    nsp = len(begin)
    a = node.attrs
    old = a.pads or (0,) * (2 * nsp)
    pads = tuple(old[i] + begin[i] for i in range(nsp)) + tuple(old[nsp + i] + end[i] for i in range(nsp))
    changes: dict[str, object] = {"pads": pads}
    if node.op.name == "AveragePool":
        if not a.count_include_pad:
            if any(old):
                return False  # its own pads are not counted, the Pad's would have to be
            changes["count_include_pad"] = True
    if node.op.name in MAX_OPS:
        kernel = a.kernel_shape if node.op.name == "MaxPool" else a.kernel
        dil = (a.dilations or (1,) * nsp) if node.op.name == "MaxPool" else (1,) * nsp
        if any(pads[i] >= effective(kernel[i % nsp], dil[i % nsp]) for i in range(2 * nsp)):
            return False  # a window could see padding only
    new_attrs = dataclasses.replace(a, **changes)
    new = emit(graph, node.op.name, [pad.input(0), *node.inputs[1:]], new_attrs, before=node, loc=pad.loc.fuse(node.loc))
    return replace_node(graph, node, new.output)


PAD_RULES: dict[str, list[Rule]] = {op: [_fold_pad] for op in (*NCHW_OPS, *NHWC_OPS)}
