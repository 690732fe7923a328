"""Per-op emitters for 16x8 graphs: int16 activations (zero point 0), int8 weights, int64 bias.

``tinyc compile --quantize int16x8`` gives this scheme (TFLite's 16x8). The
emitters register in the int16 table of :mod:`layers` (``dtype=DType.I16``),
which ``lower_node`` picks for nodes whose activations are int16. Each node
becomes one CMSIS-NN v7 s16 call (``arm_convolve_wrapper_s16``,
``arm_depthwise_conv_wrapper_s16``, ``arm_fully_connected[_per_channel]_s16``,
``arm_avgpool_s16``, ``arm_max_pool_s16``, ``arm_elementwise_add_s16`` /
``_mul_s16``) or a small generated helper (ReLU / clip / requantize, data
movement). Multipliers, shifts and clamp bounds come from the same helpers the
integer reference (``tinyc.ir.ops.quantized``) uses, so the C and the
reference agree bit for bit.
"""

from __future__ import annotations

import numpy as np

from tinyc.backends.cmsis_nn.layers import (
    EMITTERS_BY_DTYPE,
    HELPERS,
    RESHAPES,
    Layer,
    LowerCtx,
    avgpool_scratch,
    dims4,
    emitter,
    shape_text,
    unsupported,
    weight_scales,
)
from tinyc.ir.core import Node, Value
from tinyc.ir.dtypes import DType
from tinyc.ir.ops.quantized import activation_bounds
from tinyc.quant import params as qparams
from tinyc.quant.arith import quantize_multiplier

I16 = DType.I16
INT16_MIN, INT16_MAX = I16.qmin, I16.qmax
MAX_SHIFT = 14  # the 64-bit requantization shifts right by 15 - shift bits


def act_scale(node: Node, v: Value, what: str) -> float:
    """Scale of an int16 per-tensor activation (zero point 0), or a clear error."""
    t = v.type
    if t.dtype is not I16 or t.quant is None:
        raise unsupported(node, f"{what} %{v.name} is {t.dtype.short}{'' if t.quant else ' without quantization'}; this layer runs int16 activations only")
    if not t.quant.is_per_tensor:
        raise unsupported(node, f"{what} %{v.name} is quantized per axis; activations must be per tensor")
    if t.quant.zero_point[0] != 0:
        raise unsupported(node, f"{what} %{v.name} has zero point {t.quant.zero_point[0]}; int16 activations are symmetric")
    return float(t.quant.scale[0])


def src16(ctx: LowerCtx, v: Value) -> str:
    """An int16 operand the kernel reads: an activation's arena bytes (``int8_t``) seen as ``const int16_t *``, or a constant."""
    return ctx.weight(v) if v.is_const else f"(const int16_t *){ctx.buf(v)}"


def dst16(ctx: LowerCtx, v: Value) -> str:
    """An int16 activation the kernel writes (the arena is ``int8_t``; the planner aligns every buffer)."""
    return f"(int16_t *){ctx.buf(v)}"


def bounds(amin: float | None, amax: float | None, scale: float) -> tuple[int, int]:
    """The int16 clamp of a real range [amin, amax] (None: open), as the integer reference computes it."""
    return activation_bounds(amin, amax, scale, 0, I16)


def act_text(lo: int, hi: int) -> str:
    return "" if (lo, hi) == (INT16_MIN, INT16_MAX) else f", clamp [{lo}, {hi}]"


def check_shifts(node: Node, shift: np.ndarray | int) -> None:
    worst = int(np.max(np.asarray(shift)))
    if worst > MAX_SHIFT:
        raise unsupported(node, f"requantization shift {worst} exceeds {MAX_SHIFT} (an effective scale of 2^{worst - 1} or more)", hint="check the layer's scales; TFLite's 16x8 kernels cannot run it either")


