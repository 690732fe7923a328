"""Per-op emitters: one IR node -> one CMSIS-NN call with constant parameters.

``EMITTERS`` maps an op name to an ``OpEmitter``: ``scratch(node)`` gives the
kernel scratch bytes to plan (before memory planning), ``lower(ctx, node,
layer)`` fills a ``Layer`` with file-scope parameter declarations, the call,
and the init-time check that the linked kernel needs no more scratch than
planned. Requantization parameters come from ``tinyc.quant.params``, the same
helpers the integer reference uses, so the C and the reference agree bit for
bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from tinyc.backends.cmsis_nn.emitter import c_dims, comment_text, fmt_int
from tinyc.errors import UnsupportedOpError
from tinyc.ir.core import Graph, Node, Value
from tinyc.ir.dtypes import DType
from tinyc.quant import params as qparams
from tinyc.quant.arith import quantize_multiplier

INT8_MIN, INT8_MAX = -128, 127

# Ops whose output is their input reinterpreted (same bytes).
RESHAPES = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout")


class LowerCtx(Protocol):
    """What an emitter may ask of the code generator."""

    def buf(self, v: Value) -> str:
        """C expression (``int8_t *``) of an activation's planned buffer."""
        ...

    def weight(self, v: Value, name: str | None = None) -> str:
        """C identifier of a constant's array (registers it for the weights file; ``name`` for its first use)."""
        ...

    def table(self, layer: Layer, what: str, data: np.ndarray, note: str | None = None) -> str:
        """C identifier of a derived table in flash: int32 (multipliers, shifts) or int8 (lookup tables)."""
        ...

    def scratch(self, node: Node) -> tuple[str, int]:
        """C expression of the node's planned scratch buffer (or NULL) and its size."""
        ...

    def same_place(self, a: Value, b: Value) -> bool:
        """Whether two values occupy the same bytes (an alias)."""
        ...

    def band(self, node: Node) -> Any:
        """The node's ``banding.Band`` when it runs in place in bands, else None."""
        ...


@dataclass
class Layer:
    """One node's part of the generated C."""

    index: int
    node: Node
    kernel: str = ""  # the CMSIS-NN function called ("" for a no-op alias)
    macs: int = 0
    scratch: int = 0
    summary: str = ""  # one line: shapes and geometry
    decls: list[str] = field(default_factory=list)  # file-scope static const parameter objects
    body: list[str] = field(default_factory=list)  # statements in <name>_invoke(); may assign `status`
    checks: list[str] = field(default_factory=list)  # conditions in <name>_init() that mean "too little scratch"
    helpers: set[str] = field(default_factory=set)  # static helper functions the body uses

    @property
    def p(self) -> str:
        """Prefix of this layer's file-scope names."""
        return f"l{self.index}_"


@dataclass(frozen=True)
class OpEmitter:
    scratch: Callable[[Node], int]
    lower: Callable[[LowerCtx, Node, Layer], None]


EMITTERS: dict[str, OpEmitter] = {}  # the int8 table
# One table per activation dtype: int8 here, int16 (16x8) in layers_s16.
EMITTERS_BY_DTYPE: dict[DType, dict[str, OpEmitter]] = {DType.I8: EMITTERS}


def emitter(
    *ops: str, scratch: Callable[[Node], int] | None = None, dtype: DType = DType.I8
) -> Callable[[Callable[[LowerCtx, Node, Layer], None]], Callable[[LowerCtx, Node, Layer], None]]:
    table = EMITTERS_BY_DTYPE.setdefault(dtype, {})

    def wrap(fn: Callable[[LowerCtx, Node, Layer], None]) -> Callable[[LowerCtx, Node, Layer], None]:
        for op in ops:
            table[op] = OpEmitter(scratch or (lambda node: 0), fn)
        return fn

    return wrap


def activation_dtype(node: Node) -> DType:
    """The integer activation type a node computes on (int8 unless its activations are int16); mixing is an error."""
    kinds = {v.type.dtype for v in (*node.inputs, *node.outputs) if v is not None and not v.is_const and v.type.dtype in (DType.I8, DType.I16)}
    if len(kinds) > 1:
        raise unsupported(node, "it mixes int8 and int16 activations", hint="quantize the whole model with one scheme (--quantize int8 or int16x8)")
    return kinds.pop() if kinds else DType.I8


