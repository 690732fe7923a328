"""int8 emitters beyond the core CMSIS-NN layers: the data movement and activations vision CNNs need.

Registered into ``layers.EMITTERS`` (imported once by the package). Where
CMSIS-NN v7 has the function the call uses its name and signature
(``arm_concatenation_s8_{x,y,w}``, ``arm_transpose_s8``, ``arm_pad_s8``); where it
has none the call goes to tinyc's ``tinyc_*`` kernels (``tinyc_nn_extra.h``),
which are built in both runtime modes. Parameters come from the helpers the
integer reference uses (``tinyc.quant.params`` / ``kernels_extra``), so the C
and the reference agree bit for bit:

* Concat: inputs with the output's parameters are copied by CMSIS-NN's
  concatenation, the others requantized into their slot (``tinyc_requantize_rows_s8``);
* Pad (constant), Transpose: CMSIS-NN's ``arm_pad_s8`` / ``arm_transpose_s8`` after
  merging axes down to four;
* ReduceMean / GlobalAveragePool: ``tinyc_mean_s8`` over [outer, reduce, inner]
  (reduced axes that are not adjacent are first transposed together in scratch);
* Sigmoid, Tanh, HardSwish: ``tinyc_logistic_s8`` / ``tinyc_tanh_s8`` / ``tinyc_hard_swish_s8``,
  or for tensors of more than 256 values ``tinyc_lut_s8`` on a 256-entry table of the
  reference function (exact by construction, 256 B of flash);
* Add / Mul with broadcasting: ``tinyc_broadcast_{add,mul}_s8`` (equal shapes keep
  CMSIS-NN's ``arm_elementwise_*_s8``);
* Split and unit-step Slice: row copies (``memcpy``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from tinyc.backends.cmsis_nn import layers as L
from tinyc.backends.cmsis_nn.emitter import c_dims
from tinyc.backends.cmsis_nn.layers import Layer, LowerCtx, act_qp, emitter, shape_text, unsupported
from tinyc.ir.core import Node, Value
from tinyc.quant import kernels as K
from tinyc.quant import kernels_extra as KE
from tinyc.quant import params as qparams
from tinyc.quant.arith import quantize_multiplier

U16 = 65535
EXTRA = "nn_extra"  # the helper tag that makes the generated C include tinyc_nn_extra.h
L.HELPERS.setdefault(EXTRA, [])


def _extra(layer: Layer) -> None:
    layer.helpers.add(EXTRA)


def _ints(xs: Sequence[int]) -> str:
    return ", ".join(str(int(v)) for v in xs)


def _same_qp(node: Node, a: Value, b: Value) -> tuple[float, int]:
    qa, qb = act_qp(node, a, "input"), act_qp(node, b, "output")
    if qa != qb:
        raise unsupported(node, f"input quantization {qa} differs from output quantization {qb}; this op moves data without rescaling")
    return qa


# -- Transpose ----------------------------------------------------------------------------------


def merged_transpose(shape: Sequence[int], perm: Sequence[int]) -> tuple[list[int], list[int]]:
    """(input dims, perm) with size-1 axes dropped and input axes that stay adjacent in the output merged."""
    keep = [a for a in range(len(shape)) if shape[a] != 1]
    order = [a for a in perm if shape[a] != 1]  # output order of the remaining input axes
    groups: list[list[int]] = []
    for a in order:
        if groups and keep.index(a) == keep.index(groups[-1][-1]) + 1:
            groups[-1].append(a)
        else:
            groups.append([a])
    by_input = sorted(groups, key=lambda g: g[0])
    dims = [math.prod(shape[a] for a in g) for g in by_input]
    new_perm = [by_input.index(g) for g in groups]
    return dims, new_perm


def _pad4(dims: list[int], perm: list[int]) -> tuple[list[int], list[int]]:
    k = 4 - len(dims)
    return [1] * k + dims, list(range(k)) + [p + k for p in perm]


def _emit_transpose(ctx: LowerCtx, layer: Layer, src: str, dst: str, dims: list[int], perm: list[int], tag: str = "") -> None:
    """Declarations and the call of arm_transpose_s8 on a merged (rank <= 4) transpose."""
    p = f"{layer.p}{tag}"
    dims4, perm4 = _pad4(dims, perm)
    out4 = [dims4[a] for a in perm4]
    layer.decls += [
        f"static const uint32_t {p}perm[4] = {{{_ints(perm4)}}};",
        f"static const cmsis_nn_transpose_params {p}transpose = {{4, {p}perm}};",
        f"static const cmsis_nn_dims {p}tin = {c_dims(dims4)}, {p}tout = {c_dims(out4)};",
    ]
    layer.body.append(f"status = arm_transpose_s8({src}, {dst}, &{p}tin, &{p}tout, &{p}transpose);")


@emitter("Transpose")
def lower_transpose(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x, y = node.input(0), node.output
    _same_qp(node, x, y)
    perm = [int(a) % x.type.rank for a in node.attrs.perm]
    dims, mperm = merged_transpose(x.type.shape, perm)
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}, perm {tuple(perm)}"
    if mperm == sorted(mperm):  # only size-1 axes move: the bytes do not
        if ctx.same_place(x, y):
            layer.body.append("/* same bytes, new shape: nothing to do */")
            return
        layer.kernel = "memcpy"
        layer.body.append(f"memcpy({ctx.buf(y)}, {ctx.buf(x)}, {y.type.numel});")
        return
    if len(dims) > 4:
        raise unsupported(node, f"the permutation needs {len(dims)} axes after merging; arm_transpose_s8 takes at most 4")
    layer.kernel = "arm_transpose_s8"
    _emit_transpose(ctx, layer, ctx.buf(x), ctx.buf(y), dims, mperm)
    layer.summary += f" (as {dims} by {tuple(mperm)})"


# -- Pad --------------------------------------------------------------------------------------------


def merged_pad(shape: Sequence[int], pads: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
    """(dims, pre, post): an axis with no padding merges into the axis before it."""
    rank = len(shape)
    dims, pre, post = list(shape), list(pads[:rank]), list(pads[rank:])
    i = len(dims) - 1
    while i > 0:
        if pre[i] == 0 and post[i] == 0:
            d = dims.pop(i)
            pre.pop(i)
            post.pop(i)
            dims[i - 1] *= d
            pre[i - 1] *= d
            post[i - 1] *= d
        i -= 1
    while len(dims) > 1 and dims[0] == 1 and pre[0] == 0 and post[0] == 0:
        dims.pop(0), pre.pop(0), post.pop(0)
    return dims, pre, post


def pad_fill(value: float, scale: float, zp: int) -> int:
    """The int8 fill of a real pad value, as the integer reference quantizes it."""
    return int(np.clip(np.rint(value / scale) + zp, -128, 127).astype(np.int8))


@emitter("Pad")
def lower_pad(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x, y = node.input(0), node.output
    s, zp = _same_qp(node, x, y)
    a = node.attrs
    if a.mode.value != "constant":
        raise unsupported(node, f"pad mode {a.mode.value!r}; arm_pad_s8 pads with a constant")
    if any(v < 0 for v in a.pads):
        raise unsupported(node, f"negative pads {list(a.pads)} (cropping)", hint="crop with a Slice in the model")
    dims, pre, post = merged_pad(x.type.shape, a.pads)
    if len(dims) > 4:
        raise unsupported(node, f"padding needs {len(dims)} axes after merging; arm_pad_s8 takes 4")
    k = 4 - len(dims)
    dims, pre, post = [1] * k + dims, [0] * k + pre, [0] * k + post
    fill = pad_fill(a.constant_value, s, zp)
    p = layer.p
    layer.kernel = "arm_pad_s8"
    layer.decls.append(f"static const cmsis_nn_dims {p}in = {c_dims(dims)}, {p}pre = {c_dims(pre)}, {p}post = {c_dims(post)};")
    layer.body.append(f"status = arm_pad_s8({ctx.buf(x)}, {ctx.buf(y)}, {fill}, &{p}in, &{p}pre, &{p}post);")
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}, pads {list(a.pads)}, fill {fill}"


# -- Concat -------------------------------------------------------------------------------------------

IDENTITY = (1 << 30, 1)  # quantize_multiplier(1.0): an exact copy through tinyc_requantize_rows_s8


@emitter("Concat")
def lower_concat(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    y = node.output
    so, zo = act_qp(node, y, "output")
    axis = node.attrs.axis % y.type.rank
    outer = math.prod(y.type.shape[:axis])
    inner = math.prod(y.type.shape[axis + 1 :])
    a_out = y.type.shape[axis]
    dst = ctx.buf(y)
    kernels, offset, parts = [], 0, []
    for i, v in enumerate(node.inputs):
        if v is None:
            continue
        si, zi = act_qp(node, v, f"input {i}")
        a = v.type.shape[axis]
        src = ctx.buf(v)
        if a == 0:
            continue
        if (si, zi) != (so, zo):
            mult, shift = quantize_multiplier(float(np.float32(si)) / float(np.float32(so)))
            kernels.append("tinyc_requantize_rows_s8")
            _extra(layer)
            layer.body.append(f"tinyc_requantize_rows_s8({src}, {outer}, {a * inner}, {dst}, {a_out * inner}, {offset * inner}, {zi}, {mult}, {shift}, {zo});")
            parts.append(f"{shape_text(v)} requantized")
        elif outer == 1:
            kernels.append("memcpy")
            layer.body.append(f"memcpy({dst} + {offset * inner}, {src}, {a * inner});")
            parts.append(shape_text(v))
        elif inner == 1 and max(a, outer, a_out) <= U16:
            kernels.append("arm_concatenation_s8_x")
            layer.body.append(f"arm_concatenation_s8_x({src}, {a}, {outer}, 1, 1, {dst}, {a_out}, {offset});")
            parts.append(shape_text(v))
        elif max(inner, a, outer, a_out) <= U16:
            kernels.append("arm_concatenation_s8_y")
            layer.body.append(f"arm_concatenation_s8_y({src}, {inner}, {a}, {outer}, 1, {dst}, {a_out}, {offset});")
            parts.append(shape_text(v))
        else:  # dimensions past CMSIS-NN's uint16_t arguments: an exact requantizing copy
            kernels.append("tinyc_requantize_rows_s8")
            _extra(layer)
            m, sh = IDENTITY
            layer.body.append(f"tinyc_requantize_rows_s8({src}, {outer}, {a * inner}, {dst}, {a_out * inner}, {offset * inner}, {zo}, {m}, {sh}, {zo});")
            parts.append(shape_text(v))
        offset += a
    layer.kernel = kernels[0] if len(set(kernels)) == 1 else "+".join(sorted(set(kernels)))
    layer.summary = f"{' ++ '.join(parts)} -> {shape_text(y)} along axis {axis}"


# -- ReduceMean / GlobalAveragePool ---------------------------------------------------------------------


def merged_reduce(shape: Sequence[int], axes: Sequence[int]) -> tuple[list[int], list[bool]]:
    """(dims, reduced?) with size-1 axes dropped and neighbours of the same kind merged."""
    dims: list[int] = []
    red: list[bool] = []
    for i, d in enumerate(shape):
        if d == 1:
            continue
        r = i in axes
        if red and red[-1] == r:
            dims[-1] *= d
        else:
            dims.append(d)
            red.append(r)
    return dims, red


def _mean_axes(node: Node) -> tuple[int, ...]:
    x = node.input(0)
    if node.op.name == "GlobalAveragePool":
        return tuple(range(2, x.type.rank))
    axes = node.attrs.axes
    return tuple(range(x.type.rank)) if axes is None else tuple(int(a) % x.type.rank for a in axes)


def _mean_plan(node: Node) -> tuple[list[int], list[bool], bool]:
    dims, red = merged_reduce(node.input(0).type.shape, _mean_axes(node))
    runs = sum(1 for i, r in enumerate(red) if r and (i == 0 or not red[i - 1]))
    return dims, red, runs > 1


def mean_scratch(node: Node) -> int:
    """Reduced axes that are not adjacent are transposed together first: scratch for the whole input."""
    return node.input(0).type.numel if _mean_plan(node)[2] else 0


@emitter("ReduceMean", "GlobalAveragePool", scratch=mean_scratch)
def lower_mean(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x, y = node.input(0), node.output
    s, zp = act_qp(node, x, "input")
    so, zo = act_qp(node, y, "output")
    axes = _mean_axes(node)
    count = math.prod(x.type.shape[a] for a in axes)
    if count * 256 >= 2**31:
        raise unsupported(node, f"a mean over {count} values could overflow the int32 sum")
    mult, shift = KE.prepare_mean(s, so, count)
    dims, red, gather = _mean_plan(node)
    src = ctx.buf(x)
    if gather:
        if len(dims) > 4:
            raise unsupported(node, f"the reduced axes need {len(dims)} axes after merging; at most 4 are supported")
        kept = [i for i, r in enumerate(red) if not r]
        reduced = [i for i, r in enumerate(red) if r]
        sbuf, ssize = ctx.scratch(node)
        if ssize < x.type.numel:
            raise unsupported(node, "no scratch was planned for gathering the reduced axes")
        _emit_transpose(ctx, layer, src, sbuf, dims, kept + reduced, tag="g")
        src = sbuf
        outer, reduce, inner = math.prod(dims[i] for i in kept), math.prod(dims[i] for i in reduced), 1
        layer.kernel = "arm_transpose_s8+tinyc_mean_s8"
    else:
        first = red.index(True) if True in red else len(red)
        last = len(red) - red[::-1].index(True) if True in red else len(red)
        outer, reduce, inner = math.prod(dims[:first]), math.prod(dims[first:last]), math.prod(dims[last:])
        layer.kernel = "tinyc_mean_s8"
    _extra(layer)
    call = f"tinyc_mean_s8({src}, {ctx.buf(y)}, {outer}, {reduce}, {inner}, {zp}, {mult}, {shift}, {zo});"
    layer.body.append(f"if (status == ARM_CMSIS_NN_SUCCESS) {call}" if gather else call)
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}, mean over axes {list(axes)} ({outer} x {reduce} x {inner})"


# -- Sigmoid, Tanh, HardSwish ------------------------------------------------------------------------------


def _fixed_output(node: Node, y: Value) -> None:
    from tinyc.ir.ops.quantized import FIXED_OUTPUT_QUANT

    want = FIXED_OUTPUT_QUANT[node.op.name]
    got = act_qp(node, y, "output")
    if got != (want.scale[0], want.zero_point[0]):
        raise unsupported(node, f"output quantization {got}; int8 {node.op.name} outputs scale {want.scale[0]}, zero point {want.zero_point[0]}")


LUT_ABOVE = 256  # tensors with more values than this use a 256-entry table


def _lut(ctx: LowerCtx, node: Node, layer: Layer, fn: Callable[[np.ndarray], np.ndarray]) -> bool:
    """For a large tensor: tabulate the reference's int8 -> int8 function once (256 B of flash) and look values up."""
    x, y = node.input(0), node.output
    if y.type.numel <= LUT_ABOVE:
        return False
    table = np.asarray(fn(np.arange(-128, 128, dtype=np.int8)), dtype=np.int8).reshape(256)
    lut = ctx.table(layer, "lut", table, note=f"{node.op.name} of each int8 input value, from the integer reference")
    layer.kernel = "tinyc_lut_s8"
    _extra(layer)
    layer.body.append(f"tinyc_lut_s8({ctx.buf(x)}, {ctx.buf(y)}, {y.type.numel}, {lut});")
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}, table of the {node.op.name} reference" + (", in place" if ctx.same_place(x, y) else "")
    return True