def bias64(ctx: LowerCtx, node: Node, channels: int, layer: Layer) -> tuple[str, bool]:
    """(C identifier or NULL, is_int32) of the node's constant bias."""
    b = node.opt_input(2)
    if b is None:
        return "NULL", False
    if b.type.dtype not in (DType.I64, DType.I32) or b.const is None or b.type.numel != channels:
        raise unsupported(node, f"bias %{b.name} must be a constant int64 vector of {channels}, got {b.type}")
    return ctx.weight(b, f"{layer.p}bias"), b.type.dtype is DType.I32


def need_int64_bias(node: Node, is32: bool, kernel: str) -> None:
    if is32:
        raise unsupported(node, f"{kernel} takes an int64 bias, got int32", hint="quantize with tinyc (16x8 biases are int64)")


# -- scratch sizes: what Arm's CMSIS-NN v7 asks for on a core with the DSP extension ------


def conv_scratch_s16(node: Node) -> int:
    c_in = node.input(0).type.shape[3]
    _, kh, kw, _ = node.input(1).type.shape
    return 2 * c_in * kh * kw * 2  # two im2col columns of int16


def dw_scratch_s16(node: Node) -> int:
    c_in = node.input(0).type.shape[3]
    _, kh, kw, _ = node.input(1).type.shape
    a = node.attrs
    if a.depth_multiplier == 1 and tuple(a.dilations) == (1, 1) and kh * kw < 512:
        return c_in * kh * kw * 2
    return 0


# -- convolutions ---------------------------------------------------------------------------


def _conv_common(ctx: LowerCtx, node: Node, layer: Layer, depthwise: bool) -> tuple[str, str, str, bool, str]:
    x, w, y = node.input(0), node.input(1), node.output
    s_in, s_out = act_scale(node, x, "input"), act_scale(node, y, "output")
    c_out = y.type.shape[3]
    scales = weight_scales(node, w, 3 if depthwise else 0, c_out)
    mult, shift = qparams.conv_multipliers(s_in, scales, s_out)
    check_shifts(node, shift)
    a = node.attrs
    lo, hi = bounds(a.act_min, a.act_max, s_out)
    p = layer.p
    stride_h, stride_w = a.strides
    dil_h, dil_w = a.dilations
    geometry = f".stride = {{.w = {stride_w}, .h = {stride_h}}}, .padding = {{.w = {a.pads[1]}, .h = {a.pads[0]}}}, .dilation = {{.w = {dil_w}, .h = {dil_h}}}"
    extra = f".ch_mult = {a.depth_multiplier}, " if depthwise else ""
    ptype = "cmsis_nn_dw_conv_params" if depthwise else "cmsis_nn_conv_params"
    layer.decls += [
        f"static const {ptype} {p}params = {{.input_offset = 0, .output_offset = 0, {extra}{geometry}, .activation = {{.min = {lo}, .max = {hi}}}}};",
        f"static const cmsis_nn_per_channel_quant_params {p}quant = {{(int32_t *){ctx.table(layer, 'multiplier', mult)}, (int32_t *){ctx.table(layer, 'shift', shift)}}};",
        f"static const cmsis_nn_dims {p}in = {dims4(x.type.shape)}, {p}filter = {dims4(w.type.shape)}, {p}bias = {{1, 1, 1, {c_out}}}, {p}out = {dims4(y.type.shape)};",
    ]
    kh, kw = w.type.shape[1], w.type.shape[2]
    mult_text = f" x{a.depth_multiplier}" if depthwise and a.depth_multiplier != 1 else ""
    dil = f" dilation {dil_h}x{dil_w}" if (dil_h, dil_w) != (1, 1) else ""
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}, {kh}x{kw}{mult_text} stride {stride_h}x{stride_w} pads {','.join(map(str, a.pads))}{dil}" + act_text(lo, hi)
    bias, is32 = bias64(ctx, node, c_out, layer)
    return src16(ctx, x), ctx.weight(w, f"{p}weights"), bias, is32, dst16(ctx, y)