def find_emitter(node: Node) -> OpEmitter | None:
    """The emitter for the node's op at its activation type."""
    return EMITTERS_BY_DTYPE.get(activation_dtype(node), {}).get(node.op.name)


def unsupported(node: Node, what: str, hint: str | None = None) -> UnsupportedOpError:
    ins = ", ".join(str(v.type) for v in node.inputs if v is not None)
    return UnsupportedOpError(
        f"the cmsis_nn backend cannot emit {node.op.name}: {what}",
        where=f"node {node.name!r} ({node.loc}) with inputs {ins} and attributes {node.attrs}",
        hint=hint or "quantize the model to int8 (tinyc compile --calib ...) and keep to the ops listed in docs/cmsis_nn.md",
    )


# -- quantization helpers ------------------------------------------------------------


def act_qp(node: Node, v: Value, what: str) -> tuple[float, int]:
    """(scale, zero point) of an int8 per-tensor activation, or a clear error."""
    t = v.type
    if t.dtype is not DType.I8 or t.quant is None:
        raise unsupported(node, f"{what} %{v.name} is {t.dtype.short}{'' if t.quant else ' without quantization'}; the backend runs int8 activations only")
    if not t.quant.is_per_tensor:
        raise unsupported(node, f"{what} %{v.name} is quantized per axis; activations must be per tensor")
    return t.quant.scale[0], t.quant.zero_point[0]


def quantize_bound(f: float, scale: float, zp: int) -> int:
    """A real clamp bound in the output's int8 units, as TFLite's CalculateActivationRangeQuantized does."""
    q = float(np.float32(f) / np.float32(scale))
    return int(zp) + int(math.copysign(math.floor(abs(q) + 0.5), q))


def act_range(attrs: Any, scale: float, zp: int) -> tuple[int, int]:
    """The int8 clamp of a fused activation (``act_min``/``act_max`` are real values)."""
    return clamp_range(getattr(attrs, "act_min", None), getattr(attrs, "act_max", None), scale, zp)


def clamp_range(amin: float | None, amax: float | None, scale: float, zp: int) -> tuple[int, int]:
    """The int8 bounds of a real clamp [amin, amax] (None: open) for output (scale, zp)."""
    lo, hi = INT8_MIN, INT8_MAX
    if amin is not None:
        lo = max(lo, quantize_bound(amin, scale, zp))
    if amax is not None:
        hi = min(hi, quantize_bound(amax, scale, zp))
    return lo, max(lo, hi)  # an empty range clamps everything to lo (as the integer reference does)


def weight_scales(node: Node, w: Value, axis: int, channels: int) -> np.ndarray:
    """Per-output-channel weight scales (a per-tensor scale is repeated); zero points must be 0."""
    q = w.type.quant
    if w.type.dtype is not DType.I8 or q is None or w.const is None:
        raise unsupported(node, f"weights %{w.name} must be constant int8 with quantization, got {w.type}")
    if any(z != 0 for z in q.zero_point):
        raise unsupported(node, f"weights %{w.name} have non-zero zero points; CMSIS-NN needs symmetric weights")
    if q.is_per_tensor:
        return np.full(channels, q.scale[0], dtype=np.float32)
    if q.axis != axis or len(q.scale) != channels:
        raise unsupported(node, f"weights %{w.name} are quantized along axis {q.axis}; expected axis {axis} ({channels} channels)")
    return np.asarray(q.scale, dtype=np.float32)


def bias_of(ctx: LowerCtx, node: Node, channels: int, layer: Layer) -> str:
    b = node.opt_input(2)
    if b is None:
        return "NULL"
    if b.type.dtype is not DType.I32 or b.const is None or b.type.numel != channels:
        raise unsupported(node, f"bias %{b.name} must be a constant int32 vector of {channels}, got {b.type}")
    return ctx.weight(b, f"{layer.p}bias")


def dims4(shape: tuple[int, ...]) -> str:
    return c_dims(shape)


def shape_text(v: Value) -> str:
    return str(v.type)


def act_text(lo: int, hi: int) -> str:
    return "" if (lo, hi) == (INT8_MIN, INT8_MAX) else f", clamp [{lo}, {hi}]"


def status_call(layer: Layer, call: str) -> None:
    layer.body.append(f"status = {call};")


# -- scratch sizes ---------------------------------------------------------------------
# Planned as the larger of what tinyc's runtime needs (nothing) and what Arm's
# CMSIS-NN v7 asks for on a core with the DSP extension (Cortex-M4/M7), so the
# generated code runs unchanged against either. <name>_init() checks the
# linked library's own *_get_buffer_size() against the plan.