@emitter("Sigmoid", "Tanh")
def lower_logistic_tanh(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x, y = node.input(0), node.output
    s, zp = act_qp(node, x, "input")
    _fixed_output(node, y)
    q = qparams.prepare_logistic_tanh(s, zp)
    if _lut(ctx, node, layer, lambda v: (K.logistic if node.op.name == "Sigmoid" else K.tanh)(v, q)):
        return
    fn = "tinyc_logistic_s8" if node.op.name == "Sigmoid" else "tinyc_tanh_s8"
    layer.kernel = fn
    _extra(layer)
    layer.body.append(f"{fn}({ctx.buf(x)}, {ctx.buf(y)}, {y.type.numel}, {q.input_zero_point}, {q.input_range_radius}, {q.input_multiplier}, {q.input_left_shift});")
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}" + (", in place" if ctx.same_place(x, y) else "")


@emitter("HardSwish")
def lower_hard_swish(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x, y = node.input(0), node.output
    s, zp = act_qp(node, x, "input")
    so, zo = act_qp(node, y, "output")
    try:
        q = KE.prepare_hard_swish(s, zp, so, zo)
    except ValueError as exc:
        raise unsupported(node, str(exc)) from None
    if not -31 <= q.reluish_multiplier_exponent <= 31:
        raise unsupported(node, f"input scale {s} gives a hard-swish exponent out of range")
    if _lut(ctx, node, layer, lambda v: KE.hard_swish(v, q)):
        return
    layer.kernel = "tinyc_hard_swish_s8"
    _extra(layer)
    layer.body.append(
        f"tinyc_hard_swish_s8({ctx.buf(x)}, {ctx.buf(y)}, {y.type.numel}, {zp}, {zo}, {q.reluish_multiplier_fixedpoint_int16}, "
        f"{q.reluish_multiplier_exponent}, {q.output_multiplier_fixedpoint_int16}, {q.output_multiplier_exponent});"
    )
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}" + (", in place" if ctx.same_place(x, y) else "")