@emitter("Conv2D", scratch=conv_scratch_s16, dtype=I16)
def lower_conv_s16(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x, w, b, is32, y = _conv_common(ctx, node, layer, depthwise=False)
    p = layer.p
    sbuf, ssize = ctx.scratch(node)
    layer.decls.append(f"static const cmsis_nn_bias_data {p}bias_data = {{{'NULL' if b == 'NULL' else b}, {int(is32)}}};")
    layer.kernel = "arm_convolve_wrapper_s16"
    layer.body += [
        f"const cmsis_nn_context ctx = {{{sbuf}, {ssize}}};",
        f"status = arm_convolve_wrapper_s16(&ctx, &{p}params, &{p}quant, &{p}in, {x}, &{p}filter, {w}, &{p}bias, &{p}bias_data, &{p}out, {y});",
    ]
    layer.checks.append(f"arm_convolve_wrapper_s16_get_buffer_size(&{p}params, &{p}in, &{p}filter, &{p}out) > {ssize}")


@emitter("DepthwiseConv2D", scratch=dw_scratch_s16, dtype=I16)
def lower_dwconv_s16(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x, w, b, is32, y = _conv_common(ctx, node, layer, depthwise=True)
    need_int64_bias(node, is32, "arm_depthwise_conv_wrapper_s16")
    p = layer.p
    sbuf, ssize = ctx.scratch(node)
    layer.kernel = "arm_depthwise_conv_wrapper_s16"
    layer.body += [
        f"const cmsis_nn_context ctx = {{{sbuf}, {ssize}}};",
        f"status = arm_depthwise_conv_wrapper_s16(&ctx, &{p}params, &{p}quant, &{p}in, {x}, &{p}filter, {w}, &{p}bias, {b}, &{p}out, {y});",
    ]
    layer.checks.append(f"arm_depthwise_conv_wrapper_s16_get_buffer_size(&{p}params, &{p}in, &{p}filter, &{p}out) > {ssize}")


# -- fully connected ------------------------------------------------------------------------


@emitter("FullyConnected", dtype=I16)
def lower_fc_s16(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x, w, y = node.input(0), node.input(1), node.output
    s_in, s_out = act_scale(node, x, "input"), act_scale(node, y, "output")
    c_out, depth = w.type.shape
    batches = x.type.numel // depth
    lo, hi = bounds(node.attrs.act_min, node.attrs.act_max, s_out)
    p = layer.p
    scales = weight_scales(node, w, 0, c_out)
    layer.decls += [
        f"static const cmsis_nn_fc_params {p}params = {{.input_offset = 0, .filter_offset = 0, .output_offset = 0, .activation = {{.min = {lo}, .max = {hi}}}}};",
        f"static const cmsis_nn_dims {p}in = {{{batches}, 1, 1, {depth}}}, {p}filter = {{{depth}, 1, 1, {c_out}}}, {p}bias = {{1, 1, 1, {c_out}}}, {p}out = {{{batches}, 1, 1, {c_out}}};",
    ]
    wq = w.type.quant
    if wq is not None and wq.is_per_tensor:  # TFLite multiplies the two input scales in float32 first
        mult, shift = qparams.fc_multiplier(s_in, float(scales[0]), s_out)
        check_shifts(node, shift)
        layer.kernel = "arm_fully_connected_s16"
        layer.decls.append(f"static const cmsis_nn_per_tensor_quant_params {p}quant = {{.multiplier = {mult}, .shift = {shift}}};")
    else:
        mults, shifts = qparams.conv_multipliers(s_in, scales, s_out)
        check_shifts(node, shifts)
        layer.kernel = "arm_fully_connected_per_channel_s16"
        layer.decls.append(
            f"static const cmsis_nn_per_channel_quant_params {p}quant = {{(int32_t *){ctx.table(layer, 'multiplier', mults)}, (int32_t *){ctx.table(layer, 'shift', shifts)}}};"
        )
    b, is32 = bias64(ctx, node, c_out, layer)
    need_int64_bias(node, is32, layer.kernel)
    layer.body += [
        "const cmsis_nn_context ctx = {NULL, 0};",
        f"status = {layer.kernel}(&ctx, &{p}params, &{p}quant, &{p}in, {src16(ctx, x)}, &{p}filter, {ctx.weight(w, f'{p}weights')}, &{p}bias, {b}, &{p}out, {dst16(ctx, y)});",
    ]
    layer.checks.append(f"{layer.kernel}_get_buffer_size(&{p}filter) > 0")
    layer.summary = f"{shape_text(x)} x {shape_text(w)} -> {shape_text(y)}" + act_text(lo, hi)


# -- pooling --------------------------------------------------------------------------------


def _pool(ctx: LowerCtx, node: Node, layer: Layer, kernel: str) -> None:
    x, y = node.input(0), node.output
    si, so = act_scale(node, x, "input"), act_scale(node, y, "output")
    if si != so:
        raise unsupported(node, f"input scale {si} differs from output scale {so}; CMSIS-NN pools do not rescale")
    a = node.attrs
    lo, hi = bounds(a.act_min, a.act_max, so)
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
        f"status = {kernel}(&ctx, &{p}params, &{p}in, {src16(ctx, x)}, &{p}filter, &{p}out, {dst16(ctx, y)});",
    ]
    if kernel == "arm_avgpool_s16":
        layer.checks.append(f"arm_avgpool_s16_get_buffer_size({y.type.shape[2]}, {x.type.shape[3]}) > {ssize}")
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}, {kh}x{kw} stride {a.strides[0]}x{a.strides[1]} pads {','.join(map(str, a.pads))}" + act_text(lo, hi)


@emitter("MaxPool2D", dtype=I16)
def lower_maxpool_s16(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    _pool(ctx, node, layer, "arm_max_pool_s16")


@emitter("AvgPool2D", scratch=avgpool_scratch, dtype=I16)
def lower_avgpool_s16(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    _pool(ctx, node, layer, "arm_avgpool_s16")


# -- element-wise ----------------------------------------------------------------------------


def _operands(ctx: LowerCtx, node: Node, layer: Layer) -> tuple[Value, Value, Value, str, str]:
    a, b, y = node.input(0), node.input(1), node.output
    if a.type.shape != y.type.shape or b.type.shape != y.type.shape:
        raise unsupported(node, f"broadcasting {list(a.type.shape)} with {list(b.type.shape)}; CMSIS-NN element-wise kernels take equal shapes", hint="expand the smaller operand in the model")

    def ref(v: Value, which: str) -> str:
        return ctx.weight(v, f"{layer.p}{which}") if v.is_const else src16(ctx, v)

    return a, b, y, ref(a, "a"), ref(b, "b")


@emitter("AddAct", "Add", dtype=I16)
def lower_add_s16(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    a, b, y, ra, rb = _operands(ctx, node, layer)
    s1, s2, so = act_scale(node, a, "input A"), act_scale(node, b, "input B"), act_scale(node, y, "output")
    lo, hi = bounds(getattr(node.attrs, "act_min", None), getattr(node.attrs, "act_max", None), so)
    q = qparams.prepare_add(s1, 0, s2, 0, so, 0, lo, hi, left_shift=15)
    for what, shift in (("input A", q.input1_shift), ("input B", q.input2_shift), ("output", q.output_shift)):
        if shift > 0:
            raise unsupported(node, f"the {what} rescale of this add is larger than one (shift {shift}); TFLite's int16 add needs it below one")
    layer.kernel = "arm_elementwise_add_s16"
    layer.body.append(
        f"status = arm_elementwise_add_s16({ra}, {rb}, 0, {q.input1_multiplier}, {q.input1_shift}, 0, {q.input2_multiplier}, {q.input2_shift}, "
        f"{q.left_shift}, {dst16(ctx, y)}, 0, {q.output_multiplier}, {q.output_shift}, {lo}, {hi}, {y.type.numel});"
    )
    layer.summary = f"{shape_text(a)} + {shape_text(b)} -> {shape_text(y)}" + act_text(lo, hi)


@emitter("MulAct", "Mul", dtype=I16)
def lower_mul_s16(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    a, b, y, ra, rb = _operands(ctx, node, layer)
    s1, s2, so = act_scale(node, a, "input A"), act_scale(node, b, "input B"), act_scale(node, y, "output")
    lo, hi = bounds(getattr(node.attrs, "act_min", None), getattr(node.attrs, "act_max", None), so)
    q = qparams.prepare_mul(s1, 0, s2, 0, so, 0, lo, hi)
    layer.kernel = "arm_elementwise_mul_s16"
    layer.body.append(
        f"status = arm_elementwise_mul_s16({ra}, {rb}, 0, 0, {dst16(ctx, y)}, 0, {q.output_multiplier}, {q.output_shift}, {lo}, {hi}, {y.type.numel});"
    )
    layer.summary = f"{shape_text(a)} * {shape_text(b)} -> {shape_text(y)}" + act_text(lo, hi)


@emitter("Relu", "Clip", "Requantize", dtype=I16)
def lower_clamp_s16(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    """ReLU / Clip on int16 (rescale to the output's scale, then clamp) and Requantize between int16 scales."""
    x, y = node.input(0), node.output
    si, so = act_scale(node, x, "input"), act_scale(node, y, "output")
    if node.op.name == "Relu":
        lo, hi = bounds(0.0, None, so)
    elif node.op.name == "Clip":
        lo, hi = bounds(node.attrs.min, node.attrs.max, so)
    else:
        lo, hi = INT16_MIN, INT16_MAX
    n = y.type.numel
    if si == so:
        layer.kernel = "tinyc_clamp_s16"
        layer.helpers.add("clamp_s16")
        layer.body.append(f"tinyc_clamp_s16({src16(ctx, x)}, {dst16(ctx, y)}, {n}, {lo}, {hi});")
    else:
        mult, shift = quantize_multiplier(float(np.float32(si)) / float(np.float32(so)))
        layer.kernel = "tinyc_requantize_s16"
        layer.helpers.add("requantize_s16")
        layer.body.append(f"tinyc_requantize_s16({src16(ctx, x)}, {dst16(ctx, y)}, {n}, {mult}, {shift}, {lo}, {hi});")
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}" + act_text(lo, hi)


@emitter(*RESHAPES, dtype=I16)
def lower_reshape_s16(ctx: LowerCtx, node: Node, layer: Layer) -> None:
    x, y = node.input(0), node.output
    if x.type.dtype is not I16 or y.type.dtype is not I16:
        raise unsupported(node, f"{x.type} -> {y.type}; this layer moves int16 data only")
    layer.summary = f"{shape_text(x)} -> {shape_text(y)}"
    if ctx.same_place(x, y):
        layer.body.append("/* same bytes, new shape: nothing to do */")
        return
    layer.kernel = "memcpy"
    layer.body.append(f"memcpy({ctx.buf(y)}, {ctx.buf(x)}, {y.type.numel} * sizeof(int16_t));")


HELPERS.update(
    {
        "requantize_s16": [
            "/* Move n int16 values to another scale, then clamp (TFLite QUANTIZE / RELU arithmetic, zero points 0). */",
            "static void tinyc_requantize_s16(const int16_t *in, int16_t *out, int32_t n, int32_t mult, int32_t shift, int32_t lo, int32_t hi)",
            "{",
            "    for (int32_t i = 0; i < n; ++i) {",
            "        const int32_t v = arm_nn_requantize((int32_t)in[i], mult, shift);",
            "        out[i] = (int16_t)(v < lo ? lo : v > hi ? hi : v);",
            "    }",
            "}",
        ],
        "clamp_s16": [
            "/* Clamp n int16 values to [lo, hi] (in place when in == out). */",
            "static void tinyc_clamp_s16(const int16_t *in, int16_t *out, int32_t n, int32_t lo, int32_t hi)",
            "{",
            "    for (int32_t i = 0; i < n; ++i) {",
            "        const int32_t v = in[i];",
            "        out[i] = (int16_t)(v < lo ? lo : v > hi ? hi : v);",
            "    }",
            "}",
        ],
    }
)

EMITTERS_S16 = EMITTERS_BY_DTYPE[I16]
