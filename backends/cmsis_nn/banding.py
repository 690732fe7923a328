"""Banded in-place execution: a layer's output slides over the input rows it no longer needs.

A 1x1 convolution (stride 1, as many outputs as inputs) computes each output
pixel from the same input pixel; a stride-1 depthwise convolution that keeps
the image size computes output row ``r`` from input rows ``r - pad_top`` to
``r - pad_top + KH - 1``. Run such a layer as several CMSIS-NN calls, one per
band of pixels (1x1) or rows (depthwise), and write band ``b``'s output just
below the input still to be read: each call reads and writes disjoint bytes,
so the result does not depend on how a kernel orders its loops (Arm's
CMSIS-NN or tinyc's), and the layer needs its input's bytes plus a *slide* of
one band (1x1) or one band plus ``pad_top`` rows (depthwise) instead of two
full tensors.

For a chain of such layers (DS-CNN's depthwise / pointwise pairs) every
tensor of the chain lives in one buffer of ``size + total slide`` bytes: the
first tensor at offset ``total slide``, each layer's output ``slide`` bytes
lower than its input. The memory planner sees this as in-place execution of
equal-sized values (``plan_banded`` registers in-place rules for exactly
these nodes while it plans) and the code generator adds each value's offset
inside its buffer (``BandPlan.shift``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tinyc.ir.core import Graph, Node, Value
from tinyc.ir.dtypes import DType

MAX_CALLS = 64  # bands per layer at most (each call costs a few hundred instructions)


@dataclass(frozen=True)
class Band:
    """How one layer runs in bands: ``size`` pixels (``rows=False``) or rows per call, ``slide`` bytes lower."""

    node: Node
    rows: bool
    size: int
    count: int
    slide: int

    def describe(self) -> str:
        unit = "row" if self.rows else "pixel"
        return f"in place in {self.count} band(s) of {self.size} {unit}{'s' if self.size > 1 else ''}, output {self.slide:,} B below its input"


@dataclass
class BandPlan:
    bands: dict[Node, Band] = field(default_factory=dict)
    extra: dict[Value, int] = field(default_factory=dict)  # bytes added to a value's planned size
    shift: dict[Value, int] = field(default_factory=dict)  # where a value's data starts inside its buffer

    def __bool__(self) -> bool:
        return bool(self.bands)


def _i8_act(v: Value) -> bool:
    q = v.type.quant
    return v.type.dtype is DType.I8 and q is not None and q.is_per_tensor and not v.is_const


def band_of(node: Node, max_calls: int = MAX_CALLS) -> Band | None:
    """The band layout of ``node`` if it can run in place in bands, else None."""
    if node.op.name not in ("Conv2D", "DepthwiseConv2D") or len(node.outputs) != 1 or node.inputs[0] is None:
        return None
    x, y = node.input(0), node.output
    if not (_i8_act(x) and _i8_act(y)) or x.type.rank != 4 or x.type.shape != y.type.shape:
        return None
    a = node.attrs
    n, h, w, c = x.type.shape
    if tuple(a.strides) != (1, 1) or tuple(getattr(a, "dilations", (1, 1))) != (1, 1):
        return None
    if node.op.name == "Conv2D":
        wt = node.input(1)
        if tuple(wt.type.shape[1:3]) != (1, 1) or tuple(a.pads) != (0, 0, 0, 0):
            return None
        pixels = n * h * w
        size = math.ceil(pixels / max_calls)
        return Band(node, rows=False, size=size, count=math.ceil(pixels / size), slide=size * c)
    if node.op.name == "DepthwiseConv2D":
        if a.depth_multiplier != 1 or n != 1:
            return None
        top = a.pads[0]
        size = math.ceil(h / max_calls)
        return Band(node, rows=True, size=size, count=math.ceil(h / size), slide=(size + top) * w * c)
    return None


def find_bands(graph: Graph, max_calls: int = MAX_CALLS) -> BandPlan:
    """Chains of bandable layers whose intermediate tensors have one reader each."""
    io = set(graph.inputs) | set(graph.outputs)
    plan = BandPlan()
    for node in graph.nodes:
        band = band_of(node, max_calls)
        if band is None:
            continue
        x = node.input(0)
        if x in io or node.output in io or len(x.uses) != 1 or any(u.op.name in _ALIAS for u in node.output.users):
            continue
        plan.bands[node] = band
    # group into chains: a band whose input comes from another band continues its chain
    chains: list[list[Node]] = []
    for node in graph.nodes:
        if node not in plan.bands:
            continue
        prev = node.input(0).producer
        for chain in chains:
            if chain[-1] is prev:
                chain.append(node)
                break
        else:
            chains.append([node])
    for chain in chains:
        total = sum(plan.bands[n].slide for n in chain)
        values = [chain[0].input(0)] + [n.output for n in chain]
        size = max(v.type.nbytes for v in values)
        offset = total
        plan.shift[values[0]] = offset
        for node in chain:
            offset -= plan.bands[node].slide
            plan.shift[node.output] = offset
        for v in values:
            plan.extra[v] = size + total - v.type.nbytes
    return plan


_ALIAS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout")


@contextmanager
def inplace_rules(nodes: set[Node]) -> Iterator[None]:
    """While planning: the planner may run exactly ``nodes`` in place (their output over input 0)."""
    from tinyc.memory.liveness import INPLACE_RULES

    ops = {n.op.name for n in nodes}
    saved = {op: INPLACE_RULES.get(op) for op in ops}

    def rule_for(op: str) -> Callable[[Node, int], bool]:
        old = saved[op]

        def rule(node: Node, i: int) -> bool:
            if node in nodes:
                return i == 0
            return bool(old(node, i)) if old is not None else False

        return rule

    for op in ops:
        INPLACE_RULES[op] = rule_for(op)
    try:
        yield
    finally:
        for op, old in saved.items():
            if old is None:
                INPLACE_RULES.pop(op, None)
            else:
                INPLACE_RULES[op] = old


def plan_banded(graph: Graph, target: Any, options: Any, scratch: Mapping[Node, int], *, max_calls: int = MAX_CALLS) -> tuple[Any, BandPlan]:
    """The smaller of the plain plan and the banded one (with its BandPlan; empty for the plain plan)."""
    from tinyc.memory import plan_memory

    plain = plan_memory(graph, target, options=options, scratch=scratch)
    bands = find_bands(graph, max_calls)
    if not bands:
        return plain, BandPlan()
    base = options.size_of or (lambda v: v.type.nbytes)
    sized = dataclasses.replace(options, size_of=lambda v: base(v) + bands.extra.get(v, 0))
    with inplace_rules(set(bands.bands)):
        banded = plan_memory(graph, target, options=sized, scratch=scratch)
    if banded.activation_bytes < plain.activation_bytes:
        return banded, bands
    return plain, BandPlan()