# -- Add / Mul with broadcasting ---------------------------------------------------------------------------


def broadcast_plan(a: Sequence[int], b: Sequence[int], out: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
    """(dims, strides of a, strides of b) over the output's axes, size-1 axes dropped, mergeable neighbours merged."""
    rank = len(out)

    def strides(shape: Sequence[int]) -> list[int]:
        full = [1] * (rank - len(shape)) + list(shape)
        st, acc = [0] * rank, 1
        for i in range(rank - 1, -1, -1):
            st[i] = 0 if full[i] == 1 else acc
            acc *= full[i]
        return st

    sa, sb = strides(a), strides(b)
    axes = [(int(d), sa[i], sb[i]) for i, d in enumerate(out) if d != 1]
    merged: list[list[int]] = []
    for d, x, y in axes:
        if merged:
            pd, px, py = merged[-1]
            if px == x * d and py == y * d:  # the previous (outer) axis continues this one in both inputs
                merged[-1] = [pd * d, x, y]
                continue
        merged.append([d, x, y])
    return [m[0] for m in merged], [m[1] for m in merged], [m[2] for m in merged]


def _broadcast(ctx: LowerCtx, node: Node, layer: Layer) -> tuple[Value, Value, Value, str, str] | None:
    a, b, y = node.input(0), node.input(1), node.output
    if a.type.shape == y.type.shape and b.type.shape == y.type.shape:
        return None
    dims, s1, s2 = broadcast_plan(a.type.shape, b.type.shape, y.type.shape)
    if len(dims) > 4:
        raise unsupported(node, f"broadcasting {list(a.type.shape)} with {list(b.type.shape)} needs {len(dims)} axes after merging; at most 4 are supported")
    k = 4 - len(dims)
    dims, s1, s2 = [1] * k + dims, [0] * k + s1, [0] * k + s2
    layer.decls.append(f"static const tinyc_broadcast_shape {layer.p}shape = {{{{{_ints(dims)}}}, {{{_ints(s1)}}}, {{{_ints(s2)}}}}};")
    _extra(layer)

    def ref(v: Value, which: str) -> str:
        return ctx.weight(v, f"{layer.p}{which}") if v.is_const else ctx.buf(v)

    return a, b, y, ref(a, "a"), ref(b, "b")


@emitter("AddAct", "Add")
def lower_add_broadcast(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    ops = _broadcast(ctx, node, layer)
    if ops is None:
        L.lower_add(ctx, node, layer)
        return
    a, b, y, ra, rb = ops
    (s1, z1), (s2, z2), (so, zo) = act_qp(node, a, "input A"), act_qp(node, b, "input B"), act_qp(node, y, "output")
    lo, hi = L.act_range(node.attrs, so, zo)
    q = qparams.prepare_add(s1, z1, s2, z2, so, zo, lo, hi)
    layer.kernel = "tinyc_broadcast_add_s8"
    layer.body.append(
        f"tinyc_broadcast_add_s8({ra}, {rb}, &{layer.p}shape, {q.input1_offset}, {q.input1_multiplier}, {q.input1_shift}, "
        f"{q.input2_offset}, {q.input2_multiplier}, {q.input2_shift}, {q.left_shift}, {ctx.buf(y)}, "
        f"{q.output_offset}, {q.output_multiplier}, {q.output_shift}, {lo}, {hi});"
    )
    layer.summary = f"{shape_text(a)} + {shape_text(b)} -> {shape_text(y)} (broadcast)" + L.act_text(lo, hi)


@emitter("MulAct", "Mul")
def lower_mul_broadcast(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    ops = _broadcast(ctx, node, layer)
    if ops is None:
        L.lower_mul(ctx, node, layer)
        return
    a, b, y, ra, rb = ops
    (s1, z1), (s2, z2), (so, zo) = act_qp(node, a, "input A"), act_qp(node, b, "input B"), act_qp(node, y, "output")
    lo, hi = L.act_range(node.attrs, so, zo)
    q = qparams.prepare_mul(s1, z1, s2, z2, so, zo, lo, hi)
    layer.kernel = "tinyc_broadcast_mul_s8"
    layer.body.append(
        f"tinyc_broadcast_mul_s8({ra}, {rb}, &{layer.p}shape, {q.input1_offset}, {q.input2_offset}, {ctx.buf(y)}, "
        f"{q.output_offset}, {q.output_multiplier}, {q.output_shift}, {lo}, {hi});"
    )
    layer.summary = f"{shape_text(a)} * {shape_text(b)} -> {shape_text(y)} (broadcast)" + L.act_text(lo, hi)


# -- Split, Slice ---------------------------------------------------------------------------------------------


def _row_copies(layer: Layer, src: str, dst: str, rows: int, src_row: int, dst_row: int, run: int, src_off: int) -> None:
    """``rows`` copies of ``run`` bytes: from src + src_off + r * src_row to dst + r * dst_row."""
    if rows == 1:
        layer.body.append(f"memcpy({dst}, {src} + {src_off}, {run});")
        return
    layer.body += [
        f"for (int32_t r = 0; r < {rows}; ++r) {{",
        f"    memcpy({dst} + r * {dst_row}, {src} + {src_off} + r * {src_row}, {run});",
        "}",
    ]


@emitter("Split")
def lower_split(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x = node.input(0)
    axis = node.attrs.axis % x.type.rank
    outer = math.prod(x.type.shape[:axis])
    inner = math.prod(x.type.shape[axis + 1 :])
    a_in = x.type.shape[axis]
    src, offset = ctx.buf(x), 0
    for o in node.outputs:
        _same_qp(node, x, o)
        a = o.type.shape[axis]
        if a:
            _row_copies(layer, src, ctx.buf(o), outer, a_in * inner, a * inner, a * inner, offset * inner)
        offset += a
    layer.kernel = "memcpy"
    layer.summary = f"{shape_text(x)} -> {' , '.join(shape_text(o) for o in node.outputs)} along axis {axis}"


@emitter("Slice")
def lower_slice(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x, y = node.input(0), node.output
    _same_qp(node, x, y)
    a = node.attrs
    shape = x.type.shape
    starts = [0] * len(shape)
    for s, ax, k in zip(a.starts, a.axes, a.steps, strict=True):
        if k != 1:
            raise unsupported(node, f"slice step {k}; the backend copies unit-step slices")
        starts[ax % len(shape)] = s
    sliced = [i for i in range(len(shape)) if y.type.shape[i] != shape[i]]
    layer.kernel = "memcpy"
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}"
    if not sliced:
        layer.body.append(f"memcpy({ctx.buf(y)}, {ctx.buf(x)}, {y.type.numel});")
        return
    axis = sliced[0]
    if len(sliced) > 1:
        raise unsupported(node, f"a slice along several axes {sliced}; the backend copies slices along one axis")
    outer = math.prod(shape[:axis])
    inner = math.prod(shape[axis + 1 :])
    n = y.type.shape[axis]
    _row_copies(layer, ctx.buf(x), ctx.buf(y), outer, shape[axis] * inner, n * inner, n * inner, starts[axis] * inner)