def _align4(n: int) -> int:
    return (n + 3) // 4 * 4


def conv_scratch(node: Node) -> int:
    # tinyc's kernel: a column pair (two output pixels' inputs as int16) for every geometry, 1x1 included;
    # Arm's asks for the same two im2col columns, or nothing for its 1x1 kernels
    _, kh, kw, ck = node.input(1).type.shape
    return 2 * _align4(ck * kh * kw) * 2


def dw_scratch(node: Node) -> int:
    x, w = node.input(0), node.input(1)
    n, _, _, c_in = x.type.shape
    _, kh, kw, c_out = w.type.shape
    a = node.attrs
    if c_in != c_out or n != 1 or tuple(a.dilations) != (1, 1):
        return 0
    top, left = a.pads[0], a.pads[1]
    if kh == 3 and kw == 3 and top <= 1 and left <= 1:
        return 0
    return c_in * kh * kw * 2


def avgpool_scratch(node: Node) -> int:
    return node.input(0).type.shape[3] * 4


# -- convolutions -----------------------------------------------------------------------


def _conv_common(ctx: LowerCtx, node: Node, layer: Layer, depthwise: bool) -> tuple[str, str, str, str]:
    x, w, y = node.input(0), node.input(1), node.output
    s_in, zp_in = act_qp(node, x, "input")
    s_out, zp_out = act_qp(node, y, "output")
    if not -127 <= -zp_in <= 128:
        raise unsupported(node, f"input zero point {zp_in} is outside CMSIS-NN's range")
    c_out = y.type.shape[3]
    scales = weight_scales(node, w, 3 if depthwise else 0, c_out)
    mult, shift = qparams.conv_multipliers(s_in, scales, s_out)
    lo, hi = act_range(node.attrs, s_out, zp_out)
    p = layer.p
    a = node.attrs
    stride_h, stride_w = a.strides
    dil_h, dil_w = a.dilations
    pad_top, pad_left = a.pads[0], a.pads[1]
    geometry = f".stride = {{.w = {stride_w}, .h = {stride_h}}}, .padding = {{.w = {pad_left}, .h = {pad_top}}}, .dilation = {{.w = {dil_w}, .h = {dil_h}}}"
    extra = f".ch_mult = {a.depth_multiplier}, " if depthwise else ""
    ptype = "cmsis_nn_dw_conv_params" if depthwise else "cmsis_nn_conv_params"
    layer.decls += [
        f"static const {ptype} {p}params = {{.input_offset = {-zp_in}, .output_offset = {zp_out}, {extra}{geometry}, .activation = {{.min = {lo}, .max = {hi}}}}};",
        f"static const cmsis_nn_per_channel_quant_params {p}quant = {{(int32_t *){ctx.table(layer, 'multiplier', mult)}, (int32_t *){ctx.table(layer, 'shift', shift)}}};",
        f"static const cmsis_nn_dims {p}in = {dims4(x.type.shape)}, {p}filter = {dims4(w.type.shape)}, {p}bias = {{1, 1, 1, {c_out}}}, {p}out = {dims4(y.type.shape)};",
    ]
    kh, kw = w.type.shape[1], w.type.shape[2]
    pads = ",".join(str(v) for v in a.pads)
    mult_text = f" x{a.depth_multiplier}" if depthwise and a.depth_multiplier != 1 else ""
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}, {kh}x{kw}{mult_text} stride {stride_h}x{stride_w} pads {pads}" + (f" dilation {dil_h}x{dil_w}" if (dil_h, dil_w) != (1, 1) else "") + act_text(lo, hi)
    return ctx.buf(x), ctx.weight(w, f"{layer.p}weights"), bias_of(ctx, node, c_out, layer), ctx.buf(y)


