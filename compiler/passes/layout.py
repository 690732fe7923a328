"""The ``to-nhwc`` pass: NCHW ONNX convolutions and pools become NHWC kernel ops.

Each 2-D Conv / MaxPool / AveragePool / GlobalAveragePool / GlobalMaxPool is
replaced by its kernel-level op (``tinyc.ir.ops.kernels``) between a
Transpose to NHWC and one back to NCHW; the weights are re-laid out for the
kernels (Conv2D OHWI, DepthwiseConv2D [1, KH, KW, C_out]). Then the
Transposes are pushed through layout-agnostic ops until pairs cancel
(``tinyc.passes.transposes``), so that a plain CNN keeps Transposes only at
its edges, and none at all when the model was NHWC to begin with.

What stays NCHW (and so an ONNX op for the backend to reject or handle):
1-D and 3-D convolutions and pools, dilated pools, convolutions with
non-constant weights that need splitting by group, ConvTranspose.
Grouped convolutions that are neither plain nor depthwise become a Split,
one Conv2D per group and a Concat.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from tinyc.ir.core import Graph, Node, Value
from tinyc.ir.opdef import get_op
from tinyc.ir.ops._spatial import needed_extra
from tinyc.ir.ops.indexing import PadMode
from tinyc.ir.types import QuantParams
from tinyc.passes.manager import graph_pass
from tinyc.passes.rewrite import emit, is_float, new_const
from tinyc.passes.transposes import push_transposes, relayout

log = logging.getLogger(__name__)

TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)
Ints = tuple[int, ...]


def _transpose(graph: Graph, v: Value, perm: Ints, before: Node, name: str) -> Value:
    return emit(graph, "Transpose", [v], get_op("Transpose").Attrs(perm=perm), before=before, loc=before.loc, name=name).output


def _weight(graph: Graph, w: Value, perm: Ints, before: Node) -> Value:
    """``w`` re-laid out by ``perm``: new constant data; under a DequantizeLinear, the integer data
    (the quantization axis follows); else a Transpose node."""
    suffix = "ohwi" if perm == TO_NHWC else "1hwc"
    if w.const is not None:
        return new_const(graph, f"{w.name}_{suffix}", np.ascontiguousarray(np.transpose(w.const, perm)))
    dq = w.producer
    if dq is not None and dq.op.name == "DequantizeLinear" and dq.input(0).const is not None:
        q = dq.input(0)
        qq = q.type.quant
        if qq is not None and qq.axis is not None:
            qq = QuantParams(qq.scale, qq.zero_point, perm.index(qq.axis))
        qt = graph.add_const(f"{q.name}_{suffix}", np.ascontiguousarray(np.transpose(q.const, perm)), quant=qq)
        axis = None if dq.attrs.axis is None else perm.index(dq.attrs.axis % len(perm))
        attrs = dataclasses.replace(dq.attrs, axis=axis)
        return emit(graph, "DequantizeLinear", [qt], attrs, before=before, loc=dq.loc, name=f"{w.name}_{suffix}").output
    return _transpose(graph, w, perm, before, f"{w.name}_t")


def _geometry(node: Node) -> tuple[Ints, Ints, Ints]:
    a = node.attrs
    return a.strides or (1, 1), a.dilations or (1, 1), a.pads or (0, 0, 0, 0)


def _conv(graph: Graph, node: Node) -> bool:
    x, w, b = node.input(0), node.input(1), node.opt_input(2)
    if x.type.rank != 4 or not is_float(x):
        return False
    c, m, g = x.type.shape[1], w.type.shape[0], node.attrs.group
    strides, dilations, pads = _geometry(node)
    geo = dict(strides=strides, dilations=dilations, pads=pads)
    if g > 1 and not (g == c and m % c == 0) and (w.const is None or (b is not None and b.const is None)):
        log.info("%s: grouped Conv (group %d) with non-constant weights stays NCHW", node.name, g)
        return False
    xt = _transpose(graph, x, TO_NHWC, node, f"{x.name}_nhwc")
    nhwc = f"{node.output.name}_nhwc"
    bias = [b] if b is not None else []
    if g == 1:
        core = emit(graph, "Conv2D", [xt, _weight(graph, w, TO_NHWC, node), *bias], get_op("Conv2D").Attrs(**geo), before=node, loc=node.loc, name=nhwc)
    elif g == c and m % c == 0:
        attrs = get_op("DepthwiseConv2D").Attrs(**geo, depth_multiplier=m // c)
        core = emit(graph, "DepthwiseConv2D", [xt, _weight(graph, w, (1, 2, 3, 0), node), *bias], attrs, before=node, loc=node.loc, name=nhwc)
    else:
        assert w.const is not None
        cg, mg = c // g, m // g
        split = emit(graph, "Split", [xt], get_op("Split").Attrs(split=(cg,) * g, axis=3), before=node, loc=node.loc, name=f"{node.name}_groups")
        parts = []
        for i in range(g):
            wi = new_const(graph, f"{w.name}_g{i}_ohwi", np.ascontiguousarray(np.transpose(w.const[i * mg : (i + 1) * mg], TO_NHWC)))
            bi = [] if b is None or b.const is None else [new_const(graph, f"{b.name}_g{i}", b.const[i * mg : (i + 1) * mg].copy())]
            part = emit(graph, "Conv2D", [split.outputs[i], wi, *bi], get_op("Conv2D").Attrs(**geo), before=node, loc=node.loc, name=f"{node.name}_g{i}")
            parts.append(part.output)
        core = emit(graph, "Concat", parts, get_op("Concat").Attrs(axis=3), before=node, loc=node.loc, name=nhwc)
    return relayout(graph, node, core, TO_NCHW)


def _pool_pads(node: Node, x: Value) -> Ints:
    """Explicit pads plus, under ceil_mode, the overhang of the last window at the ends."""
    a = node.attrs
    strides, dilations, pads = _geometry(node)
    out_hw = node.output.type.shape[2:]
    extra = needed_extra(x.type.shape[2:], a.kernel_shape, strides, dilations, pads, out_hw) if a.ceil_mode else (0, 0)
    return (pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1])


def _pool(graph: Graph, node: Node) -> bool:
    x = node.input(0)
    if x.type.rank != 4 or not is_float(x) or any(d != 1 for d in (node.attrs.dilations or (1, 1))):
        return False
    kernel = node.attrs.kernel_shape
    strides, _, _ = _geometry(node)
    pads = _pool_pads(node, x)
    counted = node.op.name == "AveragePool" and node.attrs.count_include_pad and any(node.attrs.pads or ())
    if counted:
        # Pads that count in the divisor become real zeros; only the ceil_mode overhang stays a pad.
        explicit = node.attrs.pads
        pads = (0, 0, pads[2] - explicit[2], pads[3] - explicit[3])
    if any(pads[i] >= kernel[i % 2] for i in range(4)):
        log.info("%s: pads %s reach a whole window; the pool stays NCHW", node.name, list(pads))
        return False
    xt = _transpose(graph, x, TO_NHWC, node, f"{x.name}_nhwc")
    if counted:
        t, left, btm, r = node.attrs.pads
        pad_attrs = get_op("Pad").Attrs(pads=(0, t, left, 0, 0, btm, r, 0), mode=PadMode.CONSTANT, constant_value=0.0)
        xt = emit(graph, "Pad", [xt], pad_attrs, before=node, loc=node.loc, name=f"{node.name}_pad").output
    op = "MaxPool2D" if node.op.name == "MaxPool" else "AvgPool2D"
    core = emit(graph, op, [xt], get_op(op).Attrs(kernel=kernel, strides=strides, pads=pads), before=node, loc=node.loc, name=f"{node.output.name}_nhwc")
    return relayout(graph, node, core, TO_NCHW)


def _global_pool(graph: Graph, node: Node) -> bool:
    x = node.input(0)
    if x.type.rank != 4 or not is_float(x):
        return False
    op = "AvgPool2D" if node.op.name == "GlobalAveragePool" else "MaxPool2D"
    xt = _transpose(graph, x, TO_NHWC, node, f"{x.name}_nhwc")
    core = emit(graph, op, [xt], get_op(op).Attrs(kernel=x.type.shape[2:]), before=node, loc=node.loc, name=f"{node.output.name}_nhwc")
    return relayout(graph, node, core, TO_NCHW)


CONVERTERS = {
    "Conv": _conv,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalAveragePool": _global_pool,
    "GlobalMaxPool": _global_pool,
}


def convert_to_nhwc(graph: Graph) -> bool:
    """Only the conversion step (each op wrapped in its own Transposes), without pushing them."""
    changed = False
    for node in graph:
        fn = CONVERTERS.get(node.op.name)
        if fn is not None and len(node.outputs) == 1 and fn(graph, node):
            changed = True
    return changed


@graph_pass("to-nhwc")
def to_nhwc(graph: Graph) -> bool:
    """NCHW convolutions and pools -> NHWC kernel ops, Transposes pushed to the edges and cancelled."""
    changed = convert_to_nhwc(graph)
    changed = push_transposes(graph, TO_NHWC) or changed
    return graph.prune_constants() or changed