@emitter("Conv2D", scratch=conv_scratch)
def lower_conv(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x, w, b, y = _conv_common(ctx, node, layer, depthwise=False)
    p = layer.p
    sbuf, ssize = ctx.scratch(node)
    layer.kernel = "arm_convolve_wrapper_s8"
    layer.body.append(f"const cmsis_nn_context ctx = {{{sbuf}, {ssize}}};")
    call = "arm_convolve_wrapper_s8(&ctx, &{p}params, &{p}quant, &{ind}, {x}, &{p}filter, {w}, &{p}bias, {b}, &{outd}, {y})"
    band = ctx.band(node)
    if band is None:
        layer.body.append("status = " + call.format(p=p, ind=f"{p}in", x=x, w=w, b=b, outd=f"{p}out", y=y) + ";")
    else:  # a 1x1 convolution, pixel by pixel: band k's output lands on input pixels already read
        n, h, wd, c_in = node.input(0).type.shape
        c_out, pixels, size = node.output.type.shape[3], n * h * wd, band.size
        layer.summary += f", {band.describe()}"
        layer.body += [
            f"for (int32_t i = 0; i < {pixels}; i += {size}) {{",
            f"    const int32_t n = {pixels} - i < {size} ? {pixels} - i : {size};",
            f"    const cmsis_nn_dims in_dims = {{1, 1, n, {c_in}}}, out_dims = {{1, 1, n, {c_out}}};",
            "    status = " + call.format(p=p, ind="in_dims", x=f"{x} + i * {c_in}", w=w, b=b, outd="out_dims", y=f"{y} + i * {c_out}") + ";",
            "    if (status != ARM_CMSIS_NN_SUCCESS) break;",
            "}",
        ]
    layer.checks.append(f"arm_convolve_wrapper_s8_get_buffer_size(&{p}params, &{p}in, &{p}filter, &{p}out) > {ssize}")


@emitter("DepthwiseConv2D", scratch=dw_scratch)
def lower_dwconv(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x, w, b, y = _conv_common(ctx, node, layer, depthwise=True)
    p = layer.p
    sbuf, ssize = ctx.scratch(node)
    layer.kernel = "arm_depthwise_conv_wrapper_s8"
    layer.body.append(f"const cmsis_nn_context ctx = {{{sbuf}, {ssize}}};")
    call = "arm_depthwise_conv_wrapper_s8(&ctx, &{prm}, &{p}quant, &{ind}, {x}, &{p}filter, {w}, &{p}bias, {b}, &{outd}, {y})"
    band = ctx.band(node)
    if band is None:
        layer.body.append("status = " + call.format(prm=f"{p}params", p=p, ind=f"{p}in", x=x, w=w, b=b, outd=f"{p}out", y=y) + ";")
    else:  # row bands: band k's output lands on input rows no later band reads
        _, h, wd, c = node.input(0).type.shape
        kh, top, size, row = node.input(1).type.shape[1], node.attrs.pads[0], band.size, wd * c
        layer.summary += f", {band.describe()}"
        layer.body += [
            f"for (int32_t r = 0; r < {h}; r += {size}) {{",
            f"    const int32_t rows = {h} - r < {size} ? {h} - r : {size};",
            f"    const int32_t first = r - {top} < 0 ? 0 : r - {top}; /* the input rows this band reads: [first, end) */",
            f"    const int32_t end = r + rows - {top} + {kh - 1} < {h} ? r + rows - {top} + {kh - 1} : {h};",
            f"    cmsis_nn_dw_conv_params params = {p}params;",
            f"    params.padding.h = first - (r - {top});",
            f"    const cmsis_nn_dims in_dims = {{1, end - first, {wd}, {c}}}, out_dims = {{1, rows, {wd}, {c}}};",
            "    status = " + call.format(prm="params", p=p, ind="in_dims", x=f"{x} + first * {row}", w=w, b=b, outd="out_dims", y=f"{y} + r * {row}") + ";",
            "    if (status != ARM_CMSIS_NN_SUCCESS) break;",
            "}",
        ]
    layer.checks.append(f"arm_depthwise_conv_wrapper_s8_get_buffer_size(&{p}params, &{p}in, &{p}filter, &{p}out) > {ssize}")


# -- fully connected --------------------------------------------------------------------------


@emitter("FullyConnected")
def lower_fc(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x, w, y = node.input(0), node.input(1), node.output
    s_in, zp_in = act_qp(node, x, "input")
    s_out, zp_out = act_qp(node, y, "output")
    c_out, depth = w.type.shape
    batches = x.type.numel // depth
    lo, hi = act_range(node.attrs, s_out, zp_out)
    p = layer.p
    wq = w.type.quant
    scales = weight_scales(node, w, 0, c_out)
    layer.decls += [
        f"static const cmsis_nn_fc_params {p}params = {{.input_offset = {-zp_in}, .filter_offset = 0, .output_offset = {zp_out}, .activation = {{.min = {lo}, .max = {hi}}}}};",
        f"static const cmsis_nn_dims {p}in = {{{batches}, 1, 1, {depth}}}, {p}filter = {{{depth}, 1, 1, {c_out}}}, {p}bias = {{1, 1, 1, {c_out}}}, {p}out = {{{batches}, 1, 1, {c_out}}};",
    ]
    if wq is not None and wq.is_per_tensor:
        mult, shift = qparams.fc_multiplier(s_in, scales[0], s_out)
        layer.kernel = "arm_fully_connected_s8"
        layer.decls.append(f"static const cmsis_nn_per_tensor_quant_params {p}quant = {{.multiplier = {mult}, .shift = {shift}}};")
    else:
        mults, shifts = qparams.conv_multipliers(s_in, scales, s_out)
        layer.kernel = "arm_fully_connected_per_channel_s8"
        layer.decls.append(
            f"static const cmsis_nn_per_channel_quant_params {p}quant = {{(int32_t *){ctx.table(layer, 'multiplier', mults)}, (int32_t *){ctx.table(layer, 'shift', shifts)}}};"
        )
    layer.body += [
        "const cmsis_nn_context ctx = {NULL, 0};",
        f"status = {layer.kernel}(&ctx, &{p}params, &{p}quant, &{p}in, {ctx.buf(x)}, &{p}filter, {ctx.weight(w, f'{p}weights')}, &{p}bias, {bias_of(ctx, node, c_out, layer)}, &{p}out, {ctx.buf(y)});",
    ]
    layer.checks.append(f"arm_fully_connected_s8_get_buffer_size(&{p}filter) > 0")
    layer.summary = f"{shape_text(x)} x {shape_text(w)} -> {shape_text(y)}" + act_text(lo, hi)


# -- pooling -----------------------------------------------------------------------------------


def _pool(ctx: LowerCtx, node: Node, layer: Layer, kernel: str) -> None:
    x, y = node.input(0), node.output
    qi, qo = act_qp(node, x, "input"), act_qp(node, y, "output")
    if qi != qo:
        raise unsupported(node, f"input quantization {qi} differs from output quantization {qo}; CMSIS-NN pools do not rescale")
    a = node.attrs
    lo, hi = act_range(a, *qo)
    p = layer.p
    kh, kw = a.kernel
    layer.decls += [
        f"static const cmsis_nn_pool_params {p}params = {{.stride = {{.w = {a.strides[1]}, .h = {a.strides[0]}}}, .padding = {{.w = {a.pads[1]}, .h = {a.pads[0]}}}, .activation = {{.min = {lo}, .max = {hi}}}}};",
        f"static const cmsis_nn_dims {p}in = {dims4(x.type.shape)}, {p}filter = {{1, {kh}, {kw}, 1}}, {p}out = {dims4(y.type.shape)};",
    ]
    sbuf, ssize = ctx.scratch(node)
    layer.kernel = kernel
    layer.body += [
        f"const cmsis_nn_context ctx = {{{sbuf}, {ssize}}};",
        f"status = {kernel}(&ctx, &{p}params, &{p}in, {ctx.buf(x)}, &{p}filter, &{p}out, {ctx.buf(y)});",
    ]
    if kernel == "arm_avgpool_s8":
        layer.checks.append(f"arm_avgpool_s8_get_buffer_size({y.type.shape[2]}, {x.type.shape[3]}) > {ssize}")
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}, {kh}x{kw} stride {a.strides[0]}x{a.strides[1]} pads {','.join(map(str, a.pads))}" + act_text(lo, hi)


@emitter("MaxPool2D")
def lower_maxpool(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    _pool(ctx, node, layer, "arm_max_pool_s8")


@emitter("AvgPool2D", scratch=avgpool_scratch)
def lower_avgpool(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    _pool(ctx, node, layer, "arm_avgpool_s8")


# -- element-wise --------------------------------------------------------------------------------


def _binary_operands(ctx: LowerCtx, node: Node, layer: Layer) -> tuple[Value, Value, Value, str, str]:
    a, b, y = node.input(0), node.input(1), node.output
    if a.type.shape != y.type.shape or b.type.shape != y.type.shape:
        raise unsupported(node, f"broadcasting {list(a.type.shape)} with {list(b.type.shape)}; CMSIS-NN element-wise kernels take equal shapes", hint="expand the smaller operand in the model")

    def ref(v: Value, which: str) -> str:
        return ctx.weight(v, f"{layer.p}{which}") if v.is_const else ctx.buf(v)

    return a, b, y, ref(a, "a"), ref(b, "b")


@emitter("AddAct", "Add")
def lower_add(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    a, b, y, ra, rb = _binary_operands(ctx, node, layer)
    (s1, z1), (s2, z2), (so, zo) = act_qp(node, a, "input A"), act_qp(node, b, "input B"), act_qp(node, y, "output")
    lo, hi = act_range(node.attrs, so, zo)
    q = qparams.prepare_add(s1, z1, s2, z2, so, zo, lo, hi)
    layer.kernel = "arm_elementwise_add_s8"
    layer.body.append(
        f"status = arm_elementwise_add_s8({ra}, {rb}, {q.input1_offset}, {q.input1_multiplier}, {q.input1_shift}, "
        f"{q.input2_offset}, {q.input2_multiplier}, {q.input2_shift}, {q.left_shift}, {ctx.buf(y)}, "
        f"{q.output_offset}, {q.output_multiplier}, {q.output_shift}, {lo}, {hi}, {y.type.numel});"
    )
    layer.summary = f"{shape_text(a)} + {shape_text(b)} -> {shape_text(y)}" + act_text(lo, hi)


@emitter("MulAct", "Mul")
def lower_mul(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    a, b, y, ra, rb = _binary_operands(ctx, node, layer)
    (s1, z1), (s2, z2), (so, zo) = act_qp(node, a, "input A"), act_qp(node, b, "input B"), act_qp(node, y, "output")
    lo, hi = act_range(node.attrs, so, zo)
    q = qparams.prepare_mul(s1, z1, s2, z2, so, zo, lo, hi)
    layer.kernel = "arm_elementwise_mul_s8"
    layer.body.append(
        f"status = arm_elementwise_mul_s8({ra}, {rb}, {q.input1_offset}, {q.input2_offset}, {ctx.buf(y)}, "
        f"{q.output_offset}, {q.output_multiplier}, {q.output_shift}, {lo}, {hi}, {y.type.numel});"
    )
    layer.summary = f"{shape_text(a)} * {shape_text(b)} -> {shape_text(y)}" + act_text(lo, hi)


@emitter("Softmax")
def lower_softmax(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x, y = node.input(0), node.output
    s_in, _ = act_qp(node, x, "input")
    s_out, zp_out = act_qp(node, y, "output")
    rank = x.type.rank
    if rank and node.attrs.axis % rank != rank - 1 and not getattr(node.attrs, "coerce_2d", False):
        raise unsupported(node, f"softmax over axis {node.attrs.axis}; CMSIS-NN normalises the last axis", hint="transpose the axis last in the model")
    if abs(s_out - 1.0 / 256.0) > 1e-9 or zp_out != -128:
        raise unsupported(node, f"output quantization (scale {s_out}, zero point {zp_out}); int8 softmax outputs scale 1/256, zero point -128")
    axis = node.attrs.axis % rank if rank else 0
    row = math.prod(x.type.shape[axis:]) if rank else 1
    rows = x.type.numel // max(row, 1)
    q = qparams.prepare_softmax(1.0, s_in)
    layer.kernel = "arm_softmax_s8"
    layer.body.append(f"arm_softmax_s8({ctx.buf(x)}, {rows}, {row}, {q.input_multiplier}, {q.input_left_shift}, {q.diff_min}, {ctx.buf(y)});")
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}, {rows} row(s) of {row}"


@emitter("Relu", "Clip", "Requantize")
def lower_clamp(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    """ReLU / Clip on int8 (TFLite RELU: rescale to the output's parameters, then clamp) and Requantize."""
    x, y = node.input(0), node.output
    (si, zi), (so, zo) = act_qp(node, x, "input"), act_qp(node, y, "output")
    if node.op.name == "Relu":
        lo, hi = clamp_range(0.0, None, so, zo)
    elif node.op.name == "Clip":
        lo, hi = clamp_range(node.attrs.min, node.attrs.max, so, zo)
    else:
        lo, hi = INT8_MIN, INT8_MAX
    n = y.type.numel
    if (si, zi) == (so, zo):
        layer.kernel = "tinyc_clamp_s8"
        layer.helpers.add("clamp")
        layer.body.append(f"tinyc_clamp_s8({ctx.buf(x)}, {ctx.buf(y)}, {n}, {lo}, {hi});")
    else:
        mult, shift = quantize_multiplier(float(np.float32(si)) / float(np.float32(so)))
        layer.kernel = "tinyc_requantize_s8"
        layer.helpers.add("requantize")
        layer.body.append(f"tinyc_requantize_s8({ctx.buf(x)}, {ctx.buf(y)}, {n}, {zi}, {mult}, {shift}, {zo}, {lo}, {hi});")
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}" + act_text(lo, hi)


@emitter(*RESHAPES)
def lower_reshape(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x, y = node.input(0), node.output
    if x.type.dtype is not DType.I8 or y.type.dtype is not DType.I8:
        raise unsupported(node, f"{x.type} -> {y.type}; the backend moves int8 data only")
    src, dst = ctx.buf(x), ctx.buf(y)
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}"
    if ctx.same_place(x, y):
        layer.body.append("/* same bytes, new shape: nothing to do */")
        return
    layer.kernel = "memcpy"
    layer.body.append(f"memcpy({dst}, {src}, {y.type.numel});")


HELPERS = {
    "requantize": [
        "/* Move n int8 values to other quantization parameters, then clamp (TFLite QUANTIZE / RELU arithmetic). */",
        "static void tinyc_requantize_s8(const int8_t *in, int8_t *out, int32_t n, int32_t in_zp, int32_t mult, int32_t shift,",
        "                                int32_t out_zp, int32_t lo, int32_t hi)",
        "{",
        "    for (int32_t i = 0; i < n; ++i) {",
        "        const int32_t v = arm_nn_requantize((int32_t)in[i] - in_zp, mult, shift) + out_zp;",
        "        out[i] = (int8_t)(v < lo ? lo : v > hi ? hi : v);",
        "    }",
        "}",
    ],
    "clamp": [
        "/* Clamp n int8 values to [lo, hi] (in place when in == out). */",
        "static void tinyc_clamp_s8(const int8_t *in, int8_t *out, int32_t n, int32_t lo, int32_t hi)",
        "{",
        "    for (int32_t i = 0; i < n; ++i) {",
        "        const int32_t v = in[i];",
        "        out[i] = (int8_t)(v < lo ? lo : v > hi ? hi : v);",
        "    }",
        "}",
    ],
}


def macs_of(node: Node) -> int:
    try:
        return int(node.op.macs(node.attrs, [None if v is None else v.type for v in node.inputs], [o.type for o in node.outputs]) or 0)
    except (AttributeError, NotImplementedError, TypeError):
        return 0


def lower_node(ctx: LowerCtx, node: Node, index: int) -> Layer:
    em = find_emitter(node)
    if em is None:
        dt = activation_dtype(node)
        ops = ", ".join(sorted(EMITTERS_BY_DTYPE.get(dt, {})))
        raise unsupported(node, f"no CMSIS-NN {dt.short} kernel for this op", hint=f"supported {dt.short} ops: {ops}")
    layer = Layer(index, node)
    em.lower(ctx, node, layer)
    layer.macs = macs_of(node)
    layer.scratch = ctx.scratch(node)[1]
    return layer


def table_bytes(graph: Graph) -> dict[Value, int]:
    """Bytes of the per-channel multiplier and shift tables each layer's weights bring along (planned with them)."""
    out: dict[Value, int] = {}
    for node in graph.nodes:
        w = node.opt_input(1)
        if w is None or not w.is_const or w.type.quant is None:
            continue
        if node.op.name in ("Conv2D", "DepthwiseConv2D") or (node.op.name == "FullyConnected" and not w.type.quant.is_per_tensor):
            channels = node.output.type.shape[-1]
            out[w] = max(out.get(w, 0), 8 * channels)
    return out


def scratch_of(node: Node) -> int:
    em = find_emitter(node)
    return 0 if em is None else int(em.scratch(node))


def describe(layer: Layer, source: str) -> list[str]:
    """The comment above a call: index, op, node, source location, shapes, MACs."""
    node = layer.node
    head = f"[{layer.index}] {node.op.name} {comment_text(node.name)}"
    loc = " + ".join(comment_text(part if len(part) <= 96 else part[:93] + "...") for part in node.loc.parts)
    where = f"{source}: {loc}" if source and loc else loc
    lines = [f"{head}  <- {where}" if where else head, f"    {layer.summary}" + (f", {fmt_int(layer.macs)} MACs" if layer.macs else "")]
    return lines
